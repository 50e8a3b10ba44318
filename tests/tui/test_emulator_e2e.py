"""End to end: the wizard with the real service layer against the HTTPS emulator."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from textual.widgets import Input

from vdc_tui.app import make_app
from vdc_tui.connect.microsoft.clouds import server_endpoints
from vdc_tui.connect.service import ConnectionService, ConnectSettings
from vdc_tui.settings import AppSettings

from .conftest import StartEmulatorLike, screen_name, wait_until

DEMO_APP_ID = "6b1c7e52-3f0a-4d8e-b5a9-0e4f2c7d9a13"  # the demo scenario's manual app
DEMO_PFX = Path(__file__).parents[2] / "vdc_tui" / "emulator" / "scenarios" / "demo-manual-app.pfx"


async def test_demo_mode_automatic_flow_saves_a_profile(tmp_path: Path) -> None:
    """`--demo`: the app starts the emulator itself, which approves the code."""
    settings = AppSettings(demo=True, demo_approve_after=0.2,
                           connect=ConnectSettings(home=tmp_path))
    app = make_app(settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: "https://" in app.demo_status, 30)
        await pilot.press("a")
        await wait_until(pilot, lambda: screen_name(app) == "ConnectedDialog", 60)
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen_name(app) == "ServicesScreen")
        await pilot.press("n")
        await wait_until(pilot, lambda: screen_name(app) == "SummaryScreen")
        await pilot.press("f")
        await wait_until(pilot, lambda: app.return_value is not None, 20)
    profile = app.return_value
    assert profile is not None and profile.is_file()
    assert profile.is_relative_to(tmp_path)
    assert app.return_code == 0


def _service(emu: object, home: Path) -> ConnectionService:
    endpoints = server_endpoints(emu)  # type: ignore[attr-defined]
    return ConnectionService(ConnectSettings(endpoints=endpoints, home=home))


async def _fill_manual(pilot: object, app: object, password: str) -> None:
    """Open the manual form (m, i) and send it with the demo app and ``password``."""
    await pilot.press("m", "i")  # type: ignore[attr-defined]
    await wait_until(pilot, lambda: screen_name(app) == "ManualScreen")  # type: ignore[arg-type]
    screen = app.screen  # type: ignore[attr-defined]
    screen.query_one("#admin_email", Input).value = "admin@contoso.com"
    screen.query_one("#app_id", Input).value = "{" + DEMO_APP_ID.upper() + "}"
    screen.query_one("#pfx_path", Input).value = str(DEMO_PFX)
    screen.query_one("#pfx_password", Input).focus()
    await pilot.press(*password, "enter")  # type: ignore[attr-defined]


async def test_manual_flow_on_emulator_connects(
    start_emulator: StartEmulatorLike, tmp_path: Path
) -> None:
    emu = start_emulator("demo")
    app = make_app(AppSettings(), service=_service(emu, tmp_path))
    async with app.run_test(size=(100, 30)) as pilot:
        await _fill_manual(pilot, app, "demo")
        await wait_until(pilot, lambda: screen_name(app) == "ConnectedDialog", 60)


async def test_manual_wrong_password_on_emulator_focuses_the_password(
    start_emulator: StartEmulatorLike, tmp_path: Path
) -> None:
    emu = start_emulator("demo")
    app = make_app(AppSettings(), service=_service(emu, tmp_path))
    async with app.run_test(size=(100, 30)) as pilot:
        await _fill_manual(pilot, app, "wrong")
        await wait_until(pilot, lambda: app.focused is not None
                         and app.focused.id == "pfx_password", 30)
        assert app.screen.query_one("#pfx_password-error").display
        assert app.screen.query_one("#admin_email", Input).value == "admin@contoso.com"


async def test_declined_sign_in_on_emulator_offers_a_new_code(
    start_emulator: StartEmulatorLike, tmp_path: Path
) -> None:
    emu = start_emulator(replace_interval(emu_scenario="demo"))
    app = make_app(AppSettings(), service=_service(emu, tmp_path))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("a")
        await wait_until(pilot, lambda: bool(emu.pending_user_codes()), 30)
        emu.decline_device_code(emu.pending_user_codes()[0])
        await wait_until(pilot, lambda: getattr(app.screen, "_problem", None) is not None, 30)
        assert app.screen._problem.code == "sign_in_declined"  # type: ignore[attr-defined]
        assert app.screen.check_action("new_code", ()) is True


def replace_interval(emu_scenario: str) -> object:
    """The named scenario with a 1-second polling interval (keeps the test fast)."""
    from vdc_tui.emulator import load_scenario

    scenario = load_scenario(emu_scenario)
    scenario.device_code = replace(scenario.device_code, interval=1)
    return scenario


async def test_an_unusable_profile_folder_is_said_before_any_sign_in(tmp_path: Path) -> None:
    """A VDC_TUI_HOME that cannot hold profiles stops the wizard before the device code."""
    home = tmp_path / "not-a-folder"
    home.write_text("a file where the profile folder should be")
    app = make_app(AppSettings(connect=ConnectSettings(home=home)))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("a")
        await wait_until(pilot, lambda: app.return_code is not None, 20)
    # invalid_argument: the wizard exits with the reason instead of asking for a code.
    assert app.return_code == 2


async def test_without_a_passphrase_source_the_wizard_asks_once_and_saves_encrypted(
    tmp_path: Path,
) -> None:
    from cryptography.hazmat.primitives.serialization import pkcs12
    from textual.widgets import Static

    from vdc_tui.connect.store.keystore import PassphraseProvider

    nowhere = PassphraseProvider(environ={"VDC_TUI_KEYRING": "off"})
    settings = AppSettings(demo=True, demo_approve_after=0.2,
                           connect=ConnectSettings(home=tmp_path, key_passphrase=nowhere))
    app = make_app(settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: "https://" in app.demo_status, 30)
        await pilot.press("a")
        await wait_until(pilot, lambda: screen_name(app) == "ConnectedDialog", 60)
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen_name(app) == "ServicesScreen")
        await pilot.press("n")
        await wait_until(pilot, lambda: screen_name(app) == "SummaryScreen")
        await pilot.press("f")
        await wait_until(pilot, lambda: screen_name(app) == "PassphraseScreen", 20)
        assert app.screen.query_one("#passphrase", Input).password  # masked
        await pilot.press(*"short", "enter", *"short", "enter")
        status = app.screen.query_one("#passphrase-status", Static)
        await wait_until(pilot, lambda: "at least" in str(status.render()))
        app.screen.query_one("#passphrase", Input).value = "typed store passphrase"
        app.screen.query_one("#repeat", Input).value = "typed store passphrase"
        app.screen.query_one("#repeat", Input).focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.return_value is not None, 20)
    profile = app.return_value
    assert profile is not None and profile.is_file()
    data = (profile.parent / "certificate.pfx").read_bytes()
    assert pkcs12.load_pkcs12(data, b"typed store passphrase").key is not None
