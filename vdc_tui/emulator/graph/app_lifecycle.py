"""An application's life after onboarding: rolling its own keys, deletion, deleted items.

Read from Microsoft's documents ("application: addKey", "application: removeKey", "Generate
proof of possession tokens for rolling keys", "Delete application", "directory: deleted
items"), independently of the client:

- ``POST /applications/{id}/addKey`` ``{keyCredential, passwordCredential, proof}`` → 200
  with the new ``keyCredential``; ``POST /applications/{id}/removeKey`` ``{keyId, proof}``
  → 204. Both also by ``(appId='…')``.
- An application needs no permission to roll its **own** keys (an app-only token of the
  addressed application); anyone else needs Application.ReadWrite.All (or OwnedBy).
- The proof is a JWT signed with the private key of one of the app's currently valid
  certificates: ``aud`` ``00000002-0000-0000-c000-000000000000``, ``iss`` the application's
  object id, ``nbf``, ``exp`` at most ten minutes after ``nbf``; base64url without ``=``
  padding. A proof that fails any of these is ``401 Authentication_MissingOrMalformed``
  (the code the docs give for padding, and public reports give for a wrong ``aud``; the
  code for the other cases is not documented, so the same one is used).
- A tenant's app management policy that limits certificate lifetimes (scenario
  ``key_max_lifetime_days``) refuses a longer one with ``400
  CredentialInvalidLifetimeAsPerAppPolicy`` and a detail ``InvalidKeyEndDate`` (shape from
  public reports).
- ``DELETE /applications/{id}`` soft-deletes (``applications.py`` calls
  ``Directory.delete_application``);
  ``GET /directory/deletedItems/microsoft.graph.application`` lists, ``GET`` and ``DELETE
  /directory/deletedItems/{id}`` read and purge, ``POST …/{id}/restore`` restores.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from vdc_tui.emulator import jws
from vdc_tui.emulator.core import GraphResult
from vdc_tui.emulator.graph.applications import ApplicationHandlers
from vdc_tui.emulator.graph.base import ALT, ID, GraphCall, Route, route
from vdc_tui.emulator.pki import b64url_decode
from vdc_tui.emulator.scenario import stable_id
from vdc_tui.emulator.schema import validate_action
from vdc_tui.emulator.shapes import subject_display_name
from vdc_tui.emulator.state import Application, KeyCredential, iso

PROOF_AUDIENCE = "00000002-0000-0000-c000-000000000000"
MAX_PROOF_SECONDS = 600
DELETED_RETENTION_DAYS = 30
MALFORMED = "Access Token missing or malformed."

#: Roles (app-only) and scopes (delegated) that may roll the keys of any application.
KEY_ROLES = ("Application.ReadWrite.OwnedBy", "Application.ReadWrite.All",
             "Directory.ReadWrite.All")
KEY_SCOPES = ("Application.ReadWrite.All", "Directory.ReadWrite.All",
              "Directory.AccessAsUser.All")

class AppLifecycleHandlers(ApplicationHandlers):
    """addKey/removeKey and deleted items (it shares the app lookups of
    :class:`ApplicationHandlers`, not its routes)."""

    def routes(self) -> list[Route]:
        # addKey/removeKey authorize in the handler: an app may roll its own keys.
        return [
            route("POST", rf"/applications(?:/{ID}|{ALT})/addKey", None, self.add_key),
            route("POST", rf"/applications(?:/{ID}|{ALT})/removeKey", None, self.remove_key),
            route("GET", r"/directory/deletedItems/microsoft\.graph\.application",
                  "applications.read", self.list_deleted),
            route("GET", rf"/directory/deletedItems/{ID}", "applications.read",
                  self.get_deleted),
            route("DELETE", rf"/directory/deletedItems/{ID}", "applications.write",
                  self.purge_deleted),
            route("POST", rf"/directory/deletedItems/{ID}/restore", "applications.write",
                  self.restore_deleted),
        ]

    # -- addKey / removeKey ----------------------------------------------------------------
    def _malformed(self, call: GraphCall, why: str) -> GraphResult:
        # Entra says only "missing or malformed"; ``why`` goes into details for tests.
        return self.core.graph_error(401, "Authentication_MissingOrMalformed", MALFORMED,
                                     client_request_id=call.client_request_id,
                                     details=[{"code": "InvalidProof", "message": why,
                                               "target": "proof"}])

    def _authorize(self, call: GraphCall, app: Application) -> GraphResult | None:
        claims = call.claims
        roles = claims.get("roles") or []
        scopes = str(claims.get("scp", "")).split()
        own = (claims.get("idtyp") == "app" and not scopes
               and str(claims.get("appid", "")).lower() == app.app_id.lower())
        if own or set(roles) & set(KEY_ROLES) or set(scopes) & set(KEY_SCOPES):
            return None
        return self.core.graph_error(403, "Authorization_RequestDenied",
                                     "Insufficient privileges to complete the operation.",
                                     client_request_id=call.client_request_id)

    def _target(self, call: GraphCall, match: re.Match[str],
                action: str) -> Application | GraphResult:
        app = self._app(call, match)
        if app is None:
            return self._not_found(call, match.group(1) or match.group(2))
        denied = self._authorize(call, app)
        if denied is not None:
            return denied
        problems = validate_action("application", action, call.body)
        if problems:
            return self._invalid_body(call, problems)
        return app

    def _check_proof(self, call: GraphCall, app: Application, proof: str) -> GraphResult | None:
        """None when ``proof`` is a valid proof of possession for ``app`` now."""
        parts = proof.split(".")
        if len(parts) != 3:
            return self._malformed(call, "the proof is not a compact JWS")
        if any("=" in p for p in parts[:2]):
            return self._malformed(call, "the proof's header or payload carries '=' padding")
        try:
            parsed = jws.parse(proof)
        except jws.MalformedJwt:
            return self._malformed(call, "the proof is not base64url JSON")
        claims = parsed.claims
        if claims.get("aud") != PROOF_AUDIENCE:
            return self._malformed(call, f"aud must be {PROOF_AUDIENCE}")
        if str(claims.get("iss", "")).lower() != app.id.lower():
            return self._malformed(call, "iss must be the application's object id")
        nbf, exp = claims.get("nbf"), claims.get("exp")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (nbf, exp)):
            return self._malformed(call, "the proof needs numeric nbf and exp")
        assert isinstance(nbf, int | float) and isinstance(exp, int | float)
        if exp - nbf > MAX_PROOF_SECONDS:
            return self._malformed(call, "exp is more than 10 minutes after nbf")
        now = self.core.now()
        skew = float(self.core.faults.proof_skew)
        if now + skew < nbf:
            return self._malformed(call, "the proof is not valid yet (nbf)")
        if now - skew > exp:
            return self._malformed(call, "the proof has expired (exp)")
        directory = self.core.directory
        valid = [k for k in app.key_credentials
                 if directory.visible(k, now) and k.start <= now <= k.end]
        if not valid:
            return self._malformed(call, "the application has no valid certificate to prove "
                                   "possession of; update the application instead")
        wanted = _thumbprint(parsed.header)
        candidates = [k for k in valid if wanted is None or wanted in (k.sha1, k.sha256)]
        for key in candidates:
            public = key.public_key
            if public is not None and jws.verify(parsed, public):
                return None
        return self._malformed(call, "the proof is not signed by a valid certificate of the "
                               "application")

    def _lifetime_violation(self, call: GraphCall, key: KeyCredential) -> GraphResult | None:
        limit = call.tenant.spec.key_max_lifetime_days
        if limit is None or key.end - key.start <= limit * 86400 + 60:
            return None
        policy = stable_id(call.tenant.id, "appManagementPolicy")
        message = f"Credential lifetime exceeds the max value allowed as per assigned policy " \
                  f"'{policy}'."
        return self.core.graph_error(
            400, "CredentialInvalidLifetimeAsPerAppPolicy", message,
            client_request_id=call.client_request_id,
            details=[{"code": "InvalidKeyEndDate", "message": message, "target": "EndDate"}])

    def add_key(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``POST /applications/{id}/addKey``."""
        app = self._target(call, match, "addKey")
        if isinstance(app, GraphResult):
            return app
        body: dict[str, Any] = call.body
        entry = body["keyCredential"]
        if (entry.get("type"), entry.get("usage")) != ("AsymmetricX509Cert", "Verify"):
            return self._bad(call, "Only keyCredentials of type AsymmetricX509Cert with "
                                   "usage Verify are supported by this emulator.")
        denied = self._check_proof(call, app, body["proof"])
        if denied is not None:
            return denied
        try:
            cert = x509.load_der_x509_certificate(base64.b64decode(entry.get("key") or "",
                                                                   validate=True))
        except (TypeError, ValueError, binascii.Error):
            return self._bad(call, "Invalid value specified for property 'key' of "
                                   "resource 'KeyCredential'.")
        sha256 = cert.fingerprint(hashes.SHA256())
        if any(k.sha256 == sha256 for k in app.key_credentials):
            return self._bad(call, "The key credential already exists on the application.")
        directory = self.core.directory
        key = KeyCredential(
            directory.new_id(), cert, cert.not_valid_before_utc.timestamp(),
            cert.not_valid_after_utc.timestamp(),
            entry.get("displayName") or subject_display_name(cert),
            self.core.replication_visible_at(),
        )
        violation = self._lifetime_violation(call, key)
        if violation is not None:
            return violation
        app.key_credentials.append(key)
        self._revoke_after_add_key(call, app)
        return GraphResult(200, {"@odata.context": self._context(
            "microsoft.graph.keyCredential"), **key.to_graph()})

    def _revoke_after_add_key(self, call: GraphCall, app: Application) -> None:
        """The ``revoke_on_add_key`` fault: an admin removes one application permission of
        the app (``DELETE …/appRoleAssignedTo/{id}``) just after its new key landed. Entra
        issues the ``roles`` claim from the assignments present when a token is requested,
        so every token from then on (whichever key signs the assertion) lacks that role.
        The fault fires once and then clears itself."""
        faults = self.core.faults
        value = faults.revoke_on_add_key
        if not value:
            return
        directory = self.core.directory
        principal = directory.principal_by_app_id(call.tenant.id, app.app_id, now=None)
        if principal is None:
            return
        faults.revoke_on_add_key = ""
        for grant in list(directory.app_role_assignments.group(principal.id)):
            resource = directory.service_principals.get(grant.resource_id)
            roles = {r["id"]: r["value"] for r in (resource.app_roles if resource else [])}
            if roles.get(grant.app_role_id) == value:
                del directory.app_role_assignments[grant.id]

    def remove_key(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``POST /applications/{id}/removeKey``."""
        app = self._target(call, match, "removeKey")
        if isinstance(app, GraphResult):
            return app
        body: dict[str, Any] = call.body
        denied = self._check_proof(call, app, body["proof"])
        if denied is not None:
            return denied
        key_id = str(body["keyId"]).lower()
        key = next((k for k in app.key_credentials if k.key_id.lower() == key_id), None)
        if key is None:
            return self._not_found(call, body["keyId"])
        app.key_credentials.remove(key)
        return GraphResult(204)

    # -- deleted items ---------------------------------------------------------------------
    def _deleted_json(self, app: Application, deleted_at: float) -> dict[str, Any]:
        return {"@odata.type": "#microsoft.graph.application", **app.to_graph(),
                "deletedDateTime": iso(deleted_at)}

    def _deleted(self, call: GraphCall, object_id: str) -> tuple[Application, float] | None:
        self._expire()
        found = self.core.directory.deleted_applications.get(object_id)
        if found is None or found[0].tenant_id != call.tenant.id:
            return None
        return found

    def _expire(self) -> None:
        """Items older than the retention period are gone for good."""
        cutoff = self.core.now() - DELETED_RETENTION_DAYS * 86400
        deleted = self.core.directory.deleted_applications
        for object_id in [i for i, (_, at) in deleted.items() if at < cutoff]:
            del deleted[object_id]

    def list_deleted(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``GET /directory/deletedItems/microsoft.graph.application``."""
        self._expire()
        items = [self._deleted_json(app, at)
                 for app, at in self.core.directory.deleted_applications.values()
                 if app.tenant_id == call.tenant.id]
        return self._collection(call, items, "applications")

    def get_deleted(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``GET /directory/deletedItems/{id}``."""
        found = self._deleted(call, match.group(1))
        if found is None:
            return self._not_found(call, match.group(1))
        return GraphResult(200, {"@odata.context": self._context(
            "directory/deletedItems/$entity"), **self._deleted_json(*found)})

    def purge_deleted(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``DELETE /directory/deletedItems/{id}``: gone for good."""
        found = self._deleted(call, match.group(1))
        if found is None:
            return self._not_found(call, match.group(1))
        del self.core.directory.deleted_applications[found[0].id]
        return GraphResult(204)

    def restore_deleted(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``POST /directory/deletedItems/{id}/restore`` (the principal is not restored)."""
        found = self._deleted(call, match.group(1))
        if found is None:
            return self._not_found(call, match.group(1))
        app, _ = found
        directory = self.core.directory
        del directory.deleted_applications[app.id]
        directory.applications[app.id] = app
        return GraphResult(200, {"@odata.context": self._context(
            "directoryObjects/$entity"), "@odata.type": "#microsoft.graph.application",
            **app.to_graph()})


def _thumbprint(header: dict[str, Any]) -> bytes | None:
    """The certificate hash a JWS header names (``x5t``, ``x5t#S256`` or a hex ``kid``)."""
    for name in ("x5t#S256", "x5t"):
        value = header.get(name)
        if isinstance(value, str) and value:
            try:
                return b64url_decode(value)
            except (ValueError, binascii.Error):
                return b""
    kid = header.get("kid")
    if isinstance(kid, str) and re.fullmatch(r"[0-9A-Fa-f]{40}|[0-9A-Fa-f]{64}", kid):
        return bytes.fromhex(kid)
    return None
