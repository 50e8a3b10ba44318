"""Snapshot tests of every screen and state (SVGs in ``__snapshots__``).

They run on the scripted test double (``fakes.py``) with a frozen clock, so the countdown,
codes and ids are the same on every run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from support.fakes import FakeConnectionService, connection_result, events
from textual.pilot import Pilot
from textual.widgets import Input

from vdc_tui.app import VdcApp
from vdc_tui.connect.errors import CertificateProblem, DiagnosedProblem, SignInError
from vdc_tui.connect.models import Availability, CheckEvent, CheckStatus

from .conftest import screen_name, wait_until

Wizard = Callable[..., VdcApp]
RunBefore = Callable[[Pilot[Any]], Awaitable[None]]

PROVISION_EVENTS = events(
    ("admin", "Signed-in account is a Global Administrator", CheckStatus.PASS,
     "megan@contoso.com"),
    ("organization", "Read the tenant", CheckStatus.PASS, "Contoso Ltd · contoso.com"),
    ("application", "Create the app registration and its certificate", CheckStatus.PASS,
     "app id 3c9a4d0e…"),
    ("service_principal", "Create its service principal", CheckStatus.RUNNING,
     "waiting for replication, attempt 3"),
)


def reach(target: str, *keys: str) -> RunBefore:
    """A run_before that presses ``keys`` and waits until ``target`` is on top."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await pilot.pause()
        if keys:
            await pilot.press(*keys)
        await wait_until(pilot, lambda: screen_name(pilot.app) == target)
        await pilot.pause()

    return run_before


def test_mode_screen(wizard: Wizard, snap_compare: Any) -> None:
    assert snap_compare(wizard(tenant_name="Contoso"), terminal_size=(80, 24),
                        run_before=reach("ModeScreen"))


def test_mode_screen_wide_plan_connection(wizard: Wizard, snap_compare: Any) -> None:
    from vdc_tui.connect.service import ConnectSettings

    app = wizard(connect=ConnectSettings(plan="foundation"))
    assert snap_compare(app, terminal_size=(100, 30), run_before=reach("ModeScreen"))


def test_manual_notice(wizard: Wizard, snap_compare: Any) -> None:
    assert snap_compare(wizard(), terminal_size=(80, 24), run_before=reach("ManualModeNotice", "m"))


def test_device_code(wizard: Wizard, fake_service: FakeConnectionService,
                     snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await reach("DeviceCodeScreen", "a")(pilot)
        await wait_until(pilot, lambda: bool(fake_service.sessions))
        await pilot.pause()

    assert snap_compare(wizard(), terminal_size=(80, 24), run_before=run_before)


def test_device_code_wide(wizard: Wizard, fake_service: FakeConnectionService,
                          snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await reach("DeviceCodeScreen", "a")(pilot)
        await wait_until(pilot, lambda: bool(fake_service.sessions))
        await pilot.pause()

    assert snap_compare(wizard(tenant_name="Contoso"), terminal_size=(100, 30),
                        run_before=run_before)


def test_device_code_no_color(wizard: Wizard, fake_service: FakeConnectionService,
                              snap_compare: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")

    async def run_before(pilot: Pilot[Any]) -> None:
        await reach("DeviceCodeScreen", "a")(pilot)
        await wait_until(pilot, lambda: bool(fake_service.sessions))
        await pilot.pause()

    assert snap_compare(wizard(), terminal_size=(100, 30), run_before=run_before)


@pytest.mark.parametrize(
    "error",
    [
        SignInError("sign_in_declined", "The customer declined the sign-in.",
                    "Ask them to sign in again and accept the permissions."),
        SignInError("device_code_blocked_by_policy",
                    "Sign-in was blocked by a Conditional Access policy (AADSTS53003).",
                    "Ask the tenant's admin to allow the device code flow."),
        SignInError("not_global_admin", "lee@contoso.com is not a Global Administrator.",
                    "The Global Administrator role is missing on this account.",
                    {"upn": "lee@contoso.com"}),
        SignInError("device_code_expired", "The code expired before anyone signed in.",
                    "Codes live for about 15 minutes."),
    ],
    ids=lambda e: e.code,
)
def test_device_code_outcomes(wizard: Wizard, fake_service: FakeConnectionService,
                              snap_compare: Any, error: SignInError) -> None:
    fake_service.sign_in_error = error

    async def run_before(pilot: Pilot[Any]) -> None:
        await reach("DeviceCodeScreen", "a")(pilot)
        await wait_until(pilot, lambda: getattr(pilot.app.screen, "_problem", None) is not None)
        await pilot.pause()

    assert snap_compare(wizard(), terminal_size=(100, 30), run_before=run_before)


def test_provisioning_running(wizard: Wizard, fake_service: FakeConnectionService,
                              snap_compare: Any) -> None:
    fake_service.approve = asyncio.Event()
    fake_service.approve.set()
    fake_service.provision_block = asyncio.Event()
    fake_service.provision_events = PROVISION_EVENTS
    assert snap_compare(wizard(), terminal_size=(80, 24),
                        run_before=reach("ProvisioningScreen", "a"))


def test_provisioning_failed(wizard: Wizard, fake_service: FakeConnectionService,
                             snap_compare: Any) -> None:
    fake_service.approve = asyncio.Event()
    fake_service.approve.set()
    fake_service.provision_events = [
        *PROVISION_EVENTS[:3],
        CheckEvent("service_principal", "Create its service principal", CheckStatus.FAIL,
                   "Insufficient privileges to complete the operation.",
                   "Sign in with a Global Administrator.", "provisioning_failed"),
    ]
    fake_service.provision_error = DiagnosedProblem(
        "not_global_admin", "megan@contoso.com is not a Global Administrator.",
        "Sign in with an account that holds the Global Administrator role.")

    async def run_before(pilot: Pilot[Any]) -> None:
        await reach("ProvisioningScreen", "a")(pilot)
        await wait_until(pilot, lambda: pilot.app.screen.check_action("back", ()) is True)
        await pilot.pause()

    assert snap_compare(wizard(), terminal_size=(100, 30), run_before=run_before)


def test_quit_confirmation_during_provisioning(
    wizard: Wizard, fake_service: FakeConnectionService, snap_compare: Any
) -> None:
    fake_service.approve = asyncio.Event()
    fake_service.approve.set()
    fake_service.provision_block = asyncio.Event()
    fake_service.provision_events = PROVISION_EVENTS

    async def run_before(pilot: Pilot[Any]) -> None:
        await reach("ProvisioningScreen", "a")(pilot)
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: screen_name(pilot.app) == "ConfirmDialog")

    assert snap_compare(wizard(), terminal_size=(80, 24), run_before=run_before)


def test_manual_form_empty(wizard: Wizard, snap_compare: Any) -> None:
    assert snap_compare(wizard(), terminal_size=(80, 24),
                        run_before=reach("ManualScreen", "m", "i"))


def test_manual_form_typing_errors(wizard: Wizard, snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await reach("ManualScreen", "m", "i")(pilot)
        await pilot.press(*"it@contoso", "enter", *"not-a-guid", "enter")
        await pilot.pause()

    assert snap_compare(wizard(), terminal_size=(80, 24), run_before=run_before)


def _fill_manual(pfx: str) -> RunBefore:
    async def run_before(pilot: Pilot[Any]) -> None:
        await reach("ManualScreen", "m", "i")(pilot)
        screen = pilot.app.screen
        screen.query_one("#admin_email", Input).value = "it@contoso.com"
        screen.query_one("#app_id", Input).value = "3c9a4d0e-5b6f-4a7b-8c9d-0e1f2a3b4c5d"
        screen.query_one("#pfx_path", Input).value = pfx
        screen.query_one("#pfx_password", Input).focus()
        await pilot.press(*"secret", "enter")
        await wait_until(pilot, lambda: not getattr(screen, "_checking", False)
                         and screen.query_one("#manual-status").render() != "")
        await pilot.pause()

    return run_before


@pytest.fixture
def pfx_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """What the operator types for a PFX that exists (the fake service never opens it).

    The typed text shows in the snapshot, so it is the same on every run: ``~`` is a HOME in
    this test's own folder (a fixed folder in /tmp would belong to whoever ran first).
    """
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "app.pfx").write_bytes(b"fake")
    return "~/certs/app.pfx"


def test_manual_wrong_password(wizard: Wizard, fake_service: FakeConnectionService,
                               snap_compare: Any, pfx_file: str) -> None:
    fake_service.manual_events = [
        CheckEvent("certificate", "Certificate file opens and holds its private key",
                   CheckStatus.FAIL, "The password does not open the PFX file.",
                   "Type the password the PFX was exported with.", "pfx_wrong_password")]
    fake_service.manual_error = CertificateProblem(
        "pfx_wrong_password", "The password does not open the PFX file.",
        "Type the password the PFX was exported with.", {"field": "pfx_password"})
    assert snap_compare(wizard(), terminal_size=(80, 24), run_before=_fill_manual(pfx_file))


def test_manual_missing_permissions_shows_consent(
    wizard: Wizard, fake_service: FakeConnectionService, snap_compare: Any, pfx_file: str
) -> None:
    url = ("https://login.microsoftonline.com/8f3b6a52-0c1d-4e5f-9a7b-2c4d6e8f0a1b/"
           "adminconsent?client_id=3c9a4d0e-5b6f-4a7b-8c9d-0e1f2a3b4c5d")
    fake_service.manual_error = DiagnosedProblem(
        "missing_permissions", "The app lacks 3 application permissions.",
        "Grant admin consent for the app's API permissions.", {"admin_consent_url": url})
    run = _fill_manual(pfx_file)

    async def run_before(pilot: Pilot[Any]) -> None:
        await run(pilot)
        await wait_until(pilot, lambda: screen_name(pilot.app) == "ConsentScreen")

    assert snap_compare(wizard(), terminal_size=(100, 40), run_before=run_before)


def _connected(fake_service: FakeConnectionService) -> None:
    fake_service.approve = asyncio.Event()
    fake_service.approve.set()


def test_connected_dialog(wizard: Wizard, fake_service: FakeConnectionService,
                          snap_compare: Any) -> None:
    _connected(fake_service)
    assert snap_compare(wizard(), terminal_size=(80, 24),
                        run_before=reach("ConnectedDialog", "a"))


def test_services_screen(wizard: Wizard, fake_service: FakeConnectionService,
                         snap_compare: Any) -> None:
    _connected(fake_service)
    fake_service.result = connection_result(teams=Availability.UNKNOWN)

    async def run_before(pilot: Pilot[Any]) -> None:
        await reach("ConnectedDialog", "a")(pilot)
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen_name(pilot.app) == "ServicesScreen")

    assert snap_compare(wizard(), terminal_size=(80, 24), run_before=run_before)


def test_summary_with_untrusted_tenant_name(wizard: Wizard, fake_service: FakeConnectionService,
                                            snap_compare: Any) -> None:
    _connected(fake_service)
    fake_service.result = connection_result(tenant_name="[bold]Contoso[/ \x1b]52;c;SGk=\x07")
    # The summary shows where the profile goes: a fixed folder keeps the snapshot stable.
    fake_service.settings = replace(fake_service.settings, home=Path("/srv/vdc-tui"))

    async def run_before(pilot: Pilot[Any]) -> None:
        await reach("ConnectedDialog", "a")(pilot)
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen_name(pilot.app) == "ServicesScreen")
        await pilot.press("n")
        await wait_until(pilot, lambda: screen_name(pilot.app) == "SummaryScreen")
        await pilot.pause()

    assert snap_compare(wizard(tenant_name="[bold]Contoso[/"), terminal_size=(100, 30),
                        run_before=run_before)


def test_help_screen(wizard: Wizard, fake_service: FakeConnectionService,
                     snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await reach("DeviceCodeScreen", "a")(pilot)
        await wait_until(pilot, lambda: bool(fake_service.sessions))
        await pilot.press("f1")
        await wait_until(pilot, lambda: screen_name(pilot.app) == "HelpScreen")

    assert snap_compare(wizard(), terminal_size=(80, 24), run_before=run_before)


def test_terminal_too_small(wizard: Wizard, snap_compare: Any) -> None:
    assert snap_compare(wizard(), terminal_size=(70, 20), run_before=reach("ModeScreen"))


def test_certificate_picker(wizard: Wizard, snap_compare: Any, tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    certs = home / "certificates"
    (certs / "old").mkdir(parents=True)
    for name in ("contoso-backup.pfx", "fabrikam.P12", "notes.txt", ".hidden.pfx"):
        (certs / name).write_bytes(b"x")
    monkeypatch.setenv("HOME", str(home))

    async def run_before(pilot: Pilot[Any]) -> None:
        await reach("ManualScreen", "m", "i")(pilot)
        pilot.app.screen.query_one("#pfx_path", Input).value = str(certs)
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: screen_name(pilot.app) == "CertificatePicker")
        await pilot.pause()

    assert snap_compare(wizard(), terminal_size=(80, 24), run_before=run_before)


def test_store_passphrase_prompt_refuses_a_short_passphrase(wizard: Wizard,
                                                            snap_compare: Any) -> None:
    from vdc_tui.screens.passphrase import PassphraseScreen

    async def run_before(pilot: Pilot[Any]) -> None:
        await reach("ModeScreen")(pilot)
        pilot.app.push_screen(PassphraseScreen(new=True))
        await wait_until(pilot, lambda: screen_name(pilot.app) == "PassphraseScreen")
        await pilot.press(*"short", "enter", *"short", "enter")
        await pilot.pause()

    assert snap_compare(wizard(), terminal_size=(80, 24), run_before=run_before)
