"""``vdc-tui connections check``: every broken case of the fleet scenario, its verdict and
fix, the JSON contract, exit codes 0/3/4, the OpenMetrics file and fleet-scale behaviour."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from support.terminals import Terminal

from vdc_tui.cli.main import main
from vdc_tui.connect.fleet.health import HealthCache
from vdc_tui.connect.microsoft.clouds import server_endpoints
from vdc_tui.connect.store.profiles import ProfileStore
from vdc_tui.emulator import EmulatorServer

VDC_TUI = str(Path(sys.executable).parent / "vdc-tui")


def metric_families(text: str) -> Iterator[Any]:
    """prometheus_client's OpenMetrics parser (untyped in some of its releases)."""
    return iter(text_string_to_metric_families(text))  # type: ignore[no-untyped-call,unused-ignore]


@dataclass
class Ran:
    code: int
    out: str
    err: str
    seconds: float

    def json(self) -> dict[str, Any]:
        lines = [line for line in self.out.splitlines() if line.strip()]
        assert len(lines) == 1, self.out
        document = json.loads(lines[0])
        assert isinstance(document, dict)
        return document


def check(*argv: str) -> Ran:
    out, err = io.StringIO(), io.StringIO()
    started = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["connections", "check", *argv])
    return Ran(code, out.getvalue(), err.getvalue(), time.monotonic() - started)


@pytest.fixture(scope="module")
def fleet_run(health_fleet: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ran]:
    """One ``check --all --json`` of the whole fleet (every kind), shared by the module."""
    from bench.fleet import save_profiles

    home = tmp_path_factory.mktemp("check-home")
    save_profiles(health_fleet.files.manifest, home)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VDC_TUI_HOME", str(home))
        yield check("--all", "--json", *health_fleet.args())


def connection(ran: Ran, fleet: Any, kind: str) -> dict[str, Any]:
    tid = fleet.tenant(kind)["tenant_id"]
    return next(c for c in ran.json()["connections"] if c["tenant_id"] == tid)


def named(entry: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in entry["checks"] if c["name"] == name)


# (kind, verdict, the check that finds it, its status, its code, words of its remediation)
CASES = [
    ("key_removed", "broken", "sign_in_graph", "broken", "certificate_not_registered",
     "vdc-tui connections repair {tid}"),
    ("key_expired_on_app", "broken", "sign_in_graph", "broken", "certificate_expired",
     "vdc-tui connections repair {tid}"),
    ("app_deleted", "broken", "sign_in_graph", "broken", "app_not_found_in_tenant",
     "vdc-tui connections repair {tid}"),
    ("app_purged", "broken", "sign_in_graph", "broken", "app_not_found_in_tenant",
     "vdc-tui connections repair {tid}"),
    ("grant_revoked", "broken", "permissions", "broken", "missing_permissions",
     "vdc-tui connections repair {tid}"),
    ("global_reader_removed", "warning", "global_reader", "warning", "global_reader_missing",
     "vdc-tui connections repair {tid}"),
    ("licence_removed", "warning", "services", "warning", "service_not_licensed",
     "License the service again"),
    ("expiring", "warning", "certificate", "warning", "certificate_expiring",
     "vdc-tui connections renew {tid}"),
    ("expired", "broken", "certificate", "broken", "certificate_expired",
     "vdc-tui connections repair {tid}"),
]


@pytest.mark.parametrize(("kind", "verdict", "name", "status", "code", "fix"), CASES,
                         ids=[c[0] for c in CASES])
def test_each_broken_connection_gets_its_verdict_and_fix(
    fleet_run: Ran, health_fleet: Any, kind: str, verdict: str, name: str, status: str,
    code: str, fix: str,
) -> None:
    entry = connection(fleet_run, health_fleet, kind)
    assert entry["health"] == verdict
    found = named(entry, name)
    assert found["status"] == status
    assert found["code"] == code
    assert fix.format(tid=entry["tenant_id"]) in found["remediation"]
    assert "remove the old profile" not in found["remediation"]


def test_healthy_connection_passes_every_check(fleet_run: Ran, health_fleet: Any) -> None:
    entry = connection(fleet_run, health_fleet, "healthy")
    assert entry["health"] == "healthy"
    assert {c["status"] for c in entry["checks"]} == {"ok"}
    assert entry["permissions"]["missing"] == []


def test_missing_permission_comes_from_the_tokens_not_the_profile(
    fleet_run: Ran, health_fleet: Any, fleet_store: ProfileStore
) -> None:
    entry = connection(fleet_run, health_fleet, "grant_revoked")
    remembered = fleet_store.load(entry["tenant_id"]).permissions
    assert remembered.missing == () and remembered.granted  # the profile says "all"
    assert entry["permissions"]["missing"] == ["Microsoft Graph: Sites.Read.All"]
    assert "Microsoft Graph: Sites.Read.All" in named(entry, "permissions")["detail"]


def test_json_follows_the_contract(fleet_run: Ran) -> None:
    document = fleet_run.json()
    assert {"status", "checked", "healthy", "warning", "broken", "connections"} <= set(document)
    assert document["checked"] == 11
    assert (document["healthy"], document["warning"], document["broken"]) == (2, 3, 6)
    assert document["status"] == "broken"
    for entry in document["connections"]:
        assert {"tenant_id", "name", "health", "checks", "certificate", "permissions",
                "checked_at"} <= set(entry)
        assert {"sha1", "not_after", "days_left"} <= set(entry["certificate"])
        assert isinstance(entry["permissions"]["missing"], list)
        for item in entry["checks"]:
            assert {"name", "status", "detail", "remediation"} <= set(item)


def test_connections_are_listed_worst_first(fleet_run: Ran) -> None:
    order = {"broken": 0, "warning": 1, "healthy": 2}
    ranks = [order[c["health"]] for c in fleet_run.json()["connections"]]
    assert ranks == sorted(ranks)


def test_something_broken_exits_3(fleet_run: Ran) -> None:
    assert fleet_run.code == 3


def test_throttled_tenant_is_waited_for_and_healthy(fleet_run: Ran, health_fleet: Any) -> None:
    entry = connection(fleet_run, health_fleet, "throttled")
    assert entry["health"] == "healthy"
    tid = entry["tenant_id"]
    statuses = [s for (_m, path, s) in health_fleet.emu.request_log
                if path == f"/{tid}/oauth2/v2.0/token"]
    assert 429 in statuses and 200 in statuses


def test_progress_goes_to_stderr_one_line_per_tenant(fleet_run: Ran) -> None:
    assert sum(1 for line in fleet_run.err.splitlines() if line.startswith("[")) == 11


def test_results_are_kept_per_tenant_with_their_time(fleet_store: ProfileStore,
                                                     health_fleet: Any) -> None:
    from vdc_tui.connect.fleet.run import HealthCache

    tid = health_fleet.tenant("expired")["tenant_id"]
    assert HealthCache(fleet_store).load(tid) is None
    entry = check(tid, "--json", *health_fleet.args()).json()["connections"][0]
    kept = HealthCache(fleet_store).load(tid)
    assert kept is not None
    assert (kept.health, kept.checked_at) == ("broken", entry["checked_at"])


def test_nothing_broken_exits_0(fleet_store: ProfileStore, health_fleet: Any) -> None:
    healthy = health_fleet.tenant("healthy")["tenant_id"]
    expiring = health_fleet.tenant("expiring")["tenant_id"]
    ran = check(healthy, expiring, "--json", *health_fleet.args())
    assert ran.code == 0
    assert ran.json()["status"] == "warning"


def test_unreachable_tenant_exits_4(fleet_store: ProfileStore, health_fleet: Any) -> None:
    # A loopback port nobody listens on: the identity platform cannot be reached at all.
    ran = check(health_fleet.tenant("healthy")["tenant_id"], "--json",
                "--authority-host", "https://127.0.0.1:9", "--graph-url", "https://127.0.0.1:9",
                "--ca-bundle", str(server_endpoints(health_fleet.emu).ca_bundle))
    assert ran.code == 4
    entry = ran.json()["connections"][0]
    assert entry["unreachable"] is True and entry["health"] == "broken"
    assert named(entry, "sign_in_graph")["code"] == "service_unavailable"


def test_human_table_names_each_problem_and_fix(fleet_store: ProfileStore,
                                                health_fleet: Any) -> None:
    tid = health_fleet.tenant("grant_revoked")["tenant_id"]
    ran = check(tid, *health_fleet.args())
    assert ran.code == 3
    lines = ran.out.splitlines()
    assert lines[0].split()[:3] == ["HEALTH", "TENANT", "DOMAIN"]
    assert lines[1].startswith("BROKEN")
    assert f"fix: Grant what is missing: `vdc-tui connections repair {tid}`" in ran.out


def test_openmetrics_file_is_written_for_the_textfile_collector(
    fleet_store: ProfileStore, health_fleet: Any, tmp_path: Path
) -> None:
    target = tmp_path / "textfile" / "vdc_tui.prom"
    target.parent.mkdir()
    expired = health_fleet.tenant("expired")["tenant_id"]
    healthy = health_fleet.tenant("healthy")["tenant_id"]
    ran = check(expired, healthy, "--openmetrics", str(target), *health_fleet.args())
    assert ran.code == 3
    text = target.read_text()
    assert text.endswith("# EOF\n")
    assert [p.name for p in target.parent.iterdir()] == ["vdc_tui.prom"]  # no temp file left
    samples = {(s.name, s.labels.get("tenant_id", s.labels.get("health"))): s.value
               for family in metric_families(text) for s in family.samples}
    assert samples[("vdc_tui_connection_health", expired)] == 2
    assert samples[("vdc_tui_connection_health", healthy)] == 0
    assert samples[("vdc_tui_certificate_days_left", expired)] < 0
    assert samples[("vdc_tui_missing_permissions", healthy)] == 0
    assert samples[("vdc_tui_connections", "broken")] == 1


def test_one_stalled_tenant_does_not_hold_the_others(
    fleet_store: ProfileStore, health_fleet: Any, tmp_path: Path
) -> None:
    stalled = health_fleet.tenant("healthy")["tenant_id"]
    with EmulatorServer(str(health_fleet.files.scenario), faults={
            "stall_every": 1, "stall_seconds": 60,
            "stall_path": f"/{stalled}/oauth2/v2.0/token"}) as emu:
        args = ["--authority-host", emu.authority_host, "--graph-url", emu.graph_url,
                "--ca-bundle", str(server_endpoints(emu).ca_bundle)]
        others = [health_fleet.tenant(k)["tenant_id"] for k in ("expiring", "grant_revoked")]
        ran = check(stalled, *others, "--deadline", "3", "--json", *args)
    assert ran.code == 4
    by_id = {c["tenant_id"]: c for c in ran.json()["connections"]}
    assert by_id[stalled]["unreachable"] is True
    assert "within 3 s" in named(by_id[stalled], "sign_in_graph")["detail"]
    assert by_id[others[0]]["health"] == "warning"
    assert by_id[others[1]]["health"] == "broken"
    assert ran.seconds < 20


@pytest.mark.parametrize("argv", [
    ["--all", "some-tenant"],
    ["no-such-tenant"],
    ["--concurrency", "0"],
    ["--deadline", "-1"],
])
def test_invalid_invocations_exit_2(fleet_store: ProfileStore, argv: list[str]) -> None:
    assert check(*argv).code == 2


def test_no_saved_connections_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VDC_TUI_HOME", str(tmp_path / "empty"))
    ran = check("--json")
    assert ran.code == 2
    assert ran.json()["error"]["code"] == "invalid_argument"


def test_dashboard_needs_a_terminal(fleet_store: ProfileStore) -> None:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["connections"])
    assert code == 2
    assert "connections check --json" in err.getvalue()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_check_stopped_by_a_signal_is_named_keeps_what_it_found_and_reruns(
    fleet_store: ProfileStore, health_fleet: Any, sig: signal.Signals
) -> None:
    """A real process: one tenant's token endpoint hangs, the others finish, then the
    process gets SIGTERM (``timeout``, a cron job stopped) or SIGHUP (the session dropped)."""
    stalled = health_fleet.tenant("healthy")["tenant_id"]
    others = [health_fleet.tenant(k)["tenant_id"] for k in ("expiring", "grant_revoked")]
    cache = HealthCache(fleet_store)
    with EmulatorServer(str(health_fleet.files.scenario), faults={
            "stall_every": 1, "stall_seconds": 60,
            "stall_path": f"/{stalled}/oauth2/v2.0/token"}) as emu:
        args = ["--authority-host", emu.authority_host, "--graph-url", emu.graph_url,
                "--ca-bundle", str(server_endpoints(emu).ca_bundle)]
        proc = subprocess.Popen(
            [VDC_TUI, "connections", "check", stalled, *others, "--json", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while not all(cache.path(t).exists() for t in others):
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "the other tenants were never checked"
                time.sleep(0.05)
            proc.send_signal(sig)
            signalled = time.monotonic()
            out, err = proc.communicate(timeout=30)
            # Not held by the hung tenant's read until its HTTP timeout (30 s).
            assert time.monotonic() - signalled < 10
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    assert proc.returncode == 130, err
    error = json.loads(out)["error"]
    assert error["code"] == "cancelled"
    assert sig.name in error["message"]
    assert "2 of 3 connections were checked" in error["remediation"]
    assert f"Cancelling ({sig.name})" in err
    assert not cache.path(stalled).exists()
    kept = cache.load(others[0])
    assert kept is not None and kept.health == "warning"

    rerun = check(stalled, *others, "--json", *health_fleet.args())
    assert rerun.code == 3  # grant_revoked is broken
    assert {c["tenant_id"] for c in rerun.json()["connections"]} == {stalled, *others}
    assert cache.path(stalled).exists()


def test_quitting_the_dashboard_while_a_tenant_hangs_ends_at_once(
    fleet_store: ProfileStore, health_fleet: Any
) -> None:
    """Ctrl+Q during a check whose one tenant never answers: the dashboard's process ends
    within seconds, not when that tenant's request times out (30 s)."""
    stalled = health_fleet.tenant("healthy")["tenant_id"]
    others = [t["tenant_id"] for t in health_fleet.files.tenants
              if t["tenant_id"] != stalled and t["kind"] != "throttled"]
    cache = HealthCache(fleet_store)
    with EmulatorServer(str(health_fleet.files.scenario), faults={
            "stall_every": 1, "stall_seconds": 60,
            "stall_path": f"/{stalled}/oauth2/v2.0/token"}) as emu:
        term = Terminal([VDC_TUI, "--authority-host", emu.authority_host, "--graph-url",
                         emu.graph_url, "--ca-bundle", str(server_endpoints(emu).ca_bundle),
                         "connections"], dict(os.environ))
        try:
            term.wait_for(b"Offboard")
            term.press(b"C")
            deadline = time.monotonic() + 30
            while not all(cache.path(t).exists() for t in others):
                assert term.proc.poll() is None
                assert time.monotonic() < deadline, "the other tenants were never checked"
                time.sleep(0.05)
            term.press(b"\x11")  # Ctrl+Q
            quit_at = time.monotonic()
            assert term.proc.wait(timeout=25) == 0
            assert time.monotonic() - quit_at < 10
        finally:
            if term.proc.poll() is None:
                term.proc.kill()
                term.proc.wait(timeout=20)
    assert not cache.path(stalled).exists()
