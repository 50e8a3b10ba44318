"""What a screen says and what it does agree: a dialog's button does what its message says,
and a key is listed in the footer where it works and works where it is listed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.widgets import Button, Static

from vdc_tui.app import VdcApp
from vdc_tui.connect.models import CheckStatus
from vdc_tui.screens.provisioning import (
    CANCEL_UNDOES,
    CANCEL_YES,
    LEAVE_TITLE,
    LEAVE_YES,
    TOO_LATE_TO_UNDO,
)
from vdc_tui.widgets import Checklist

from .conftest import hold_provisioning_after_the_app, screen_name, wait_until
from .fakes import FakeConnectionService

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
