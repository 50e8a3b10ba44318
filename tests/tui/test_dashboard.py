"""The fleet dashboard (``vdc-tui connections``): Pilot tests against the emulator's fleet of
broken connections, and snapshots of a synthetic fleet at 80×24 and wider."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from bench.fleet import synthetic_home
from vdc_tui.connect.microsoft.clouds import server_endpoints
from vdc_tui.connect.store.profiles import ProfileStore
from vdc_tui.dashboard import DashboardApp
from vdc_tui.screens.dashboard import DashboardScreen
from vdc_tui.screens.health_detail import HealthDetailScreen

from .conftest import screen_name, wait_until

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def frozen() -> datetime:
    return NOW


def rows(app: DashboardApp) -> list[list[str]]:
    table = app.screen.query_one("#dashboard-table", DataTable)
    return [[cell.plain for cell in table.get_row_at(i)] for i in range(table.row_count)]


def text_of(screen: Any) -> str:
    return "\n".join(str(static.content) for static in screen.query(Static))


async def check_all(pilot: Pilot[Any], app: DashboardApp, count: int) -> DashboardScreen:
    screen = app.screen
    assert isinstance(screen, DashboardScreen)
    await pilot.press("C")
    await wait_until(pilot, lambda: len(screen.results) == count and not screen._checking,
                     timeout=60)
    await pilot.pause()
    return screen


async def open_detail(pilot: Pilot[Any], app: DashboardApp, tenant_id: str) -> str:
    table = app.screen.query_one("#dashboard-table", DataTable)
    table.move_cursor(row=table.get_row_index(tenant_id))
    await pilot.press("enter")
    await wait_until(pilot, lambda: screen_name(app) == "HealthDetailScreen")
    await pilot.pause()
    text = text_of(app.screen)
    await pilot.press("escape")
    await wait_until(pilot, lambda: screen_name(app) == "DashboardScreen")
    return text


# (kind, verdict on the dashboard, words of its fix on the detail screen)
CASES = [
    ("key_removed", "✘ broken", "The certificate was removed from the app"),
    ("key_expired_on_app", "✘ broken", "vdc-tui connections repair"),
    ("app_deleted", "✘ broken", "The app was deleted in the tenant"),
    ("app_purged", "✘ broken", "The app was deleted in the tenant"),
    ("grant_revoked", "✘ broken", "vdc-tui connections repair"),
    ("global_reader_removed", "! warning", "vdc-tui connections repair"),
    ("licence_removed", "! warning", "License the service again"),
    ("expiring", "! warning", "vdc-tui connections renew"),
    ("expired", "✘ broken", "An expired certificate cannot renew itself"),
    ("throttled", "✔ healthy", None),
    ("healthy", "✔ healthy", None),
]


async def test_check_all_shows_each_broken_case_with_its_verdict_and_fix(
    fleet_store: ProfileStore, health_fleet: Any
) -> None:
    app = DashboardApp(fleet_store, server_endpoints(health_fleet.emu), clock=frozen)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert {r[0] for r in rows(app)} == {"· unchecked"}
        await check_all(pilot, app, len(CASES))
        by_name = {r[1]: r for r in rows(app)}
        for kind, verdict, fix in CASES:
            tenant = health_fleet.tenant(kind)
            assert by_name[tenant["name"]][0] == verdict, kind
            detail = await open_detail(pilot, app, tenant["tenant_id"])
            assert verdict.split()[1] in detail
            if fix is not None:
                assert fix in detail, kind


async def test_rows_are_sorted_worst_first_after_a_check(
    fleet_store: ProfileStore, health_fleet: Any
) -> None:
    app = DashboardApp(fleet_store, server_endpoints(health_fleet.emu), clock=frozen)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await check_all(pilot, app, len(CASES))
        verdicts = [r[0] for r in rows(app)]
        order = {"✘ broken": 0, "! warning": 1, "✔ healthy": 2}
        assert [order[v] for v in verdicts] == sorted(order[v] for v in verdicts)


async def test_c_checks_only_the_selected_tenant(
    fleet_store: ProfileStore, health_fleet: Any
) -> None:
    app = DashboardApp(fleet_store, server_endpoints(health_fleet.emu), clock=frozen)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        chosen = screen.selected_tenant()
        await pilot.press("c")
        await wait_until(pilot, lambda: chosen in screen.results and not screen._checking,
                         timeout=30)
        assert set(screen.results) == {chosen}


async def test_typing_filters_the_table(tmp_path: Path) -> None:
    store = synthetic_home(tmp_path / "home", 18, now=NOW)
    app = DashboardApp(store, _no_endpoints(), clock=frozen)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press(*"warn")
        await wait_until(pilot, lambda: len(rows(app)) < 18)
        assert rows(app) and {r[0] for r in rows(app)} == {"! warning"}
        await pilot.press("escape")
        await wait_until(pilot, lambda: len(rows(app)) == 18)


async def test_letters_that_are_keys_go_to_the_filter_once_it_is_open(tmp_path: Path) -> None:
    store = synthetic_home(tmp_path / "home", 18, now=NOW)
    app = DashboardApp(store, _no_endpoints(), clock=frozen)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("slash", *"contoso")
        await wait_until(pilot, lambda: len(rows(app)) == 1)
        assert rows(app)[0][1] == "Contoso"


async def test_n_leaves_for_the_onboarding_wizard(tmp_path: Path) -> None:
    store = synthetic_home(tmp_path / "home", 3, now=NOW)
    app = DashboardApp(store, _no_endpoints(), clock=frozen)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("n")
        await wait_until(pilot, lambda: app.return_value == "new")


async def test_detail_of_a_tenant_never_checked_says_so(tmp_path: Path) -> None:
    store = synthetic_home(tmp_path / "home", 3, now=NOW, unchecked_every=1)
    app = DashboardApp(store, _no_endpoints(), clock=frozen)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, HealthDetailScreen))
        await pilot.pause()
        assert "Never checked" in text_of(app.screen)


def _no_endpoints() -> Any:
    """Endpoints no test here reaches (those tests only read the saved results)."""
    from vdc_tui.connect.microsoft.clouds import resolve_endpoints

    return resolve_endpoints("global", authority_host="https://127.0.0.1:9",
                             graph_url="https://127.0.0.1:9")


# --- snapshots ------------------------------------------------------------------------------


@pytest.fixture
def synthetic_app(tmp_path: Path) -> DashboardApp:
    store = synthetic_home(tmp_path / "home", 30, now=NOW, unchecked_every=11)
    return DashboardApp(store, _no_endpoints(), clock=frozen)


async def _settle(pilot: Pilot[Any]) -> None:
    await pilot.pause()
    await wait_until(pilot, lambda: screen_name(pilot.app) == "DashboardScreen")
    await pilot.pause()


def test_dashboard_snapshot_80x24(synthetic_app: DashboardApp, snap_compare: Any) -> None:
    assert snap_compare(synthetic_app, terminal_size=(80, 24), run_before=_settle)


def test_dashboard_snapshot_wide(synthetic_app: DashboardApp, snap_compare: Any) -> None:
    assert snap_compare(synthetic_app, terminal_size=(120, 32), run_before=_settle)


def test_detail_snapshot_80x24(synthetic_app: DashboardApp, snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await _settle(pilot)
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen_name(pilot.app) == "HealthDetailScreen")
        await pilot.pause()

    assert snap_compare(synthetic_app, terminal_size=(80, 24), run_before=run_before)
