"""IdentityClient, discovery and GraphClient end to end over HTTPS against the emulator.

MSAL runs unmodified; the only thing between it and the emulator is our ``MsalHttpClient``
with the emulator's CA as the one trusted root.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any

import httpx
import msal
import pytest

from vdc_tui.connect.certificates import LoadedPfx, load_pfx
from vdc_tui.connect.errors import Cancelled, ServiceUnavailable, VdcError
from vdc_tui.connect.microsoft.clouds import Endpoints, server_endpoints, sharepoint_scope
from vdc_tui.connect.microsoft.discovery import discover_tenant
from vdc_tui.connect.microsoft.graph import BatchRequest, GraphClient
from vdc_tui.connect.microsoft.http import ssl_context
from vdc_tui.connect.microsoft.identity import IdentityClient
from vdc_tui.emulator import EmulatorServer, load_scenario

TENANT = "8f3b6a52-0c1d-4e5f-9a7b-2c4d6e8f0a1b"
OTHER_TENANT = "2a7c9e14-5b3d-4f6a-8c1e-9d0b2f4a6c8e"
APP = "0b2d7e3c-8a41-4f6e-9c5d-1e2f3a4b5c6d"
APP_WITHOUT_SP = "6e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"
UNKNOWN_APP = "99999999-8888-4777-8666-555555555555"
PUBLIC_CLIENT = "14d82eec-204b-4c2f-b7e8-296a70dab67e"
ADMIN = "admin@contoso.com"
DEADLINE = 20.0

#: The scenario these tests run on: one tenant with a working app (all catalog grants), an
#: app without a service principal, and certificates that are registered, not registered
#: and expired; plus a second tenant for "registered somewhere else".
SCENARIO: dict[str, Any] = {
    "name": "connect-identity",
    "device_code": {"interval": 1, "lifetime": 900},
    "tenants": [
        {
            "id": TENANT,
            "display_name": "Contoso Ltd",
            "domains": ["contoso.onmicrosoft.com", "contoso.com"],
            "users": [
                {"upn": ADMIN, "display_name": "Megan Bowen", "roles": ["Global Administrator"]}
            ],
            "applications": [
                {
                    "display_name": "VDC backup",
                    "app_id": APP,
                    "certificates": [
                        {"generate": "good", "password": "pw"},
                        {"generate": "unregistered", "registered": False},
                        {"generate": "expired", "not_before_days": -400, "not_after_days": -1},
                    ],
                },
                {
                    "display_name": "VDC without principal",
                    "app_id": APP_WITHOUT_SP,
                    "certificates": [{"generate": "nosp"}],
                },
            ],
            "service_principals": [{"app_id": APP, "grants": ["catalog"]}],
        },
        {
            "id": OTHER_TENANT,
            "display_name": "Fabrikam",
            "domains": ["fabrikam.onmicrosoft.com"],
        },
    ],
}


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(load_scenario(SCENARIO), port=0) as emu:
        yield emu


@pytest.fixture
def emu(emulator: EmulatorServer) -> Iterator[EmulatorServer]:
    """The module's emulator, with the faults a test changed put back afterwards."""
    saved = replace(emulator.faults)
    try:
        yield emulator
    finally:
        for name, value in vars(saved).items():
            setattr(emulator.faults, name, value)


@pytest.fixture
async def identity(emu: EmulatorServer) -> AsyncIterator[IdentityClient]:
    client = IdentityClient(server_endpoints(emu), client_id=PUBLIC_CLIENT)
    try:
        yield client
    finally:
        await client.aclose()


def pfx(emu: EmulatorServer, name: str, password: str | None = None) -> LoadedPfx:
    return load_pfx(emu.certificate_path(name), password)


async def app_error(
    identity: IdentityClient, tenant: str, app: str, cert: LoadedPfx, scope: str
) -> VdcError:
    with pytest.raises(VdcError) as caught:
        await asyncio.wait_for(identity.app_token(tenant, app, cert.credential(), scope), DEADLINE)
    return caught.value


# --- certificate credential --------------------------------------------------------------


async def test_certificate_sign_in_gets_roles_through_msal_http_client(
    emu: EmulatorServer, identity: IdentityClient
) -> None:
    endpoints = server_endpoints(emu)
    token = await identity.app_token(
        TENANT, APP, pfx(emu, "good", "pw").credential(), endpoints.graph_scope
    )
    assert {"Directory.Read.All", "User.Read.All"} <= set(token.roles)  # catalog grants
    assert token.audience.rstrip("/") == endpoints.graph_url
    assert token.claims["tid"] == TENANT
    assert token.access_token not in repr(token)


async def test_exchange_and_sharepoint_tokens_carry_their_own_roles(
    emu: EmulatorServer, identity: IdentityClient
) -> None:
    endpoints = server_endpoints(emu)
    credential = pfx(emu, "good", "pw").credential()
    exchange = await identity.app_token(TENANT, APP, credential, endpoints.exchange_scope)
    assert exchange.audience.rstrip("/") == endpoints.cloud.exchange_resource
    assert {"full_access_as_app", "Exchange.ManageAsApp"} <= set(exchange.roles)
    sharepoint = await identity.app_token(
        TENANT, APP, credential, sharepoint_scope("https://contoso.sharepoint.com")
    )
    assert "Sites.FullControl.All" in sharepoint.roles
    assert "full_access_as_app" not in sharepoint.roles


async def test_bare_httpx_client_fails_the_same_sign_in(emu: EmulatorServer) -> None:
    # The control experiment: MSAL given a plain httpx.Client sends the assertion as "b'…'".
    endpoints = server_endpoints(emu)
    credential = pfx(emu, "good", "pw").credential()
    with httpx.Client(verify=ssl_context(endpoints)) as bare:
        app = msal.ConfidentialClientApplication(
            APP,
            client_credential={
                "private_key": credential.private_key_pem.decode(),
                "public_certificate": credential.certificate_pem.decode(),
            },
            authority=endpoints.authority(TENANT),
            http_client=bare,
            instance_discovery=False,
        )
        result = await asyncio.to_thread(app.acquire_token_for_client, [endpoints.graph_scope])
    assert "access_token" not in result
    assert result.get("error") == "invalid_client"


async def test_unknown_app_id_is_app_not_found_in_tenant(
    emu: EmulatorServer, identity: IdentityClient
) -> None:
    error = await app_error(
        identity, TENANT, UNKNOWN_APP, pfx(emu, "good", "pw"), server_endpoints(emu).graph_scope
    )
    assert error.code == "app_not_found_in_tenant"
    assert error.details["aadsts"] == 700016
    assert TENANT in error.message


async def test_app_registered_in_another_tenant_is_not_found_there(
    emu: EmulatorServer, identity: IdentityClient
) -> None:
    error = await app_error(
        identity, OTHER_TENANT, APP, pfx(emu, "good", "pw"), server_endpoints(emu).graph_scope
    )
    assert error.code == "app_not_found_in_tenant"
    assert OTHER_TENANT in error.message


async def test_app_without_service_principal(emu: EmulatorServer, identity: IdentityClient) -> None:
    error = await app_error(
        identity, TENANT, APP_WITHOUT_SP, pfx(emu, "nosp"), server_endpoints(emu).graph_scope
    )
    assert error.code == "app_missing_service_principal"
    assert error.details["aadsts"] == 7000229


async def test_certificate_not_registered(emu: EmulatorServer, identity: IdentityClient) -> None:
    cert = pfx(emu, "unregistered")
    error = await app_error(identity, TENANT, APP, cert, server_endpoints(emu).graph_scope)
    assert error.code == "certificate_not_registered"
    assert error.details["aadsts"] == 700027


async def test_expired_registered_certificate(
    emu: EmulatorServer, identity: IdentityClient
) -> None:
    error = await app_error(identity, TENANT, APP, pfx(emu, "expired"),
                            server_endpoints(emu).graph_scope)
    assert error.code == "certificate_expired"


async def test_clock_skew_names_both_times(emu: EmulatorServer, identity: IdentityClient) -> None:
    emu.faults.clock_offset = 3600
    error = await app_error(
        identity, TENANT, APP, pfx(emu, "good", "pw"), server_endpoints(emu).graph_scope
    )
    assert error.code == "clock_skew"
    assert error.details["aadsts"] == 700024
    assert error.details.get("server_time")


async def test_unknown_tenant(emu: EmulatorServer, identity: IdentityClient) -> None:
    error = await app_error(
        identity, "nowhere.example", APP, pfx(emu, "good", "pw"), server_endpoints(emu).graph_scope
    )
    assert error.code == "tenant_not_found"


async def test_scope_without_default_is_a_clear_error(
    emu: EmulatorServer, identity: IdentityClient
) -> None:
    scope = f"{server_endpoints(emu).graph_url}/User.Read.All"
    error = await app_error(identity, TENANT, APP, pfx(emu, "good", "pw"), scope)
    assert error.code == "invalid_argument"
    assert error.details["aadsts"] == 1002012


# --- device code -------------------------------------------------------------------------


async def start(identity: IdentityClient, emu: EmulatorServer) -> Any:
    await identity.prepare()
    return await identity.start_device_flow([f"{emu.graph_url}/Organization.Read.All"])


async def test_prepare_then_start_is_one_request(
    emu: EmulatorServer, identity: IdentityClient
) -> None:
    await identity.prepare()
    before = len(emu.request_log)
    session = await identity.start_device_flow(
        [f"{server_endpoints(emu).graph_url}/Organization.Read.All"]
    )
    assert len(emu.request_log) - before == 1
    assert session.code.user_code
    assert session.code.interval == 1
    session.cancel()


async def test_device_flow_success(emu: EmulatorServer, identity: IdentityClient) -> None:
    session = await start(identity, emu)
    emu.approve_device_code(session.code.user_code, ADMIN)
    token = await asyncio.wait_for(identity.wait_for_sign_in(session), DEADLINE)
    assert token.tenant_id == TENANT
    assert token.admin.upn == ADMIN
    assert "62e90394-69f5-4237-9190-012177145e10" in token.admin.role_template_ids


async def test_device_flow_declined(emu: EmulatorServer, identity: IdentityClient) -> None:
    session = await start(identity, emu)
    emu.decline_device_code(session.code.user_code)
    with pytest.raises(VdcError) as caught:
        await asyncio.wait_for(identity.wait_for_sign_in(session), DEADLINE)
    assert caught.value.code == "sign_in_declined"


async def test_device_flow_expired(emu: EmulatorServer, identity: IdentityClient) -> None:
    emu.faults.device_code_lifetime = 2
    session = await start(identity, emu)
    with pytest.raises(VdcError) as caught:
        await asyncio.wait_for(identity.wait_for_sign_in(session), DEADLINE)
    assert caught.value.code == "device_code_expired"


async def test_device_flow_blocked_by_conditional_access(
    emu: EmulatorServer, identity: IdentityClient
) -> None:
    emu.faults.block_device_code = True
    session = await start(identity, emu)
    emu.approve_device_code(session.code.user_code, ADMIN)
    with pytest.raises(VdcError) as caught:
        await asyncio.wait_for(identity.wait_for_sign_in(session), DEADLINE)
    assert caught.value.code == "device_code_blocked_by_policy"
    assert caught.value.details["aadsts"] == 53003


async def test_cancel_returns_within_a_second(
    emu: EmulatorServer, identity: IdentityClient
) -> None:
    session = await start(identity, emu)
    waiting = asyncio.ensure_future(identity.wait_for_sign_in(session))
    polls_before = sum(1 for r in emu.request_log if r[1].endswith("/token"))
    deadline = time.monotonic() + DEADLINE
    while sum(1 for r in emu.request_log if r[1].endswith("/token")) == polls_before:
        assert time.monotonic() < deadline, "polling never started"
        await asyncio.sleep(0.02)
    started = time.monotonic()
    session.cancel()
    with pytest.raises(Cancelled):
        await waiting
    assert time.monotonic() - started < 1.0


# --- discovery and Graph over HTTPS ------------------------------------------------------


async def test_discovery_over_https(emu: EmulatorServer) -> None:
    found = await discover_tenant(server_endpoints(emu), "someone@contoso.com")
    assert found.tenant_id == TENANT
    with pytest.raises(VdcError) as caught:
        await discover_tenant(server_endpoints(emu), "someone@nowhere.example")
    assert caught.value.code == "tenant_not_found"


async def test_ca_environment_variables_do_not_replace_the_emulator_ca(
    emu: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The system bundle does not know the emulator's CA: if these won, TLS would fail.
    monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent/ca.pem")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/ca.pem")
    found = await discover_tenant(server_endpoints(emu), "contoso.com")
    assert found.tenant_id == TENANT


async def test_system_trust_does_not_accept_the_emulator(emu: EmulatorServer) -> None:
    untrusted: Endpoints = replace(server_endpoints(emu), ca_bundle=None)
    with pytest.raises(ServiceUnavailable):
        await discover_tenant(untrusted, "contoso.com", sleep=_no_wait)


async def _no_wait(seconds: float) -> None:
    return None


async def test_graph_client_retries_emulator_throttling(
    emu: EmulatorServer, identity: IdentityClient
) -> None:
    endpoints = server_endpoints(emu)
    token = await identity.app_token(
        TENANT, APP, pfx(emu, "good", "pw").credential(), endpoints.graph_scope
    )
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    emu.faults.throttle_every = 2
    emu.faults.retry_after = 3
    graph = GraphClient(endpoints, token.access_token, sleep=record)
    try:
        org = await graph.get("/organization")
        again = await graph.get("/organization")
        answers = await graph.batch(
            [BatchRequest(str(i), "GET", "/organization") for i in range(4)]
        )
    finally:
        await graph.aclose()
    assert org["value"][0]["id"] == TENANT == again["value"][0]["id"]
    assert 3.0 in waits
    assert all(a.status == 200 for a in answers.values())
