"""The first frame: what waits for it (rows below the screen, the garbage collector), that
it is sent whole after Textual's batched mount, and that waiting work is never lost."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

import vdc_tui.base_app as base_app
from bench.fleet import synthetic_home
from vdc_tui.app import VdcApp
from vdc_tui.dashboard import DashboardApp
from vdc_tui.screens.base import WizardScreen
from vdc_tui.screens.dashboard import DashboardScreen
from vdc_tui.screens.fleet_rows import sort_key

from .conftest import wait_until

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def _no_endpoints() -> Any:
    from vdc_tui.connect.microsoft.clouds import resolve_endpoints

    return resolve_endpoints("global", authority_host="https://127.0.0.1:9",
                             graph_url="https://127.0.0.1:9")


def _dashboard(tmp_path: Path, count: int) -> DashboardApp:
    store = synthetic_home(tmp_path / "home", count, now=NOW, unchecked_every=7)
    return DashboardApp(store, _no_endpoints(), clock=lambda: NOW)


async def test_rows_below_the_screen_are_added_after_the_first_frame(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Seen when the first whole frame is displayed: how many rows the table had then.
    rows_at_first_frame: list[int] = []
    done = base_app.VdcBaseApp._first_frame_done

    def first_frame_done(self: base_app.VdcBaseApp[Any]) -> None:
        if not self.first_frame_shown and isinstance(self.screen, DashboardScreen):
            rows_at_first_frame.append(self.screen.query_one(DataTable).row_count)
        done(self)

    monkeypatch.setattr(base_app.VdcBaseApp, "_first_frame_done", first_frame_done)
    # Only the frame itself may release the rows (not the fallback): a Textual whose
    # display path changed fails here instead of opening every dashboard a second late.
    monkeypatch.setattr(base_app, "FIRST_FRAME_FALLBACK", 60.0)
    app = _dashboard(tmp_path, 90)
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.screen.query_one(DataTable)
        await wait_until(pilot, lambda: app.first_frame_shown and table.row_count == 90)
        assert rows_at_first_frame == [30]  # the terminal's lines, not all 90
        # Worst first over all 90, the cursor on the first (worst) row.
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        order = sorted(screen.entries.values(),
                       key=lambda e: sort_key(e, screen.results.get(e.tenant_id)))
        assert [str(k.value) for k in table.rows] == [e.tenant_id for e in order]
        assert table.cursor_row == 0
        assert "90 connections" in str(screen.query_one("#dashboard-status", Static).content)


async def test_work_for_after_the_first_frame_runs_once_in_order_and_at_once_later(
    tmp_path: Path,
) -> None:
    ran: list[str] = []
    app = _dashboard(tmp_path, 3)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.first_frame_shown)
        app.call_after_first_frame(lambda: ran.append("late"))
        await wait_until(pilot, lambda: ran == ["late"])
        await pilot.pause()
        assert ran == ["late"]


async def test_waiting_work_runs_even_if_no_whole_frame_is_ever_seen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A Textual whose display path no longer passes whole frames through _display: the
    # rows below the screen come anyway, after the fallback delay.
    class NeverSeen:
        pass

    monkeypatch.setattr(base_app, "LayoutUpdate", NeverSeen)
    monkeypatch.setattr(base_app, "FIRST_FRAME_FALLBACK", 0.2)
    app = _dashboard(tmp_path, 40)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one(DataTable)
        await wait_until(pilot, lambda: app.first_frame_shown and table.row_count == 40,
                         timeout=10)


def test_the_garbage_collector_pauses_until_the_first_frame_and_comes_back(
    tmp_path: Path,
) -> None:
    seen: dict[str, bool] = {}

    async def auto_pilot(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DashboardApp)
        seen["before"] = gc.isenabled()
        await wait_until(pilot, lambda: app.first_frame_shown)
        seen["after"] = gc.isenabled()
        app.exit()

    assert gc.isenabled()
    app = _dashboard(tmp_path, 3)
    app.run(headless=True, auto_pilot=auto_pilot)
    assert seen == {"before": False, "after": True}
    assert gc.isenabled()


def test_a_collector_disabled_by_the_caller_stays_disabled(tmp_path: Path) -> None:
    async def auto_pilot(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, DashboardApp)
        await wait_until(pilot, lambda: app.first_frame_shown)
        app.exit()

    gc.disable()
    try:
        _dashboard(tmp_path, 3).run(headless=True, auto_pilot=auto_pilot)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_an_app_that_ends_before_its_first_frame_gives_the_collector_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_mount(self: DashboardApp) -> None:
        raise RuntimeError("broken on purpose")

    monkeypatch.setattr(DashboardApp, "on_mount", broken_mount)
    app = _dashboard(tmp_path, 3)
    app.run(headless=True)  # Textual shows the traceback and ends with exit code 1
    assert app.return_code == 1 and not app.first_frame_shown
    assert gc.isenabled()


async def test_the_first_screen_is_repainted_whole_once_the_mount_is_over(
    wizard: Callable[..., VdcApp], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Textual drops the frames a starting app composes during its batched mount; every
    # part of the first screen is sent again at the first update after it.
    repainted: list[str] = []
    repaint = WizardScreen._repaint_children

    def recorded(self: WizardScreen[Any]) -> None:
        repainted.append(type(self).__name__)
        assert not self.app._batch_count
        repaint(self)

    monkeypatch.setattr(WizardScreen, "_repaint_children", recorded)
    app = wizard()
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.first_frame_shown)
        await pilot.press("m")  # a screen pushed later is not repainted twice
        await pilot.pause()
    assert repainted == ["ModeScreen"]


#: Modules the dashboard's first frame must not wait for: Rich's emoji table (loaded by a
#: str column label parsed as markup) and everything the checks and actions need.
DASHBOARD_LATER = ("rich._emoji_codes", "msal", "httpx", "cryptography",
                   "vdc_tui.connect.fleet.run", "vdc_tui.connect.microsoft.identity",
                   "vdc_tui.screens.health_detail", "vdc_tui.screens.lifecycle")


def test_the_dashboards_first_frame_imports_only_what_it_shows(tmp_path: Path) -> None:
    synthetic_home(tmp_path / "home", 40, now=NOW, unchecked_every=7)
    code = f"""
import asyncio, json, sys
from pathlib import Path
from vdc_tui.connect.microsoft.clouds import resolve_endpoints
from vdc_tui.connect.store.profiles import ProfileStore
from vdc_tui.dashboard import DashboardApp

async def main():
    app = DashboardApp(ProfileStore(Path({str(tmp_path / "home")!r})),
                       resolve_endpoints("global"))
    async with app.run_test(size=(100, 30)) as pilot:
        while not app.first_frame_shown:
            await pilot.pause(0.01)
        print(json.dumps([m for m in {list(DASHBOARD_LATER)!r} if m in sys.modules]))

asyncio.run(main())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
