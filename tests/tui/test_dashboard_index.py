"""The dashboard's summary index (``connections/index.json``): read before the first frame
when every file's ``stat`` still matches it, ignored for a tenant whose files changed,
rebuilt when missing or damaged, and the full records read after the first frame."""

from __future__ import annotations

import builtins
import json
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable

from bench.fleet import synthetic_home
from vdc_tui.connect.fleet.health import HealthCache
from vdc_tui.connect.fleet.summaries import SLIM
from vdc_tui.connect.store.index import INDEX_FILE, ROW, SummaryIndex
from vdc_tui.connect.store.profiles import ProfileStore
from vdc_tui.dashboard import DashboardApp
from vdc_tui.screens.dashboard import DashboardScreen
from vdc_tui.screens.fleet_rows import row_cells

from .conftest import wait_until

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def _no_endpoints() -> Any:
    from vdc_tui.connect.microsoft.clouds import resolve_endpoints

    return resolve_endpoints("global", authority_host="https://127.0.0.1:9",
                             graph_url="https://127.0.0.1:9")


def app_for(store: ProfileStore) -> DashboardApp:
    return DashboardApp(store, _no_endpoints(), clock=lambda: NOW)


async def open_and_index(store: ProfileStore) -> None:
    """Open the dashboard until its full read after the first frame wrote the index."""
    app = app_for(store)
    index = store.connections_dir / INDEX_FILE
    before = index.stat().st_mtime_ns if index.exists() else None
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: index.exists() and (
            before is None or index.stat().st_mtime_ns != before))


@pytest.fixture
def home(tmp_path: Path) -> ProfileStore:
    return synthetic_home(tmp_path / "home", 40, now=NOW, unchecked_every=7)


class Opens:
    """Every file opened under a folder while it is active."""

    def __init__(self, folder: Path) -> None:
        self.folder = os.fspath(folder)
        self.paths: list[str] = []

    def __enter__(self) -> Opens:
        self._open = builtins.open

        def counting(file: Any, *args: Any, **kwargs: Any) -> Any:
            if isinstance(file, str | os.PathLike) and os.fspath(file).startswith(self.folder):
                self.paths.append(os.fspath(file))
            return self._open(file, *args, **kwargs)

        builtins.open = counting
        return self

    def __exit__(self, *exc: object) -> None:
        builtins.open = self._open

    def of(self, name: str) -> list[str]:
        return [p for p in self.paths if p.endswith(os.sep + name)]


def cells(entries: list[Any], results: dict[str, Any]) -> Iterator[list[str]]:
    for e in entries:
        yield [c.plain for c in row_cells(e, results.get(e.tenant_id), NOW)]


async def test_the_first_frame_reads_no_profile_file_when_the_index_is_fresh(
        home: ProfileStore) -> None:
    await open_and_index(home)
    with Opens(home.connections_dir) as opens:
        entries, results = app_for(home)._load()
    assert opens.of("profile.json") == [] and opens.of("health.json") == []
    assert opens.of(INDEX_FILE)  # what it read instead
    full = home.list()
    # The table drawn from the index is the one the full records draw.
    assert list(cells(entries, results)) == list(cells(full, HealthCache(home).load_all(full)))


async def test_a_tenant_whose_profile_changed_is_read_from_its_file(
        home: ProfileStore) -> None:
    await open_and_index(home)
    changed = home.list()[3]
    path = changed.path
    profile = json.loads(path.read_text())
    profile["tenant"]["name"] = "Renamed Since The Index"
    path.write_text(json.dumps(profile))
    with Opens(home.connections_dir) as opens:
        app = app_for(home)
        entries, _results = app._load()
    assert opens.of("profile.json") == [os.fspath(path)]  # that one only
    assert "Renamed Since The Index" in [e.name for e in entries]
    assert app._index_whole is False
    await open_and_index(home)  # the full read puts it back in the index
    assert SummaryIndex(home).fresh(home.tenant_ids())[1] is True


async def test_a_tenant_whose_last_result_changed_shows_the_new_one(
        home: ProfileStore) -> None:
    await open_and_index(home)
    cache = HealthCache(home)
    tid = home.list()[0].tenant_id
    old = cache.load(tid)
    assert old is not None
    from dataclasses import replace

    cache.save(replace(old, health="broken", days_left=-5, checked_at=NOW.isoformat()))
    entries, results = app_for(home)._load()
    assert results[tid].health == "broken" and results[tid].days_left == -5


@pytest.mark.parametrize("damage", [b"{not json", b"[]", b'{"version": 99, "tenants": []}',
                                    b'{"version": 2, "tenants": [["x", "too short"]]}',
                                    b'{"version": 2, "tenants": {"x": 1}}'])
async def test_a_damaged_index_is_read_as_none_and_rebuilt(home: ProfileStore,
                                                           damage: bytes) -> None:
    index = home.connections_dir / INDEX_FILE
    index.write_bytes(damage)
    with Opens(home.connections_dir) as opens:
        entries, results = app_for(home)._load()
    assert len(opens.of("profile.json")) == 40  # every tenant from its files
    full = home.list()
    assert list(cells(entries, results)) == list(cells(full, HealthCache(home).load_all(full)))
    await open_and_index(home)
    assert SummaryIndex(home).fresh(home.tenant_ids())[1] is True


async def test_the_index_is_private_and_holds_only_what_the_table_shows(
        home: ProfileStore) -> None:
    await open_and_index(home)
    index = home.connections_dir / INDEX_FILE
    assert stat.S_IMODE(index.stat().st_mode) == 0o600
    document = json.loads(index.read_text())
    assert document["columns"] == list(ROW)
    assert {row[0] for row in document["tenants"]} == set(home.tenant_ids())
    for row in document["tenants"]:
        assert len(row) == len(ROW)
        assert all(v is None or isinstance(v, str | int) for v in row[:-1])
        assert row[-1] is None or len(row[-1]) == len(SLIM)


async def test_removed_and_new_tenants_are_not_taken_from_the_index(
        home: ProfileStore, tmp_path: Path) -> None:
    await open_and_index(home)
    gone = home.list()[5]
    home.remove(gone.tenant_id)
    # A tenant the index does not know: another home's, moved in.
    other = synthetic_home(tmp_path / "other", 41, now=NOW)
    known = {e.tenant_id for e in home.list()} | {gone.tenant_id}
    newcomer = next(e for e in other.list() if e.tenant_id not in known)
    os.rename(newcomer.path.parent, home.connections_dir / newcomer.tenant_id)
    entries, _results = app_for(home)._load()
    ids = {e.tenant_id for e in entries}
    assert gone.tenant_id not in ids and newcomer.tenant_id in ids


async def test_the_full_records_replace_the_summaries_after_the_first_frame(
        home: ProfileStore) -> None:
    await open_and_index(home)
    app = app_for(home)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        await wait_until(pilot, lambda: all(
            r.checks for r in screen.results.values()))  # the index has no checks
        assert all(e.profile and e.profile.plan for e in screen.entries.values())
        assert screen.query_one(DataTable).row_count == 40


def test_a_check_puts_its_results_into_the_index(fleet_store: ProfileStore,
                                                 health_fleet: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import contextlib
    import io

    from vdc_tui.cli.main import main
    from vdc_tui.connect.fleet.summaries import summary_of

    index = SummaryIndex(fleet_store)
    entries = fleet_store.list()
    index.write(summary_of(e, None, index.signatures(e.tenant_id)) for e in entries)
    monkeypatch.setenv("VDC_TUI_HOME", str(fleet_store.root))
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["connections", "check", "--all", "--json", *health_fleet.args()]) == 3
    fresh, whole = index.fresh(fleet_store.tenant_ids())
    assert whole
    cache = HealthCache(fleet_store)
    for tid, summary in fresh.items():
        kept = cache.load(tid)
        assert kept is not None and summary.result is not None
        assert summary.result[SLIM.index("health")] == kept.health
        assert summary.result[SLIM.index("checked_at")] == kept.checked_at


async def test_a_row_this_code_did_not_write_is_read_from_the_files(
        home: ProfileStore) -> None:
    await open_and_index(home)
    index = home.connections_dir / INDEX_FILE
    document = json.loads(index.read_text())
    row = next(r for r in document["tenants"] if r[-1] is not None)
    row[-1] = ["fine", False, "many", [], "", None, None]  # a verdict that does not exist
    index.write_text(json.dumps(document))
    with Opens(home.connections_dir) as opens:
        app = app_for(home)
        entries, results = app._load()
    assert opens.of("profile.json") == [os.fspath(home.connections_dir / row[0] /
                                                  "profile.json")]
    kept = HealthCache(home).load(row[0])
    assert kept is not None and results[row[0]].health == kept.health
    assert app._index_whole is False
