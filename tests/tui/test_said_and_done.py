"""What a screen says and what it does agree: a dialog's button does what its message says,
and a key is listed in the footer where it works and works where it is listed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from support.fakes import FakeConnectionService
from textual.pilot import Pilot
from textual.widgets import Button, Checkbox, Static

from vdc_tui.app import VdcApp
from vdc_tui.connect.errors import DiagnosedProblem, SignInError
from vdc_tui.connect.models import CheckStatus
from vdc_tui.screens.device_code import MANUAL_ELSEWHERE
from vdc_tui.screens.manual import CONSENT_UNKNOWN
from vdc_tui.screens.provisioning import (
    CANCEL_UNDOES,
    CANCEL_YES,
    LEAVE_TITLE,
    LEAVE_YES,
    TOO_LATE_TO_UNDO,
)
from vdc_tui.widgets import Checklist

from .conftest import hold_provisioning_after_the_app, screen_name, wait_until
from .test_snapshots import _connected, _fill_manual, pfx_file  # noqa: F401 (a fixture)

Wizard = Callable[..., VdcApp]


def _dialog(app: VdcApp) -> tuple[str, str, str]:
    screen = app.screen
    return (str(screen.query_one(".dialog-title", Static).render()),
            str(screen.query_one(".dialog-body", Static).render()),
            str(screen.query_one("#yes", Button).label))


async def _escape_once_the_app_is_created(pilot: Any, app: VdcApp) -> None:
    await pilot.press("a")
    await wait_until(pilot, lambda: screen_name(app) == "ProvisioningScreen")
    await wait_until(pilot, lambda: app.screen.query_one(Checklist).status_of("application")
                     is CheckStatus.PASS)
    await pilot.press("escape")
    await wait_until(pilot, lambda: screen_name(app) == "ConfirmDialog")


async def test_esc_while_provisioning_offers_to_delete_what_the_run_created(
        wizard: Wizard, fake_service: FakeConnectionService) -> None:
    hold_provisioning_after_the_app(fake_service)
    app = wizard()
    async with app.run_test(size=(80, 24)) as pilot:
        await _escape_once_the_app_is_created(pilot, app)
        title, body, yes = _dialog(app)
        assert body == CANCEL_UNDOES and yes == f"{CANCEL_YES} (y)"
        await pilot.press("y")
        await wait_until(pilot, lambda: screen_name(app) == "ModeScreen")
    assert fake_service.rolled_back  # "delete" deleted


async def test_esc_answered_after_verification_deletes_nothing_as_its_button_says(
        wizard: Wizard, fake_service: FakeConnectionService) -> None:
    """Verification ends while "Cancel?" is open: message, title and button all say that
    nothing is deleted now, and yes then leaves for the mode choice deleting nothing."""
    hold_provisioning_after_the_app(fake_service)
    app = wizard()
    async with app.run_test(size=(80, 24)) as pilot:
        await _escape_once_the_app_is_created(pilot, app)
        assert fake_service.provision_block is not None
        fake_service.provision_block.set()
        await wait_until(pilot, lambda: _dialog(app)[1] == TOO_LATE_TO_UNDO)
        title, _body, yes = _dialog(app)
        assert title == LEAVE_TITLE and yes == f"{LEAVE_YES} (y)"
        assert "delete" not in yes.replace("delete nothing", "")
        await pilot.press("y")
        await wait_until(pilot, lambda: screen_name(app) == "ModeScreen")
    assert not fake_service.rolled_back
    assert not list((fake_service.home).rglob("profile.json"))  # "no profile will be written"


# --- keys: listed where they work, working where listed ------------------------------------

BLOCKED = SignInError("device_code_blocked_by_policy",
                      "Sign-in was blocked by a Conditional Access policy (AADSTS53003).",
                      "Ask the tenant's admin to allow the device code flow.")
CONSENT_URL = ("https://login.microsoftonline.com/8f3b6a52-0c1d-4e5f-9a7b-2c4d6e8f0a1b/"
               "adminconsent?client_id=3c9a4d0e-5b6f-4a7b-8c9d-0e1f2a3b4c5d")


def screen_lines(app: VdcApp) -> list[str]:
    """The terminal's rows as the operator sees them (text only)."""
    update = app.screen._compositor.render_full_update(simplify=True)
    return ["".join(segment.text for strip in row for segment in strip).rstrip()
            for row in update.strips]


def footer(app: VdcApp) -> str:
    return screen_lines(app)[-1].strip()


def notices(app: VdcApp) -> list[str]:
    return [str(notification.message) for notification in app._notifications]


async def _sign_in_blocked(pilot: Pilot[Any], app: VdcApp) -> None:
    await pilot.press("a")
    await wait_until(pilot, lambda: getattr(app.screen, "_problem", None) is not None)
    await pilot.pause()


async def test_blocked_by_policy_at_80x24_lists_m_keeps_f1_help_and_shows_the_next_step(
        wizard: Wizard, fake_service: FakeConnectionService) -> None:
    fake_service.sign_in_error = BLOCKED
    app = wizard()
    async with app.run_test(size=(80, 24)) as pilot:
        await _sign_in_blocked(pilot, app)
        lines = screen_lines(app)
        assert lines[-1].split() == ["r", "New", "code", "m", "Manual", "Esc", "Back", "^q",
                                     "Quit", "F1", "Help"]
        shown = " ".join(" ".join(lines[:-1]).split())
        assert "Press m to connect manually instead" in shown  # the next step is on screen
        await pilot.press("m")
        await wait_until(pilot, lambda: screen_name(app) == "ManualModeNotice")


def test_blocked_by_policy_snapshot_80x24(wizard: Wizard, fake_service: FakeConnectionService,
                                          snap_compare: Any) -> None:
    fake_service.sign_in_error = BLOCKED

    async def run_before(pilot: Pilot[Any]) -> None:
        await _sign_in_blocked(pilot, pilot.app)  # type: ignore[arg-type]

    assert snap_compare(wizard(), terminal_size=(80, 24), run_before=run_before)


async def test_m_while_the_code_can_still_work_says_where_manual_mode_is(
        wizard: Wizard, fake_service: FakeConnectionService) -> None:
    app = wizard()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("a")
        await wait_until(pilot, lambda: bool(fake_service.sessions))
        await pilot.pause()
        assert "m Manual" not in footer(app) and footer(app).endswith("F1 Help")
        await pilot.press("m")
        await wait_until(pilot, lambda: MANUAL_ELSEWHERE in notices(app))
        assert screen_name(app) == "DeviceCodeScreen"  # nothing else happened
        await pilot.press("escape", "m")  # what the notice says works
        await wait_until(pilot, lambda: screen_name(app) == "ManualModeNotice")


async def test_once_the_sign_in_failed_the_dead_codes_keys_leave_the_footer(
        wizard: Wizard, fake_service: FakeConnectionService, stable_terminal: list[str]
) -> None:
    fake_service.sign_in_error = SignInError("sign_in_declined", "The customer declined.",
                                             "Ask them to sign in again.")
    copied = stable_terminal  # what the clipboard received
    app = wizard()
    async with app.run_test(size=(80, 24)) as pilot:
        await _sign_in_blocked(pilot, app)
        assert footer(app).split()[:3] == ["r", "New", "code"]
        assert "m Manual" not in footer(app)
        before = list(notices(app))
        await pilot.press("c", "i", "o")  # unlisted: they do nothing
        await pilot.pause()
        assert notices(app) == before and copied == []
        fake_service.sign_in_error = None
        await pilot.press("r")  # a new code brings them back
        await wait_until(pilot, lambda: getattr(app.screen, "_problem", None) is None
                         and "c Copy" in footer(app))


async def test_ctrl_g_before_any_consent_address_says_why_there_is_none(
        wizard: Wizard, pfx_file: str) -> None:  # noqa: F811
    app = wizard()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("m", "i")
        await wait_until(pilot, lambda: screen_name(app) == "ManualScreen")
        await pilot.pause()
        assert "^g" not in footer(app)
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: CONSENT_UNKNOWN in notices(app))
        assert screen_name(app) == "ManualScreen"


async def test_ctrl_g_is_listed_once_the_address_is_known_and_f1_help_still_fits(
        wizard: Wizard, fake_service: FakeConnectionService, pfx_file: str  # noqa: F811
) -> None:
    fake_service.manual_error = DiagnosedProblem(
        "missing_permissions", "The app lacks 3 application permissions.",
        "Grant admin consent for the app's API permissions.", {"admin_consent_url": CONSENT_URL})
    app = wizard()
    async with app.run_test(size=(80, 24)) as pilot:
        await _fill_manual(pfx_file)(pilot)
        await wait_until(pilot, lambda: screen_name(app) == "ConsentScreen")
        await pilot.press("escape")
        await wait_until(pilot, lambda: screen_name(app) == "ManualScreen")
        await pilot.pause()
        assert "^g Consent" in footer(app) and footer(app).endswith("F1 Help")
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: screen_name(app) == "ConsentScreen")


async def test_space_is_in_the_footer_while_a_service_that_can_change_has_focus(
        wizard: Wizard, fake_service: FakeConnectionService) -> None:
    _connected(fake_service)
    app = wizard()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("a")
        await wait_until(pilot, lambda: screen_name(app) == "ConnectedDialog")
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen_name(app) == "ServicesScreen")
        await pilot.pause()
        box = app.focused
        assert isinstance(box, Checkbox) and not box.disabled
        assert footer(app).startswith("Space Select")
        before = box.value
        await pilot.press("space")
        await wait_until(pilot, lambda: box.value is not before)
        app.screen.query_one("#next", Button).focus()
        await pilot.pause()
        assert "Space" not in footer(app)  # on Next, Space selects nothing
