"""The Microsoft Graph v1.0 subset (research/identity.md §5), with auth and ``$batch``.

Requests go through :meth:`GraphApi.dispatch`, the same path for a plain HTTP call and for
each request inside a ``$batch``. The permission a route needs is data (:data:`PERMISSIONS`).
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from starlette.requests import Request
from starlette.responses import Response

from . import jws
from .core import EmulatorCore, GraphResult
from .scenario import ROLE_NAMES, stable_id
from .schema import validate_batch_envelope, validate_entity
from .state import (
    Application,
    AppRoleAssignment,
    KeyCredential,
    RoleAssignment,
    ServicePrincipal,
    Tenant,
    iso,
    parse_iso,
)

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
GA = "62e90394-69f5-4237-9190-012177145e10"
PRA = "e8611ab8-c189-46e8-94e1-60213ab1f814"
PAGE_SIZE = 100
ACCESS_DENIED = "Insufficient privileges to complete the operation."

_READ_DIR = ("Directory.Read.All", "Directory.ReadWrite.All")
_DELEGATED_DIR = (*_READ_DIR, "Directory.AccessAsUser.All")


@dataclass(frozen=True)
class Permission:
    """What a route needs: any delegated scope, any app role, and for delegated admin
    writes one of the directory roles (``None`` = no role needed)."""

    scopes: tuple[str, ...]
    roles: tuple[str, ...]
    admin_roles: tuple[str, ...] | None = None
    delegated_only: bool = False


#: Route name → permission (least-privileged sets of the Graph API reference).
PERMISSIONS: dict[str, Permission] = {
    "organization": Permission(("User.Read", "Organization.Read.All", *_DELEGATED_DIR),
                               ("Organization.Read.All", "Organization.ReadWrite.All",
                                *_READ_DIR)),
    "subscribedSkus": Permission(("Organization.Read.All", "LicenseAssignment.Read.All",
                                  *_DELEGATED_DIR),
                                 ("Organization.Read.All", "LicenseAssignment.Read.All",
                                  *_READ_DIR)),
    "me": Permission(("User.Read", "User.ReadWrite", "User.Read.All", *_DELEGATED_DIR), (),
                     delegated_only=True),
    "users": Permission(("User.Read.All", "User.ReadBasic.All", "User.ReadWrite.All",
                         *_DELEGATED_DIR),
                        ("User.Read.All", "User.ReadBasic.All", "User.ReadWrite.All",
                         *_READ_DIR)),
    # Users may register applications by default in Entra, so no admin role for app writes.
    "applications.read": Permission(("Application.Read.All", "Application.ReadWrite.All",
                                     *_DELEGATED_DIR),
                                    ("Application.Read.All", "Application.ReadWrite.All",
                                     *_READ_DIR)),
    "applications.write": Permission(("Application.ReadWrite.All", "Directory.AccessAsUser.All"),
                                     ("Application.ReadWrite.All",)),
    "grants.read": Permission(("Application.Read.All", "Application.ReadWrite.All",
                               "AppRoleAssignment.ReadWrite.All", *_DELEGATED_DIR),
                              ("Application.Read.All", "Application.ReadWrite.All",
                               "AppRoleAssignment.ReadWrite.All", *_READ_DIR)),
    "grants.write": Permission(("AppRoleAssignment.ReadWrite.All", "Directory.AccessAsUser.All"),
                               ("AppRoleAssignment.ReadWrite.All",), admin_roles=(GA, PRA)),
    "roles.read": Permission(("RoleManagement.Read.Directory", "RoleManagement.ReadWrite.Directory",
                              *_DELEGATED_DIR),
                             ("RoleManagement.Read.Directory", "RoleManagement.Read.All",
                              "RoleManagement.ReadWrite.Directory", *_READ_DIR)),
    "roles.write": Permission(("RoleManagement.ReadWrite.Directory",),
                              ("RoleManagement.ReadWrite.Directory",), admin_roles=(GA, PRA)),
    "sites": Permission(("Sites.Read.All", "Sites.ReadWrite.All", "Sites.Manage.All",
                         "Sites.FullControl.All"),
                        ("Sites.Read.All", "Sites.ReadWrite.All", "Sites.Manage.All",
                         "Sites.FullControl.All")),
}


@dataclass
class GraphCall:
    """One Graph request (plain or inside a batch), after authentication."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    client_request_id: str | None
    claims: dict[str, Any]
    tenant: Tenant


Handler = Callable[[GraphCall, "re.Match[str]"], GraphResult]

_ID = r"([0-9A-Za-z-]+)"
_ALT = r"\(appId='([^']*)'\)"


class GraphApi:
    """Handlers of the Graph part over one :class:`EmulatorCore`."""

    def __init__(self, core: EmulatorCore) -> None:
        self.core = core
        r = re.compile
        self.routes: list[tuple[str, re.Pattern[str], str, Handler]] = [
            ("GET", r(r"/organization"), "organization", self.organization),
            ("GET", r(r"/subscribedSkus"), "subscribedSkus", self.subscribed_skus),
            ("GET", r(r"/me"), "me", self.me),
            ("GET", r(r"/me/(memberOf|transitiveMemberOf)"), "me", self.member_of),
            ("GET", r(r"/users"), "users", self.list_users),
            ("GET", r(r"/users/([^/]+)"), "users", self.get_user),
            ("POST", r(r"/applications"), "applications.write", self.create_application),
            ("GET", r(r"/applications"), "applications.read", self.list_applications),
            ("GET", r(rf"/applications(?:/{_ID}|{_ALT})"), "applications.read",
             self.get_application),
            ("PATCH", r(rf"/applications(?:/{_ID}|{_ALT})"), "applications.write",
             self.patch_application),
            ("DELETE", r(rf"/applications(?:/{_ID}|{_ALT})"), "applications.write",
             self.delete_application),
            ("POST", r(r"/servicePrincipals"), "applications.write", self.create_principal),
            ("GET", r(r"/servicePrincipals"), "applications.read", self.list_principals),
            ("GET", r(rf"/servicePrincipals(?:/{_ID}|{_ALT})"), "applications.read",
             self.get_principal),
            ("DELETE", r(rf"/servicePrincipals(?:/{_ID}|{_ALT})"), "applications.write",
             self.delete_principal),
            ("POST", r(rf"/servicePrincipals/{_ID}/(appRoleAssignedTo|appRoleAssignments)"),
             "grants.write", self.create_grant),
            ("GET", r(rf"/servicePrincipals/{_ID}/(appRoleAssignedTo|appRoleAssignments)"),
             "grants.read", self.list_grants),
            ("DELETE",
             r(rf"/servicePrincipals/{_ID}/(appRoleAssignedTo|appRoleAssignments)/([^/]+)"),
             "grants.write", self.delete_grant),
            ("POST", r(r"/roleManagement/directory/roleAssignments"), "roles.write",
             self.create_role_assignment),
            ("GET", r(r"/roleManagement/directory/roleAssignments"), "roles.read",
             self.list_role_assignments),
            ("DELETE", r(rf"/roleManagement/directory/roleAssignments/{_ID}"), "roles.write",
             self.delete_role_assignment),
            ("GET", r(r"/sites/root"), "sites", self.site_root),
        ]

    # -- HTTP entry ------------------------------------------------------------------------
    async def handle(self, request: Request) -> Response:
        """Every ``/v1.0/...`` request."""
        path = "/" + request.path_params["rest"]
        raw = await request.body()
        body: Any = None
        crid = request.headers.get("client-request-id")
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                return self._respond(self.core.graph_error(
                    400, "BadRequest", "Unable to read JSON request payload. Please ensure "
                    "Content-Type header is set and payload is of valid JSON format.",
                    client_request_id=crid))
        auth = self.authenticate(request.headers.get("authorization"), crid)
        if isinstance(auth, GraphResult):
            return self._respond(auth)
        claims, tenant = auth
        query = dict(parse_qsl(request.url.query, keep_blank_values=True))
        if path == "/$batch" and request.method == "POST":
            result = self.batch(body, claims, tenant, crid)
        else:
            result = self.dispatch(GraphCall(request.method, path, query, body, crid, claims,
                                             tenant))
        return self._respond(result)

    def _respond(self, result: GraphResult) -> Response:
        headers = dict(result.headers or {})
        if result.body is None:
            return Response(status_code=result.status, headers=headers)
        return Response(json.dumps(result.body), status_code=result.status, headers=headers,
                        media_type="application/json")

    def authenticate(self, header: str | None,
                     crid: str | None) -> tuple[dict[str, Any], Tenant] | GraphResult:
        """Check the bearer token: signature, lifetime, audience, tenant."""
        core = self.core

        def deny(message: str) -> GraphResult:
            return core.graph_error(401, "InvalidAuthenticationToken", message,
                                    client_request_id=crid,
                                    headers={"WWW-Authenticate": 'Bearer realm=""'})

        if not header or not header.lower().startswith("bearer "):
            return deny("Access token is empty.")
        try:
            parsed = jws.parse(header[7:].strip())
        except jws.MalformedJwt:
            return deny("IDX14100: JWT is not well formed, there are no dots (.).")
        if parsed.header.get("kid") != core.pki.token_kid or not jws.verify(
                parsed, core.pki.token_key.public_key()):
            return deny("Access token validation failure.")
        claims = parsed.claims
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp + 300 < core.now():
            return deny("Lifetime validation failed, the token is expired.")
        aud = str(claims.get("aud", "")).rstrip("/").lower()
        graph_names = {core.graph_url.lower(), GRAPH_APP_ID, "https://graph.microsoft.com",
                       "https://graph.microsoft.us", "https://dod-graph.microsoft.us",
                       "https://microsoftgraph.chinacloudapi.cn"}
        if aud not in graph_names:
            return deny("Access token validation failure. Invalid audience.")
        tenant = core.directory.tenants.get(str(claims.get("tid", "")))
        if tenant is None:
            return deny("Access token validation failure. Invalid tenant.")
        return claims, tenant

    # -- dispatch --------------------------------------------------------------------------
    def dispatch(self, call: GraphCall) -> GraphResult:
        """Route one authenticated request and check its permission."""
        path = call.path.rstrip("/") or "/"
        matched_path = False
        for method, pattern, perm_name, handler in self.routes:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            matched_path = True
            if method != call.method.upper():
                continue
            denied = self.authorize(call, PERMISSIONS[perm_name])
            if denied is not None:
                return denied
            with self.core.directory.lock:
                return handler(call, match)
        if matched_path:
            return self.core.graph_error(405, "Request_BadRequest",
                                         f"The HTTP method '{call.method}' is not allowed.",
                                         client_request_id=call.client_request_id)
        return self.core.graph_error(
            400, "BadRequest", f"Resource not found for the segment '{path.split('/')[1]}'.",
            client_request_id=call.client_request_id)

    def authorize(self, call: GraphCall, perm: Permission) -> GraphResult | None:
        """403/400 when the token lacks what the route needs."""
        core = self.core
        claims = call.claims
        scp = str(claims.get("scp", "")).split()
        roles = claims.get("roles") or []
        crid = call.client_request_id
        if not scp and not roles:
            return core.graph_error(403, "AccessDenied",
                                    "Either scp or roles claim need to be present in the token.",
                                    client_request_id=crid)
        if scp:
            if not set(scp) & set(perm.scopes):
                return core.graph_error(403, "Authorization_RequestDenied", ACCESS_DENIED,
                                        client_request_id=crid)
            if perm.admin_roles is not None:
                held = set(core.directory.roles_of(str(claims.get("oid")), core.now()))
                if not held & set(perm.admin_roles):
                    return core.graph_error(403, "Authorization_RequestDenied", ACCESS_DENIED,
                                            client_request_id=crid)
            return None
        if perm.delegated_only:
            return core.graph_error(400, "BadRequest", "/me request is only valid with "
                                    "delegated authentication flow.", client_request_id=crid)
        if not set(roles) & set(perm.roles):
            return core.graph_error(403, "Authorization_RequestDenied", ACCESS_DENIED,
                                    client_request_id=crid)
        return None

    # -- helpers ---------------------------------------------------------------------------
    def _ok(self, status: int, body: Any) -> GraphResult:
        return GraphResult(status, body)

    def _not_found(self, call: GraphCall, what: str) -> GraphResult:
        return self.core.graph_error(
            404, "Request_ResourceNotFound",
            f"Resource '{what}' does not exist or one of its queried reference-property objects "
            "are not present.", client_request_id=call.client_request_id)

    def _bad(self, call: GraphCall, message: str, *,
             details: list[dict[str, Any]] | None = None) -> GraphResult:
        return self.core.graph_error(400, "Request_BadRequest", message,
                                     client_request_id=call.client_request_id, details=details)

    def _invalid_body(self, call: GraphCall, problems: list[str]) -> GraphResult:
        return self._bad(call, problems[0], details=[
            {"code": "InvalidValue", "message": p, "target": p.split(":")[0].split("'")[-2]
             if p.startswith("Property '") else p.split(":")[0]} for p in problems])

    def _context(self, what: str) -> str:
        return f"{self.core.graph_url}/v1.0/$metadata#{what}"

    def _collection(self, call: GraphCall, items: list[dict[str, Any]],
                    context: str) -> GraphResult:
        items = self._filter(call, items)
        if isinstance(items, GraphResult):
            return items
        items = [self._select(call, i) for i in items]
        try:
            top = int(call.query.get("$top", PAGE_SIZE))
            skip = int(call.query.get("$skiptoken", "0"))
        except ValueError:
            return self.core.graph_error(400, "Request_BadRequest", "Invalid $top or $skiptoken.",
                                         client_request_id=call.client_request_id)
        top = max(1, min(top, 999))
        page = items[skip: skip + top]
        body: dict[str, Any] = {"@odata.context": self._context(context), "value": page}
        if skip + top < len(items):
            query = {k: v for k, v in call.query.items() if k != "$skiptoken"}
            query["$skiptoken"] = str(skip + top)
            body["@odata.nextLink"] = (f"{self.core.graph_url}/v1.0{call.path}?"
                                       f"{urlencode(query)}")
        return self._ok(200, body)

    def _select(self, call: GraphCall, item: dict[str, Any]) -> dict[str, Any]:
        select = call.query.get("$select")
        if not select:
            return item
        wanted = {s.strip() for s in select.split(",")} | {"id", "@odata.type"}
        return {k: v for k, v in item.items() if k in wanted}

    def _filter(self, call: GraphCall, items: list[dict[str, Any]]
                ) -> list[dict[str, Any]] | Any:
        text = call.query.get("$filter")
        if not text:
            return items
        tests: list[Callable[[dict[str, Any]], bool]] = []
        for clause in re.split(r"\s+and\s+", text.strip()):
            test = _filter_clause(clause.strip())
            if test is None:
                return self.core.graph_error(400, "Request_UnsupportedQuery",
                                             "Unsupported Query.",
                                             client_request_id=call.client_request_id)
            tests.append(test)
        return [i for i in items if all(t(i) for t in tests)]

    def _visible(self, obj: Any) -> bool:
        return self.core.directory.visible(obj, self.core.now())

    # -- organization, licences, users -----------------------------------------------------
    def organization(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``GET /organization``."""
        spec = call.tenant.spec
        default = spec.default_domain or spec.domains[0]
        plans = []
        for sku in spec.skus:
            for plan in sku.service_plans:
                service = ("exchange" if plan.name.startswith("EXCHANGE") else
                           "SharePoint" if plan.name.startswith(("SHAREPOINT", "ONEDRIVE")) else
                           "TeamspaceAPI" if plan.name.startswith("TEAMS") else plan.name)
                plans.append({"assignedDateTime": "2024-01-01T00:00:00Z",
                              "capabilityStatus": sku.capability_status, "service": service,
                              "servicePlanId": plan.id})
        org = {
            "id": spec.id, "displayName": spec.display_name, "tenantType": "AAD",
            "countryLetterCode": "US", "createdDateTime": "2019-01-01T00:00:00Z",
            "assignedPlans": plans,
            "verifiedDomains": [
                {"capabilities": "Email, OfficeCommunicationsOnline", "isDefault": d == default,
                 "isInitial": d == spec.initial_domain, "name": d, "type": "Managed"}
                for d in spec.domains
            ],
        }
        return self._collection(call, [org], "organization")

    def subscribed_skus(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``GET /subscribedSkus``."""
        spec = call.tenant.spec
        items = [
            {"accountId": spec.id, "accountName": spec.display_name, "appliesTo": "User",
             "capabilityStatus": s.capability_status, "consumedUnits": s.consumed_units,
             "id": f"{spec.id}_{s.sku_id}", "skuId": s.sku_id,
             "skuPartNumber": s.sku_part_number, "subscriptionIds": [],
             "prepaidUnits": {"enabled": s.enabled_units, "lockedOut": 0, "suspended": 0,
                              "warning": 0},
             "servicePlans": [{"servicePlanId": p.id, "servicePlanName": p.name,
                               "provisioningStatus": p.provisioning_status,
                               "appliesTo": p.applies_to} for p in s.service_plans]}
            for s in spec.skus
        ]
        return self._collection(call, items, "subscribedSkus")

    def me(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``GET /me``."""
        user = call.tenant.users.get(str(call.claims.get("oid")))
        if user is None:
            return self._not_found(call, str(call.claims.get("oid")))
        return self._ok(200, {"@odata.context": self._context("users/$entity"),
                              **self._select(call, user.to_graph())})

    def member_of(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``GET /me/memberOf`` and ``/me/transitiveMemberOf``."""
        user = call.tenant.users.get(str(call.claims.get("oid")))
        if user is None:
            return self._not_found(call, str(call.claims.get("oid")))
        transitive = match.group(1) == "transitiveMemberOf"
        tid = call.tenant.id

        def role(rid: str) -> dict[str, Any]:
            return {"@odata.type": "#microsoft.graph.directoryRole",
                    "id": stable_id(tid, "directoryRole", rid),
                    "displayName": ROLE_NAMES.get(rid, rid), "description": None,
                    "roleTemplateId": rid}

        items = [role(r) for r in user.roles]
        for group in user.groups:
            items.append({"@odata.type": "#microsoft.graph.group", "id": group.id,
                          "displayName": group.display_name, "securityEnabled": True})
        if transitive:
            seen = set(user.roles)
            for group in user.groups:
                for rid in group.roles:
                    if rid not in seen:
                        seen.add(rid)
                        items.append(role(rid))
        return self._collection(call, items, "directoryObjects")

    def list_users(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``GET /users``."""
        return self._collection(call, [u.to_graph() for u in call.tenant.users.values()],
                                "users")

    def get_user(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``GET /users/{id | userPrincipalName}``."""
        key = match.group(1)
        user = call.tenant.users.get(key) or call.tenant.user_by_upn(key)
        if user is None:
            return self._not_found(call, key)
        return self._ok(200, {"@odata.context": self._context("users/$entity"),
                              **self._select(call, user.to_graph())})

    # -- applications ----------------------------------------------------------------------
    def _app(self, call: GraphCall, match: re.Match[str]) -> Application | None:
        object_id, app_id = match.group(1), match.group(2)
        for app in self.core.directory.applications.values():
            if app.tenant_id != call.tenant.id or not self._visible(app):
                continue
            if (object_id and app.id == object_id) or (
                    app_id is not None and app.app_id.lower() == app_id.lower()):
                return app
        return None

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
                entry.get("displayName") or cert.subject.rfc4514_string(),
                old.visible_at if old and old.sha256 == cert.fingerprint(hashes.SHA256())
                else self.core.replication_visible_at(),
            ))
        return keys

    _APP_COMPUTED = ("id", "appId", "displayName", "signInAudience", "keyCredentials",
                     "@odata.type")

    def create_application(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``POST /applications``."""
        body = call.body if isinstance(call.body, dict) else None
        if body is None:
            return self._bad(call, "A JSON object body is required.")
        problems = validate_entity("application", body)
        if problems:
            return self._invalid_body(call, problems)
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
        )
        directory.applications[app.id] = app
        return GraphResult(201, {"@odata.context": self._context("applications/$entity"),
                                 **app.to_graph()},
                           {"Location": f"{self.core.graph_url}/v1.0/applications/{app.id}"})

    def list_applications(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``GET /applications`` (``$filter`` on displayName, appId, tags)."""
        apps = [a.to_graph() for a in self.core.directory.applications.values()
                if a.tenant_id == call.tenant.id and self._visible(a)]
        return self._collection(call, apps, "applications")

    def get_application(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``GET /applications/{id}`` or ``/applications(appId='…')``."""
        app = self._app(call, match)
        if app is None:
            return self._not_found(call, match.group(1) or match.group(2))
        with_keys = "keyCredentials" in call.query.get("$select", "")
        return self._ok(200, {"@odata.context": self._context("applications/$entity"),
                              **self._select(call, app.to_graph(with_keys=with_keys))})

    def patch_application(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``PATCH /applications/{id}``: set properties; ``keyCredentials`` replaces the set."""
        app = self._app(call, match)
        if app is None:
            return self._not_found(call, match.group(1) or match.group(2))
        body = call.body if isinstance(call.body, dict) else None
        if body is None:
            return self._bad(call, "A JSON object body is required.")
        problems = validate_entity("application", body, partial=True)
        if problems:
            return self._invalid_body(call, problems)
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
        """``DELETE /applications/{id}`` (its principals go too)."""
        app = self._app(call, match)
        if app is None:
            return self._not_found(call, match.group(1) or match.group(2))
        self.core.directory.delete_application(app)
        return GraphResult(204)

    # -- service principals ----------------------------------------------------------------
    def _sp(self, call: GraphCall, object_id: str | None,
            app_id: str | None = None) -> ServicePrincipal | None:
        for sp in self.core.directory.service_principals.values():
            if sp.tenant_id != call.tenant.id or not self._visible(sp):
                continue
            if (object_id and sp.id == object_id) or (
                    app_id is not None and sp.app_id.lower() == app_id.lower()):
                return sp
        return None

    def create_principal(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``POST /servicePrincipals`` (NoBackingApplicationObject while the app replicates)."""
        body = call.body if isinstance(call.body, dict) else None
        if body is None:
            return self._bad(call, "A JSON object body is required.")
        problems = validate_entity("servicePrincipal", body)
        if problems:
            return self._invalid_body(call, problems)
        directory = self.core.directory
        app_id = body["appId"]
        app = directory.application_by_app_id(app_id, now=self.core.now())
        if app is None:
            message = (f"The appId '{app_id}' of the service principal does not reference a "
                       "valid application object.")
            return self._bad(call, message, details=[
                {"code": "NoBackingApplicationObject", "message": message, "target": "appId"}])
        if app.tenant_id != call.tenant.id and app.sign_in_audience == "AzureADMyOrg":
            return self._bad(call, "When using this permission, the backing application of the "
                             "service principal being created must in the local tenant")
        if directory.principal_by_app_id(call.tenant.id, app_id, now=None) is not None:
            return self.core.graph_error(
                409, "Request_MultipleObjectsWithSameKeyValue",
                "The service principal cannot be created, updated, or restored because the "
                "service principal name "
                f"{app_id} is already in use.", client_request_id=call.client_request_id)
        sp = ServicePrincipal(
            id=directory.new_id(), app_id=app.app_id, tenant_id=call.tenant.id,
            display_name=app.display_name, app_owner_tenant_id=app.tenant_id,
            service_principal_names=[app.app_id, *app.props.get("identifierUris", [])],
            tags=list(body.get("tags") or []), visible_at=self.core.replication_visible_at(),
        )
        directory.service_principals[sp.id] = sp
        return GraphResult(201, {"@odata.context": self._context("servicePrincipals/$entity"),
                                 **sp.to_graph()})

    def list_principals(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``GET /servicePrincipals`` (``$filter`` on appId, displayName)."""
        sps = [sp.to_graph() for sp in self.core.directory.service_principals.values()
               if sp.tenant_id == call.tenant.id and self._visible(sp)]
        return self._collection(call, sps, "servicePrincipals")

    def get_principal(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``GET /servicePrincipals/{id}`` or ``(appId='…')``."""
        sp = self._sp(call, match.group(1), match.group(2))
        if sp is None:
            return self._not_found(call, match.group(1) or match.group(2))
        return self._ok(200, {"@odata.context": self._context("servicePrincipals/$entity"),
                              **self._select(call, sp.to_graph())})

    def delete_principal(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``DELETE /servicePrincipals/{id}`` (its grants go too)."""
        sp = self._sp(call, match.group(1), match.group(2))
        if sp is None:
            return self._not_found(call, match.group(1) or match.group(2))
        directory = self.core.directory
        del directory.service_principals[sp.id]
        for a in [a for a in directory.app_role_assignments.values()
                  if sp.id in (a.principal_id, a.resource_id)]:
            del directory.app_role_assignments[a.id]
        return GraphResult(204)

    # -- grants ----------------------------------------------------------------------------
    def create_grant(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``POST /servicePrincipals/{id}/appRoleAssignedTo`` (or ``/appRoleAssignments``)."""
        body = call.body if isinstance(call.body, dict) else None
        if body is None:
            return self._bad(call, "A JSON object body is required.")
        problems = validate_entity("appRoleAssignment", body)
        if problems:
            return self._invalid_body(call, problems)
        sp_id, kind = match.group(1), match.group(2)
        anchor = self._sp(call, sp_id)
        if anchor is None:
            return self._not_found(call, sp_id)
        if kind == "appRoleAssignedTo" and body["resourceId"] != sp_id:
            return self._bad(call, "The resourceId must be the service principal in the URL.")
        if kind == "appRoleAssignments" and body["principalId"] != sp_id:
            return self._bad(call, "The principalId must be the service principal in the URL.")
        principal = self._sp(call, body["principalId"])
        if principal is None:
            return self._not_found(call, body["principalId"])
        resource = self._sp(call, body["resourceId"])
        if resource is None:
            return self._not_found(call, body["resourceId"])
        if not any(r["id"] == body["appRoleId"] for r in resource.app_roles):
            return self._bad(call, "Permission being assigned was not found on application "
                             f"'{resource.app_id}'.")
        directory = self.core.directory
        if directory.find_assignment(principal.id, resource.id, body["appRoleId"]) is not None:
            return self._bad(call, "Permission being assigned already exists on the object.")
        grant = AppRoleAssignment(directory.new_id(), call.tenant.id, principal.id, resource.id,
                                  body["appRoleId"], self.core.now(),
                                  self.core.replication_visible_at())
        directory.app_role_assignments[grant.id] = grant
        return GraphResult(201, {"@odata.context": self._context(
            f"servicePrincipals('{sp_id}')/{kind}/$entity"), **grant.to_graph(directory)})

    def list_grants(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``GET /servicePrincipals/{id}/appRoleAssignedTo`` or ``/appRoleAssignments``."""
        sp_id, kind = match.group(1), match.group(2)
        if self._sp(call, sp_id) is None:
            return self._not_found(call, sp_id)
        directory = self.core.directory
        field_name = "resource_id" if kind == "appRoleAssignedTo" else "principal_id"
        items = [a.to_graph(directory) for a in directory.app_role_assignments.values()
                 if getattr(a, field_name) == sp_id and self._visible(a)]
        return self._collection(call, items, "appRoleAssignments")

    def delete_grant(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``DELETE /servicePrincipals/{id}/appRoleAssignedTo/{assignmentId}``."""
        directory = self.core.directory
        grant = directory.app_role_assignments.get(match.group(3))
        if grant is None or match.group(1) not in (grant.principal_id, grant.resource_id):
            return self._not_found(call, match.group(3))
        del directory.app_role_assignments[grant.id]
        return GraphResult(204)

    # -- directory roles -------------------------------------------------------------------
    def create_role_assignment(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``POST /roleManagement/directory/roleAssignments``."""
        body = call.body if isinstance(call.body, dict) else None
        if body is None:
            return self._bad(call, "A JSON object body is required.")
        problems = validate_entity("unifiedRoleAssignment", body)
        if problems:
            return self._invalid_body(call, problems)
        rid = body["roleDefinitionId"]
        if rid not in ROLE_NAMES:
            return self._not_found(call, rid)
        if body["directoryScopeId"] != "/":
            return self._bad(call, "Only the directory scope '/' is supported by this emulator.")
        principal_id = body["principalId"]
        if self._sp(call, principal_id) is None and principal_id not in call.tenant.users:
            return self._not_found(call, principal_id)
        directory = self.core.directory
        for existing in directory.role_assignments.values():
            if (existing.principal_id, existing.role_definition_id, existing.via_group) == (
                    principal_id, rid, None):
                return self._bad(call, "A conflicting object with one or more of the specified "
                                 "property values is present in the directory.")
        ra = RoleAssignment(directory.new_id(), call.tenant.id, principal_id, rid, "/",
                            self.core.replication_visible_at())
        directory.role_assignments[ra.id] = ra
        return GraphResult(201, {"@odata.context": self._context(
            "roleManagement/directory/roleAssignments/$entity"), **ra.to_graph()})

    def list_role_assignments(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``GET /roleManagement/directory/roleAssignments`` (``$filter`` principalId)."""
        items = [ra.to_graph() for ra in self.core.directory.role_assignments.values()
                 if ra.tenant_id == call.tenant.id and ra.via_group is None
                 and self._visible(ra)]
        return self._collection(call, items, "roleManagement/directory/roleAssignments")

    def delete_role_assignment(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``DELETE /roleManagement/directory/roleAssignments/{id}``."""
        directory = self.core.directory
        ra = directory.role_assignments.get(match.group(1))
        if ra is None or ra.tenant_id != call.tenant.id:
            return self._not_found(call, match.group(1))
        del directory.role_assignments[ra.id]
        return GraphResult(204)

    # -- SharePoint ------------------------------------------------------------------------
    def site_root(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``GET /sites/root`` (404 when the tenant has no SharePoint)."""
        host = call.tenant.spec.sharepoint
        if not host:
            return self.core.graph_error(404, "itemNotFound", "Requested site could not be found",
                                         client_request_id=call.client_request_id)
        site = stable_id(call.tenant.id, "site")
        web = stable_id(call.tenant.id, "web")
        return self._ok(200, self._select(call, {
            "@odata.context": self._context("sites/$entity"),
            "createdDateTime": iso(self.core.now() - 86400 * 365),
            "description": "", "id": f"{host},{site},{web}", "lastModifiedDateTime":
            iso(self.core.now()), "name": "", "webUrl": f"https://{host}",
            "displayName": "Communication site", "root": {},
            "siteCollection": {"hostname": host},
        }))

    # -- $batch ----------------------------------------------------------------------------
    def batch(self, body: Any, claims: dict[str, Any], tenant: Tenant,
              crid: str | None) -> GraphResult:
        """``POST /$batch``: dependsOn, 424, per-request throttling, shuffled answers."""
        core = self.core
        problems = validate_batch_envelope(body) if isinstance(body, dict) else [
            "the body must be a JSON object"]
        if problems:
            return core.graph_error(400, "BadRequest", problems[0], client_request_id=crid)
        requests: list[dict[str, Any]] = body["requests"]
        results: dict[str, GraphResult] = {}
        pending = list(requests)
        while pending:
            progressed = False
            for req in list(pending):
                deps = req.get("dependsOn") or []
                if any(d not in results for d in deps):
                    continue
                pending.remove(req)
                progressed = True
                if any(results[d].status >= 400 for d in deps):
                    results[req["id"]] = core.graph_error(
                        424, "FailedDependency", "Request was not executed because a request it "
                        "depends on failed.", client_request_id=crid)
                    continue
                results[req["id"]] = self._inner(req, claims, tenant, crid)
            if not progressed:  # a dependency cycle
                for req in pending:
                    results[req["id"]] = core.graph_error(
                        424, "FailedDependency", "Circular dependsOn.", client_request_id=crid)
                break
        answers = []
        for req in requests:
            result = results[req["id"]]
            answer: dict[str, Any] = {"id": req["id"], "status": result.status,
                                      "headers": {"Content-Type": "application/json",
                                                  **(result.headers or {})}}
            if result.body is not None:
                answer["body"] = result.body
            answers.append(answer)
        with core.log_lock:
            core.batch_count += 1
            order = random.Random(core.scenario.seed * 7919 + core.batch_count)
        order.shuffle(answers)
        return GraphResult(200, {"responses": answers})

    def _inner(self, req: dict[str, Any], claims: dict[str, Any], tenant: Tenant,
               crid: str | None) -> GraphResult:
        core = self.core
        parts = urlsplit("/" + req["url"].lstrip("/"))
        path = parts.path
        headers = {k.lower(): v for k, v in (req.get("headers") or {}).items()}
        inner_crid = headers.get("client-request-id") or crid
        faults = core.faults
        if core.counters.hit("throttle", faults.throttle_every, faults.throttle_path,
                             "/v1.0" + path):
            result = core.graph_error(429, "TooManyRequests", "Too many requests.",
                                      client_request_id=inner_crid,
                                      headers={"Retry-After": str(faults.retry_after)})
            core.log(req["method"].upper(), "/v1.0" + path + " ($batch)", 429)
            return result
        call = GraphCall(req["method"].upper(), path,
                         dict(parse_qsl(parts.query, keep_blank_values=True)),
                         req.get("body"), inner_crid, claims, tenant)
        result = self.dispatch(call)
        core.log(call.method, "/v1.0" + path + " ($batch)", result.status)
        return result


def _unquote(text: str) -> str:
    return text.replace("''", "'")


def _filter_clause(clause: str) -> Callable[[dict[str, Any]], bool] | None:
    """One ``$filter`` clause: ``p eq 'v'``, ``p/any(t:t eq 'v')``, ``startswith(p,'v')``."""
    m = re.fullmatch(r"(\w+)\s+eq\s+'((?:[^']|'')*)'", clause)
    if m:
        prop, value = m.group(1), _unquote(m.group(2)).lower()
        return lambda item: str(item.get(prop, "")).lower() == value
    m = re.fullmatch(r"(\w+)/any\((\w+):\s*\2\s+eq\s+'((?:[^']|'')*)'\)", clause)
    if m:
        prop, value = m.group(1), _unquote(m.group(3)).lower()
        return lambda item: any(str(v).lower() == value for v in item.get(prop) or [])
    m = re.fullmatch(r"startswith\((\w+),\s*'((?:[^']|'')*)'\)", clause)
    if m:
        prop, value = m.group(1), _unquote(m.group(2)).lower()
        return lambda item: str(item.get(prop, "")).lower().startswith(value)
    return None

