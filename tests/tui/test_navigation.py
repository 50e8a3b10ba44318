"""Pilot tests of the wizard's behaviour on the scripted service (test double)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import qrcode
from qrcode.constants import ERROR_CORRECT_M
from support.fakes import FakeConnectionService
from textual.widgets import Input, Static

from vdc_tui.app import EXIT_CANCELLED, VdcApp
from vdc_tui.connect.errors import CertificateProblem, SignInError
from vdc_tui.screens import HelpScreen
from vdc_tui.screens.device_code import DeviceCodeScreen
from vdc_tui.widgets import QRCode

from .conftest import (
    ask_to_quit_once_the_app_is_created,
    hold_provisioning_after_the_app,
    screen_name,
    show_first_code,
    wait_until,
)

Wizard = Callable[..., VdcApp]


async def test_escape_on_device_code_goes_back_to_mode_and_drops_the_code(
    wizard: Wizard, fake_service: FakeConnectionService
) -> None:
    app = wizard()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("a")
        await wait_until(pilot, lambda: bool(fake_service.sessions))
        await pilot.press("escape")
        await wait_until(pilot, lambda: screen_name(app) == "ModeScreen")
        assert fake_service.sessions[0].cancelled


async def test_new_code_key_cancels_the_old_flow_and_shows_a_new_code(
    wizard: Wizard, fake_service: FakeConnectionService
) -> None:
    app = wizard()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("a")
        await wait_until(pilot, lambda: len(fake_service.sessions) == 1)
        await pilot.press("r")
        await wait_until(pilot, lambda: len(fake_service.sessions) == 2)
        assert fake_service.sessions[0].cancelled
        await wait_until(pilot, lambda: "HJK7MWX2P" in str(
            app.screen.query_one("#device-code-text", Static).render()))


async def test_copy_key_puts_the_code_on_the_clipboard_and_keeps_it_on_screen(
    wizard: Wizard, fake_service: FakeConnectionService, stable_terminal: list[str]
) -> None:
    app = wizard()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await show_first_code(pilot, fake_service)
        await pilot.press("c")
        assert app.clipboard == "CWE5QHLNM"
        assert stable_terminal == ["CWE5QHLNM"]
        assert "CWE5QHLNM" in str(app.screen.query_one("#device-code-text", Static).render())
        assert any("Copied" in str(n.message) for n in app._notifications)


async def test_invite_key_copies_address_code_and_deadline_for_the_customer(
    wizard: Wizard, fake_service: FakeConnectionService, stable_terminal: list[str]
) -> None:
    app = wizard()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await show_first_code(pilot, fake_service)
        code = fake_service.sessions[-1].code
        await pilot.press("i")
        invite = app.clipboard
        assert code.verification_uri in invite and code.user_code in invite
        assert code.expires_at.strftime("%H:%M UTC") in invite
        assert stable_terminal == [invite]
        # The code itself stays on screen.
        assert code.user_code in str(app.screen.query_one("#device-code-text", Static).render())
        assert any("Invite copied" in str(n.title) for n in app._notifications)


async def test_copy_over_ssh_uses_only_osc52(
    wizard: Wizard, fake_service: FakeConnectionService, stable_terminal: list[str],
    monkeypatch: object,
) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setenv("SSH_CONNECTION", "10.0.0.1 5000 10.0.0.2 22")
    app = wizard()
    async with app.run_test(size=(80, 24)) as pilot:
        await show_first_code(pilot, fake_service)
        await pilot.press("c")
        assert app.clipboard == "CWE5QHLNM"
        assert stable_terminal == []


async def test_qr_matrix_is_the_qrcode_matrix_of_the_address(
    wizard: Wizard, fake_service: FakeConnectionService
) -> None:
    app = wizard()
    async with app.run_test(size=(100, 30)) as pilot:
        await show_first_code(pilot, fake_service)
        qr = app.screen.query_one(QRCode)
        reference = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=2)
        reference.add_data("https://microsoft.com/devicelogin")
        reference.make(fit=True)
        assert qr.matrix == [list(row) for row in reference.get_matrix()]
        assert qr.display
        # Each cell pairs two module rows, black on white whatever the theme.
        strip = qr.render_line(0)
        styles = {(s.style.color.name if s.style and s.style.color else None)
                  for s in strip if s.text == "▀"}
        assert styles <= {"#000000", "#ffffff"}
        await pilot.press("q")
        assert not qr.display


async def test_qr_is_hidden_when_the_terminal_is_too_small_for_it(
    wizard: Wizard, fake_service: FakeConnectionService
) -> None:
    app = wizard()
    async with app.run_test(size=(80, 24)) as pilot:
        await show_first_code(pilot, fake_service)
        await pilot.resize_terminal(90, 19)
        await pilot.pause()
        assert not app.screen.query_one(QRCode).display


async def test_blocked_by_policy_offers_manual_mode(
    wizard: Wizard, fake_service: FakeConnectionService
) -> None:
    fake_service.sign_in_error = SignInError(
        "device_code_blocked_by_policy", "Sign-in was blocked by a Conditional Access policy.",
        "Ask the tenant's admin to allow the device code flow, or connect manually.")
    app = wizard()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, DeviceCodeScreen)
                         and app.screen.check_action("manual", ()) is True)
        await pilot.press("m")
        await wait_until(pilot, lambda: screen_name(app) == "ManualModeNotice")
        await pilot.press("i")
        await wait_until(pilot, lambda: screen_name(app) == "ManualScreen")


async def test_help_lists_the_keys_of_the_current_screen(wizard: Wizard) -> None:
    app = wizard()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        rows = app.screen.key_rows()
        described = {description for _key, description, _tip in rows}
        assert {"Automatic", "Manual", "Quit", "Help"} <= described
        await pilot.press("escape")
        assert screen_name(app) == "ModeScreen"


async def test_quit_without_work_in_progress_exits_at_once(wizard: Wizard) -> None:
    app = wizard()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: app.return_code is not None)
    assert app.return_code == EXIT_CANCELLED
    assert app.return_value is None


async def test_quit_during_provisioning_asks_then_rolls_back(
    wizard: Wizard, fake_service: FakeConnectionService
) -> None:
    hold_provisioning_after_the_app(fake_service)
    app = wizard()
    async with app.run_test(size=(80, 24)) as pilot:
        await ask_to_quit_once_the_app_is_created(pilot, app)
        body = str(app.screen.query_one(".dialog-body", Static).render())
        assert "deletes the app registration" in body
        await pilot.press("n")
        assert screen_name(app) == "ProvisioningScreen"
        assert not fake_service.rolled_back
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: screen_name(app) == "ConfirmDialog")
        await pilot.press("y")
        await wait_until(pilot, lambda: app.return_code is not None)
    assert fake_service.rolled_back
    assert app.return_code == EXIT_CANCELLED


async def test_escape_during_provisioning_asks_and_cancel_returns_to_mode(
    wizard: Wizard, fake_service: FakeConnectionService
) -> None:
    fake_service.approve = asyncio.Event()
    fake_service.approve.set()
    fake_service.provision_block = asyncio.Event()
    app = wizard()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("a")
        await wait_until(pilot, lambda: screen_name(app) == "ProvisioningScreen")
        await pilot.press("escape")
        await wait_until(pilot, lambda: screen_name(app) == "ConfirmDialog")
        await pilot.press("y")
        await wait_until(pilot, lambda: screen_name(app) == "ModeScreen")
    assert fake_service.rolled_back


async def test_manual_field_at_fault_gets_focus_and_values_stay(
    wizard: Wizard, fake_service: FakeConnectionService, tmp_path: object
) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    pfx = tmp_path / "app.pfx"
    pfx.write_bytes(b"x")
    fake_service.manual_error = CertificateProblem(
        "pfx_wrong_password", "The password does not open the PFX file.",
        "Type the password the PFX was exported with.", {"field": "pfx_password"})
    app = wizard()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("m", "i")
        await wait_until(pilot, lambda: screen_name(app) == "ManualScreen")
        await pilot.press(*"it@contoso.com", "enter")
        await pilot.press(*"{3C9A4D0E-5B6F-4A7B-8C9D-0E1F2A3B4C5D}", "enter")
        app.screen.query_one("#pfx_path", Input).value = str(pfx)
        app.screen.query_one("#pfx_password", Input).focus()
        await pilot.press(*"wrong", "enter")
        await wait_until(pilot, lambda: bool(fake_service.manual_inputs))
        await wait_until(pilot, lambda: app.focused is not None
                         and app.focused.id == "pfx_password")
        manual = fake_service.manual_inputs[0]
        assert manual.app_id == "3c9a4d0e-5b6f-4a7b-8c9d-0e1f2a3b4c5d"
        assert manual.pfx_password == "wrong"
        assert "wrong" not in repr(manual)
        error = str(app.screen.query_one("#pfx_password-error", Static).render())
        assert "password does not open" in error
        assert app.screen.query_one("#admin_email", Input).value == "it@contoso.com"
        assert app.screen.query_one("#pfx_password", Input).value == "wrong"


async def test_manual_escape_goes_back_and_keeps_the_draft(wizard: Wizard) -> None:
    app = wizard()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("m", "i")
        await wait_until(pilot, lambda: screen_name(app) == "ManualScreen")
        await pilot.press(*"it@contoso.com")
        await pilot.press("escape")
        await wait_until(pilot, lambda: screen_name(app) == "ModeScreen")
        await pilot.press("m", "i")
        await wait_until(pilot, lambda: screen_name(app) == "ManualScreen")
        assert app.screen.query_one("#admin_email", Input).value == "it@contoso.com"


async def test_whole_automatic_flow_saves_selected_services(
    wizard: Wizard, fake_service: FakeConnectionService
) -> None:
    fake_service.approve = asyncio.Event()
    fake_service.approve.set()
    app = wizard()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("a")
        await wait_until(pilot, lambda: screen_name(app) == "ConnectedDialog")
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen_name(app) == "ServicesScreen")
        await pilot.press("space")  # Teams off (SharePoint is not licensed here)
        await pilot.press("n")
        await wait_until(pilot, lambda: screen_name(app) == "SummaryScreen")
        await pilot.press("escape")
        await wait_until(pilot, lambda: screen_name(app) == "ServicesScreen")
        await pilot.press("n")
        await wait_until(pilot, lambda: screen_name(app) == "SummaryScreen")
        await pilot.press("f")
        await wait_until(pilot, lambda: app.return_value is not None)
    assert fake_service.saved[0][1] == ("exchange",)
    assert app.return_code == 0


async def test_terminal_too_small_shows_the_notice(wizard: Wizard) -> None:
    app = wizard()
    async with app.run_test(size=(70, 20)) as pilot:
        await pilot.pause()
        notice = app.screen.query_one("TooSmallNotice")
        assert notice.display and "need 80×24" in str(notice.render())
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert not app.screen.query_one("TooSmallNotice").display


async def test_untrusted_tenant_name_is_shown_literally(wizard: Wizard) -> None:
    app = wizard(tenant_name="[bold]Contoso[/ \x1b]52;c;SGVsbG8=\x07")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        svg = app.export_screenshot()
        assert "[bold]Contoso[/" in svg.replace("&#160;", " ")
        assert "\x1b" not in app.sub_title and "\x07" not in app.sub_title
