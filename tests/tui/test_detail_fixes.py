"""The detail screen offers the key that fixes each broken check — ``r`` renew for an
expiring certificate, ``p`` repair for what an admin must fix — and that key works there
(Pilot tests against the emulator's fleet)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Static

from bench.fleet import save_profiles
from vdc_tui.dashboard import DashboardApp
from vdc_tui.emulator import EmulatorServer
from vdc_tui.emulator.fleet import write_fleet
from vdc_tui.screens.health_detail import HealthDetailScreen

from .conftest import wait_until
from .test_dashboard_actions import action_done, dashboard, select, sign_in


def text_of(screen: Any) -> str:
    return "\n".join(str(static.content) for static in screen.query(Static))


async def open_checked_detail(pilot: Any, app: DashboardApp, tid: str) -> HealthDetailScreen:
    await select(pilot, app, tid)
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(app.screen, HealthDetailScreen))
    detail = app.screen
    assert isinstance(detail, HealthDetailScreen)
    await pilot.press("c")
    await wait_until(pilot, lambda: "checking" not in str(
        detail.query_one("#detail-heading").render()) and "Never checked" not in
        text_of(detail), timeout=60)
    await pilot.pause()
    return detail


@pytest.mark.parametrize("kind", ["key_removed", "expired", "app_deleted"])
async def test_p_on_the_detail_repairs_what_an_admin_must_fix(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    files = write_fleet(tmp_path / "fleet", [kind])
    home = tmp_path / "home"
    monkeypatch.setenv("VDC_TUI_HOME", str(home))
    store = save_profiles(files.manifest, home)
    entry = files.tenants[0]
    tid = entry["tenant_id"]
    with EmulatorServer(str(files.scenario)) as emu:
        app = dashboard(store, emu)
        async with app.run_test(size=(100, 40)) as pilot:
            detail = await open_checked_detail(pilot, app, tid)
            shown = text_of(detail)
            assert "broken" in str(detail.query_one("#detail-heading").render())
            assert "Here: press" in shown and " p " in shown and "to repair it" in shown
            assert "remove the old profile" not in shown
            await pilot.press("p")
            await sign_in(pilot, app, emu, entry["admin"])
            done = await action_done(pilot, app)
            assert done.error is None, done.error
            await pilot.press("enter")
            await wait_until(pilot, lambda: app.screen is detail)
            await wait_until(pilot, lambda: "healthy" in str(
                detail.query_one("#detail-heading").render()), timeout=60)
        apps = [a for a in emu.state.applications.values() if a.tenant_id == tid]
        assert [a.app_id for a in apps] == [entry["app_id"]]  # the same app, only one
        keys = [k.sha1.hex().upper() for k in apps[0].key_credentials]
        assert keys == [store.load(tid)["certificate"]["sha1"].upper()]


async def test_the_detail_of_an_expiring_certificate_offers_r(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = write_fleet(tmp_path / "fleet", ["expiring"])
    home = tmp_path / "home"
    monkeypatch.setenv("VDC_TUI_HOME", str(home))
    store = save_profiles(files.manifest, home)
    tid = files.tenants[0]["tenant_id"]
    with EmulatorServer(str(files.scenario)) as emu:
        app = dashboard(store, emu)
        async with app.run_test(size=(100, 40)) as pilot:
            detail = await open_checked_detail(pilot, app, tid)
            shown = text_of(detail)
            assert "Here: press" in shown and " r " in shown and "to renew the certificate" \
                in shown
            assert "to repair it" not in shown
            await pilot.press("r")
            done = await action_done(pilot, app)
            assert done.error is None, done.error
            await pilot.press("enter")
            await wait_until(pilot, lambda: app.screen is detail)
            await wait_until(pilot, lambda: "healthy" in str(
                detail.query_one("#detail-heading").render()), timeout=60)
