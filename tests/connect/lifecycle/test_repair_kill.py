"""A repair killed outright (SIGKILL of a real process) in the middle of each kind of fix,
then run again at once: the rerun ends healthy, with the one app and a consistent profile.

The repair runs as its own ``vdc-tui`` process (its admin sign-in approved by the
emulator at once) against an emulator in this process, as in ``test_renew_kill.py``: a
request parked by a fault, or a verification that cannot finish, holds the process at the
step under test; the test kills it when that step's progress line appears.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.commands import Outcome
from support.lifecycle import TENANT, endpoint_args, kill_command_at, managed_app, scenario

from vdc_tui.connect.store.profiles import ProfileStore
from vdc_tui.emulator import EmulatorServer

from .test_renew import app_sha1s, connect, profile_of
from .test_renew_kill import wait_for_request
from .test_repair_breaks import assert_healthy, expire_saved_certificate

Run = Callable[..., Outcome]
StartEmulator = Callable[..., EmulatorServer]
APPLICATION = "/v1.0/applications/*"
PRINCIPALS = "/v1.0/servicePrincipals"

APP_FOUND = "[pass] App registration in the tenant"
CERTIFICATE = "[pass] Certificate on the app registration"


def kill_repair_at(emu: EmulatorServer, home: Path, line_start: str,
                   arrived: Callable[[], bool] = lambda: True) -> list[str]:
    """Start ``repair`` as a process and SIGKILL it once a line starts with ``line_start``
    and ``arrived()`` holds."""
    return kill_command_at(emu, home, "repair", line_start, arrived)


def rerun(run: Run, emu: EmulatorServer) -> dict[str, Any]:
    emu.faults.update(latency=0, drop_every=0, stall_every=0, replication_delay=0)
    outcome = run("connections", "repair", TENANT, "--json", *endpoint_args(emu))
    assert outcome.code == 0, outcome.err
    document: dict[str, Any] = outcome.json()
    return document


def replicate_everything(emu: EmulatorServer) -> None:
    """Replication finishes while nobody runs."""
    with emu.state.lock:
        for app in emu.state.applications.values():
            for key in app.key_credentials:
                key.visible_at = 0.0
            app.visible_at = 0.0
        for sp in emu.state.service_principals.values():
            sp.visible_at = 0.0
        for grant in emu.state.app_role_assignments.values():
            grant.visible_at = 0.0
        for role in emu.state.role_assignments.values():
            role.visible_at = 0.0


def assert_consistent(emu: EmulatorServer, home: Path, app_id: str) -> None:
    """One app (the same), the profile's certificate is its only key and the key file's."""
    assert managed_app(emu).app_id == app_id  # managed_app asserts there is exactly one
    sha1 = profile_of(home)["certificate"]["sha1"]
    assert app_sha1s(emu) == [sha1]
    assert ProfileStore(home).read_key(TENANT).info.sha1 == sha1
    folder = home / "connections" / TENANT
    assert not (folder / "repair.json").exists()
    assert not (folder / "certificate.renewal.pfx").exists()
    principals = [sp for sp in emu.state.service_principals.values() if sp.app_id == app_id]
    assert len(principals) == 1


@pytest.fixture
def emu(start_emulator: StartEmulator) -> EmulatorServer:
    return start_emulator(scenario(), auto_approve_after=0)


def test_killed_while_graph_registered_the_saved_certificate(
        run: Run, emu: EmulatorServer, home: Path) -> None:
    connected = connect(run, emu)
    with emu.state.lock:
        managed_app(emu).key_credentials.clear()
    # The PATCH of keyCredentials stalls; Graph carries it out after the client is gone.
    emu.faults.update(stall_every=1, stall_path=APPLICATION, stall_seconds=2)
    kill_repair_at(emu, home, APP_FOUND, lambda: emu.fault_hits("stall") >= 1)
    wait_for_request(emu, managed_app(emu).id, 204)
    rerun(run, emu)
    assert_consistent(emu, home, connected["app_id"])
    assert_healthy(run, emu, connected["app_id"])


def test_killed_while_verifying_a_replaced_certificate(
        run: Run, emu: EmulatorServer, home: Path) -> None:
    connected = connect(run, emu)
    old = expire_saved_certificate(emu, home)
    emu.faults.update(replication_delay=3600)  # the new key never replicates while it runs
    kill_repair_at(emu, home, CERTIFICATE)
    assert old in app_sha1s(emu) and len(app_sha1s(emu)) == 2
    assert profile_of(home)["certificate"]["sha1"] == old
    assert (home / "connections" / TENANT / "repair.json").exists()
    replicate_everything(emu)
    document = rerun(run, emu)
    assert [f["kind"] for f in document["fixed"]] == ["certificate_replaced"]
    assert document["fixed"][0]["resumed"] is True  # finished what the killed run began
    assert document["export_needed"] is True
    assert document["certificate"]["sha1"] != old
    assert_consistent(emu, home, connected["app_id"])
    assert_healthy(run, emu, connected["app_id"])


def test_killed_while_graph_added_the_new_certificate(
        run: Run, emu: EmulatorServer, home: Path) -> None:
    connected = connect(run, emu)
    old = expire_saved_certificate(emu, home)
    emu.faults.update(stall_every=1, stall_path=APPLICATION, stall_seconds=2)
    kill_repair_at(emu, home, APP_FOUND, lambda: emu.fault_hits("stall") >= 1)
    wait_for_request(emu, managed_app(emu).id, 204)
    assert len(app_sha1s(emu)) == 2
    document = rerun(run, emu)
    assert document["certificate"]["sha1"] != old
    assert_consistent(emu, home, connected["app_id"])
    assert_healthy(run, emu, connected["app_id"])


def test_killed_while_recreating_the_principal_of_a_restored_app(
        run: Run, emu: EmulatorServer, home: Path) -> None:
    connected = connect(run, emu)
    app = managed_app(emu)
    with emu.state.lock:
        emu.state.delete_application(app, now=time.time())
    emu.faults.update(stall_every=1, stall_path=PRINCIPALS, stall_seconds=2)
    kill_repair_at(emu, home, CERTIFICATE, lambda: emu.fault_hits("stall") >= 1)
    wait_for_request(emu, PRINCIPALS, 201)
    replicate_everything(emu)
    document = rerun(run, emu)
    assert "app_restored" not in [f["kind"] for f in document["fixed"]]  # done by the first
    assert_consistent(emu, home, connected["app_id"])
    assert managed_app(emu).id == app.id
    assert_healthy(run, emu, connected["app_id"])


def test_killed_while_granting_after_a_restore(
        run: Run, emu: EmulatorServer, home: Path) -> None:
    connected = connect(run, emu)
    with emu.state.lock:
        emu.state.delete_application(managed_app(emu), now=time.time())
    emu.faults.update(replication_delay=3600)  # the new principal stays invisible
    kill_repair_at(emu, home, CERTIFICATE, lambda: any(
        r.method == "POST" and r.path == PRINCIPALS and r.status == 201
        for r in emu.request_log))
    replicate_everything(emu)
    rerun(run, emu)
    assert_consistent(emu, home, connected["app_id"])
    assert_healthy(run, emu, connected["app_id"])


def test_killed_while_graph_removed_the_old_certificate(
        run: Run, emu: EmulatorServer, home: Path) -> None:
    connected = connect(run, emu)
    old = expire_saved_certificate(emu, home)
    # /applications/{id} is asked three times: the new key's PATCH, the read before the old
    # key goes, and that PATCH: the third stalls, and Graph carries it out after the kill.
    emu.faults.update(stall_every=3, stall_path=APPLICATION, stall_seconds=2)
    kill_repair_at(emu, home, "[pass] Profile records the verified permissions",
                   lambda: emu.fault_hits("stall") >= 3)
    new = profile_of(home)["certificate"]["sha1"]
    assert new != old and new in app_sha1s(emu)  # the profile's key is on the app
    deadline = time.monotonic() + 30
    while old in app_sha1s(emu):
        assert time.monotonic() < deadline, "the stalled removal never landed"
        time.sleep(0.05)
    rerun(run, emu)
    assert_consistent(emu, home, connected["app_id"])
    assert profile_of(home)["certificate"]["sha1"] == new
    assert_healthy(run, emu, connected["app_id"])
