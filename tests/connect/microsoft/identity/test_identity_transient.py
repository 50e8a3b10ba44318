"""Passing failures of the identity platform do not end a sign-in.

The emulator's ``signin_fault`` hits one kind of sign-in request (the device-code request,
a device-code poll, an app-only token) with Entra's transient answer (503,
``temporarily_unavailable``, AADSTS90033, ``Retry-After``), a stall past the client's
timeout, or a dropped connection; the sign-in still succeeds. A failure that persists
ends with ``service_unavailable``, saying how many tries were really sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from connect.microsoft.identity.test_identity_emulator import (  # noqa: F401 - the module's emulator fixtures
    ADMIN,
    APP,
    DEADLINE,
    PUBLIC_CLIENT,
    TENANT,
    emu,
    emulator,
    pfx,
    start,
)
from vdc_tui.connect.errors import ServiceUnavailable, VdcError
from vdc_tui.connect.microsoft.clouds import server_endpoints
from vdc_tui.connect.microsoft.identity import IdentityClient
from vdc_tui.connect.microsoft.identity.aadsts import AadError
from vdc_tui.emulator import EmulatorServer

#: The client's per-request timeout here: a stall of twice that is a timeout.
TIMEOUT = 1.0
FAULTS = ["unavailable", "stall", "drop"]


@pytest.fixture
async def identity(emu: EmulatorServer) -> AsyncIterator[IdentityClient]:  # noqa: F811
    emu.faults.update(retry_after=0, stall_seconds=2 * TIMEOUT)
    client = IdentityClient(server_endpoints(emu), client_id=PUBLIC_CLIENT, timeout=TIMEOUT)
    try:
        yield client
    finally:
        await client.aclose()


def hits(server: EmulatorServer, target: str) -> int:
    """Sign-in requests of one kind the emulator's sign-in fault has counted."""
    key = f"signin:{target}:{server.faults.signin_round}"
    return int(server._core.counters.counts.get(key, 0))


def sent(server: EmulatorServer, suffix: str) -> int:
    return sum(1 for r in server.request_log if r[1].endswith(suffix))


@pytest.mark.parametrize("fault", FAULTS)
async def test_one_failed_device_code_request_is_tried_again(
    emu: EmulatorServer, identity: IdentityClient, fault: str  # noqa: F811
) -> None:
    await identity.prepare()
    emu.faults.update(signin_fault=fault, signin_fault_on="devicecode")
    session = await asyncio.wait_for(start(identity, emu), DEADLINE)
    assert session.code.user_code
    assert hits(emu, "devicecode") == 2  # the failed one, then the one that worked
    session.cancel()


@pytest.mark.parametrize("fault", FAULTS)
async def test_one_failed_poll_does_not_end_the_sign_in(
    emu: EmulatorServer, identity: IdentityClient, fault: str  # noqa: F811
) -> None:
    session = await start(identity, emu)
    emu.faults.update(signin_fault=fault, signin_fault_on="device_poll")
    emu.approve_device_code(session.code.user_code, ADMIN)
    token = await asyncio.wait_for(identity.wait_for_sign_in(session), DEADLINE)
    assert token.admin.upn == ADMIN
    assert hits(emu, "device_poll") >= 2


@pytest.mark.parametrize("fault", FAULTS)
async def test_one_failed_app_token_request_is_tried_again(
    emu: EmulatorServer, identity: IdentityClient, fault: str  # noqa: F811
) -> None:
    emu.faults.update(signin_fault=fault, signin_fault_on="app_token")
    token = await asyncio.wait_for(
        identity.app_token(TENANT, APP, pfx(emu, "good", "pw").credential(),
                           server_endpoints(emu).graph_scope),
        DEADLINE,
    )
    assert token.roles
    assert hits(emu, "app_token") == 2


async def test_a_persistent_outage_is_service_unavailable_with_honest_tries(
    emu: EmulatorServer, identity: IdentityClient  # noqa: F811
) -> None:
    emu.faults.update(signin_fault="unavailable", signin_fault_on="app_token",
                      signin_fault_count=1000)
    before = sent(emu, "/token")
    with pytest.raises(ServiceUnavailable) as caught:
        await asyncio.wait_for(
            identity.app_token(TENANT, APP, pfx(emu, "good", "pw").credential(),
                               server_endpoints(emu).graph_scope),
            DEADLINE,
        )
    tries = sent(emu, "/token") - before
    assert caught.value.details["tries"] == tries
    assert f"{tries} tries" in caught.value.message
    assert "AADSTS90033" in caught.value.message


async def test_a_dropped_connection_says_so_and_counts_what_was_sent(
    emu: EmulatorServer, identity: IdentityClient  # noqa: F811
) -> None:
    emu.faults.update(signin_fault="drop", signin_fault_on="app_token", signin_fault_count=1000)
    before = sent(emu, "/token")
    with pytest.raises(ServiceUnavailable) as caught:
        await asyncio.wait_for(
            identity.app_token(TENANT, APP, pfx(emu, "good", "pw").credential(),
                               server_endpoints(emu).graph_scope),
            DEADLINE * 2,
        )
    assert caught.value.details["tries"] == sent(emu, "/token") - before
    assert "connection dropped" in caught.value.message


@pytest.mark.parametrize("body", [
    {"error": {"code": "ServiceUnavailable", "message": "Try later."}},
    {"error": ["odd"], "error_description": "x"},
])
def test_a_graph_shaped_error_body_never_shows_as_a_python_object(body: dict[str, Any]) -> None:
    err = AadError.from_body(body)
    shown = [err.label, err.description, *map(str, err.details().values())]
    assert not any("{'" in text or "['" in text for text in shown)


async def test_cancelling_during_a_retry_wait_is_prompt(
    emu: EmulatorServer, identity: IdentityClient  # noqa: F811
) -> None:
    session = await start(identity, emu)
    emu.faults.update(signin_fault="unavailable", signin_fault_on="device_poll",
                      signin_fault_count=1000, retry_after=30)
    waiting = asyncio.ensure_future(identity.wait_for_sign_in(session))
    while sent(emu, "/token") == 0:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    session.cancel()
    with pytest.raises(VdcError) as caught:
        await asyncio.wait_for(waiting, 3)
    assert caught.value.code == "cancelled"
