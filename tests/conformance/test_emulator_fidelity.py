"""The emulator against the documented contract of Entra ID and Microsoft Graph.

Each expected shape below is written from ``shared/docs/research/identity.md`` (which quotes
Microsoft's documentation and observed wire samples), never from our client or from the
emulator's code: the section is named in each test. Requests are raw httpx over HTTPS,
trusting only the emulator's CA; client assertions are built here with PyJWT and
``cryptography`` so our identity layer plays no part.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import ssl
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from vdc_tui.emulator import EmulatorServer, load_scenario

TENANT = "3f1c7a9e-52b4-4d0e-8a61-9c2b7e5d4f10"
DOMAIN = "fabrikamfidelity.onmicrosoft.com"
ADMIN = f"admin@{DOMAIN}"
GRANTED_APP = "6d2e8b14-9a3f-4c57-b0e1-2f8a7c6d5e43"
UNGRANTED_APP = "a41f0c9d-3e7b-48a2-9d5c-7b1e2f3a4c65"
NO_SP_APP = "c5b7d3e9-1f2a-4b6c-8d0e-9a8b7c6d5e21"
UNKNOWN_APP = "0e9d8c7b-6a5f-4e3d-2c1b-0a9f8e7d6c5b"

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
#: identity.md §1: "timestamp":"2022-08-25 09:34:07Z".
ENTRA_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z$")
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

SCENARIO: dict[str, Any] = {
    "name": "fidelity",
    "description": "Conformance of the emulator's wire answers with research/identity.md.",
    "tenants": [
        {
            "id": TENANT,
            "display_name": "Fabrikam Fidelity",
            "domains": [DOMAIN],
            "users": [
                {"upn": ADMIN, "display_name": "Fidelity Admin", "roles": ["Global Administrator"]}
            ],
            "applications": [
                {
                    "display_name": "granted app",
                    "app_id": GRANTED_APP,
                    "certificates": [{"generate": "granted", "password": "pw-granted"}],
                },
                {
                    "display_name": "ungranted app",
                    "app_id": UNGRANTED_APP,
                    "certificates": [
                        {"generate": "ungranted", "password": "pw-ungranted"},
                        {"generate": "stranger", "password": "pw-stranger", "registered": False},
                    ],
                },
                {
                    "display_name": "app without principal",
                    "app_id": NO_SP_APP,
                    "certificates": [{"generate": "no-sp", "password": "pw-no-sp"}],
                },
            ],
            "service_principals": [
                {"app_id": GRANTED_APP, "grants": ["graph:Sites.Read.All", "graph:Group.Read.All"]},
                {"app_id": UNGRANTED_APP, "grants": []},
            ],
        }
    ],
}

PASSWORDS = {
    "granted": "pw-granted",
    "ungranted": "pw-ungranted",
    "stranger": "pw-stranger",
    "no-sp": "pw-no-sp",
}


@dataclass
class Emu:
    """The running emulator and an httpx client that trusts only its CA."""

    server: Any
    http: httpx.Client

    @property
    def authority(self) -> str:
        return str(self.server.authority_host)

    @property
    def graph(self) -> str:
        return str(self.server.graph_url)

    def token_url(self, tenant: str = TENANT) -> str:
        return f"{self.authority}/{tenant}/oauth2/v2.0/token"


@pytest.fixture(scope="module")
def emu() -> Iterator[Emu]:
    """One emulator for the module (state changes in tests are additive and isolated)."""
    with EmulatorServer(load_scenario(SCENARIO), port=0) as server:
        tls = ssl.create_default_context(cafile=str(server.ca_bundle))
        with httpx.Client(verify=tls, timeout=15.0, trust_env=False) as http:
            yield Emu(server, http)


def _assertion(emu: Emu, app_id: str, cert_name: str, *, aud: str | None = None) -> str:
    """A client assertion as Entra documents it (identity.md §2), signed PS256 + x5t#S256."""
    loaded = pkcs12.load_pkcs12(
        emu.server.certificate_path(cert_name).read_bytes(), PASSWORDS[cert_name].encode()
    )
    assert loaded.key is not None and loaded.cert is not None
    der = loaded.cert.certificate.public_bytes(serialization.Encoding.DER)
    thumb = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
    now = int(time.time())
    key_pem = loaded.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return jwt.encode(
        {
            "aud": aud or emu.token_url(),
            "iss": app_id,
            "sub": app_id,
            "jti": str(uuid.uuid4()),
            "nbf": now,
            "iat": now,
            "exp": now + 600,
        },
        key_pem,
        algorithm="PS256",
        headers={"typ": "JWT", "x5t#S256": thumb},
    )


def _client_credentials(
    emu: Emu,
    app_id: str,
    cert_name: str,
    *,
    tenant: str = TENANT,
    scope: str | None = None,
    correlation: str | None = None,
) -> httpx.Response:
    headers = {"client-request-id": correlation} if correlation else {}
    return emu.http.post(
        emu.token_url(tenant),
        data={
            "grant_type": "client_credentials",
            "client_id": app_id,
            "scope": scope or f"{emu.graph}/.default",
            "client_assertion_type": JWT_BEARER,
            "client_assertion": _assertion(emu, app_id, cert_name, aud=emu.token_url(tenant)),
        },
        headers=headers,
    )


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def assert_entra_error(
    response: httpx.Response, *, status: int, error: str, aadsts: int, correlation: str | None
) -> dict[str, Any]:
    """identity.md §1 "Entra error JSON": every token/devicecode error has this shape."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert {
        "error",
        "error_description",
        "error_codes",
        "timestamp",
        "trace_id",
        "correlation_id",
    } <= set(body)
    assert set(body) <= {
        "error",
        "error_description",
        "error_codes",
        "timestamp",
        "trace_id",
        "correlation_id",
        "error_uri",
        "suberror",
        "claims",
    }
    assert body["error"] == error
    assert body["error_codes"] == [aadsts]
    assert body["error_description"].startswith(f"AADSTS{aadsts}: ")
    assert ENTRA_TIMESTAMP.match(body["timestamp"]), body["timestamp"]
    assert GUID.match(body["trace_id"]) and GUID.match(body["correlation_id"])
    # The description ends with the trace/correlation/timestamp trailer, CRLF separated.
    assert body["error_description"].endswith(
        f"\r\nTrace ID: {body['trace_id']}\r\nCorrelation ID: {body['correlation_id']}"
        f"\r\nTimestamp: {body['timestamp']}"
    )
    if correlation is not None:
        assert body["correlation_id"] == correlation
    if "error_uri" in body:
        assert body["error_uri"].endswith(f"/error?code={aadsts}")
    return dict(body)


def assert_graph_error(response: httpx.Response, *, status: int, code: str) -> dict[str, Any]:
    """identity.md §5 "Graph error body": {"error":{"code","message","innerError":{…}}}."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    err = body["error"]
    assert err["code"] == code
    assert isinstance(err["message"], str) and err["message"]
    inner = err["innerError"]
    assert GUID.match(inner["request-id"]) and GUID.match(inner["client-request-id"])
    assert re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$", inner["date"]), inner["date"]
    return dict(err)


# --------------------------------------------------------------------------------------------
# §3 discovery


def test_discovery_document_has_entra_fields_and_guid_issuer(emu: Emu) -> None:
    for tenant in (TENANT, DOMAIN):
        r = emu.http.get(f"{emu.authority}/{tenant}/v2.0/.well-known/openid-configuration")
        assert r.status_code == 200
        doc = r.json()
        # identity.md §3: the fields of a real document, and the GUID in issuer/token_endpoint.
        for key in (
            "issuer",
            "authorization_endpoint",
            "token_endpoint",
            "device_authorization_endpoint",
            "jwks_uri",
            "tenant_region_scope",
            "cloud_instance_name",
            "msgraph_host",
            "token_endpoint_auth_methods_supported",
        ):
            assert key in doc, key
        assert doc["issuer"] == f"{emu.authority}/{TENANT}/v2.0"
        assert doc["token_endpoint"] == f"{emu.authority}/{TENANT}/oauth2/v2.0/token"
        assert doc["device_authorization_endpoint"] == (
            f"{emu.authority}/{TENANT}/oauth2/v2.0/devicecode"
        )
        assert "private_key_jwt" in doc["token_endpoint_auth_methods_supported"]
        assert doc["tenant_region_scope"] == "NA"
        assert doc["cloud_instance_name"] == "microsoftonline.com"


def test_discovery_for_organizations_has_literal_tenantid_issuer(emu: Emu) -> None:
    r = emu.http.get(f"{emu.authority}/organizations/v2.0/.well-known/openid-configuration")
    assert r.status_code == 200
    doc = r.json()
    # identity.md §3: for common/organizations the literal "{tenantid}".
    assert doc["issuer"] == f"{emu.authority}/{{tenantid}}/v2.0"
    # "tenant_region_scope: … null for common" [T].
    assert doc.get("tenant_region_scope") is None


def test_discovery_of_unknown_tenant_is_400_invalid_tenant_90002(emu: Emu) -> None:
    r = emu.http.get(f"{emu.authority}/nosuchtenant.example/v2.0/.well-known/openid-configuration")
    assert r.status_code == 400
    body = r.json()
    assert body["error"] == "invalid_tenant"
    assert body["error_description"].startswith(
        "AADSTS90002: Tenant 'nosuchtenant.example' not found."
    )


# --------------------------------------------------------------------------------------------
# §1 device code flow


#: Microsoft Graph Command Line Tools (identity.md §6).
PUBLIC_CLIENT = "14d82eec-204b-4c2f-b7e8-296a70dab67e"


def _device_code(emu: Emu) -> httpx.Response:
    return emu.http.post(
        f"{emu.authority}/organizations/oauth2/v2.0/devicecode",
        data={
            "client_id": PUBLIC_CLIENT,
            "scope": f"{emu.graph}/.default offline_access openid profile",
        },
    )


def _poll(emu: Emu, device_code: str, correlation: str | None = None) -> httpx.Response:
    return emu.http.post(
        f"{emu.authority}/organizations/oauth2/v2.0/token",
        data={
            "grant_type": DEVICE_CODE_GRANT,
            "client_id": PUBLIC_CLIENT,
            "device_code": device_code,
            "client_info": "1",
        },
        headers={"client-request-id": correlation} if correlation else {},
    )


def test_device_code_response_fields_and_defaults(emu: Emu) -> None:
    r = _device_code(emu)
    assert r.status_code == 200
    body = r.json()
    # identity.md §1 table: exactly these fields; no verification_uri_complete.
    assert set(body) == {
        "device_code",
        "user_code",
        "verification_uri",
        "expires_in",
        "interval",
        "message",
    }
    assert body["expires_in"] == 900
    assert body["interval"] == 5
    assert re.fullmatch(r"[A-Z0-9]{9}", body["user_code"])
    assert body["verification_uri"] == emu.server.device_login_url
    assert body["message"] == (
        f"To sign in, use a web browser to open the page {body['verification_uri']} "
        f"and enter the code {body['user_code']} to authenticate."
    )


def test_device_code_pending_poll_is_400_authorization_pending_70016(emu: Emu) -> None:
    code = _device_code(emu).json()
    correlation = str(uuid.uuid4())
    assert_entra_error(
        _poll(emu, code["device_code"], correlation),
        status=400,
        error="authorization_pending",
        aadsts=70016,
        correlation=correlation,
    )


def test_device_code_declined_is_400_authorization_declined(emu: Emu) -> None:
    code = _device_code(emu).json()
    emu.server.decline_device_code(code["user_code"])
    r = _poll(emu, code["device_code"])
    assert r.status_code == 400
    # identity.md §1: Entra's word is authorization_declined (not RFC 8628's access_denied);
    # the AADSTS number is uncertain there, so only its presence and prefix are checked.
    body = r.json()
    assert body["error"] == "authorization_declined"
    assert len(body["error_codes"]) == 1
    assert body["error_description"].startswith(f"AADSTS{body['error_codes'][0]}: ")


def test_device_code_unknown_is_400_bad_verification_code(emu: Emu) -> None:
    r = _poll(emu, "not-a-device-code")
    assert r.status_code == 400
    assert r.json()["error"] == "bad_verification_code"


def test_device_code_expired_is_400_expired_token_70020(emu: Emu) -> None:
    emu.server.faults.update(device_code_lifetime=1)
    try:
        code = _device_code(emu).json()
        assert code["expires_in"] == 1
    finally:
        emu.server.faults.update(device_code_lifetime=None)
    deadline = time.monotonic() + 10
    r = _poll(emu, code["device_code"])
    while r.json().get("error") == "authorization_pending" and time.monotonic() < deadline:
        time.sleep(0.2)
        r = _poll(emu, code["device_code"])
    body = assert_entra_error(r, status=400, error="expired_token", aadsts=70020, correlation=None)
    assert "This device code has expired." in body["error_description"]


def test_device_code_success_has_documented_fields_and_is_single_use(emu: Emu) -> None:
    code = _device_code(emu).json()
    emu.server.approve_device_code(code["user_code"], ADMIN)
    r = _poll(emu, code["device_code"])
    assert r.status_code == 200, r.text
    body = r.json()
    # identity.md §1 "Success".
    assert body["token_type"] == "Bearer"
    for key in (
        "scope",
        "expires_in",
        "ext_expires_in",
        "access_token",
        "refresh_token",
        "id_token",
        "client_info",
    ):
        assert key in body, key
    raw_info = body["client_info"]
    info = json.loads(base64.urlsafe_b64decode(raw_info + "=" * (-len(raw_info) % 4)))
    assert set(info) >= {"uid", "utid"} and info["utid"] == TENANT
    # identity.md §2: delegated Graph tokens carry scp, upn, oid, tid and wids.
    claims = _claims(body["access_token"])
    assert claims["tid"] == TENANT and claims["upn"] == ADMIN
    assert GUID.match(claims["oid"]) and isinstance(claims["scp"], str)
    assert "62e90394-69f5-4237-9190-012177145e10" in claims["wids"]
    # "A device code is single-use: redeeming it again … fails".
    again = _poll(emu, code["device_code"])
    assert again.status_code == 400


def test_device_code_blocked_by_conditional_access_is_400_aadsts53003(emu: Emu) -> None:
    emu.server.faults.update(block_device_code=True)
    try:
        code = _device_code(emu).json()
        emu.server.approve_device_code(code["user_code"], ADMIN)
        r = _poll(emu, code["device_code"])
    finally:
        emu.server.faults.update(block_device_code=False)
    # identity.md §2 table: 53003 "Blocked by Conditional Access (also used to block
    # device-code flow)"; its `error` value is not documented, so only the code is checked.
    assert r.status_code == 400
    body = r.json()
    assert body["error_codes"] == [53003]
    assert body["error_description"].startswith("AADSTS53003: ")


# --------------------------------------------------------------------------------------------
# §2 client credentials with a certificate


def test_app_token_carries_granted_roles_and_documented_claims(emu: Emu) -> None:
    r = _client_credentials(emu, GRANTED_APP, "granted")
    assert r.status_code == 200, r.text
    body = r.json()
    # identity.md §2 "Successful response": no refresh token, no id_token.
    assert body["token_type"] == "Bearer"
    assert isinstance(body["expires_in"], int) and isinstance(body["ext_expires_in"], int)
    assert "refresh_token" not in body and "id_token" not in body
    claims = _claims(body["access_token"])
    assert claims["aud"] == emu.graph
    assert claims["iss"] == f"https://sts.windows.net/{TENANT}/"
    assert claims["ver"] == "1.0"
    assert claims["tid"] == TENANT
    assert claims["appid"] == GRANTED_APP
    assert claims["appidacr"] == "2"
    assert claims["idtyp"] == "app"
    assert claims["oid"] == claims["sub"]
    for key in ("iat", "nbf", "exp"):
        assert isinstance(claims[key], int)
    assert sorted(claims["roles"]) == ["Group.Read.All", "Sites.Read.All"]


def test_app_token_without_grants_is_issued_without_roles_claim(emu: Emu) -> None:
    r = _client_credentials(emu, UNGRANTED_APP, "ungranted")
    assert r.status_code == 200, r.text
    # identity.md §2: roles is *absent* when nothing is granted, but the token is issued.
    assert "roles" not in _claims(r.json()["access_token"])


def test_unknown_app_is_400_unauthorized_client_700016(emu: Emu) -> None:
    correlation = str(uuid.uuid4())
    r = _client_credentials(emu, UNKNOWN_APP, "granted", correlation=correlation)
    body = assert_entra_error(
        r, status=400, error="unauthorized_client", aadsts=700016, correlation=correlation
    )
    assert (
        f"Application with identifier '{UNKNOWN_APP}' was not found in the directory"
        in (body["error_description"])
    )


def test_app_without_service_principal_is_401_invalid_client_7000229(emu: Emu) -> None:
    r = _client_credentials(emu, NO_SP_APP, "no-sp")
    body = assert_entra_error(
        r, status=401, error="invalid_client", aadsts=7000229, correlation=None
    )
    assert (
        f"The client application {NO_SP_APP} is missing service principal in the tenant"
        in (body["error_description"])
    )


def test_unregistered_certificate_is_401_invalid_client_700027_key_not_found(emu: Emu) -> None:
    r = _client_credentials(emu, UNGRANTED_APP, "stranger")
    body = assert_entra_error(
        r, status=401, error="invalid_client", aadsts=700027, correlation=None
    )
    assert "The key was not found." in body["error_description"]


def test_unknown_tenant_at_token_endpoint_is_400_invalid_request_90002(emu: Emu) -> None:
    r = _client_credentials(emu, GRANTED_APP, "granted", tenant="nosuchtenant.example")
    assert_entra_error(r, status=400, error="invalid_request", aadsts=90002, correlation=None)


def test_scope_without_default_is_400_invalid_scope_1002012(emu: Emu) -> None:
    r = _client_credentials(emu, GRANTED_APP, "granted", scope=f"{emu.graph}/Sites.Read.All")
    assert_entra_error(r, status=400, error="invalid_scope", aadsts=1002012, correlation=None)


def test_padded_x5t_s256_as_msal_sends_it_is_accepted(emu: Emu) -> None:
    # identity.md §2: MSAL keeps the '=' padding of the thumbprint; accept both forms.
    loaded = pkcs12.load_pkcs12(
        emu.server.certificate_path("granted").read_bytes(), PASSWORDS["granted"].encode()
    )
    assert loaded.key is not None and loaded.cert is not None
    der = loaded.cert.certificate.public_bytes(serialization.Encoding.DER)
    padded = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).decode()
    assert padded.endswith("=")
    now = time.time()
    assertion = jwt.encode(
        # MSAL's float iat/exp and no nbf (identity.md §2 table).
        {
            "aud": emu.token_url(),
            "iss": GRANTED_APP,
            "sub": GRANTED_APP,
            "jti": str(uuid.uuid4()),
            "iat": now,
            "exp": now + 600,
        },
        loaded.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        algorithm="PS256",
        headers={"typ": "JWT", "x5t#S256": padded},
    )
    r = emu.http.post(
        emu.token_url(),
        data={
            "grant_type": "client_credentials",
            "client_id": GRANTED_APP,
            "scope": f"{emu.graph}/.default",
            "client_assertion_type": JWT_BEARER,
            "client_assertion": assertion,
            "client_info": "1",
        },
    )
    assert r.status_code == 200, r.text


# --------------------------------------------------------------------------------------------
# §5 Graph


def _admin_token(emu: Emu) -> str:
    code = _device_code(emu).json()
    emu.server.approve_device_code(code["user_code"], ADMIN)
    r = _poll(emu, code["device_code"])
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def test_graph_missing_object_is_404_request_resource_not_found(emu: Emu) -> None:
    token = _admin_token(emu)
    r = emu.http.get(
        f"{emu.graph}/v1.0/applications/{uuid.uuid4()}",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert_graph_error(r, status=404, code="Request_ResourceNotFound")


def test_graph_without_token_is_401_invalid_authentication_token(emu: Emu) -> None:
    r = emu.http.get(f"{emu.graph}/v1.0/organization")
    assert_graph_error(r, status=401, code="InvalidAuthenticationToken")


def test_graph_app_token_without_roles_is_403(emu: Emu) -> None:
    token = _client_credentials(emu, UNGRANTED_APP, "ungranted").json()["access_token"]
    r = emu.http.get(f"{emu.graph}/v1.0/organization", headers={"Authorization": f"Bearer {token}"})
    # identity.md §5: 403 AccessDenied "Either scp or roles claim need to be present …".
    err = assert_graph_error(r, status=403, code="AccessDenied")
    assert err["message"] == "Either scp or roles claim need to be present in the token."


def test_graph_throttling_is_429_with_retry_after_seconds(emu: Emu) -> None:
    token = _admin_token(emu)
    emu.server.faults.update(throttle_every=1, retry_after=7)
    try:
        r = emu.http.get(
            f"{emu.graph}/v1.0/organization", headers={"Authorization": f"Bearer {token}"}
        )
    finally:
        emu.server.faults.update(throttle_every=0, retry_after=1)
    assert r.status_code == 429
    # identity.md §5 "Throttling": a Retry-After header in seconds.
    assert r.headers["Retry-After"] == "7"
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] and body["error"]["message"]
    assert "request-id" in body["error"]["innerError"]


def test_graph_batch_answers_each_request_and_424_for_failed_dependency(emu: Emu) -> None:
    token = _admin_token(emu)
    r = emu.http.post(
        f"{emu.graph}/v1.0/$batch",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "requests": [
                {"id": "1", "method": "GET", "url": f"/applications/{uuid.uuid4()}"},
                {"id": "2", "method": "GET", "url": "/organization", "dependsOn": ["1"]},
                {"id": "3", "method": "GET", "url": "/organization"},
            ]
        },
    )
    assert r.status_code == 200, r.text
    responses = {item["id"]: item for item in r.json()["responses"]}
    # identity.md §5 "JSON batching": every id answered (any order), 424 for a failed dependency.
    assert set(responses) == {"1", "2", "3"}
    assert responses["1"]["status"] == 404
    assert responses["1"]["body"]["error"]["code"] == "Request_ResourceNotFound"
    assert responses["2"]["status"] == 424
    assert responses["3"]["status"] == 200


def test_graph_batch_of_21_requests_is_400(emu: Emu) -> None:
    token = _admin_token(emu)
    r = emu.http.post(
        f"{emu.graph}/v1.0/$batch",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "requests": [
                {"id": str(i), "method": "GET", "url": "/organization"} for i in range(1, 22)
            ]
        },
    )
    # identity.md §5: at most 20; outer 400 when malformed.
    assert r.status_code == 400
    assert "error" in r.json()
