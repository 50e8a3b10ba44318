"""Every manual-mode diagnosis, through the form: typed key by key, checked on the emulator.

The scenario is ``tests/scenarios/manual.json`` (the same apps as the service-layer tests of
``tests/connect/onboard/test_manual_diagnoses.py``): Contoso is the customer with one app
registration per way an operator's app can be wrong; Fabrikam is another organisation and a
tenant without a Teams licence. The checks only read, so one emulator serves the module;
the clock-skew test sets the emulator's clock offset and puts it back.

Each test starts the wizard on the real service layer, chooses Manual, accepts the notice,
types the four fields with Pilot, presses Ctrl+R and reads the screen: the checklist stops
at the right line with the error's message and its remediation, the field at fault has the
focus (when the error names one), and nothing typed is lost.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Checkbox, Input, Static

from vdc_tui.app import VdcApp
from vdc_tui.connect.models import CheckEvent, CheckStatus
from vdc_tui.connect.steps import MANUAL_STEPS
from vdc_tui.emulator import EmulatorServer, load_scenario
from vdc_tui.screens.manual import FIELDS
from vdc_tui.widgets import Checklist
from vdc_tui.widgets.checklist import ChecklistRow
from vdc_tui.widgets.text import abbreviate_home

from .conftest import screen_name, type_text, wait_until, wizard_on

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "manual.json"
DEMO_PFX = Path(__file__).resolve().parents[2] / "vdc_tui" / "emulator" / "scenarios" / (
    "demo-manual-app.pfx")
CONTOSO = "8f3b6a52-0c1d-4e5f-9a7b-2c4d6e8f0a1b"
FABRIKAM = "2d7c1e90-4b3a-4f6e-8d21-9a0b5c3e7f14"
STEP_ORDER = [step for step, _title in MANUAL_STEPS]


def app_id(n: int) -> str:
    """Application (client) ID of app ``n`` of the scenario."""
    return f"0a0a0a0a-0000-4000-8000-0000000000{n:02d}"


def object_id(n: int) -> str:
    """Object ID of app ``n`` (what operators paste by mistake)."""
    return f"0b0b0b0b-0000-4000-8000-0000000000{n:02d}"


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorServer]:
    """The manual-diagnoses scenario, shared by the module (tests only read)."""
    with EmulatorServer(load_scenario(SCENARIO), port=0) as server:
        yield server


@dataclass(frozen=True)
class Form:
    """What the operator types into the four fields."""

    admin_email: str
    app_id: str
    pfx_path: str
    pfx_password: str = ""

    def value(self, name: str) -> str:
        """The text typed into field ``name``."""
        text: str = getattr(self, name)
        return text


def form(emu: EmulatorServer, app: str, cert: str, email: str = "admin@contoso.com") -> Form:
    """The fields for a scenario app and one of its generated certificates."""
    return Form(email, app, str(emu.certificate_path(cert)))


async def open_manual_form(pilot: Pilot[Any], app: VdcApp) -> None:
    """Mode screen → Manual → "I understand" → the form."""
    await pilot.press("m")
    await wait_until(pilot, lambda: screen_name(app) == "ManualModeNotice")
    await pilot.press("i")
    await wait_until(pilot, lambda: screen_name(app) == "ManualScreen")


async def type_form(pilot: Pilot[Any], app: VdcApp, typed: Form) -> None:
    """Type every field key by key; Enter moves to the next field (the form's own order)."""
    assert app.focused is not None and app.focused.id == "admin_email"
    for name in FIELDS:
        assert app.focused is not None and app.focused.id == name, name
        if typed.value(name):
            await type_text(pilot, typed.value(name))
        if name != "pfx_password":
            await pilot.press("enter")


async def connect(pilot: Pilot[Any], app: VdcApp, typed: Form) -> None:
    """Open the form, type it, press Ctrl+R and wait until the check has ended."""
    await open_manual_form(pilot, app)
    await type_form(pilot, app, typed)
    await pilot.press("ctrl+r")
    await wait_until(pilot, lambda: screen_name(app) != "ManualScreen" or (
        any(e.status is CheckStatus.FAIL for e in checklist_events(app).values())
        and not shown(app, "#manual-status").startswith("Checking")), 30)
    await pilot.pause()


def checklist_events(app: VdcApp) -> dict[str, CheckEvent]:
    """The latest event of every checklist row of the form."""
    return app.screen.query_one(Checklist).events if screen_name(app) == "ManualScreen" else {}


def row_text(app: VdcApp, step: str) -> str:
    """The text a checklist row shows (title, detail, remediation)."""
    for row in app.screen.query(ChecklistRow):
        if row.event.step == step:
            return str(row.query_one(".checklist-text", Static).content)
    raise AssertionError(f"no checklist row {step!r}")


def shown(app: VdcApp, selector: str) -> str:
    """The text of a ``Static`` of the current screen."""
    return str(app.screen.query_one(selector, Static).content)


def on_screen(text: str) -> str:
    """``text`` as the screens write it: a path under ``$HOME`` is shown as ``~/…`` (a
    clone under the tester's home puts the demo PFX there)."""
    return abbreviate_home(text)


def assert_stopped_at(app: VdcApp, step: str, code: str) -> CheckEvent:
    """The checklist passed every line before ``step``, failed there, and went no further."""
    events = checklist_events(app)
    failed = events[step]
    assert (failed.status, failed.code) == (CheckStatus.FAIL, code), failed
    position = STEP_ORDER.index(step)
    for earlier in STEP_ORDER[:position]:
        assert events[earlier].status in (CheckStatus.PASS, CheckStatus.WARN), events[earlier]
    for later in STEP_ORDER[position + 1:]:
        assert events[later].status is CheckStatus.PENDING, events[later]
    text = row_text(app, step)
    assert failed.detail and on_screen(failed.detail) in text  # the error's message …
    assert failed.remediation and f"→ {on_screen(failed.remediation)}" in text  # … what to do
    return failed


def assert_fields_kept(app: VdcApp, typed: Form) -> None:
    """Nothing the operator typed was lost or rewritten."""
    for name in FIELDS:
        assert app.screen.query_one(f"#{name}", Input).value == typed.value(name), name


def assert_focus_on(app: VdcApp, field: str | None, failed: CheckEvent) -> None:
    """The field at fault has the focus and says why; otherwise the status line does."""
    if field is not None:
        assert app.focused is not None and app.focused.id == field
        assert on_screen(failed.detail) in shown(app, f"#{field}-error")
        assert app.screen.query_one(f"#{field}-error").display
        assert "Correct the field marked in red" in shown(app, "#manual-status")
    else:
        assert on_screen(failed.detail) in shown(app, "#manual-status")
        assert on_screen(failed.remediation) in shown(app, "#manual-status")
    others = [name for name in FIELDS if name != field]
    assert not any(app.screen.query_one(f"#{name}-error").display for name in others)


#: What the wizard asks before any check (while the first screen is read): tenant-independent.
WARM_UP = "/organizations/v2.0/.well-known/openid-configuration"


def requests_since(emu: EmulatorServer, start: int) -> list[tuple[str, str, int]]:
    """Requests the emulator answered since ``start``, except the wizard's warm-up."""
    return [(m, path, status) for m, path, status in list(emu.request_log)[start:]
            if path != WARM_UP]


@dataclass(frozen=True)
class Diagnosis:
    """One broken app registration of the scenario and what the form must say about it."""

    app: str
    cert: str
    step: str
    code: str
    field: str | None
    says: tuple[str, ...] = ()
    email: str = "admin@contoso.com"


DIAGNOSES = {
    "app registered in another tenant": Diagnosis(
        app_id(20), "foreign", "sign_in", "app_not_found_in_tenant", "app_id",
        (f"tenant contoso.com ({CONTOSO})",)),
    "object id instead of the application id": Diagnosis(
        object_id(1), "good", "sign_in", "app_not_found_in_tenant", "app_id", ("Object ID",)),
    "enterprise app of another tenant": Diagnosis(
        app_id(21), "partner", "registration", "enterprise_app_not_registration", "app_id",
        (FABRIKAM, "Enterprise application")),
    "app without a service principal": Diagnosis(
        app_id(8), "nosp", "sign_in", "app_missing_service_principal", "app_id",
        ("no service principal",)),
    "certificate not registered on the app": Diagnosis(
        app_id(3), "unregistered", "sign_in", "certificate_not_registered", "pfx_path",
        ("not registered", "Upload the certificate")),
    "expired key on the app": Diagnosis(
        app_id(4), "expiredkey", "sign_in", "certificate_expired", "pfx_path",
        ("Create a new certificate",)),
    "unknown domain": Diagnosis(
        app_id(1), "good", "tenant", "tenant_not_found", "admin_email",
        ("nowhere.example",), email="admin@nowhere.example"),
    "admin email not a user of the tenant": Diagnosis(
        app_id(1), "good", "admin_email", "user_not_in_tenant", "admin_email",
        ("nobody@contoso.com is not a user",), email="nobody@contoso.com"),
}


@pytest.mark.parametrize("case", list(DIAGNOSES.values()), ids=list(DIAGNOSES))
async def test_broken_app_stops_at_its_line_with_the_fix(
    emu: EmulatorServer, tmp_path: Path, case: Diagnosis
) -> None:
    typed = form(emu, case.app, case.cert, case.email)
    app = wizard_on(emu, tmp_path)
    async with app.run_test(size=(100, 40)) as pilot:
        await connect(pilot, app, typed)
        failed = assert_stopped_at(app, case.step, case.code)
        for words in case.says:
            assert words in failed.detail + failed.remediation, words
        assert_focus_on(app, case.field, failed)
        assert_fields_kept(app, typed)
        assert app.screen.check_action("consent", ()) is False  # only after missing consent


async def test_a_loosely_typed_object_id_is_kept_as_typed(
    emu: EmulatorServer, tmp_path: Path
) -> None:
    """Braces and upper case are forgiven for the check; the field keeps what was typed."""
    typed = form(emu, "{" + object_id(1).upper() + "}", "good")
    app = wizard_on(emu, tmp_path)
    async with app.run_test(size=(100, 40)) as pilot:
        await connect(pilot, app, typed)
        failed = assert_stopped_at(app, "sign_in", "app_not_found_in_tenant")
        assert object_id(1) in failed.detail
        assert_focus_on(app, "app_id", failed)
        assert_fields_kept(app, typed)


async def test_clock_skew_names_both_clocks_and_no_field(
    emu: EmulatorServer, tmp_path: Path
) -> None:
    typed = form(emu, app_id(1), "good")
    emu.faults.clock_offset = 3600
    try:
        app = wizard_on(emu, tmp_path)
        async with app.run_test(size=(100, 40)) as pilot:
            await connect(pilot, app, typed)
            failed = assert_stopped_at(app, "sign_in", "clock_skew")
            assert "clock" in failed.detail and "This computer says" in failed.detail
            assert_focus_on(app, None, failed)
            assert_fields_kept(app, typed)
    finally:
        emu.faults.clock_offset = 0


CONSENT = {
    "no consent at all": (app_id(5), "noconsent", ("20 required application permissions",)),
    "some permissions not consented": (
        app_id(6), "partial",
        ("added but not consented", "Sites.Read.All", "full_access_as_app")),
    "some permissions not added": (
        app_id(7), "notadded",
        ("not added to the app: Microsoft Graph: ChannelMessage.Read.All",
         "added but not consented: Microsoft Graph: Group.Read.All", "Add a permission")),
}


@pytest.mark.parametrize(("app_n", "cert", "says"), list(CONSENT.values()), ids=list(CONSENT))
async def test_missing_permissions_show_the_admin_consent_address(
    emu: EmulatorServer, tmp_path: Path, app_n: str, cert: str, says: tuple[str, ...]
) -> None:
    typed = form(emu, app_n, cert)
    consent_url = f"{emu.authority_host}/{CONTOSO}/adminconsent?client_id={app_n}"
    app = wizard_on(emu, tmp_path)
    async with app.run_test(size=(100, 40)) as pilot:
        await connect(pilot, app, typed)
        # The consent address opens by itself over the form …
        await wait_until(pilot, lambda: screen_name(app) == "ConsentScreen")
        assert shown(app, "#consent-url") == consent_url
        assert app.screen.query_one("#consent-qr").data == consent_url  # type: ignore[attr-defined]
        await pilot.press("escape")
        await wait_until(pilot, lambda: screen_name(app) == "ManualScreen")
        failed = assert_stopped_at(app, "permissions", "missing_permissions")
        for words in says:
            assert words in failed.detail + failed.remediation, words
        assert_focus_on(app, None, failed)
        assert_fields_kept(app, typed)
        # … and Ctrl+G brings it back.
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: screen_name(app) == "ConsentScreen")
        assert shown(app, "#consent-url") == consent_url


async def test_wrong_pfx_password_stops_at_the_certificate_and_focuses_the_password(
    emu: EmulatorServer, tmp_path: Path
) -> None:
    typed = Form("admin@contoso.com", app_id(1), str(DEMO_PFX), "not-the-password")
    before = len(emu.request_log)
    app = wizard_on(emu, tmp_path)
    async with app.run_test(size=(100, 40)) as pilot:
        await connect(pilot, app, typed)
        failed = assert_stopped_at(app, "certificate", "pfx_wrong_password")
        assert_focus_on(app, "pfx_password", failed)
        assert_fields_kept(app, typed)
        assert "not-the-password" not in failed.detail + failed.remediation
    assert requests_since(emu, before) == []  # the PFX is opened before anything is sent


async def test_missing_pfx_file_is_caught_by_the_form_before_any_check(
    emu: EmulatorServer, tmp_path: Path
) -> None:
    missing = tmp_path / "certs" / "gone.pfx"
    typed = Form("admin@contoso.com", app_id(1), str(missing))
    before = len(emu.request_log)
    app = wizard_on(emu, tmp_path)
    async with app.run_test(size=(100, 40)) as pilot:
        await open_manual_form(pilot, app)
        await type_form(pilot, app, typed)
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: bool(app.screen.query_one("#pfx_path-error").display))
        assert app.focused is not None and app.focused.id == "pfx_path"
        assert "No such file" in shown(app, "#pfx_path-error")
        assert "gone.pfx" in shown(app, "#pfx_path-error")
        assert not app.screen.query_one(Checklist).display  # no check was started
        assert_fields_kept(app, typed)
    assert requests_since(emu, before) == []


async def test_tenant_without_teams_connects_and_the_services_step_refuses_teams(
    emu: EmulatorServer, tmp_path: Path
) -> None:
    """The form has no service choice: the wizard wants every service (Teams included) by
    default, the check takes those the tenant has, and the services step refuses Teams."""
    typed = form(emu, app_id(22), "fabgood", "admin@fabrikam.com")
    app = wizard_on(emu, tmp_path)
    async with app.run_test(size=(100, 40)) as pilot:
        await connect(pilot, app, typed)
        await wait_until(pilot, lambda: screen_name(app) == "ConnectedDialog", 30)
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen_name(app) == "ServicesScreen")
        teams = app.screen.query_one("#svc-teams", Checkbox)
        assert teams.disabled and not teams.value
        assert teams.parent is not None
        why = teams.parent.query_one(".service-why", Static)
        assert "not licensed in this tenant" in str(why.content)
        await pilot.click("#svc-teams")
        assert not teams.value
        await pilot.press("n")
        await wait_until(pilot, lambda: screen_name(app) == "SummaryScreen")
        await pilot.press("f")
        await wait_until(pilot, lambda: app.return_value is not None, 20)
    assert app.return_value is not None
    profile = json.loads(app.return_value.read_text())
    assert profile["tenant"]["id"] == FABRIKAM
    assert profile["services"]["available"] == ["exchange", "sharepoint"]
    assert profile["services"]["selected"] == ["exchange", "sharepoint"]
