"""The detail screen's "Recent changes": the tenant's audit records, newest last, as plain
text (a hostile name or admin can neither style nor drive the terminal)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from bench.fleet import synthetic_home
from vdc_tui.connect.microsoft.clouds import server_endpoints
from vdc_tui.connect.store.audit import AuditLog
from vdc_tui.dashboard import DashboardApp
from vdc_tui.screens.health_detail import HealthDetailScreen
from vdc_tui.widgets.audit_history import HISTORY_LINES, AuditHistory

from .conftest import screen_name, wait_until

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
HOSTILE = "[bold red]evil[/] \x1b]0;owned\x07\x1b[2J"


async def open_detail(pilot: Pilot[Any], app: DashboardApp, tenant_id: str) -> None:
    await wait_until(pilot, lambda: screen_name(app) == "DashboardScreen")
    await pilot.pause()
    table = app.screen.query_one("#dashboard-table", DataTable)
    table.move_cursor(row=table.get_row_index(tenant_id))
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(app.screen, HealthDetailScreen))


def _no_endpoints() -> Any:
    from vdc_tui.connect.microsoft.clouds import resolve_endpoints

    return resolve_endpoints("global", authority_host="https://127.0.0.1:9",
                             graph_url="https://127.0.0.1:9")


async def test_the_detail_screen_shows_the_tenants_last_changes(tmp_path: Path) -> None:
    store = synthetic_home(tmp_path / "home", 3, now=NOW)
    entries = sorted(store.list(), key=lambda e: e.tenant_id)
    mine, other = entries[0].tenant_id, entries[1].tenant_id
    log = AuditLog(store.root)
    for i in range(HISTORY_LINES + 2):
        log.record("renew", "ok", tenant_id=mine, details={"i": i})
    log.record("export", "ok", tenant_id=other)
    log.record("repair", "failed", tenant_id=mine, admin=HOSTILE,
               details={"error": {"code": "not_global_admin"}})
    log.start("offboard", tenant_id=mine, admin="ops@msp.example")  # never finished
    app = DashboardApp(store, _no_endpoints(), clock=lambda: NOW)
    async with app.run_test(size=(100, 40)) as pilot:
        await open_detail(pilot, app, mine)
        panel = app.screen.query_one(AuditHistory)
        await wait_until(pilot, lambda: len(panel.records) == HISTORY_LINES)
        await pilot.pause()
        assert panel.display
        lines = str(panel.query_one("#audit-history-lines", Static).content).splitlines()
        assert len(lines) == HISTORY_LINES
        assert "offboard" in lines[-1] and "unfinished" in lines[-1]
        assert "ops@msp.example" in lines[-1]
        assert "repair" in lines[-2] and "failed" in lines[-2] and "not_global_admin" in lines[-2]
        assert "[bold red]evil[/]" in lines[-2]  # shown as typed, not as markup
        assert "\x1b" not in "".join(lines) and "\x07" not in "".join(lines)
        assert all("export" not in line for line in lines)  # another tenant's record


async def test_a_tenant_without_records_shows_no_history_section(tmp_path: Path) -> None:
    store = synthetic_home(tmp_path / "home", 2, now=NOW)
    tenant = store.list()[0].tenant_id
    app = DashboardApp(store, _no_endpoints(), clock=lambda: NOW)
    async with app.run_test(size=(100, 40)) as pilot:
        await open_detail(pilot, app, tenant)
        panel = app.screen.query_one(AuditHistory)
        await pilot.pause(0.2)
        assert panel.records == [] and not panel.display


async def test_a_renewal_from_the_detail_screen_is_recorded_and_shown_there(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The dashboard's actions go through the service layer: the same record as headless."""
    from bench.fleet import save_profiles
    from vdc_tui.emulator import EmulatorServer
    from vdc_tui.emulator.fleet import write_fleet
    from vdc_tui.screens.lifecycle import ActionScreen

    fleet = write_fleet(tmp_path / "fleet", ["expiring"])
    home = tmp_path / "home"
    monkeypatch.setenv("VDC_TUI_HOME", str(home))
    store = save_profiles(fleet.manifest, home)
    tid = fleet.tenants[0]["tenant_id"]
    with EmulatorServer(str(fleet.scenario)) as emu:
        app = DashboardApp(store, server_endpoints(emu), clock=lambda: NOW)
        async with app.run_test(size=(100, 40)) as pilot:
            await open_detail(pilot, app, tid)
            detail = app.screen
            panel = detail.query_one(AuditHistory)
            await pilot.press("r")
            await wait_until(pilot, lambda: isinstance(app.screen, ActionScreen), timeout=60)
            action = app.screen
            assert isinstance(action, ActionScreen)
            await wait_until(pilot, lambda: not action.busy, timeout=60)
            assert action.error is None, action.error
            await pilot.press("enter")
            await wait_until(pilot, lambda: app.screen is detail)
            await wait_until(pilot, lambda: len(panel.records) == 1)
            await pilot.pause()
            assert panel.display
            line = str(panel.query_one("#audit-history-lines", Static).content)
            assert "renew" in line and "ok" in line
    (record,) = AuditLog(home).actions()
    assert record["action"] == "renew" and record["outcome"] == "ok"
    assert record["tenant_id"] == tid and record["actor"]["admin"] is None
    assert record["details"]["key_added"]["sha1"] == store.load(tid)["certificate"]["sha1"]
