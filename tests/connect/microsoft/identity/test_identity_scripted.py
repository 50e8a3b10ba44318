"""IdentityClient with real MSAL against a scripted identity platform (in-process transport).

These pin down our side of the contract precisely: what MSAL sends through our adapter, and
how each identity-platform answer becomes one of our error codes. The same behaviours are
checked end to end over HTTPS against the emulator in ``test_identity_emulator.py``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx
import msal
import pytest

from vdc_tui.connect.certificates import generate_self_signed
from vdc_tui.connect.errors import Cancelled, ServiceUnavailable, VdcError
from vdc_tui.connect.microsoft.clouds import resolve_endpoints
from vdc_tui.connect.microsoft.http import MsalHttpClient, form_fields
from vdc_tui.connect.microsoft.identity import (
    CertificateCredential,
    IdentityClient,
    decode_jwt_claims,
)

HOST = "https://login.test"
TENANT = "8f3b6a52-0c1d-4e5f-9a7b-2c4d6e8f0a1b"
APP = "0b2d7e3c-8a41-4f6e-9c5d-1e2f3a4b5c6d"
ENDPOINTS = resolve_endpoints("global", authority_host=HOST, graph_url="https://graph.test")
SCOPE = "https://graph.test/.default"


def jwt(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


def aad_error(status: int, error: str, code: int, text: str) -> httpx.Response:
    return httpx.Response(
        status,
        json={
            "error": error,
            "error_description": f"AADSTS{code}: {text}\r\nTrace ID: t\r\nCorrelation ID: c-1",
            "error_codes": [code],
            "correlation_id": "c-1",
        },
    )


@dataclass
class FakeEntra:
    """Discovery, device code and token endpoints; token answers are scripted."""

    token_answers: list[Callable[[dict[str, str]], httpx.Response]] = field(default_factory=list)
    device_answer: httpx.Response | None = None
    known_tenants: tuple[str, ...] = ("organizations", TENANT, "contoso.com")
    forms: list[dict[str, str]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    interval: int = 1
    expires_in: int = 900

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.paths.append(f"{request.method} {path}")
        tenant = path.split("/")[1]
        if path.endswith("/.well-known/openid-configuration"):
            if tenant not in self.known_tenants:
                return aad_error(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
            base = f"{HOST}/{tenant}"
            return httpx.Response(
                200,
                json={
                    "issuer": f"{HOST}/{TENANT}/v2.0",
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                    "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                },
            )
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        self.forms.append(form)
        if path.endswith("/devicecode"):
            return self.device_answer or httpx.Response(
                200,
                json={
                    "device_code": "secret-device-code",
                    "user_code": "CWE5QHLNM",
                    "verification_uri": f"{HOST}/devicelogin",
                    "expires_in": self.expires_in,
                    "interval": self.interval,
                    "message": "To sign in, open the page and enter the code CWE5QHLNM.\x1b[2J",
                },
            )
        answer = self.token_answers.pop(0) if self.token_answers else pending
        return answer(form)


def pending(form: dict[str, str]) -> httpx.Response:
    return aad_error(400, "authorization_pending", 70016, "Authorization is pending.")


def admin_token(form: dict[str, str]) -> httpx.Response:
    claims = {
        "upn": "admin@contoso.com",
        "oid": "11111111-2222-3333-4444-555555555555",
        "tid": TENANT,
        "name": "Megan Bowen",
        "wids": ["62e90394-69f5-4237-9190-012177145e10"],
    }
    return httpx.Response(
        200, json={"access_token": jwt(claims), "token_type": "Bearer", "expires_in": 3599}
    )


def app_token_if_assertion_is_a_jwt(form: dict[str, str]) -> httpx.Response:
    assertion = form.get("client_assertion", "")
    if not assertion.startswith("eyJ") or assertion.count(".") != 2:
        return aad_error(401, "invalid_client", 50027, "JWT token is invalid or malformed.")
    header = json.loads(base64.urlsafe_b64decode(assertion.split(".")[0] + "=="))
    assert "x5t#S256" in header  # the PS256 form Entra documents today
    claims = {"aud": "https://graph.test", "roles": ["Sites.Read.All", "User.Read.All"]}
    return httpx.Response(200, json={"access_token": jwt(claims), "expires_in": 3599})


def identity(fake: FakeEntra, tenant: str = "organizations") -> IdentityClient:
    http = MsalHttpClient(ENDPOINTS, transport=httpx.MockTransport(fake))
    return IdentityClient(ENDPOINTS, client_id=APP, tenant=tenant, http_client=http)


@pytest.fixture(scope="module")
def credential() -> CertificateCredential:
    return generate_self_signed("vdc-test").credential()


# --- the HTTP adapter --------------------------------------------------------------------


def test_form_fields_decode_bytes_drop_none_and_stringify() -> None:
    assert form_fields({"client_assertion": b"eyJ.a.b", "claims": None, "client_info": 1}) == {
        "client_assertion": "eyJ.a.b",
        "client_info": "1",
    }


def test_adapter_posts_bytes_as_text_where_bare_httpx_would_not() -> None:
    bodies: list[bytes] = []

    def record(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        return httpx.Response(200, json={})

    form = {"client_assertion": b"eyJhbGci.e30.sig", "claims": None}
    MsalHttpClient(ENDPOINTS, transport=httpx.MockTransport(record)).post(f"{HOST}/t", data=form)
    httpx.Client(transport=httpx.MockTransport(record)).post(f"{HOST}/t", data=form)
    ours, bare = bodies
    assert ours == b"client_assertion=eyJhbGci.e30.sig"
    assert b"b%27eyJ" in bare  # httpx sends the repr: the trap MsalHttpClient exists for


# --- certificate credential --------------------------------------------------------------


async def test_app_token_carries_roles_and_audience(credential: CertificateCredential) -> None:
    fake = FakeEntra(token_answers=[app_token_if_assertion_is_a_jwt])
    client = identity(fake)
    token = await client.app_token(TENANT, APP, credential, SCOPE)
    assert token.roles == ("Sites.Read.All", "User.Read.All")
    assert token.audience == "https://graph.test"
    assert token.access_token not in repr(token)
    form = fake.forms[-1]
    assert form["grant_type"] == "client_credentials" and form["scope"] == SCOPE
    await client.aclose()


async def test_bare_httpx_as_msal_http_client_breaks_certificate_sign_in(
    credential: CertificateCredential,
) -> None:
    # The control experiment for the test above: same fake, same MSAL, no adapter.
    fake = FakeEntra(token_answers=[app_token_if_assertion_is_a_jwt])
    app = msal.ConfidentialClientApplication(
        APP,
        client_credential={
            "private_key": credential.private_key_pem.decode(),
            "public_certificate": credential.certificate_pem.decode(),
        },
        authority=f"{HOST}/{TENANT}",
        http_client=httpx.Client(transport=httpx.MockTransport(fake)),
        instance_discovery=False,
    )
    result = await asyncio.to_thread(app.acquire_token_for_client, [SCOPE])
    assert result.get("error_codes") == [50027]


async def test_each_app_token_call_uses_a_fresh_msal_application(
    credential: CertificateCredential,
) -> None:
    # MSAL would replay a 400 from its cache for 60 s on the same application object.
    not_yet = lambda form: aad_error(  # noqa: E731
        400, "unauthorized_client", 700016, f"Application with identifier '{APP}' was not found."
    )
    fake = FakeEntra(token_answers=[not_yet, app_token_if_assertion_is_a_jwt])
    client = identity(fake)
    with pytest.raises(VdcError) as caught:
        await client.app_token(TENANT, APP, credential, SCOPE)
    assert caught.value.code == "app_not_found_in_tenant"
    token = await client.app_token(TENANT, APP, credential, SCOPE)
    assert token.roles
    assert sum(p.endswith("/token") for p in fake.paths) == 2


@pytest.mark.parametrize(
    ("answer", "code", "field"),
    [
        (
            aad_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{APP}' was not found in the directory '{TENANT}'.",
            ),
            "app_not_found_in_tenant",
            "app_id",
        ),
        (
            aad_error(
                401,
                "invalid_client",
                7000229,
                f"The client application {APP} is missing "
                f"service principal in the tenant {TENANT}.",
            ),
            "app_missing_service_principal",
            "app_id",
        ),
        (
            aad_error(
                401,
                "invalid_client",
                700027,
                "Client assertion contains an invalid "
                "signature. [Reason - The key was not found., Thumbprint of key used by "
                "client: 'ABCDEF0123456789ABCDEF0123456789ABCDEF01']",
            ),
            "certificate_not_registered",
            "pfx_path",
        ),
        (
            aad_error(
                401,
                "invalid_client",
                700027,
                "Client assertion contains an invalid "
                "signature. [Reason - The key used is expired., Thumbprint of key used by "
                "client: 'ABCDEF0123456789ABCDEF0123456789ABCDEF01', Found key "
                "'Start=01/01/2020 00:00:00, End=01/01/2021 00:00:00']",
            ),
            "certificate_expired",
            "pfx_path",
        ),
        (
            aad_error(
                400,
                "invalid_scope",
                1002012,
                "The provided value for scope x is not "
                "valid. Client credential flows must have a scope value with /.default.",
            ),
            "invalid_argument",
            None,
        ),
    ],
)
async def test_certificate_sign_in_failures_map_to_stable_codes(
    credential: CertificateCredential, answer: httpx.Response, code: str, field: str | None
) -> None:
    fake = FakeEntra(token_answers=[lambda form: answer])
    with pytest.raises(VdcError) as caught:
        await identity(fake).app_token(TENANT, APP, credential, SCOPE)
    error = caught.value
    assert error.code == code
    assert error.details.get("field") == field
    assert error.details["correlation_id"] == "c-1"
    assert "Trace ID" not in error.details["description"]  # first line only
    assert error.remediation


async def test_app_not_found_names_the_tenant_asked_and_the_usual_mix_ups(
    credential: CertificateCredential,
) -> None:
    answer = aad_error(400, "unauthorized_client", 700016, "Application not found.")
    fake = FakeEntra(token_answers=[lambda form: answer])
    with pytest.raises(VdcError) as caught:
        await identity(fake).app_token(TENANT, APP, credential, SCOPE)
    assert TENANT in caught.value.message
    assert "Object ID" in caught.value.remediation
    assert "Enterprise application" in caught.value.remediation
    assert caught.value.details["aadsts"] == 700016


async def test_thumbprint_is_taken_from_the_description(credential: CertificateCredential) -> None:
    answer = aad_error(
        401,
        "invalid_client",
        700027,
        "Client assertion contains an invalid signature. [Reason - The key was not found., "
        "Thumbprint of key used by client: 'abcdef0123456789abcdef0123456789abcdef01']",
    )
    fake = FakeEntra(token_answers=[lambda form: answer])
    with pytest.raises(VdcError) as caught:
        await identity(fake).app_token(TENANT, APP, credential, SCOPE)
    assert caught.value.details["thumbprint"] == "ABCDEF0123456789ABCDEF0123456789ABCDEF01"


async def test_clock_skew_reports_local_and_server_time(credential: CertificateCredential) -> None:
    answer = aad_error(
        400,
        "invalid_client",
        700024,
        "Client assertion is not within its valid time range. Current time: "
        "2026-11-27T10:08:07.8370000Z, assertion valid from 2026-11-27T10:20:00.0000000Z, "
        "expiry time of assertion 2026-11-27T10:30:00.0000000Z.",
    )
    fake = FakeEntra(token_answers=[lambda form: answer])
    with pytest.raises(VdcError) as caught:
        await identity(fake).app_token(TENANT, APP, credential, SCOPE)
    error = caught.value
    assert error.code == "clock_skew"
    assert error.details["server_time"] == "2026-11-27T10:08:07.837000+00:00"
    assert "local_time" in error.details
    assert "10:08:07" in error.message


async def test_unknown_tenant_is_tenant_not_found(credential: CertificateCredential) -> None:
    fake = FakeEntra()
    with pytest.raises(VdcError) as caught:
        await identity(fake).app_token("fabrikam.com", APP, credential, SCOPE)
    assert caught.value.code == "tenant_not_found"
    assert caught.value.details["aadsts"] == 90002
    assert "fabrikam.com" in caught.value.message


async def test_identity_platform_5xx_is_service_unavailable(
    credential: CertificateCredential,
) -> None:
    # Every try answers 500 (with Retry-After: 0, so the test does not wait).
    boom = [lambda form: httpx.Response(500, text="boom", headers={"Retry-After": "0"})] * 20
    fake = FakeEntra(token_answers=list(boom))
    with pytest.raises(ServiceUnavailable) as caught:
        await identity(fake).app_token(TENANT, APP, credential, SCOPE)
    tries = sum(1 for p in fake.paths if p.endswith("/token"))
    assert caught.value.details["tries"] == tries > 1
    assert f"{tries} tries" in caught.value.message and "HTTP 500" in caught.value.message


async def test_unreachable_identity_platform_is_service_unavailable(
    credential: CertificateCredential,
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = IdentityClient(
        ENDPOINTS,
        client_id=APP,
        http_client=MsalHttpClient(ENDPOINTS, transport=httpx.MockTransport(refuse)),
    )
    with pytest.raises(ServiceUnavailable):
        await client.prepare()
    with pytest.raises(ServiceUnavailable):
        await client.app_token(TENANT, APP, credential, SCOPE)


# --- device code -------------------------------------------------------------------------


async def test_prepare_then_start_costs_one_request() -> None:
    fake = FakeEntra()
    client = identity(fake)
    await client.prepare()
    await client.prepare()  # once is enough
    assert fake.paths == ["GET /organizations/v2.0/.well-known/openid-configuration"]
    session = await client.start_device_flow([f"{SCOPE[:-9]}/Application.ReadWrite.All"])
    assert fake.paths[1:] == ["POST /organizations/oauth2/v2.0/devicecode"]
    code = session.code
    assert code.user_code == "CWE5QHLNM" and code.interval == 1 and code.expires_in == 900
    assert "\x1b" not in code.message
    assert abs(code.expires_at.timestamp() - (time.time() + 900)) < 60
    assert "secret-device-code" not in repr(session)


async def test_device_flow_success_gives_the_signed_in_admin() -> None:
    fake = FakeEntra(token_answers=[pending, admin_token])
    client = identity(fake)
    session = await client.start_device_flow(["https://graph.test/Organization.Read.All"])
    token = await asyncio.wait_for(client.wait_for_sign_in(session), 10)
    assert token.tenant_id == TENANT
    assert token.admin.upn == "admin@contoso.com"
    assert token.admin.display_name == "Megan Bowen"
    assert token.admin.role_template_ids == ("62e90394-69f5-4237-9190-012177145e10",)
    assert token.access_token not in repr(token)
    assert fake.forms[-1]["device_code"] == "secret-device-code"


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (aad_error(400, "authorization_declined", 65004, "User declined."), "sign_in_declined"),
        (aad_error(400, "access_denied", 65004, "declined"), "sign_in_declined"),
        (
            aad_error(400, "expired_token", 70020, "This device code has expired."),
            "device_code_expired",
        ),
        (
            aad_error(400, "invalid_grant", 53003, "Blocked by Conditional Access."),
            "device_code_blocked_by_policy",
        ),
        (aad_error(400, "invalid_grant", 530033, "Blocked."), "device_code_blocked_by_policy"),
        (
            aad_error(400, "invalid_grant", 50097, "Device authentication required."),
            "device_code_blocked_by_policy",
        ),
    ],
)
async def test_device_flow_endings_map_to_stable_codes(answer: httpx.Response, code: str) -> None:
    fake = FakeEntra(token_answers=[lambda form: answer])
    client = identity(fake)
    session = await client.start_device_flow(["https://graph.test/Organization.Read.All"])
    with pytest.raises(VdcError) as caught:
        await asyncio.wait_for(client.wait_for_sign_in(session), 10)
    assert caught.value.code == code


async def test_blocked_at_the_device_code_endpoint() -> None:
    fake = FakeEntra(device_answer=aad_error(400, "invalid_request", 53003, "Access blocked."))
    with pytest.raises(VdcError) as caught:
        await identity(fake).start_device_flow(["https://graph.test/Organization.Read.All"])
    assert caught.value.code == "device_code_blocked_by_policy"


async def test_pending_after_expiry_is_expired() -> None:
    fake = FakeEntra(expires_in=1)  # pending forever; the code dies after a second
    client = identity(fake)
    session = await client.start_device_flow(["https://graph.test/Organization.Read.All"])
    with pytest.raises(VdcError) as caught:
        await asyncio.wait_for(client.wait_for_sign_in(session), 10)
    assert caught.value.code == "device_code_expired"


async def test_cancel_ends_the_wait_within_a_second() -> None:
    fake = FakeEntra(interval=5)
    client = identity(fake)
    session = await client.start_device_flow(["https://graph.test/Organization.Read.All"])
    waiting = asyncio.ensure_future(client.wait_for_sign_in(session))
    deadline = time.monotonic() + 5
    while not any(p.endswith("/token") for p in fake.paths):  # polling has begun
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    started = time.monotonic()
    session.cancel()
    with pytest.raises(Cancelled):
        await waiting
    assert time.monotonic() - started < 1.0


async def test_cancel_before_waiting_raises_at_once() -> None:
    client = identity(FakeEntra())
    session = await client.start_device_flow(["https://graph.test/Organization.Read.All"])
    session.cancel()
    with pytest.raises(Cancelled):
        await client.wait_for_sign_in(session)


def test_decode_jwt_claims_tolerates_garbage() -> None:
    assert decode_jwt_claims(jwt({"tid": TENANT}))["tid"] == TENANT
    assert decode_jwt_claims("not a token") == {}
    assert decode_jwt_claims("a.%%%.c") == {}
