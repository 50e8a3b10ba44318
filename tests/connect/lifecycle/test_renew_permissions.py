"""A renewal whose new certificate signs in but whose tokens lack a permission.

The emulator's ``revoke_on_add_key`` fault removes one grant of the app just after its new
key lands (an admin removing it meanwhile). The renewal must not save the new certificate:
it ends ``renewal_incomplete`` with the old certificate still on the app and in the profile;
the next run finishes once the grant is back, or undoes the renewal while it is still gone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.commands import Outcome
from support.lifecycle import TENANT, endpoint_args, managed_app, scenario

from vdc_tui.connect.errors import DiagnosedProblem, ProvisioningFailed
from vdc_tui.connect.lifecycle.renew import RenewOutcome
from vdc_tui.connect.microsoft.clouds import server_endpoints
from vdc_tui.connect.service import ConnectionService, ConnectSettings
from vdc_tui.connect.store.profiles import ProfileStore
from vdc_tui.emulator import EmulatorServer

from .test_renew import app_sha1s, assert_renewed_cleanly, connect, profile_of

Run = Callable[..., Outcome]
StartEmulator = Callable[..., EmulatorServer]
REVOKED = "Exchange.ManageAsApp"


def grants_of_the_app(emu: EmulatorServer) -> list[Any]:
    app_id = managed_app(emu).app_id
    with emu.state.lock:
        principal = next(sp for sp in emu.state.service_principals.values()
                         if sp.app_id == app_id)
        return [a for a in emu.state.app_role_assignments.values()
                if a.principal_id == principal.id]


def service(emu: EmulatorServer, home: Path) -> ConnectionService:
    return ConnectionService(ConnectSettings(endpoints=server_endpoints(emu), home=home,
                                             verify_timeout=2.0))


async def renew_without_the_role(emu: EmulatorServer, home: Path, old: str) -> None:
    """The first renewal: the grant goes once addKey lands; it must stop incomplete."""
    svc = service(emu, home)
    try:
        emu.faults.update(revoke_on_add_key=REVOKED)
        with pytest.raises(ProvisioningFailed) as failed:
            await svc.renew(TENANT)
    finally:
        await svc.aclose()
    assert failed.value.code == "renewal_incomplete"
    assert REVOKED in failed.value.message
    assert any(REVOKED in str(m) for m in failed.value.details["missing"])
    folder = home / "connections" / TENANT
    assert profile_of(home)["certificate"]["sha1"] == old
    assert ProfileStore(home).read_key(TENANT).info.sha1 == old
    assert old in app_sha1s(emu) and len(app_sha1s(emu)) == 2
    assert (folder / "provisioning.json").exists()  # the next run knows what to finish


def test_a_role_missing_from_the_new_keys_tokens_keeps_the_old_certificate_and_the_rerun_finishes(
        run: Run, start_emulator: StartEmulator, home: Path) -> None:
    emu = start_emulator(scenario(), auto_approve_after=0)
    old = connect(run, emu)["certificate"]["sha1"]
    before = grants_of_the_app(emu)
    asyncio.run(renew_without_the_role(emu, home, old))
    assert len(grants_of_the_app(emu)) == len(before) - 1
    # An admin grants it again (what `connections repair` does), then the renewal runs again.
    with emu.state.lock:
        for grant in before:
            emu.state.app_role_assignments[grant.id] = grant

    async def again() -> RenewOutcome:
        svc = service(emu, home)
        try:
            return await svc.renew(TENANT)
        finally:
            await svc.aclose()

    outcome = asyncio.run(again())
    assert outcome.resumed and outcome.previous_sha1 == old
    assert_renewed_cleanly(emu, home, old)


def test_the_rerun_undoes_the_renewal_while_the_permission_is_still_gone(
        run: Run, start_emulator: StartEmulator, home: Path) -> None:
    emu = start_emulator(scenario(), auto_approve_after=0)
    old = connect(run, emu)["certificate"]["sha1"]
    asyncio.run(renew_without_the_role(emu, home, old))
    outcome = run("connections", "renew", TENANT, "--json", *endpoint_args(emu))
    assert outcome.code == 3, outcome.err
    error = outcome.json()["error"]
    assert error["code"] == "missing_permissions"
    assert "connections repair" in error["remediation"] and "undone" in error["remediation"]
    folder = home / "connections" / TENANT
    assert app_sha1s(emu) == [old] and profile_of(home)["certificate"]["sha1"] == old
    assert not (folder / "provisioning.json").exists()
    assert not (folder / "certificate.renewal.pfx").exists()


def test_the_undo_says_what_it_did(run: Run, start_emulator: StartEmulator,
                                   home: Path) -> None:
    emu = start_emulator(scenario(), auto_approve_after=0)
    old = connect(run, emu)["certificate"]["sha1"]
    asyncio.run(renew_without_the_role(emu, home, old))

    async def again() -> None:
        svc = service(emu, home)
        try:
            await svc.renew(TENANT)
        finally:
            await svc.aclose()

    with pytest.raises(DiagnosedProblem) as caught:
        asyncio.run(again())
    assert caught.value.details["renewal_undone"] is True
    assert any(r.path.endswith("/removeKey") and r.status == 204 for r in emu.request_log)
