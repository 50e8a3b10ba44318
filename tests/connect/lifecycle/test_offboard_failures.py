"""Offboarding cut off in the tenant: the local profile and key stay until the tenant side
is done, the exit is non-zero and names what is left, and running it again finishes.

Faults: 503s past every retry of ``DELETE /applications/{id}``, a dropped connection on the
purge (``DELETE /directory/deletedItems/{id}``), and a real ``kill -9`` of a ``vdc-tui``
process parked between the delete and the purge (as
tests/connect/lifecycle/test_renew_kill.py does).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.commands import Outcome
from support.lifecycle import TENANT, endpoint_args, managed_app, scenario

from vdc_tui.emulator import EmulatorServer

Run = Callable[..., Outcome]
StartEmulator = Callable[..., EmulatorServer]
DELETE_APP = "/v1.0/applications/*"
PURGE = "/v1.0/directory/deletedItems/*"


@pytest.fixture
def connected(run: Run, start_emulator: StartEmulator) -> EmulatorServer:
    emu = start_emulator(scenario(), auto_approve_after=0)
    outcome = run("connect", "auto", "--json", *endpoint_args(emu))
    assert outcome.code == 0, outcome.err
    return emu


def offboard(run: Run, emu: EmulatorServer, *extra: str) -> Outcome:
    return run("connections", "remove", TENANT, "--offboard", "--yes", "--json", *extra,
               *endpoint_args(emu))


def still_saved(run: Run, home: Path) -> None:
    """The profile is listed and its key file is there."""
    listed = run("connections", "list", "--json").json()["connections"]
    assert [c["tenant_id"] for c in listed] == [TENANT]
    assert (home / "connections" / TENANT / "certificate.pfx").is_file()


def test_a_delete_failing_past_every_retry_keeps_the_profile_and_says_the_app_is_left(
        run: Run, connected: EmulatorServer, home: Path) -> None:
    app = managed_app(connected)
    connected.faults.update(unavailable_every=1, unavailable_path=DELETE_APP, retry_after=0)
    outcome = offboard(run, connected)
    assert outcome.code == 4, outcome.err
    error = outcome.json()["error"]
    assert error["code"] == "service_unavailable"
    assert f"the app registration {app.app_id} is still in the tenant" in error["message"]
    assert "local profile and key" in error["message"]
    assert error["details"]["left"] == ["app_registration", "profile", "key"]
    assert any(r.method == "DELETE" and r.status == 503 for r in connected.request_log)
    assert app.id in connected.state.applications
    still_saved(run, home)
    connected.faults.update(unavailable_every=0)
    again = offboard(run, connected)
    assert again.code == 0, again.err
    assert app.id not in connected.state.applications
    assert run("connections", "list", "--json").json()["connections"] == []


def test_a_purge_cut_off_keeps_the_profile_and_the_rerun_purges(
        run: Run, connected: EmulatorServer, home: Path) -> None:
    app = managed_app(connected)
    connected.faults.update(drop_every=1, drop_path=PURGE)
    outcome = offboard(run, connected, "--purge")
    assert outcome.code == 4, outcome.err
    error = outcome.json()["error"]
    assert "deleted but still in deleted items" in error["message"]
    assert "--purge" in error["remediation"]
    assert error["details"]["left"] == ["deleted_item", "profile", "key"]
    assert app.id in connected.state.deleted_applications
    still_saved(run, home)
    connected.faults.update(drop_every=0)
    again = offboard(run, connected, "--purge")
    assert again.code == 0, again.err
    assert again.json()["tenant"]["app_purged"] is True
    assert app.id not in connected.state.deleted_applications
    assert run("connections", "list", "--json").json()["connections"] == []


def test_killed_between_the_delete_and_the_purge_keeps_the_profile_and_the_rerun_purges(
        run: Run, connected: EmulatorServer, home: Path) -> None:
    app = managed_app(connected)
    connected.faults.update(stall_every=1, stall_path=PURGE, stall_seconds=60)
    env: dict[str, Any] = {**os.environ, "VDC_TUI_HOME": str(home), "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vdc_tui", "connections", "remove", TENANT, "--offboard",
         "--purge", "--yes", "--json", *endpoint_args(connected)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while connected.fault_hits("stall") < 1:  # the purge has reached the emulator
            assert proc.poll() is None, "offboarding ended before the purge"
            assert time.monotonic() < deadline, "the purge never came"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert app.id in connected.state.deleted_applications  # deleted, not purged
    still_saved(run, home)
    connected.faults.update(stall_every=0)
    again = offboard(run, connected, "--purge")
    assert again.code == 0, again.err
    assert again.json()["tenant"]["app_purged"] is True
    assert app.id not in connected.state.deleted_applications
    assert not (home / "connections" / TENANT).exists()


def test_a_local_remove_names_what_still_works_not_a_command_that_cannot(
        run: Run, connected: EmulatorServer) -> None:
    app = managed_app(connected)
    outcome = run("connections", "remove", TENANT, "--json")
    assert outcome.code == 0, outcome.err
    note = outcome.json()["note"]
    assert app.app_id in note and "Entra admin centre" in note and "connect auto" in note
    # Every command the note names must still work: right after it, the remove with
    # --offboard it used to suggest cannot (the profile is gone).
    assert f"remove {TENANT} --offboard` deletes" not in note
    assert "cannot find the tenant" in note
    assert offboard(run, connected).code == 2
