"""``connections check --openmetrics``: what the monitoring sees.

- A run without a usable store passphrase stops before checking (exit 2, the passphrase's
  code): the last results and the last metrics file stay as they were.
- An unreachable tenant is not broken in the metrics (health -1, unreachable 1).
- The file is replaced by a rename: a collector never reads half a file, and a write that
  fails halfway (a real file-size limit of the writing process) leaves the previous one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from vdc_tui.connect.fleet.health import HEALTH_FILE
from vdc_tui.connect.store.profiles import ProfileStore

from .test_connections_check import check, metric_families

PASSPHRASE_FILE_ENV = "VDC_TUI_KEY_PASSPHRASE_FILE"


def samples(text: str) -> dict[tuple[str, str], float]:
    """``(metric, tenant_id or health label) -> value``."""
    return {(s.name, s.labels.get("tenant_id", s.labels.get("health"))): s.value
            for family in metric_families(text) for s in family.samples}


def saved_results(store: ProfileStore) -> dict[str, bytes]:
    """Every tenant's ``health.json``, by tenant folder."""
    return {p.parent.name: p.read_bytes()
            for p in sorted(store.connections_dir.glob(f"*/{HEALTH_FILE}"))}


def _no_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSPHRASE_FILE_ENV, raising=False)


def _wrong(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "wrong-passphrase"
    path.write_text("not the store passphrase at all\n", encoding="utf-8")
    path.chmod(0o600)
    monkeypatch.setenv(PASSPHRASE_FILE_ENV, str(path))


def _readable_by_others(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    right = Path(os.environ[PASSPHRASE_FILE_ENV]).read_text("utf-8")
    path = tmp_path / "open-passphrase"
    path.write_text(right, encoding="utf-8")
    path.chmod(0o644)
    monkeypatch.setenv(PASSPHRASE_FILE_ENV, str(path))


def _misspelt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSPHRASE_FILE_ENV, os.environ[PASSPHRASE_FILE_ENV] + "e")


@pytest.mark.parametrize(("spoil", "code"), [
    (_no_source, "key_passphrase_required"),
    (_wrong, "key_passphrase_wrong"),
    (_readable_by_others, "key_passphrase_file_unsafe"),
    (_misspelt, "invalid_argument"),
], ids=["none", "wrong", "0644-file", "misspelt-path"])
def test_no_usable_passphrase_stops_before_checking_and_keeps_results_and_metrics(
        fleet_store: ProfileStore, health_fleet: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, spoil: Any, code: str) -> None:
    metrics = tmp_path / "textfile" / "vdc_tui.prom"
    metrics.parent.mkdir()
    tenants = [health_fleet.tenant(k)["tenant_id"] for k in ("healthy", "expired")]
    first = check(*tenants, "--openmetrics", str(metrics), *health_fleet.args())
    assert first.code == 3, first.err
    results, written = saved_results(fleet_store), metrics.read_bytes()
    inode = metrics.stat().st_ino
    assert set(results) == set(tenants)
    requests = len(health_fleet.emu.request_log)

    spoil(tmp_path, monkeypatch)
    ran = check("--all", "--json", "--openmetrics", str(metrics), *health_fleet.args())
    assert ran.code == 2, ran.err
    assert ran.json()["error"]["code"] == code
    assert "Nothing was checked" in ran.err
    assert len(health_fleet.emu.request_log) == requests  # no tenant was asked anything
    assert saved_results(fleet_store) == results
    assert metrics.read_bytes() == written and metrics.stat().st_ino == inode
    assert sorted(p.name for p in metrics.parent.iterdir()) == ["vdc_tui.prom"]


def test_an_unreachable_tenant_is_not_broken_in_the_metrics(
        fleet_store: ProfileStore, health_fleet: Any, tmp_path: Path) -> None:
    metrics = tmp_path / "vdc_tui.prom"
    healthy = health_fleet.tenant("healthy")["tenant_id"]
    # A loopback port nobody listens on: the network, not the tenant.
    ran = check(healthy, "--openmetrics", str(metrics),
                "--authority-host", "https://127.0.0.1:9", "--graph-url", "https://127.0.0.1:9",
                "--ca-bundle", str(health_fleet.emu.ca_bundle))
    assert ran.code == 4, ran.err
    values = samples(metrics.read_text())
    assert values[("vdc_tui_connection_unreachable", healthy)] == 1
    assert values[("vdc_tui_connection_health", healthy)] == -1  # unknown, not 2 (broken)
    assert values[("vdc_tui_connections", "broken")] == 0
    assert values[("vdc_tui_connections", "unreachable")] == 1


def test_a_broken_tenant_beside_an_unreachable_one_is_still_broken(
        fleet_store: ProfileStore, health_fleet: Any, tmp_path: Path) -> None:
    from vdc_tui.connect.fleet.health import BROKEN, Check, TenantHealth
    from vdc_tui.connect.fleet.run import openmetrics_text

    def record(tid: str, *, unreachable: bool) -> TenantHealth:
        return TenantHealth(
            tenant_id=tid, name=tid, default_domain=None, mode="automatic", health=BROKEN,
            checks=(Check("certificate", "broken", "d", "f", None),), sha1=None,
            not_after=None, days_left=None, missing=(),
            checked_at="2026-12-01T00:00:00+00:00", unreachable=unreachable)

    values = samples(openmetrics_text([record("down", unreachable=True),
                                       record("bad", unreachable=False)]).decode())
    assert values[("vdc_tui_connection_health", "bad")] == 2
    assert values[("vdc_tui_connection_health", "down")] == -1
    assert values[("vdc_tui_connection_unreachable", "bad")] == 0
    assert values[("vdc_tui_connections", "broken")] == 1
    assert values[("vdc_tui_connections", "unreachable")] == 1


def test_the_metrics_file_is_replaced_by_a_rename(
        fleet_store: ProfileStore, health_fleet: Any, tmp_path: Path) -> None:
    metrics = tmp_path / "vdc_tui.prom"
    healthy = health_fleet.tenant("healthy")["tenant_id"]
    assert check(healthy, "--openmetrics", str(metrics), *health_fleet.args()).code == 0
    before = metrics.stat()
    # A collector that opened the file keeps reading the whole old one.
    with metrics.open("rb") as reader:
        assert check(healthy, "--openmetrics", str(metrics), *health_fleet.args()).code == 0
        old = reader.read()
    after = metrics.stat()
    assert after.st_ino != before.st_ino
    assert old.endswith(b"# EOF\n")
    assert oct(after.st_mode & 0o777) == oct(0o644)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


_HALFWAY = textwrap.dedent("""
    import resource, signal, sys
    from pathlib import Path
    from vdc_tui.connect.errors import InvalidInput
    from vdc_tui.connect.fleet.health import Check, TenantHealth
    from vdc_tui.connect.fleet.run import openmetrics_text, write_openmetrics

    results = [TenantHealth(
        tenant_id=f"tenant-{i:04d}", name=f"Tenant {i}", default_domain=None,
        mode="automatic", health="healthy", checks=(Check("certificate", "ok", "", None,
        None),), sha1=None, not_after=None, days_left=100, missing=(),
        checked_at="2026-12-01T00:00:00+00:00", unreachable=False) for i in range(400)]
    limit = len(openmetrics_text(results)) // 2
    # The kernel refuses to let this process write past half the file (EFBIG).
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    try:
        write_openmetrics(Path(sys.argv[1]), results)
    except InvalidInput as error:
        print(error.code)
        sys.exit(7)
    sys.exit(0)
""")


def test_a_write_that_fails_halfway_leaves_the_previous_file_whole(tmp_path: Path) -> None:
    from vdc_tui.connect.fleet.health import Check, TenantHealth
    from vdc_tui.connect.fleet.run import write_openmetrics

    metrics = tmp_path / "vdc_tui.prom"
    write_openmetrics(metrics, [TenantHealth(
        tenant_id="previous", name="Previous", default_domain=None, mode="automatic",
        health="healthy", checks=(Check("certificate", "ok", "", "", None),), sha1=None,
        not_after=None, days_left=50, missing=(), checked_at="2026-12-01T00:00:00+00:00",
        unreachable=False)])
    previous = metrics.read_bytes()
    done = subprocess.run([sys.executable, "-c", _HALFWAY, str(metrics)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 7, done.stderr
    assert done.stdout.strip() == "invalid_argument"
    assert metrics.read_bytes() == previous
    assert samples(previous.decode())[("vdc_tui_certificate_days_left", "previous")] == 50
    assert [p.name for p in tmp_path.iterdir()] == ["vdc_tui.prom"]  # no temp file left
