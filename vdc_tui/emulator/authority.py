"""The identity platform part: discovery, device code, token endpoint, device-login page.

Shapes and codes follow research/identity.md §1–3; choices where Entra is undocumented are
listed at the end of SCENARIOS.md.

Discovery, the device-code flow and the token endpoint's grants live together: they are one
protocol (the token endpoint redeems what the device flow issued, under the discovery's
issuer), and the device-login page is their only user interface. The checks of a
certificate's client assertion are in :mod:`.client_assertion`.
"""

from __future__ import annotations

import html
import re
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from vdc_tui.emulator.client_assertion import LOGIN_HOSTS, check_client_assertion
from vdc_tui.emulator.core import EmulatorCore, client_info
from vdc_tui.emulator.scenario import GLOBAL_ADMINISTRATOR
from vdc_tui.emulator.state import DeviceFlow, Tenant, User

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
MULTI_TENANT = ("common", "organizations")
OIDC_SCOPES = frozenset({"openid", "profile", "offline_access", "email"})
#: Role template every member user carries in ``wids`` (Entra's "default user" role).
DEFAULT_USER_WID = "b79fbf4d-3ef9-4689-8143-76b194e85509"
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_DNS = re.compile(r"^(?=.{1,253}$)([a-z0-9-]{1,63}\.)+[a-z0-9-]{2,63}$", re.I)
_CLOUD_INSTANCE = {"global": "microsoftonline.com", "usgov": "microsoftonline.us",
                   "usgovdod": "microsoftonline.us", "china": "partner.microsoftonline.cn"}
_SUB_SCOPE = {"usgov": "DODCON", "usgovdod": "DOD"}


async def read_form(request: Request) -> dict[str, str]:
    """A urlencoded form body as a dict (first value of each key)."""
    body = (await request.body()).decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


class Authority:
    """Handlers of the identity endpoints over one :class:`EmulatorCore`."""

    def __init__(self, core: EmulatorCore) -> None:
        self.core = core

    def routes(self) -> list[Route]:
        """Starlette routes of the identity part."""
        return [
            Route("/common/discovery/instance", self.instance_discovery, methods=["GET"]),
            Route("/devicelogin", self.device_login_page, methods=["GET", "POST"]),
            Route("/devicelogin/complete", self.device_login_complete, methods=["POST"]),
            Route("/{tenant}/v2.0/.well-known/openid-configuration", self.openid_configuration,
                  methods=["GET"]),
            Route("/{tenant}/discovery/v2.0/keys", self.keys, methods=["GET"]),
            Route("/{tenant}/oauth2/v2.0/devicecode", self.device_code, methods=["POST"]),
            Route("/{tenant}/oauth2/v2.0/token", self.token, methods=["POST"]),
        ]

    # -- discovery -------------------------------------------------------------------------
    def _tenant_problem(self, request: Request, name: str, *, discovery: bool) -> Response | None:
        if name.lower() in MULTI_TENANT or self.core.directory.resolve_tenant(name):
            return None
        if not (_GUID.match(name) or _DNS.match(name)):
            return self.core.entra_error(
                request, 400, "invalid_request", 900023,
                f"Specified tenant identifier '{name}' is neither a valid DNS name, nor a "
                "valid external domain.")
        return self.core.entra_error(
            request, 400, "invalid_tenant" if discovery else "invalid_request", 90002,
            f"Tenant '{name}' not found. Check to make sure you have the correct tenant ID and "
            "are signing into the correct cloud. Check with your subscription administrator, "
            "this may happen if there are no active subscriptions for the tenant.")

    async def openid_configuration(self, request: Request) -> Response:
        """``GET /{tenant}/v2.0/.well-known/openid-configuration``."""
        name = request.path_params["tenant"]
        problem = self._tenant_problem(request, name, discovery=True)
        if problem is not None:
            return problem
        host = self.core.host
        tenant = self.core.directory.resolve_tenant(name)
        seg = tenant.id if tenant else name.lower()
        issuer_tid = tenant.id if tenant else "{tenantid}"
        cloud = tenant.spec.cloud if tenant else "global"
        doc: dict[str, Any] = {
            "token_endpoint": f"{host}/{seg}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt",
                                                      "client_secret_basic"],
            "jwks_uri": f"{host}/{seg}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{host}/{issuer_tid}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{self.core.graph_url}/oidc/userinfo",
            "authorization_endpoint": f"{host}/{seg}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{host}/{seg}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{host}/{seg}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name",
                                 "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat",
                                 "auth_time", "acr", "nonce", "preferred_username", "name",
                                 "tid", "ver", "at_hash", "c_hash", "email"],
            "kerberos_endpoint": f"{host}/{seg}/kerberos",
            "tenant_region_scope": (tenant.spec.region or ("USGov" if cloud.startswith("usgov")
                                                           else "NA")) if tenant else None,
            "cloud_instance_name": _CLOUD_INSTANCE.get(cloud, "microsoftonline.com"),
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": urlsplit(self.core.graph_url).netloc,
            "rbac_url": "https://pas.windows.net",
        }
        if tenant and cloud in _SUB_SCOPE:
            doc["tenant_region_sub_scope"] = _SUB_SCOPE[cloud]
        return JSONResponse(doc)

    async def instance_discovery(self, request: Request) -> Response:
        """``GET /common/discovery/instance`` (MSAL's instance discovery)."""
        endpoint = request.query_params.get("authorization_endpoint", "")
        parts = urlsplit(endpoint)
        segments = [s for s in parts.path.split("/") if s]
        tenant = segments[0] if segments else "common"
        host_here = urlsplit(self.core.host).netloc
        known = {h for hosts in LOGIN_HOSTS.values() for h in hosts}
        if endpoint and (parts.netloc.lower() != host_here.lower()
                         and (parts.hostname or "").lower() not in known):
            # identity.md §3: an unknown host is ``invalid_instance`` (what makes MSAL's
            # authority validation refuse a mistyped or foreign authority).
            return self.core.entra_error(request, 400, "invalid_instance", 50049,
                                         "Unknown or invalid instance.")
        return JSONResponse({
            "tenant_discovery_endpoint":
                f"{self.core.host}/{tenant}/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [
                {"preferred_network": "login.microsoftonline.com",
                 "preferred_cache": "login.windows.net",
                 "aliases": ["login.microsoftonline.com", "login.windows.net",
                             "login.microsoft.com", "sts.windows.net"]},
                {"preferred_network": "login.partner.microsoftonline.cn",
                 "preferred_cache": "login.partner.microsoftonline.cn",
                 "aliases": ["login.partner.microsoftonline.cn", "login.chinacloudapi.cn"]},
                {"preferred_network": "login.microsoftonline.us",
                 "preferred_cache": "login.microsoftonline.us",
                 "aliases": ["login.microsoftonline.us", "login.usgovcloudapi.net"]},
                {"preferred_network": host_here, "preferred_cache": host_here,
                 "aliases": [host_here]},
            ],
        })

    async def keys(self, request: Request) -> Response:
        """``GET /{tenant}/discovery/v2.0/keys`` (JWKS of the token key)."""
        return JSONResponse(self.core.pki.jwks())

    # -- device code -----------------------------------------------------------------------
    def _settings(self) -> tuple[int, int, float | None]:
        f = self.core.faults
        d = self.core.scenario.device_code
        lifetime = f.device_code_lifetime if f.device_code_lifetime is not None else d.lifetime
        interval = f.device_code_interval if f.device_code_interval is not None else d.interval
        auto = f.auto_approve_after if f.auto_approve_after is not None else d.auto_approve_after
        return int(lifetime), int(interval), auto

    async def device_code(self, request: Request) -> Response:
        """``POST /{tenant}/oauth2/v2.0/devicecode``."""
        name = request.path_params["tenant"]
        problem = self._tenant_problem(request, name, discovery=False)
        if problem is not None:
            return problem
        form = await read_form(request)
        for key in ("client_id", "scope"):
            if not form.get(key):
                return self.core.entra_error(
                    request, 400, "invalid_request", 900144,
                    f"The request body must contain the following parameter: '{key}'.")
        client_id = form["client_id"]
        allowed = self.core.scenario.public_clients
        if allowed is not None and client_id.lower() not in {c.lower() for c in allowed}:
            return self._app_not_found(request, client_id, name)
        directory = self.core.directory
        lifetime, interval, _ = self._settings()
        now = self.core.now()
        with directory.lock:
            live = {f.user_code for f in directory.device_flows.values()
                    if f.status == "pending" and f.expires_at > now}
            user_code = self.core.scenario.device_code.user_code
            if not user_code or user_code in live:
                user_code = directory.new_user_code()
            flow = DeviceFlow(
                device_code=directory.new_secret(),
                user_code=user_code, client_id=client_id, tenant=name,
                scopes=form["scope"].split(), created=now, expires_at=now + lifetime,
                interval=interval,
            )
            directory.device_flows[flow.device_code] = flow
        verification = f"{self.core.host}/devicelogin"
        return JSONResponse({
            "user_code": flow.user_code,
            "device_code": flow.device_code,
            "verification_uri": verification,
            "expires_in": lifetime,
            "interval": interval,
            "message": f"To sign in, use a web browser to open the page {verification} and "
                       f"enter the code {flow.user_code} to authenticate.",
        })

    def find_flow(self, user_code: str) -> DeviceFlow | None:
        """The most recent device flow with a user code (case-insensitive)."""
        code = user_code.strip().upper().replace("-", "")
        with self.core.directory.lock:
            found = [f for f in self.core.directory.device_flows.values() if f.user_code == code]
        return max(found, key=lambda f: f.created) if found else None

    def eligible_users(self, flow: DeviceFlow) -> list[User]:
        """Users who may sign in to a flow: its tenant's, or everyone's for common."""
        directory = self.core.directory
        if flow.tenant.lower() in MULTI_TENANT:
            return [u for t in directory.tenants.values() for u in t.users.values()]
        tenant = directory.resolve_tenant(flow.tenant)
        return list(tenant.users.values()) if tenant else []

    def complete_flow(self, user_code: str, upn: str | None, *, approve: bool) -> DeviceFlow:
        """Approve (as ``upn``) or decline a pending code; ``ValueError`` says why not."""
        flow = self.find_flow(user_code)
        now = self.core.now()
        if flow is None:
            raise ValueError("That code wasn't recognised.")
        with self.core.directory.lock:
            if flow.status != "pending":
                raise ValueError("That code has already been used.")
            if flow.expires_at <= now:
                raise ValueError("That code has expired.")
            if approve:
                user = next((u for u in self.eligible_users(flow)
                             if upn and u.upn.lower() == upn.lower()), None)
                if user is None:
                    raise ValueError("That account is not in the tenant the code was issued for.")
                flow.user = user
                flow.status = "approved"
            else:
                flow.status = "declined"
        return flow

    # -- token endpoint --------------------------------------------------------------------
    async def token(self, request: Request) -> Response:
        """``POST /{tenant}/oauth2/v2.0/token``: device code, refresh token, client credentials."""
        name = request.path_params["tenant"]
        problem = self._tenant_problem(request, name, discovery=False)
        if problem is not None:
            return problem
        form = await read_form(request)
        grant = form.get("grant_type", "")
        if not grant:
            return self.core.entra_error(
                request, 400, "invalid_request", 900144,
                "The request body must contain the following parameter: 'grant_type'.")
        if grant == DEVICE_GRANT:
            return self._device_token(request, form)
        if grant == "client_credentials":
            return self._client_credentials(request, name, form)
        if grant == "refresh_token":
            return self._refresh(request, form)
        return self.core.entra_error(
            request, 400, "unsupported_grant_type", 70003,
            "The app requested an unsupported grant type.")

    def _device_token(self, request: Request, form: dict[str, str]) -> Response:
        core = self.core
        code = form.get("device_code") or form.get("code") or ""
        now = core.now()
        directory = core.directory
        with directory.lock:
            flow = directory.device_flows.get(code)
            if flow is None or flow.client_id.lower() != form.get("client_id", "").lower():
                return core.entra_error(
                    request, 400, "bad_verification_code", 70018,
                    "The provided value for the input parameter 'device_code' is not valid.")
            if flow.status == "redeemed":
                return core.entra_error(
                    request, 400, "invalid_grant", 54005,
                    "OAuth2 Authorization code was already redeemed, please retry with a new "
                    "valid code or use an existing refresh token.")
            if flow.expires_at <= now:
                return core.entra_error(
                    request, 400, "expired_token", 70020,
                    "The provided value for the input parameter 'device_code' is not valid. "
                    "This device code has expired.")
            if flow.status == "declined":
                return core.entra_error(
                    request, 400, "authorization_declined", 65004,
                    "User declined to consent to access the app.")
            if flow.status == "pending":
                _, _, auto = self._settings()
                if auto is not None and now >= flow.created + auto:
                    upn = core.scenario.device_code.auto_approve_user or self._default_admin()
                    user = next((u for u in self.eligible_users(flow)
                                 if upn and u.upn.lower() == upn.lower()), None)
                    if user is not None:
                        flow.user, flow.status = user, "approved"
            if flow.status == "pending":
                if core.faults.slow_down > 0:
                    core.faults.slow_down -= 1
                    return core.entra_error(request, 400, "slow_down", None,
                                            "The client is polling too quickly.")
                return core.entra_error(
                    request, 400, "authorization_pending", 70016,
                    "OAuth 2.0 device flow error. Authorization is pending. Continue polling.")
            if core.faults.block_device_code:
                return core.entra_error(
                    request, 400, "invalid_grant", 53003,
                    "Access has been blocked by Conditional Access policies. The access policy "
                    "does not allow token issuance.", suberror="message_only")
            assert flow.user is not None
            flow.status = "redeemed"
            user = flow.user
        return self._delegated_tokens(request, user, flow.client_id, flow.scopes,
                                      client_info_requested=form.get("client_info") == "1",
                                      consent=True)

    def _default_admin(self) -> str | None:
        for tenant in self.core.directory.tenants.values():
            for user in tenant.users.values():
                if GLOBAL_ADMINISTRATOR in user.roles:
                    return user.upn
        return None

    def _resource_for(self, tenant: Tenant, uri: str) -> Any:
        """The resource principal a scope's resource URI names, or ``None``."""
        want = uri.rstrip("/").lower()
        if want == self.core.graph_url.lower():
            return self.core.directory.resource_principal(tenant.id, "graph")
        for sp in self.core.directory.service_principals.group(tenant.id):
            if any(n.rstrip("/").lower() == want for n in sp.service_principal_names):
                return sp
        return None

    def _split_scopes(self, scopes: list[str]) -> tuple[str, list[str]]:
        """Resource URI and scope values of a delegated request (Graph when unprefixed)."""
        resource = self.core.graph_url
        values: list[str] = []
        for scope in scopes:
            if scope in OIDC_SCOPES:
                continue
            if "/" in scope and "://" in scope:
                base, _, value = scope.rpartition("/")
                resource = base
                values.append(value)
            else:
                values.append(scope)
        return resource, values

    def _delegated_tokens(self, request: Request, user: User, client_id: str,
                          scopes: list[str], *, client_info_requested: bool,
                          refresh_grant: bool = False, consent: bool = False) -> Response:
        """The success answer (identity.md §1 "Success"): ``refresh_token`` when
        ``offline_access`` was requested (a refresh grant always rolls it), ``id_token`` when
        ``openid`` was, ``client_info`` when the request carried ``client_info=1``.

        ``consent``: the user approved a sign-in asking for scopes dynamically; the consent
        is recorded in the client's ``oAuth2PermissionGrant`` on the resource (created or
        extended, and the client's principal created if the tenant had none). Tokens then
        carry every scope consented for the user, not only those asked for (cumulative
        consent: msgraph-sdk-powershell#587)."""
        core = self.core
        tenant = core.directory.tenants[user.tenant_id]
        resource, values = self._split_scopes(scopes)
        if values == [".default"] or not values:
            values = list(core.scenario.default_delegated_scopes)
        else:
            target = self._resource_for(tenant, resource)
            if target is not None:
                directory = core.directory
                with directory.lock:
                    if consent:
                        directory.consent(
                            tenant, user, client_id, target, values,
                            for_organization=core.scenario.device_code.consent_for_organization)
                    held = directory.consented_scopes(tenant.id, user.id, client_id, target.id)
                values += [s for s in held if s not in values]
        now = int(core.now())
        lifetime = core.scenario.token_lifetime
        wids = [*user.all_roles, DEFAULT_USER_WID]
        access = core.sign({
            "aud": resource, "iss": f"https://sts.windows.net/{tenant.id}/", "iat": now,
            "nbf": now, "exp": now + lifetime, "acr": "1", "amr": ["pwd", "mfa"],
            "app_displayname": "device code client", "appid": client_id, "appidacr": "0",
            "idtyp": "user", "name": user.display_name, "oid": user.id,
            "scp": " ".join(values), "sub": user.id, "tid": tenant.id,
            "unique_name": user.upn, "upn": user.upn, "uti": str(uuid.uuid4()),
            "ver": "1.0", "wids": wids,
        })
        id_token = core.sign({
            "aud": client_id, "iss": f"{core.host}/{tenant.id}/v2.0", "iat": now, "nbf": now,
            "exp": now + lifetime, "name": user.display_name, "oid": user.id,
            "preferred_username": user.upn, "sub": user.id, "tid": tenant.id, "ver": "2.0",
        })
        oidc = [s for s in ("openid", "profile", "email", "offline_access") if s in scopes]
        answer: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": " ".join([*values, *oidc]),
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": access,
        }
        if "offline_access" in scopes or refresh_grant:
            refresh = core.directory.new_secret(64)
            with core.directory.lock:
                core.directory.refresh_tokens[refresh] = (user.tenant_id, user.id, client_id)
            answer["refresh_token"] = refresh
        if "openid" in scopes:
            answer["id_token"] = id_token
        if client_info_requested:
            answer["client_info"] = client_info(user.id, tenant.id)
        return JSONResponse(answer)

    def _refresh(self, request: Request, form: dict[str, str]) -> Response:
        entry = self.core.directory.refresh_tokens.get(form.get("refresh_token", ""))
        if entry is None or entry[2].lower() != form.get("client_id", "").lower():
            return self.core.entra_error(
                request, 400, "invalid_grant", 9002313,
                "Invalid request. Request is malformed or invalid.")
        tenant_id, user_id, client_id = entry
        user = self.core.directory.tenants[tenant_id].users[user_id]
        return self._delegated_tokens(request, user, client_id, form.get("scope", "").split(),
                                      client_info_requested=form.get("client_info") == "1",
                                      refresh_grant=True)

    def _app_not_found(self, request: Request, app_id: str, tenant: str) -> Response:
        return self.core.entra_error(
            request, 400, "unauthorized_client", 700016,
            f"Application with identifier '{app_id}' was not found in the directory "
            f"'{tenant}'. This can happen if the application has not been installed by the "
            "administrator of the tenant or consented to by any user in the tenant. You may "
            "have sent your authentication request to the wrong tenant.")

    def _client_credentials(self, request: Request, name: str, form: dict[str, str]) -> Response:
        core = self.core
        directory = core.directory
        tenant = directory.resolve_tenant(name)
        if tenant is None:  # common/organizations cannot issue app-only tokens
            return core.entra_error(
                request, 400, "invalid_request", 90002,
                f"Tenant '{name}' not found. Client credential flows need a tenant id or a "
                "verified domain.")
        client_id = form.get("client_id", "")
        if not client_id:
            return core.entra_error(
                request, 400, "invalid_request", 900144,
                "The request body must contain the following parameter: 'client_id'.")
        scope = form.get("scope", "")
        if not scope.endswith("/.default") or " " in scope.strip():
            return core.entra_error(
                request, 400, "invalid_scope", 1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows "
                "must have a scope value with /.default suffixed to the resource identifier "
                "(application ID URI).")
        now = core.now()
        with directory.lock:
            app = directory.application_by_app_id(client_id, now=now)
            if app is None or (app.tenant_id != tenant.id
                               and app.sign_in_audience == "AzureADMyOrg"):
                return self._app_not_found(request, client_id, name)
            sp = directory.principal_by_app_id(tenant.id, client_id, now=now)
            if sp is None:
                return core.entra_error(
                    request, 401, "invalid_client", 7000229,
                    f"The client application {client_id} is missing service principal in the "
                    f"tenant {tenant.id}. See instructions here: "
                    "https://go.microsoft.com/fwlink/?linkid=2225119")
            keys = [k for k in app.key_credentials if directory.visible(k, now)]
        refused = check_client_assertion(core, request, tenant, client_id, form, keys, now)
        if refused is not None:
            return refused
        resource_uri = scope[: -len("/.default")]
        resource = self._resource_for(tenant, resource_uri)
        if resource is None:
            return core.entra_error(
                request, 400, "invalid_resource", 500011,
                f"The resource principal named {resource_uri} was not found in the tenant "
                f"named {tenant.spec.display_name}. This can happen if the application has not "
                "been installed by the administrator of the tenant or consented to by any user "
                "in the tenant. You might have sent your authentication request to the wrong "
                "tenant.")
        with directory.lock:
            roles = directory.granted_role_values(sp.id, resource, now)
        issued = int(now)
        lifetime = core.scenario.token_lifetime
        token_claims: dict[str, Any] = {
            "aud": resource_uri, "iss": f"https://sts.windows.net/{tenant.id}/",
            "iat": issued, "nbf": issued, "exp": issued + lifetime,
            "app_displayname": app.display_name, "appid": client_id, "appidacr": "2",
            "idp": f"https://sts.windows.net/{tenant.id}/", "idtyp": "app", "oid": sp.id,
            "sub": sp.id, "tid": tenant.id, "uti": str(uuid.uuid4()), "ver": "1.0",
        }
        if roles:  # Entra leaves the claim out when nothing is granted
            token_claims["roles"] = roles
        return JSONResponse({"token_type": "Bearer", "expires_in": lifetime,
                             "ext_expires_in": lifetime,
                             "access_token": core.sign(token_claims)})

    # -- device login page -----------------------------------------------------------------
    def _page(self, body: str, status: int = 200) -> HTMLResponse:
        return HTMLResponse(
            "<!doctype html><html><head><meta charset='utf-8'><title>Enter code - "
            "vdc-tui emulator</title><style>body{font-family:sans-serif;max-width:32em;"
            "margin:3em auto}input,button{font-size:1.1em;margin:.3em 0}</style></head><body>"
            f"<h1>Enter code</h1>{body}</body></html>", status_code=status)

    async def device_login_page(self, request: Request) -> Response:
        """``/devicelogin``: type the code (GET), then pick a user (POST)."""
        form = await read_form(request) if request.method == "POST" else {}
        code = form.get("otc") or request.query_params.get("otc") or ""
        if request.method == "GET" or not code:
            return self._page(
                "<p>Enter the code displayed on your app or device.</p>"
                "<form method='post' action='/devicelogin'>"
                f"<input name='otc' autofocus value='{html.escape(code, quote=True)}'>"
                "<button type='submit'>Next</button></form>")
        flow = self.find_flow(code)
        if flow is None or flow.status != "pending" or flow.expires_at <= self.core.now():
            return self._page("<p role='alert'>That code wasn't recognised or has expired.</p>"
                              "<p><a href='/devicelogin'>Try again</a></p>", 400)
        options = "".join(
            f"<p><label><input type='radio' name='upn' value='{html.escape(u.upn, quote=True)}'"
            f"{' checked' if i == 0 else ''}> {html.escape(u.display_name)} "
            f"({html.escape(u.upn)})</label></p>"
            for i, u in enumerate(self.eligible_users(flow))
        )
        return self._page(
            "<p>Pick an account. Are you trying to sign in to the app that showed you this "
            "code?</p><form method='post' action='/devicelogin/complete'>"
            f"<input type='hidden' name='otc' value='{html.escape(flow.user_code, quote=True)}'>"
            f"{options}<button name='action' value='approve'>Continue</button> "
            "<button name='action' value='decline'>Cancel</button></form>")

    async def device_login_complete(self, request: Request) -> Response:
        """``POST /devicelogin/complete``: approve or decline."""
        form = await read_form(request)
        approve = form.get("action") == "approve"
        try:
            self.complete_flow(form.get("otc", ""), form.get("upn"), approve=approve)
        except ValueError as exc:
            return self._page(f"<p role='alert'>{html.escape(str(exc))}</p>", 400)
        if approve:
            return self._page("<p>You have signed in to the application on your device. You "
                              "may now close this window.</p>")
        return self._page("<p>You declined the sign-in. You may now close this window.</p>")
