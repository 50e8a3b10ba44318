"""Handlers of app registrations (``/applications``) and their key credentials."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from vdc_tui.emulator.core import GraphResult
from vdc_tui.emulator.graph.base import ALT, ID, GraphCall, Handlers, Route, route
from vdc_tui.emulator.shapes import subject_display_name
from vdc_tui.emulator.state import Application, KeyCredential, parse_iso


class ApplicationHandlers(Handlers):
    """``/applications`` by object id or ``(appId='…')``."""

    def routes(self) -> list[Route]:
        return [
            route("POST", r"/applications", "applications.write", self.create_application),
            route("GET", r"/applications", "applications.read", self.list_applications),
            route("GET", rf"/applications(?:/{ID}|{ALT})", "applications.read",
                  self.get_application),
            route("PATCH", rf"/applications(?:/{ID}|{ALT})", "applications.write",
                  self.patch_application),
            route("DELETE", rf"/applications(?:/{ID}|{ALT})", "applications.write",
                  self.delete_application),
        ]

    def _app(self, call: GraphCall, match: re.Match[str]) -> Application | None:
        object_id, app_id = match.group(1), match.group(2)
        applications = self.core.directory.applications
        if object_id:
            found = applications.get(object_id)
            candidates = [found] if found is not None else []
        elif app_id is not None:
            candidates = list(applications.group(app_id.lower()))
        else:
            candidates = []
        return next((app for app in candidates
                     if app.tenant_id == call.tenant.id and self._visible(app)), None)

    def _keys_from_body(self, call: GraphCall, raw: list[dict[str, Any]],
                        existing: list[KeyCredential]) -> list[KeyCredential] | GraphResult:
        keys: list[KeyCredential] = []
        for entry in raw:
            old = next((k for k in existing if k.key_id == entry.get("keyId")), None)
            if entry.get("key") is None and old is not None:
                keys.append(old)
                continue
            if entry.get("type") != "AsymmetricX509Cert" or entry.get("usage") != "Verify":
                return self._bad(call, "Only keyCredentials of type AsymmetricX509Cert with "
                                 "usage Verify are supported by this emulator.")
            try:
                cert = x509.load_der_x509_certificate(base64.b64decode(entry["key"]))
            except (KeyError, TypeError, ValueError, binascii.Error):
                return self._bad(call, "Invalid value specified for property 'key' of resource "
                                 "'KeyCredential'.")
            start = (parse_iso(entry["startDateTime"]) if entry.get("startDateTime")
                     else cert.not_valid_before_utc.timestamp())
            end = (parse_iso(entry["endDateTime"]) if entry.get("endDateTime")
                   else cert.not_valid_after_utc.timestamp())
            if end <= start:
                return self._bad(call, "Key credential end date must be after its start date.")
            keys.append(KeyCredential(
                entry.get("keyId") or self.core.directory.new_id(), cert, start, end,
                entry.get("displayName") or subject_display_name(cert),
                old.visible_at if old and old.sha256 == cert.fingerprint(hashes.SHA256())
                else self.core.replication_visible_at(),
            ))
        return keys

    _APP_COMPUTED = ("id", "appId", "displayName", "signInAudience", "keyCredentials",
                     "@odata.type")

    def create_application(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``POST /applications``."""
        body = self._json_body(call, "application")
        if isinstance(body, GraphResult):
            return body
        keys = self._keys_from_body(call, body.get("keyCredentials") or [], [])
        if isinstance(keys, GraphResult):
            return keys
        directory = self.core.directory
        now = self.core.now()
        app = Application(
            id=directory.new_id(), app_id=directory.new_id(), tenant_id=call.tenant.id,
            display_name=body["displayName"],
            sign_in_audience=body.get("signInAudience") or "AzureADandPersonalMicrosoftAccount",
            key_credentials=keys,
            props={k: v for k, v in body.items() if k not in self._APP_COMPUTED},
            created=now, visible_at=self.core.replication_visible_at(),
            publisher_domain=call.tenant.spec.initial_domain,
        )
        directory.applications[app.id] = app
        return self._created(call, "application", app.id, {
            "@odata.context": self._context("applications/$entity"),
            **app.to_graph(fresh=True)})

    def list_applications(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``GET /applications`` (``$filter`` on displayName, appId, tags)."""
        apps = [a.to_graph() for a in self.core.directory.applications.of_tenant(call.tenant.id)
                if self._visible(a)]
        return self._collection(call, apps, "applications")

    def get_application(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``GET /applications/{id}`` or ``/applications(appId='…')``."""
        app = self._app(call, match)
        if app is None:
            return self._not_found(call, match.group(1) or match.group(2))
        problem = self._select_problem(call, "application")
        if problem is not None:
            return problem
        with_keys = "keycredentials" in call.query.get("$select", "").lower()
        return self._entity(call, "applications", "application",
                            app.to_graph(with_keys=with_keys))

    def patch_application(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``PATCH /applications/{id}``: set properties; ``keyCredentials`` replaces the set."""
        app = self._app(call, match)
        if app is None:
            return self._not_found(call, match.group(1) or match.group(2))
        body = self._json_body(call, "application", partial=True)
        if isinstance(body, GraphResult):
            return body
        if "keyCredentials" in body:
            keys = self._keys_from_body(call, body["keyCredentials"] or [], app.key_credentials)
            if isinstance(keys, GraphResult):
                return keys
            app.key_credentials = keys
        if body.get("displayName"):
            app.display_name = body["displayName"]
        if body.get("signInAudience"):
            app.sign_in_audience = body["signInAudience"]
        app.props.update({k: v for k, v in body.items() if k not in self._APP_COMPUTED})
        return GraphResult(204)

    def delete_application(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``DELETE /applications/{id}``: a soft delete into deleted items (its principals go
        at once); see :mod:`.app_lifecycle`."""
        app = self._app(call, match)
        if app is None:
            return self._not_found(call, match.group(1) or match.group(2))
        self.core.directory.delete_application(app, now=self.core.now())
        return GraphResult(204)
