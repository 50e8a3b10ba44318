"""Real ``vdc-tui connect auto`` processes killed, hung up on and rerun at once.

The emulator replicates every new object with a lag, as Entra does, so a rerun that starts
right after a crash cannot see what the killed run created. It must still end with exactly
one app registration and no orphan principal.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.terminals import Terminal

from vdc_tui.connect.entra.application import MANAGED_TAG
from vdc_tui.connect.entra.journal import JOURNAL_NAME
from vdc_tui.connect.microsoft.clouds import server_endpoints
from vdc_tui.hangup import STUCK_EXIT_SECONDS

VDC_TUI = str(Path(sys.executable).parent / "vdc-tui")
#: Seconds every object created through Graph stays invisible (short: tests stay quick).
LAG = 6.0


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    environment = dict(os.environ)
    environment["VDC_TUI_HOME"] = str(tmp_path / "home")
    environment.pop("HTTPS_PROXY", None)
    environment.pop("https_proxy", None)
    return environment


def lagging(start_emulator: Callable[..., Any], lag: float = LAG, **faults: Any) -> Any:
    return start_emulator("demo", auto_approve_after=0, device_code_interval=1,
                          replication_delay=lag, **faults)


def auto(emu: Any, env: dict[str, str], *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [VDC_TUI, "connect", "auto", "--json", "--authority-host", emu.authority_host,
         "--graph-url", emu.graph_url, "--ca-bundle", str(server_endpoints(emu).ca_bundle), *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )


def managed_apps(emu: Any) -> list[Any]:
    with emu.state.lock:
        return [a for a in emu.state.applications.values()
                if MANAGED_TAG in (a.props.get("tags") or [])]


def orphan_principals(emu: Any) -> list[str]:
    """Principals whose application no longer exists."""
    with emu.state.lock:
        app_ids = {a.app_id.lower() for a in emu.state.applications.values()}
        return [sp.id for sp in emu.state.service_principals.values()
                if sp.app_id.lower() not in app_ids and sp.app_owner_tenant_id
                and sp.app_owner_tenant_id == sp.tenant_id]


def reached(emu: Any, step: str, before: set[str]) -> bool:
    """The run has got as far as ``step`` in the emulator's state."""
    with emu.state.lock:
        new_apps = [a for a in emu.state.applications.values() if a.id not in before]
        if step == "application":
            return bool(new_apps)
        new_app_ids = {a.app_id for a in new_apps}
        principals = [sp for sp in emu.state.service_principals.values()
                      if sp.app_id in new_app_ids]
        if step == "service_principal":
            return bool(principals)
        ids = {sp.id for sp in principals}
        grants = [g for g in emu.state.app_role_assignments.values() if g.principal_id in ids]
        if step == "grants":
            return bool(grants)
        assert step == "verify"
        return any(r.path.endswith("/oauth2/v2.0/token") for r in emu.request_log[-5:]) and \
            bool(grants)


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen[Any], what: str,
             timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before {what}: {proc.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def finish(proc: subprocess.Popen[str], timeout: float = 90.0) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=20)
    return proc.returncode, out, err


@pytest.mark.parametrize("step", ["application", "service_principal", "grants"])
def test_immediate_rerun_after_kill_9_ends_with_one_app_and_no_orphan(
    start_emulator: Callable[..., Any], env: dict[str, str], step: str
) -> None:
    emu = lagging(start_emulator)
    before = set(emu.state.applications)
    proc = auto(emu, env)
    wait_for(lambda: reached(emu, step, before), proc, step)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=20)
    # At once, inside the replication window: what the killed run made is not visible yet.
    code, out, err = finish(auto(emu, env))
    assert code == 0, err
    assert json.loads(out)["status"] == "connected"
    apps = managed_apps(emu)
    assert len(apps) == 1, err
    assert orphan_principals(emu) == []
    with emu.state.lock:
        assert len([sp for sp in emu.state.service_principals.values()
                    if sp.app_id == apps[0].app_id]) == 1
    assert not list((Path(env["VDC_TUI_HOME"]) / "connections").glob("*/" + JOURNAL_NAME))


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM])
def test_hangup_or_terminate_during_provisioning_rolls_back_and_exits_130(
    start_emulator: Callable[..., Any], env: dict[str, str], tmp_path: Path,
    sig: signal.Signals,
) -> None:
    emu = lagging(start_emulator, lag=1.0)
    before = set(emu.state.applications)
    log = tmp_path / "run.log"
    proc = auto(emu, env, "--log", str(log))
    wait_for(lambda: reached(emu, "service_principal", before), proc, "the principal")
    proc.send_signal(sig)
    code, out, err = finish(proc)
    assert code == 130, err
    assert json.loads(out)["error"]["code"] == "cancelled"
    assert sig.name in err
    with emu.state.lock:
        assert set(emu.state.applications) == before, err
    assert orphan_principals(emu) == []
    assert not list((Path(env["VDC_TUI_HOME"]) / "connections").glob("*/" + JOURNAL_NAME))
    text = log.read_text()
    assert f"{sig.name} received" in text and "rolled back: deleted app registration" in text


def test_hangup_when_rollback_cannot_finish_keeps_the_journal_and_exits_130(
    start_emulator: Callable[..., Any], env: dict[str, str], tmp_path: Path,
) -> None:
    emu = lagging(start_emulator, lag=1.0)
    before = set(emu.state.applications)
    log = tmp_path / "run.log"
    proc = auto(emu, env, "--log", str(log))
    wait_for(lambda: reached(emu, "service_principal", before), proc, "the principal")
    # Graph is down for good from now on: the rollback cannot delete the app.
    emu.faults.update(unavailable_every=1, unavailable_path="/v1.0/*")
    proc.send_signal(signal.SIGHUP)
    code, out, err = finish(proc)
    assert code == 130, err
    document = json.loads(out)
    assert document["error"]["code"] == "cancelled"
    assert document["error"]["details"]["rollback"]["code"] == "rollback_incomplete"
    journals = list((Path(env["VDC_TUI_HOME"]) / "connections").glob("*/" + JOURNAL_NAME))
    assert len(journals) == 1
    assert json.loads(journals[0].read_text())["state"] == "rollback_incomplete"
    assert "rollback incomplete" in log.read_text()
    # Graph is back: a rerun at once resumes the app the journal names; one app in the end.
    emu.faults.update(unavailable_every=0)
    code, out, err = finish(auto(emu, env))
    assert code == 0, err
    assert len(managed_apps(emu)) == 1
    assert orphan_principals(emu) == []


def test_tui_hangup_during_provisioning_rolls_back_without_a_terminal(
    start_emulator: Callable[..., Any], env: dict[str, str], tmp_path: Path,
) -> None:
    emu = lagging(start_emulator, lag=1.0, latency=0.2, latency_path="/v1.0/*")
    before = set(emu.state.applications)
    log = tmp_path / "wizard.log"
    term = Terminal([VDC_TUI, "--log", str(log), "--authority-host", emu.authority_host,
                     "--graph-url", emu.graph_url, "--ca-bundle", str(emu.ca_bundle)],
                    env)
    try:
        term.wait_for(b"Automatic")
        term.press(b"a")
        wait_for(lambda: reached(emu, "service_principal", before), term.proc, "the principal")
        term.hang_up()
        # Well inside STUCK_EXIT_SECONDS after the rollback: the process ends through the
        # wizard's own shutdown, never through the last-resort timer.
        assert term.proc.wait(timeout=STUCK_EXIT_SECONDS - 10) == 130
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
            term.proc.wait(timeout=20)
    text = log.read_text()
    assert "SIGHUP received" in text, text
    assert "rolled back: deleted app registration" in text, text
    assert "wizard ended by SIGHUP (exit 130)" in text
    assert "had not ended" not in text
    with emu.state.lock:
        assert set(emu.state.applications) == before
    assert orphan_principals(emu) == []
    assert not list((Path(env["VDC_TUI_HOME"]) / "connections").glob("*/" + JOURNAL_NAME))


@pytest.mark.parametrize(("target", "fault"), [
    ("devicecode", "unavailable"), ("device_poll", "unavailable"), ("app_token", "unavailable"),
    ("device_poll", "drop"), ("app_token", "drop"),
])
def test_one_transient_sign_in_fault_does_not_end_an_onboarding(
    start_emulator: Callable[..., Any], env: dict[str, str], target: str, fault: str
) -> None:
    emu = start_emulator("demo", auto_approve_after=0, device_code_interval=1, retry_after=1)
    emu.faults.update(signin_fault=fault, signin_fault_on=target)
    code, out, err = finish(auto(emu, env))
    assert code == 0, err
    assert json.loads(out)["status"] == "connected"
    key = f"signin:{target}:{emu.faults.signin_round}"
    assert emu._core.counters.counts.get(key, 0) >= 2, "the fault never fired"
    assert "Microsoft Entra refused" not in err
