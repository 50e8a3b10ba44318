"""Device-code outcomes end to end: the wizard, the real service layer, the HTTPS emulator.

Every test starts its own emulator on the demo scenario (Contoso: a Global Administrator
``admin@contoso.com`` and a plain user ``lee@contoso.com``), with random user codes and a
1-second polling interval so outcomes show quickly. What a person does on the sign-in page
(approve, decline) the tests do through the emulator's API; nothing sleeps for a fixed
time: each step polls the screen with a deadline.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from vdc_tui.app import VdcApp
from vdc_tui.connect.models import CheckStatus
from vdc_tui.connect.service import DEFAULT_APP_DISPLAY_NAME
from vdc_tui.emulator import EmulatorServer, Scenario, load_scenario
from vdc_tui.screens.device_code import NEXT_STEPS, WAITING
from vdc_tui.widgets import Checklist

from .conftest import StartEmulatorLike, screen_name, wait_until, wizard_on

ADMIN = "admin@contoso.com"
NOT_ADMIN = "lee@contoso.com"


def demo(**device_code: Any) -> Scenario:
    """The demo scenario with random user codes, polled every second (plus overrides)."""
    scenario = load_scenario("demo")
    scenario.device_code = replace(scenario.device_code, user_code=None, interval=1,
                                   **device_code)
    return scenario


def status(app: VdcApp) -> str:
    """The device-code screen's status line (waiting, or what went wrong and what next)."""
    return str(app.screen.query_one("#device-status", Static).content)


def code_on_screen(app: VdcApp) -> str:
    """The user code the device-code screen shows in text."""
    text = str(app.screen.query_one("#device-code-text", Static).content)
    return text.removeprefix("Code: ").split()[0]


async def start_automatic(pilot: Pilot[Any], app: VdcApp, emu: EmulatorServer,
                          previous: str | None = None) -> str:
    """Choose Automatic (or press r for a new code) and wait for a code on screen.

    Returns the user code shown, which is the emulator's newest pending code.
    """
    if previous is None:
        await pilot.press("a")
    else:
        await pilot.press("r")

    def shown() -> bool:
        pending = emu.pending_user_codes()
        return (screen_name(app) == "DeviceCodeScreen" and bool(pending)
                and pending[0] != previous and status(app) == WAITING
                and code_on_screen(app) == pending[0])

    await wait_until(pilot, shown, 30)
    return code_on_screen(app)


async def outcome_shown(pilot: Pilot[Any], app: VdcApp, next_step: str) -> str:
    """Wait until the status line ends with ``next_step``; return the whole status."""
    await wait_until(pilot, lambda: screen_name(app) == "DeviceCodeScreen"
                     and status(app).endswith(next_step), 30)
    return status(app)


async def provisioning_checklist(pilot: Pilot[Any], app: VdcApp) -> Checklist:
    """Wait for the provisioning screen after the sign-in; its checklist once composed."""
    await wait_until(pilot, lambda: screen_name(app) == "ProvisioningScreen"
                     and bool(app.screen.query(Checklist)), 30)
    return app.screen.query_one(Checklist)


@pytest.mark.parametrize(("person", "error_code", "said"), [
    ("decline", "sign_in_declined", "The sign-in was declined."),
    ("expire", "device_code_expired", "expired"),
], ids=["declined", "expired"])
async def test_a_declined_or_expired_code_says_so_and_r_gives_a_new_code(
    start_emulator: StartEmulatorLike, tmp_path: Path, person: str, error_code: str, said: str
) -> None:
    """What happens to the code on the sign-in page: ``emu.decline_device_code`` or
    ``emu.expire_device_code``."""
    emu = start_emulator(demo())
    app = wizard_on(emu, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        first = await start_automatic(pilot, app, emu)
        getattr(emu, f"{person}_device_code")(first)
        shown = await outcome_shown(pilot, app, NEXT_STEPS[error_code])
        assert said in shown
        assert app.screen.check_action("manual", ()) is False  # a new code is the way on
        second = await start_automatic(pilot, app, emu, previous=first)
        assert second != first


async def test_a_short_lived_code_runs_out_and_a_new_one_is_offered(
    start_emulator: StartEmulatorLike, tmp_path: Path
) -> None:
    """Nobody signs in: a code that lives 2 seconds expires by itself."""
    emu = start_emulator(demo(lifetime=2))
    app = wizard_on(emu, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        first = await start_automatic(pilot, app, emu)
        shown = await outcome_shown(pilot, app, NEXT_STEPS["device_code_expired"])
        assert "expired" in shown
        assert not emu.pending_user_codes()
        second = await start_automatic(pilot, app, emu, previous=first)
        assert second != first


async def test_conditional_access_block_explains_and_m_opens_the_manual_form(
    start_emulator: StartEmulatorLike, tmp_path: Path
) -> None:
    emu = start_emulator(demo(), block_device_code=True)
    app = wizard_on(emu, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        code = await start_automatic(pilot, app, emu)
        assert app.screen.check_action("manual", ()) is False  # not before the block
        emu.approve_device_code(code, ADMIN)
        shown = await outcome_shown(pilot, app, NEXT_STEPS["device_code_blocked_by_policy"])
        assert "Conditional Access policy" in shown
        assert "AADSTS53003" in shown
        assert app.screen.check_action("manual", ()) is True
        await pilot.press("m")
        await wait_until(pilot, lambda: screen_name(app) == "ManualModeNotice")
        await pilot.press("i")
        await wait_until(pilot, lambda: screen_name(app) == "ManualScreen")
        assert app.focused is not None and app.focused.id == "admin_email"


async def test_a_user_who_is_not_global_admin_is_named_and_r_gives_a_new_code(
    start_emulator: StartEmulatorLike, tmp_path: Path
) -> None:
    emu = start_emulator(demo())
    app = wizard_on(emu, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        first = await start_automatic(pilot, app, emu)
        emu.approve_device_code(first, NOT_ADMIN)
        checklist = await provisioning_checklist(pilot, app)
        await wait_until(pilot, lambda: checklist.status_of("admin") is CheckStatus.FAIL, 30)
        failed = checklist.events["admin"]
        assert failed.code == "not_global_admin"
        assert NOT_ADMIN in failed.detail and "Global Administrator" in failed.detail
        said = str(app.screen.query_one("#provisioning-status", Static).content)
        assert f"{NOT_ADMIN} is not a Global Administrator" in said
        assert "Global Administrator role" in said
        assert "Press r to sign in again" in said
        # Nothing was created for an account that may not create anything.
        assert not [a for a in emu.state.applications.values()
                    if a.display_name == DEFAULT_APP_DISPLAY_NAME]
        await wait_until(pilot, lambda: app.screen.check_action("new_code", ()) is True)
        await pilot.press("r")
        second = await start_automatic(pilot, app, emu, previous=first)
        assert second != first


async def test_cancel_during_provisioning_leaves_no_app_of_this_run(
    start_emulator: StartEmulatorLike, tmp_path: Path
) -> None:
    """The service principal's creation stalls; Esc, then yes: the app is deleted again."""
    emu = start_emulator(demo(), stall_every=1, stall_path="/v1.0/servicePrincipals",
                         stall_seconds=60)
    before = set(emu.state.applications)
    app = wizard_on(emu, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        code = await start_automatic(pilot, app, emu)
        emu.approve_device_code(code, ADMIN)
        checklist = await provisioning_checklist(pilot, app)
        # The stalled request is logged only once answered: watch the checklist instead.
        await wait_until(pilot, lambda: checklist.status_of("application") is CheckStatus.PASS
                         and checklist.status_of("service_principal") is CheckStatus.RUNNING,
                         30)
        created = set(emu.state.applications) - before
        assert len(created) == 1  # the run's app exists while the next call hangs
        created_app_ids = {emu.state.applications[i].app_id for i in created}
        await pilot.press("escape")
        await wait_until(pilot, lambda: screen_name(app) == "ConfirmDialog")
        await pilot.press("y")
        await wait_until(pilot, lambda: screen_name(app) == "ModeScreen", 30)
        assert set(emu.state.applications) == before
        assert not [p for p in emu.state.service_principals.values()
                    if p.app_id in created_app_ids]
        deleted = [p for m, p, s in list(emu.request_log)
                   if m == "DELETE" and p.startswith("/v1.0/applications/") and s == 204]
        assert [p.rsplit("/", 1)[1] for p in deleted] == sorted(created)


async def test_copy_key_puts_the_code_shown_on_the_clipboard(
    start_emulator: StartEmulatorLike, tmp_path: Path, stable_terminal: list[str]
) -> None:
    emu = start_emulator(demo())
    app = wizard_on(emu, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        code = await start_automatic(pilot, app, emu)
        await pilot.press("c")
        assert app.clipboard == code == emu.pending_user_codes()[0]
        assert stable_terminal == [code]  # the native clipboard too, on a local session
        assert code_on_screen(app) == code  # still on screen: a copy cannot be confirmed
