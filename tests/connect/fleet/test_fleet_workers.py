"""A fleet check spread over worker processes: one merged result exactly like one
process's (JSON, OpenMetrics, exit code), a killed worker named and never waited for,
and the small MSAL pools of each thread."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from vdc_tui.cli.main import main
from vdc_tui.connect.fleet.health import FleetProgress, TenantHealth
from vdc_tui.connect.fleet.run import FleetCheck, exit_code, openmetrics_text
from vdc_tui.connect.fleet.shards import ShardedMsalHttp
from vdc_tui.connect.fleet.workers import WORKERS_ENV, default_workers
from vdc_tui.connect.microsoft.clouds import resolve_endpoints, server_endpoints
from vdc_tui.connect.store.profiles import ProfileStore
from vdc_tui.emulator import EmulatorServer


def run_check(home: Path, args: list[str], monkeypatch: pytest.MonkeyPatch, workers: int,
              *extra: str) -> tuple[int, dict[str, Any]]:
    monkeypatch.setenv("VDC_TUI_HOME", str(home))
    monkeypatch.setenv(WORKERS_ENV, str(workers))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["connections", "check", "--all", "--json", *extra, *args])
    document = json.loads(out.getvalue())
    assert isinstance(document, dict)
    return code, document


def without_times(document: dict[str, Any]) -> dict[str, Any]:
    copy = dict(document)
    copy["connections"] = [{k: v for k, v in c.items() if k != "checked_at"}
                           for c in document["connections"]]
    return copy


def fixed_time(text: str) -> str:
    return "\n".join(line for line in text.splitlines()
                     if not line.startswith("vdc_tui_connection_checked_timestamp"))


def test_two_workers_give_the_json_openmetrics_and_exit_code_of_one_process(
    fleet_store: ProfileStore, health_fleet: Any, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    one_metrics, two_metrics = tmp_path / "one.prom", tmp_path / "two.prom"
    one_code, one = run_check(fleet_store.root, health_fleet.args(), monkeypatch, 1,
                              "--openmetrics", str(one_metrics))
    two_code, two = run_check(fleet_store.root, health_fleet.args(), monkeypatch, 2,
                              "--openmetrics", str(two_metrics))
    assert one_code == two_code == 3  # the fleet holds every broken kind
    assert len(two["connections"]) == len(health_fleet.files.tenants)
    assert without_times(two) == without_times(one)
    assert fixed_time(two_metrics.read_text()) == fixed_time(one_metrics.read_text())


def test_workers_keep_each_result_like_one_process(
    fleet_store: ProfileStore, health_fleet: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from vdc_tui.connect.fleet.health import HealthCache

    run_check(fleet_store.root, health_fleet.args(), monkeypatch, 2)
    cache = HealthCache(fleet_store)
    for tenant in health_fleet.files.tenants:
        kept = cache.load(tenant["tenant_id"])
        assert kept is not None and kept.checked_at


def children_running_workers() -> list[int]:
    """Live child processes of this one that run a check worker (from /proc)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{name}/stat").read_text()
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            state = stat.rsplit(")", 1)[1].split()[0]
            command = Path(f"/proc/{name}/cmdline").read_bytes()
            if parent == os.getpid() and state != "Z" and b"fleet.worker\x00" in command:
                found.append(int(name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc to find workers")
def test_a_killed_worker_is_named_for_its_tenants_and_the_run_does_not_wait(
    fleet_store: ProfileStore, health_fleet: Any,
) -> None:
    """A real SIGKILL: the worker stuck on a tenant whose token endpoint never answers is
    killed once every other tenant is done; the run ends at once and names it."""
    stalled = health_fleet.tenant("healthy")["tenant_id"]
    others = [health_fleet.tenant(k)["tenant_id"]
              for k in ("expiring", "grant_revoked", "licence_removed")]
    entries = [fleet_store.find(t) for t in (stalled, *others)]
    killed: list[int] = []

    def sink(event: FleetProgress) -> None:
        if event.result is not None and event.done == len(others) and not killed:
            # The other worker has finished its share; only the stalled one is left.
            deadline = time.monotonic() + 10
            while len(alive := children_running_workers()) != 1:  # the other one ends
                assert time.monotonic() < deadline, alive
                time.sleep(0.02)
            os.kill(alive[0], signal.SIGKILL)
            killed.append(alive[0])

    with EmulatorServer(str(health_fleet.files.scenario), faults={
            "stall_every": 1, "stall_seconds": 60,
            "stall_path": f"/{stalled}/oauth2/v2.0/token"}) as emu:
        fleet = FleetCheck(fleet_store, server_endpoints(emu), workers=2, deadline=50,
                           keep=False)
        started = time.monotonic()
        results = asyncio.run(asyncio.wait_for(fleet.run(entries, sink), 40))
        took = time.monotonic() - started
    assert killed, "the stalled worker was never seen"
    assert took < 30  # neither the 60 s stall nor the 50 s deadline was waited out
    by_id = {r.tenant_id: r for r in results}
    assert [r.tenant_id for r in results] == [stalled, *others]
    assert by_id[stalled].unreachable
    detail = by_id[stalled].checks[0].detail
    assert f"pid {killed[0]}" in detail and "SIGKILL" in detail
    assert not any(by_id[t].unreachable for t in others)
    assert exit_code(results) == 4


def test_a_worker_given_a_reader_of_its_own_stays_in_process(fleet_store: ProfileStore
                                                             ) -> None:
    endpoints = resolve_endpoints("global")
    assert FleetCheck(fleet_store, endpoints, workers=4).workers == 4
    assert FleetCheck(fleet_store, endpoints, workers=4,
                      read_key=fleet_store.read_key).workers == 1


@pytest.mark.parametrize(("tenants", "env", "expected"), [
    (10, {}, 1),
    (5000, {WORKERS_ENV: "1"}, 1),
    (3, {WORKERS_ENV: "8"}, 3),
    (5000, {WORKERS_ENV: "junk"}, None),
])
def test_how_many_workers(tenants: int, env: dict[str, str], expected: int | None) -> None:
    from vdc_tui.connect.fleet.workers import cores

    got = default_workers(tenants, env)
    assert got == (expected if expected is not None else min(cores(), tenants // 150))


def test_each_thread_keeps_to_one_small_pool() -> None:
    http = ShardedMsalHttp(resolve_endpoints("global"), threads=8)
    try:
        assert len(http.shards) == 2
        seen: dict[str, Any] = {}

        def note(name: str) -> None:
            seen[name] = (http.shard(), http.shard())

        threads = [threading.Thread(target=note, args=(f"t{i}",)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(a is b for a, b in seen.values())  # a thread's pool is its own
        assert {id(a) for a, _ in seen.values()} == {id(s) for s in http.shards}
    finally:
        http.close()


def test_a_merged_result_reads_back_as_it_was_written() -> None:
    # What a worker sends is the record's JSON; the parent's copy must equal it.
    from vdc_tui.connect.fleet.health import Check

    record = TenantHealth(tenant_id="t1", name="Name\u00e9", default_domain="t1.example",
                          mode="manual", health="warning",
                          checks=(Check("certificate", "warning", "soon", "renew", "x"),),
                          sha1="AB" * 20, not_after="2027-01-01T00:00:00+00:00",
                          days_left=9, missing=("a",), checked_at="2026-01-01T00:00:00+00:00")
    back = TenantHealth.from_json(json.loads(json.dumps(record.to_json(),
                                                        ensure_ascii=False)))
    assert back == record
    assert openmetrics_text([back], now=0) == openmetrics_text(
        [dataclasses.replace(record)], now=0)


def descendants(pid: int) -> list[int]:
    """Live processes under ``pid`` (from /proc)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{current}/task"):
                children = Path(f"/proc/{current}/task/{task}/children").read_text().split()
                for child in map(int, children):
                    state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
                    if state != "Z":
                        found.append(child)
                        todo.append(child)
    return found


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc")
def test_a_check_stopped_by_sigterm_stops_its_workers(
    fleet_store: ProfileStore, health_fleet: Any,
) -> None:
    """A real process with two workers, one stuck on a tenant that never answers: SIGTERM
    ends the run (130, named) and leaves no worker behind."""
    import subprocess
    import sys

    stalled = health_fleet.tenant("healthy")["tenant_id"]
    others = [health_fleet.tenant(k)["tenant_id"] for k in ("expiring", "grant_revoked")]
    with EmulatorServer(str(health_fleet.files.scenario), faults={
            "stall_every": 1, "stall_seconds": 60,
            "stall_path": f"/{stalled}/oauth2/v2.0/token"}) as emu:
        args = ["--authority-host", emu.authority_host, "--graph-url", emu.graph_url,
                "--ca-bundle", str(server_endpoints(emu).ca_bundle)]
        env = dict(os.environ, **{WORKERS_ENV: "2"})
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "vdc-tui"), "connections", "check", stalled,
             *others, "--json", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, start_new_session=True, env=env)
        try:
            deadline = time.monotonic() + 60
            while len(workers := descendants(proc.pid)) < 2:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "the workers never started"
                time.sleep(0.05)
            from vdc_tui.connect.fleet.health import HealthCache

            cache = HealthCache(fleet_store)
            while not all(cache.path(t).exists() for t in others):
                assert time.monotonic() < deadline, "the other tenants were never checked"
                time.sleep(0.05)
            proc.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            out, err = proc.communicate(timeout=30)
            assert time.monotonic() - signalled < 15
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    assert proc.returncode == 130, err
    assert json.loads(out)["error"]["code"] == "cancelled"
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(
            f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_a_fleet_larger_than_the_workers_hold_is_checked_by_fresh_workers_in_turn(
    fleet_store: ProfileStore, health_fleet: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import vdc_tui.connect.fleet.workers as workers
    from vdc_tui.connect.fleet.run import summary

    entries = fleet_store.list()
    endpoints = server_endpoints(health_fleet.emu)
    alone = asyncio.run(FleetCheck(fleet_store, endpoints, keep=False).run(entries))
    monkeypatch.setattr(workers, "MAX_TENANTS_PER_WORKER", 2)
    started: list[int] = []
    real = asyncio.create_subprocess_exec

    async def counting(*args: Any, **kwargs: Any) -> Any:
        proc = await real(*args, **kwargs)
        started.append(proc.pid)
        return proc

    monkeypatch.setattr(asyncio, "create_subprocess_exec", counting)
    spread = asyncio.run(FleetCheck(fleet_store, endpoints, keep=False, workers=2)
                         .run(entries))
    assert len(started) == -(-len(entries) // 2)  # 9 tenants, 2 per worker: 5 workers
    assert without_times(summary(spread)) == without_times(summary(alone))
    assert exit_code(spread) == exit_code(alone)
