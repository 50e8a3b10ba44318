"""The Graph part's entry: authentication, routing with the permission check, and the
handler modules it serves (one line each in :data:`HANDLERS`)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from vdc_tui.emulator import jws, shapes
from vdc_tui.emulator.core import EmulatorCore, GraphResult
from vdc_tui.emulator.graph.app_lifecycle import AppLifecycleHandlers
from vdc_tui.emulator.graph.applications import ApplicationHandlers
from vdc_tui.emulator.graph.base import GraphCall, Handlers, Route
from vdc_tui.emulator.graph.batch import BatchRunner
from vdc_tui.emulator.graph.delegated_grants import DelegatedGrantHandlers
from vdc_tui.emulator.graph.directory import DirectoryHandlers
from vdc_tui.emulator.graph.permissions import PERMISSIONS, Permission
from vdc_tui.emulator.graph.principals import PrincipalHandlers
from vdc_tui.emulator.graph.roles import RoleHandlers
from vdc_tui.emulator.state import Tenant

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
ACCESS_DENIED = "Insufficient privileges to complete the operation."

#: The handler modules; a new one registers its routes by adding its class here.
HANDLERS: tuple[type[Handlers], ...] = (
    DirectoryHandlers,
    ApplicationHandlers,
    PrincipalHandlers,
    RoleHandlers,
    AppLifecycleHandlers,
    DelegatedGrantHandlers,
)


class GraphApi:
    """The Graph part over one :class:`EmulatorCore`."""

    def __init__(self, core: EmulatorCore) -> None:
        self.core = core
        self.routes: list[Route] = [r for cls in HANDLERS for r in cls(core).routes()]

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
            result = BatchRunner(self.core, self.dispatch).run(body, claims, tenant, crid)
        else:
            result = self.dispatch(GraphCall(request.method, path, query, body, crid, claims,
                                             tenant))
        return self._respond(result)

    def _respond(self, result: GraphResult) -> Response:
        headers = dict(result.headers or {})
        if result.body is None:
            return Response(status_code=result.status, headers=headers)
        headers.update(shapes.content_headers(result.status, True))
        return Response(json.dumps(result.body), status_code=result.status, headers=headers)

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

    def dispatch(self, call: GraphCall) -> GraphResult:
        """Route one authenticated request and check its permission."""
        path = call.path.rstrip("/") or "/"
        matched_path = False
        for r in self.routes:
            match = r.pattern.fullmatch(path)
            if match is None:
                continue
            matched_path = True
            if r.method != call.method.upper():
                continue
            denied = (None if r.permission is None
                      else self.authorize(call, PERMISSIONS[r.permission]))
            if denied is not None:
                return denied
            with self.core.directory.lock:
                return r.handler(call, match)
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
