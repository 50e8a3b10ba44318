"""The emulator against Microsoft's documented behaviour, where an audit found it lax.

Each test names the behaviour and cites the section of ``shared/docs/research`` it comes
from; the requests are raw HTTP (no part of our client), so a client that happened to send
the right thing cannot hide a lax emulator.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
import uuid
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from support.emulator import (
    DEMO_APP,
    DEMO_TENANT,
    DEVICE_GRANT,
    JWT_BEARER,
    StartEmulator,
    _b64url,
    claims_of,
    client,
    client_credentials,
    delegated_token,
    demo_credential,
    graph,
)

from vdc_tui.emulator import EmulatorServer, FakeClock

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
#: Microsoft Graph Command Line Tools, a public client the demo scenario knows.
PUBLIC_CLIENT = "14d82eec-204b-4c2f-b7e8-296a70dab67e"


def _signed(key: rsa.RSAPrivateKey, cert: x509.Certificate, claims: dict[str, Any]) -> str:
    """A PS256 client assertion with exactly ``claims`` (and the SHA-256 thumbprint)."""
    header = {"alg": "PS256", "typ": "JWT",
              "x5t#S256": _b64url(cert.fingerprint(hashes.SHA256()))}
    signing_input = (_b64url(json.dumps(header).encode()) + "."
                     + _b64url(json.dumps(claims).encode())).encode()
    signature = key.sign(signing_input, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                                    salt_length=32), hashes.SHA256())
    return signing_input.decode() + "." + _b64url(signature)


def _app_token_request(emu: EmulatorServer, **claims: Any) -> httpx.Response:
    """A client-credentials request of the demo app whose assertion carries MSAL's claims
    overridden by ``claims`` (a value of ``None`` leaves the claim out)."""
    key, cert = demo_credential()
    endpoint = f"{emu.authority_host}/{DEMO_TENANT}/oauth2/v2.0/token"
    now = time.time()
    base: dict[str, Any] = {"aud": endpoint, "iss": DEMO_APP, "sub": DEMO_APP,
                            "jti": str(uuid.uuid4()), "iat": now, "exp": now + 600}
    base.update(claims)
    body = {k: v for k, v in base.items() if v is not None}
    with client(emu) as http:
        return http.post(endpoint, data={
            "grant_type": "client_credentials", "client_id": DEMO_APP,
            "scope": f"{emu.graph_url}/.default", "client_assertion_type": JWT_BEARER,
            "client_assertion": _signed(key, cert, body)})


# -- client assertions (identity.md §2) ----------------------------------------------------

def test_assertion_with_msal_claims_is_accepted(demo_emulator: EmulatorServer) -> None:
    # The control for the refusals below: the same request with MSAL's claims succeeds.
    response = _app_token_request(demo_emulator)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("aud", [
    "https://attacker.example/{tenant}/oauth2/v2.0/token",
    "http://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
    "https://login.microsoftonline.us/{tenant}/oauth2/v2.0/token",  # another cloud's server
    "https://127.0.0.2/{tenant}/oauth2/v2.0/token",
])
def test_assertion_audience_must_be_the_login_server(demo_emulator: EmulatorServer,
                                                     aud: str) -> None:
    # identity.md §2 (aud = https://login.microsoftonline.com/{tenantId}/oauth2/v2.0/token;
    # Microsoft's certificate-credentials page: the recipient is the login server) and the
    # AADSTS50027 row (invalid JWT: audience). A token endpoint path on another host is not
    # the audience.
    response = _app_token_request(demo_emulator, aud=aud.format(tenant=DEMO_TENANT))
    body = response.json()
    assert response.status_code == 401 and body["error"] == "invalid_client", body
    assert body["error_codes"] == [50027]


@pytest.mark.parametrize("host", ["login.microsoftonline.com", "login.windows.net"])
def test_assertion_audience_on_a_global_login_alias_is_accepted(
        demo_emulator: EmulatorServer, host: str) -> None:
    # identity.md §4 set-up (B): real hosts routed to the emulator keep ``aud`` as in
    # production; §3 lists the aliases of the global login server.
    response = _app_token_request(
        demo_emulator, aud=f"https://{host}/{DEMO_TENANT}/oauth2/v2.0/token")
    assert response.status_code == 200, response.text


def test_assertion_without_jti_is_refused(demo_emulator: EmulatorServer) -> None:
    # identity.md §2: jti is a GUID in the documented claims (MSAL sends a uuid4); the
    # AADSTS50027 row covers a JWT with invalid claims.
    response = _app_token_request(demo_emulator, jti=None)
    body = response.json()
    assert response.status_code == 401 and body["error_codes"] == [50027], body


# -- the device-code flow's success answer (identity.md §1 "Success") ----------------------

def _device_token(emu: EmulatorServer, scope: str, *, info: bool) -> dict[str, Any]:
    with client(emu) as http:
        code = http.post("/organizations/oauth2/v2.0/devicecode", data={
            "client_id": PUBLIC_CLIENT, "scope": scope}).json()
        emu.approve_device_code(code["user_code"], "admin@contoso.com")
        form = {"grant_type": DEVICE_GRANT, "client_id": PUBLIC_CLIENT,
                "device_code": code["device_code"]}
        if info:
            form["client_info"] = "1"
        response = http.post("/organizations/oauth2/v2.0/token", data=form)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def test_device_token_has_refresh_id_token_and_client_info_only_when_asked(
        start_emulator: StartEmulator) -> None:
    # identity.md §1: refresh_token when offline_access was requested, id_token when openid
    # was, client_info when the request carried client_info=1.
    emu = start_emulator("demo")
    bare = _device_token(emu, f"{emu.graph_url}/User.Read", info=False)
    assert {"refresh_token", "id_token", "client_info"}.isdisjoint(bare), bare
    assert bare["access_token"] and bare["token_type"] == "Bearer"
    full = _device_token(emu, f"{emu.graph_url}/User.Read offline_access openid profile",
                         info=True)
    assert {"refresh_token", "id_token", "client_info"} <= set(full)
    only_refresh = _device_token(emu, f"{emu.graph_url}/User.Read offline_access", info=False)
    assert "refresh_token" in only_refresh and "id_token" not in only_refresh


def test_device_code_redeemed_twice_is_invalid_grant(start_emulator: StartEmulator) -> None:
    # identity.md §1: "A device code is single-use: redeeming it again … fails".
    emu = start_emulator("demo")
    with client(emu) as http:
        code = http.post("/organizations/oauth2/v2.0/devicecode", data={
            "client_id": PUBLIC_CLIENT, "scope": "User.Read"}).json()
        emu.approve_device_code(code["user_code"], "admin@contoso.com")
        form = {"grant_type": DEVICE_GRANT, "client_id": PUBLIC_CLIENT,
                "device_code": code["device_code"]}
        assert http.post("/organizations/oauth2/v2.0/token", data=form).status_code == 200
        again = http.post("/organizations/oauth2/v2.0/token", data=form)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


# -- throttling and outages (identity.md §5 "Throttling", §1 "Entra error JSON") ----------

AADSTS_TEXT = re.compile(r"^AADSTS\d+: .+\r\nTrace ID: [0-9a-f-]{36}\r\nCorrelation ID: "
                         r"(?P<corr>[0-9a-f-]{36})\r\nTimestamp: \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$")


@pytest.mark.parametrize("fault", [{"throttle_every": 1, "throttle_path": "*/token"},
                                   {"unavailable_every": 1, "unavailable_path": "*/token"},
                                   {"signin_fault": "unavailable",
                                    "signin_fault_on": "device_poll"}])
def test_identity_throttling_and_outage_answers_are_entra_errors(
        start_emulator: StartEmulator, fault: dict[str, Any]) -> None:
    # identity.md §1: every token-endpoint error has error, error_description with the
    # AADSTS code, trace and correlation ids and timestamp, error_codes, timestamp, trace_id,
    # correlation_id (echoing client-request-id); §5: 429/503 carry Retry-After.
    emu = start_emulator("demo", clock=FakeClock(1_700_000_000.0), retry_after=7, **fault)
    correlation = str(uuid.uuid4())
    with client(emu) as http:
        response = http.post("/organizations/oauth2/v2.0/token", headers={
            "client-request-id": correlation}, data={
            "grant_type": DEVICE_GRANT, "client_id": PUBLIC_CLIENT, "device_code": "x"})
    assert response.status_code in (429, 503)
    assert response.headers["Retry-After"] == "7"
    body = response.json()
    assert body["error"] == "temporarily_unavailable" and body["error_codes"] == [90033]
    match = AADSTS_TEXT.match(body["error_description"])
    assert match and match["corr"] == correlation == body["correlation_id"], body
    assert body["timestamp"] == "2023-11-14 22:13:20Z"  # the emulator's clock
    assert body["trace_id"]


@pytest.mark.parametrize("fault", [{"throttle_every": 1}, {"unavailable_every": 1}])
def test_graph_throttling_and_outage_answers_echo_the_client_request_id(
        start_emulator: StartEmulator, fault: dict[str, Any]) -> None:
    # identity.md §5 "Graph error body": innerError {date, request-id, client-request-id}.
    emu = start_emulator("demo", retry_after=3, unavailable_path="/v1.0/*", **fault)
    crid = str(uuid.uuid4())
    with client(emu) as http:
        response = http.get("/v1.0/organization", headers={"client-request-id": crid})
    assert response.status_code in (429, 503)
    assert response.headers["Retry-After"] == "3"
    inner = response.json()["error"]["innerError"]
    assert inner["client-request-id"] == crid and inner["request-id"] != crid
    assert set(inner) == {"date", "request-id", "client-request-id"}


# -- OData paging (identity.md §5; Microsoft's paging page) --------------------------------

@pytest.mark.parametrize("top", ["0", "1000"])
def test_top_outside_1_to_999_is_400(demo_emulator: EmulatorServer, top: str) -> None:
    # Directory collections take $top from 1 to 999; Graph answers 400 to other values
    # (it does not clamp them, so a client asking for 1000 would get nothing).
    with graph(demo_emulator, delegated_token(demo_emulator)) as g:
        response = g.get("/servicePrincipals", params={"$top": top})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "Request_BadRequest"


def test_next_link_pages_through_the_whole_collection(demo_emulator: EmulatorServer) -> None:
    # Paging: every page but the last has an absolute @odata.nextLink that keeps the query;
    # following it yields the rest once each.
    with graph(demo_emulator, delegated_token(demo_emulator)) as g:
        everything = g.get("/servicePrincipals", params={"$select": "id"}).json()["value"]
        assert len(everything) >= 3
        seen: list[str] = []
        page = g.get("/servicePrincipals", params={"$top": "2", "$select": "id"}).json()
        while True:
            assert 0 < len(page["value"]) <= 2
            seen += [sp["id"] for sp in page["value"]]
            link = page.get("@odata.nextLink")
            if link is None:
                break
            assert link.startswith(f"{demo_emulator.graph_url}/v1.0/servicePrincipals?")
            assert "%24select=id" in link or "$select=id" in link
            page = g.get(link).json()
    assert sorted(seen) == sorted(sp["id"] for sp in everything)


# -- $select (identity.md §5: "key is returned only with $select=keyCredentials") ----------

def test_select_returns_only_the_selected_properties(demo_emulator: EmulatorServer) -> None:
    # Graph answers a $select with the selected properties only (and OData annotations):
    # not even ``id`` unless asked for, so a client must select what it reads.
    with graph(demo_emulator, delegated_token(demo_emulator)) as g:
        listed = g.get("/servicePrincipals", params={"$select": "appId"}).json()["value"]
        one = g.get(f"/servicePrincipals(appId='{GRAPH_APP_ID}')",
                    params={"$select": "appRoles"}).json()
    assert listed and all(set(sp) == {"appId"} for sp in listed), listed[0]
    assert set(one) == {"@odata.context", "appRoles"}


@pytest.mark.parametrize("path", ["/applications", "/servicePrincipals",
                                  f"/servicePrincipals(appId='{GRAPH_APP_ID}')",
                                  f"/applications(appId='{DEMO_APP}')"])
def test_select_of_a_property_the_type_lacks_is_400(demo_emulator: EmulatorServer,
                                                    path: str) -> None:
    # Graph's OData layer refuses a $select naming no property of the type ("Could not
    # find a property named …"); a typo must not pass here and fail against Graph.
    with graph(demo_emulator, delegated_token(demo_emulator)) as g:
        response = g.get(path, params={"$select": "id,appld"})
    assert response.status_code == 400, response.text
    assert "appld" in response.json()["error"]["message"]


# -- token endpoint: claims per resource, missing parameters (identity.md §2) -------------

@pytest.mark.parametrize(("scope", "aud", "role"), [
    ("https://contoso.sharepoint.com/.default", "https://contoso.sharepoint.com",
     "Sites.FullControl.All"),
    ("https://outlook.office365.com/.default", "https://outlook.office365.com",
     "full_access_as_app"),
    ("https://graph.microsoft.com/.default", "https://graph.microsoft.com", "User.Read.All"),
])
def test_app_token_audience_and_roles_follow_the_resource(
        demo_emulator: EmulatorServer, scope: str, aud: str, role: str) -> None:
    # identity.md §2 "Graph app-only access token claims" (aud, iss, ver 1.0, tid, appid,
    # appidacr 2, oid = sub, idtyp app, roles of that resource); design.md "Clouds and
    # endpoints": the SharePoint resource is the tenant's own host.
    response = client_credentials(demo_emulator, scope=scope)
    assert response.status_code == 200, response.text
    claims = claims_of(response.json()["access_token"])
    assert claims["aud"] == aud and role in claims["roles"]
    assert claims["iss"] == f"https://sts.windows.net/{DEMO_TENANT}/" and claims["ver"] == "1.0"
    assert claims["tid"] == DEMO_TENANT and claims["appid"] == DEMO_APP
    assert claims["appidacr"] == "2" and claims["idtyp"] == "app"
    assert claims["oid"] == claims["sub"] and "azp" not in claims
    assert all(isinstance(claims[k], int) for k in ("iat", "nbf", "exp"))


def test_sharepoint_host_of_another_tenant_is_invalid_resource(
        demo_emulator: EmulatorServer) -> None:
    # identity.md §2 AADSTS500011: the resource principal is not in the tenant.
    response = client_credentials(demo_emulator, scope="https://fabrikam.sharepoint.com/.default")
    assert response.status_code == 400 and response.json()["error_codes"] == [500011]


def test_token_request_without_grant_type_names_the_missing_parameter(
        demo_emulator: EmulatorServer) -> None:
    # identity.md §1 "Entra error JSON"; AADSTS900144 is the code the emulator already gives
    # for every other missing parameter ("must contain the following parameter").
    with client(demo_emulator) as http:
        response = http.post(f"/{DEMO_TENANT}/oauth2/v2.0/token", data={"client_id": DEMO_APP})
    body = response.json()
    assert response.status_code == 400 and body["error"] == "invalid_request"
    assert body["error_codes"] == [900144] and "'grant_type'" in body["error_description"]


@pytest.mark.parametrize(("path", "query"), [
    ("/applications", "tag/any(t:t eq 'x')"),
    ("/servicePrincipals", "appID eq 'x'"),
    ("/roleManagement/directory/roleAssignments", "principal eq 'x'"),
    ("/servicePrincipals", "startswith(displayNam,'x')"),
])
def test_filter_on_a_property_the_type_lacks_is_400(demo_emulator: EmulatorServer,
                                                    path: str, query: str) -> None:
    # Graph refuses a $filter naming no property of the type; an empty page here would hide
    # a typo that fails against Graph.
    with graph(demo_emulator, delegated_token(demo_emulator)) as g:
        response = g.get(path, params={"$filter": query})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "BadRequest"


def test_client_secret_the_app_does_not_have_is_invalid_client_7000215(
        demo_emulator: EmulatorServer) -> None:
    # identity.md §2 error table: invalid_client is 401; a client secret that is not one of
    # the app's (these apps have certificates only) is AADSTS7000215, not "the request must
    # contain client_assertion or client_secret" (7000218), which would send the operator
    # looking for a parameter that was there.
    with client(demo_emulator) as http:
        response = http.post(f"/{DEMO_TENANT}/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": DEMO_APP,
            "scope": f"{demo_emulator.graph_url}/.default", "client_secret": "not-a-secret"})
    body = response.json()
    assert response.status_code == 401 and body["error"] == "invalid_client"
    assert body["error_codes"] == [7000215]


# -- instance discovery (identity.md §3) ---------------------------------------------------

@pytest.mark.parametrize("host", ["login.microsoftonline.co", "login.example.com"])
def test_instance_discovery_of_an_unknown_host_is_invalid_instance(
        demo_emulator: EmulatorServer, host: str) -> None:
    # identity.md §3: "Unknown host → {"error":"invalid_instance",…}".
    with client(demo_emulator) as http:
        response = http.get("/common/discovery/instance", params={
            "api-version": "1.1",
            "authorization_endpoint": f"https://{host}/contoso.com/oauth2/v2.0/authorize"})
    body = response.json()
    assert response.status_code == 400 and body["error"] == "invalid_instance", body
    assert "tenant_discovery_endpoint" not in body


@pytest.mark.parametrize("host", ["login.microsoftonline.com", "login.microsoftonline.us",
                                  "login.partner.microsoftonline.cn", "login.windows.net"])
def test_instance_discovery_of_a_known_host_answers_metadata(
        demo_emulator: EmulatorServer, host: str) -> None:
    # identity.md §3: the alias groups of instance discovery.
    with client(demo_emulator) as http:
        response = http.get("/common/discovery/instance", params={
            "api-version": "1.1",
            "authorization_endpoint": f"https://{host}/contoso.com/oauth2/v2.0/authorize"})
    assert response.status_code == 200 and response.json()["tenant_discovery_endpoint"]


# -- national clouds (identity.md §3) -------------------------------------------------------

GOV_TENANT = "44444444-4444-4444-8444-444444444444"


def _gov_scenario() -> dict[str, Any]:
    """Contoso's demo app, registered in a GCC High tenant."""
    return {"seed": 5, "tenants": [{
        "id": GOV_TENANT, "display_name": "Contoso Gov", "domains": ["contosogov.us"],
        "cloud": "usgov",
        "applications": [{"display_name": "gov app", "app_id": DEMO_APP,
                          "certificates": [{"pfx": "demo-manual-app.pfx", "password": "demo"}]}],
        "service_principals": [{"app_id": DEMO_APP, "grants": ["graph:Directory.Read.All"]}],
    }]}


@pytest.mark.parametrize(("graph_root", "ok"), [("https://graph.microsoft.us", True),
                                                ("https://graph.microsoft.com", False)])
def test_graph_resource_is_the_tenants_cloud_graph_root(
        start_emulator: StartEmulator, graph_root: str, ok: bool) -> None:
    # identity.md §3: GCC High's Graph root is https://graph.microsoft.us; "scopes must use
    # the cloud's Graph host … Tokens are not interchangeable across clouds".
    emu = start_emulator(_gov_scenario())
    key, cert = demo_credential()
    endpoint = f"{emu.authority_host}/{GOV_TENANT}/oauth2/v2.0/token"
    now = time.time()
    claims = {"aud": endpoint, "iss": DEMO_APP, "sub": DEMO_APP, "jti": str(uuid.uuid4()),
              "iat": now, "exp": now + 600}
    with client(emu) as http:
        response = http.post(endpoint, data={
            "grant_type": "client_credentials", "client_id": DEMO_APP,
            "scope": f"{graph_root}/.default", "client_assertion_type": JWT_BEARER,
            "client_assertion": _signed(key, cert, claims)})
    if ok:
        assert response.status_code == 200, response.text
        assert claims_of(response.json()["access_token"])["aud"] == graph_root
    else:
        assert response.status_code == 400 and response.json()["error_codes"] == [500011]


def test_resource_identifiers_are_the_emulators_own_not_the_clients(
        start_emulator: StartEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # The rule of the emulator (design.md "The emulator"): written from the documented
    # contract, never from the client. A wrong Graph root in the client's cloud table must
    # not move the emulator's (identity.md §3).
    from vdc_tui.connect.microsoft import clouds

    wrong = dataclasses.replace(clouds.CLOUDS["usgov"], graph_url="https://graph.example.us")
    monkeypatch.setitem(clouds.CLOUDS, "usgov", wrong)
    test_graph_resource_is_the_tenants_cloud_graph_root(
        start_emulator, "https://graph.microsoft.us", True)
