"""The renewal coroutine the dashboard calls (one call, progress through a callback)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from support.commands import Outcome
from support.lifecycle import TENANT, managed_app, scenario

from vdc_tui.connect.errors import ProvisioningFailed
from vdc_tui.connect.lifecycle.renew import RenewOutcome
from vdc_tui.connect.microsoft.clouds import server_endpoints
from vdc_tui.connect.models import CheckEvent, CheckStatus
from vdc_tui.connect.service import ConnectionService, ConnectSettings
from vdc_tui.emulator import EmulatorServer

from .test_renew import app_sha1s, assert_renewed_cleanly, connect, profile_of

Run = Callable[..., Outcome]
StartEmulator = Callable[..., EmulatorServer]


def test_replication_lag_past_the_limit_is_renewal_incomplete_and_the_rerun_finishes(
        run: Run, start_emulator: StartEmulator, home: Path) -> None:
    emu = start_emulator(scenario(), auto_approve_after=0)
    old = connect(run, emu)["certificate"]["sha1"]  # (the CLI runs its own event loop)
    emu.faults.update(replication_delay=3600)
    outcome = asyncio.run(_renew_twice(emu, home, old))
    assert outcome.resumed and outcome.previous_sha1 == old
    assert_renewed_cleanly(emu, home, old)


async def _renew_twice(emu: EmulatorServer, home: Path, old: str) -> RenewOutcome:
    service = ConnectionService(ConnectSettings(endpoints=server_endpoints(emu), home=home,
                                                verify_timeout=2.0))
    events: list[CheckEvent] = []
    try:
        with pytest.raises(ProvisioningFailed) as failed:
            await service.renew(TENANT, on_progress=events.append)
        assert failed.value.code == "renewal_incomplete"
        assert "old certificate still works" in failed.value.remediation
        assert profile_of(home)["certificate"]["sha1"] == old  # untouched, still on the app
        assert len(app_sha1s(emu)) == 2
        assert any(e.step == "verify" and e.status is CheckStatus.FAIL for e in events)
        with emu.state.lock:
            for key in managed_app(emu).key_credentials:
                key.visible_at = 0.0
        return await service.renew(TENANT, on_progress=events.append)
    finally:
        await service.aclose()
