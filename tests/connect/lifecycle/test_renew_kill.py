"""A renewal killed outright (SIGKILL of a real process) at every step, then run again.

The renewal runs as its own ``vdc-tui`` process against an emulator in this process. The
emulator parks the process at the step under test (a slow request that is then dropped,
or one that is carried out late, as Entra carries out a request whose client hung up);
the test kills it with SIGKILL when its progress line appears, checks that the profile's
key is on the app at that moment, then runs ``renew`` again and checks that it finished.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.commands import Outcome
from support.lifecycle import TENANT, endpoint_args, kill_command_at, managed_app, scenario

from vdc_tui.emulator import EmulatorServer

from .test_renew import app_sha1s, assert_renewed_cleanly, connect, profile_of

Run = Callable[..., Outcome]
StartEmulator = Callable[..., EmulatorServer]
ADD = "/v1.0/applications/*/addKey"
REMOVE = "/v1.0/applications/*/removeKey"

GENERATED = "[pass] New key and certificate"
ADDED = "[pass] Add the new certificate"
SAVED = "[pass] Profile points at the new certificate"


def kill_at(emu: EmulatorServer, home: Path, line_start: str,
            arrived: Callable[[], bool] = lambda: True) -> list[str]:
    """Start ``renew`` as a process and SIGKILL it once a line starts with ``line_start``
    and ``arrived()`` holds (a parked request has reached the emulator)."""
    return kill_command_at(emu, home, "renew", line_start, arrived)


def wait_for_request(emu: EmulatorServer, suffix: str, status: int) -> None:
    """Poll the emulator's log until a request to ``suffix`` was answered with ``status``."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if any(r.path.endswith(suffix) and r.status == status for r in emu.request_log):
            return
        time.sleep(0.05)
    raise AssertionError(f"no {suffix} answered {status}")


def profile_key_is_on_the_app(emu: EmulatorServer, home: Path) -> None:
    assert profile_of(home)["certificate"]["sha1"] in app_sha1s(emu)


def rerun(run: Run, emu: EmulatorServer) -> dict[str, Any]:
    emu.faults.update(latency=0, drop_every=0, stall_every=0, replication_delay=0)
    outcome = run("connections", "renew", TENANT, "--json", *endpoint_args(emu))
    assert outcome.code == 0, outcome.err
    document: dict[str, Any] = outcome.json()
    return document


@pytest.fixture
def emu(start_emulator: StartEmulator) -> EmulatorServer:
    return start_emulator(scenario(), auto_approve_after=0)


def test_killed_before_add_key_reached_graph(run: Run, emu: EmulatorServer,
                                             home: Path) -> None:
    old = connect(run, emu)["certificate"]["sha1"]
    # addKey is slow and then dropped: the process dies before Graph carried it out.
    emu.faults.update(latency=5, latency_path=ADD, drop_every=1, drop_path=ADD)
    kill_at(emu, home, GENERATED)
    assert app_sha1s(emu) == [old]
    profile_key_is_on_the_app(emu, home)
    assert (home / "connections" / TENANT / "provisioning.json").exists()
    assert rerun(run, emu)["resumed"] is True
    assert_renewed_cleanly(emu, home, old)


def test_killed_while_graph_was_adding_the_key(run: Run, emu: EmulatorServer,
                                               home: Path) -> None:
    old = connect(run, emu)["certificate"]["sha1"]
    # addKey stalls; Graph carries it out after the client is gone.
    emu.faults.update(stall_every=1, stall_path=ADD, stall_seconds=2)
    kill_at(emu, home, GENERATED, lambda: emu.fault_hits("stall") >= 1)
    wait_for_request(emu, "/addKey", 200)
    assert len(app_sha1s(emu)) == 2
    profile_key_is_on_the_app(emu, home)
    assert rerun(run, emu)["resumed"] is True
    assert_renewed_cleanly(emu, home, old)


def test_killed_while_verifying_the_new_key(run: Run, emu: EmulatorServer,
                                            home: Path) -> None:
    old = connect(run, emu)["certificate"]["sha1"]
    emu.faults.update(replication_delay=3600)  # the new key never replicates while it runs
    kill_at(emu, home, ADDED)
    profile_key_is_on_the_app(emu, home)
    with emu.state.lock:  # replication finishes while nobody runs
        for key in managed_app(emu).key_credentials:
            key.visible_at = 0.0
    assert rerun(run, emu)["resumed"] is True
    assert_renewed_cleanly(emu, home, old)


def test_killed_after_saving_before_remove_key(run: Run, emu: EmulatorServer,
                                               home: Path) -> None:
    old = connect(run, emu)["certificate"]["sha1"]
    emu.faults.update(latency=5, latency_path=REMOVE, drop_every=1, drop_path=REMOVE)
    kill_at(emu, home, SAVED)
    assert len(app_sha1s(emu)) == 2 and old in app_sha1s(emu)
    profile_key_is_on_the_app(emu, home)
    assert profile_of(home)["certificate"]["sha1"] != old
    rerun(run, emu)
    assert_renewed_cleanly(emu, home, old)


def test_killed_while_graph_was_removing_the_old_key(run: Run, emu: EmulatorServer,
                                                     home: Path) -> None:
    old = connect(run, emu)["certificate"]["sha1"]
    emu.faults.update(stall_every=1, stall_path=REMOVE, stall_seconds=2)
    kill_at(emu, home, SAVED, lambda: emu.fault_hits("stall") >= 1)
    wait_for_request(emu, "/removeKey", 204)
    profile_key_is_on_the_app(emu, home)
    rerun(run, emu)
    assert_renewed_cleanly(emu, home, old)


def test_killed_between_the_key_file_and_the_profile(run: Run, emu: EmulatorServer,
                                                     home: Path) -> None:
    """The two local writes of the save step are not one atomic write: a kill between them
    leaves the new key file with a profile that names the old certificate (both keys are on
    the app then). Made here by restoring the profile written before the save step."""
    old = connect(run, emu)["certificate"]["sha1"]
    profile_path = home / "connections" / TENANT / "profile.json"
    before_save = profile_path.read_bytes()
    emu.faults.update(latency=5, latency_path=REMOVE, drop_every=1, drop_path=REMOVE)
    kill_at(emu, home, SAVED)
    profile_path.write_bytes(before_save)
    assert profile_of(home)["certificate"]["sha1"] == old and len(app_sha1s(emu)) == 2
    rerun(run, emu)
    assert_renewed_cleanly(emu, home, old)
