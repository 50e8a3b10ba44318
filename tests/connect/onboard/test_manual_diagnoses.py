"""Manual mode against the emulator: one scenario app per diagnosis.

The scenario is ``tests/scenarios/manual.json``: Contoso (the customer) holds one app
registration per way an operator's app can be wrong; Fabrikam is another organisation (a
wrong tenant, a multi-tenant app) and a tenant without a Teams licence. The checks only
read, so one emulator serves the whole module.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from vdc_tui.connect.errors import VdcError
from vdc_tui.connect.microsoft.clouds import server_endpoints
from vdc_tui.connect.microsoft.identity import IdentityClient
from vdc_tui.connect.models import CheckEvent, CheckStatus, ConnectionResult
from vdc_tui.connect.onboard.manual import ManualInput, ManualValidator
from vdc_tui.connect.service import DEFAULT_PUBLIC_CLIENT_ID
from vdc_tui.emulator import EmulatorServer, load_scenario

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "manual.json"
CONTOSO = "8f3b6a52-0c1d-4e5f-9a7b-2c4d6e8f0a1b"
FABRIKAM = "2d7c1e90-4b3a-4f6e-8d21-9a0b5c3e7f14"
ALL = frozenset({"exchange", "sharepoint", "teams"})


def app_id(n: int) -> str:
    """Application (client) ID of app ``n`` of the scenario."""
    return f"0a0a0a0a-0000-4000-8000-0000000000{n:02d}"


def object_id(n: int) -> str:
    """Object ID of app ``n`` (what operators paste by mistake)."""
    return f"0b0b0b0b-0000-4000-8000-0000000000{n:02d}"


@pytest.fixture(scope="module")
def emu() -> Iterator[Any]:
    with EmulatorServer(load_scenario(SCENARIO), port=0) as server:
        yield server


@pytest.fixture
async def validator(emu: Any) -> AsyncIterator[ManualValidator]:
    identity = IdentityClient(server_endpoints(emu), client_id=DEFAULT_PUBLIC_CLIENT_ID)
    try:
        yield ManualValidator(server_endpoints(emu), identity)
    finally:
        await identity.aclose()


async def check(
    emu: Any,
    validator: ManualValidator,
    *,
    app: str,
    cert: str,
    email: str = "admin@contoso.com",
    services: frozenset[str] = ALL,
) -> tuple[ConnectionResult | VdcError, list[CheckEvent]]:
    events: list[CheckEvent] = []
    manual = ManualInput(email, app, str(emu.certificate_path(cert)), None, services)
    try:
        return await validator.run(manual, events.append), events
    except VdcError as exc:
        return exc, events


def assert_failed(
    outcome: ConnectionResult | VdcError, events: list[CheckEvent], code: str, step: str
) -> VdcError:
    assert isinstance(outcome, VdcError), outcome
    assert outcome.code == code
    assert outcome.details["step"] == step
    assert outcome.remediation
    failed = [e for e in events if e.status is CheckStatus.FAIL]
    assert [(e.step, e.code) for e in failed] == [(step, code)]
    assert failed[0].remediation == outcome.remediation
    return outcome


async def test_a_complete_app_registration_connects(emu: Any, validator: ManualValidator) -> None:
    result, events = await check(emu, validator, app=app_id(1), cert="good")
    assert isinstance(result, ConnectionResult), result
    assert result.mode == "manual"
    assert result.tenant.id == CONTOSO and result.tenant.name == "Contoso Ltd"
    assert result.tenant.default_domain == "contoso.com"
    assert result.app_object_id == object_id(1)
    assert len(result.permissions.granted) == 20
    assert result.available_services == ("exchange", "sharepoint", "teams")
    # The key travels in memory without the operator's password (the profile store encrypts
    # it under the store passphrase): the same key and certificate as the operator's file.
    from cryptography.hazmat.primitives.serialization import pkcs12

    kept = pkcs12.load_pkcs12(result.certificate_pfx, None)
    given = pkcs12.load_pkcs12(emu.certificate_path("good").read_bytes(), None)
    assert kept.cert is not None and given.cert is not None
    assert kept.cert.certificate == given.cert.certificate
    assert kept.key is not None and given.key is not None
    assert kept.key.private_numbers() == given.key.private_numbers()  # type: ignore[union-attr]
    assert not result.warnings
    final = {e.step: e.status for e in events if e.status is not CheckStatus.RUNNING}
    assert list(final) == [
        "certificate",
        "tenant",
        "sign_in",
        "registration",
        "permissions",
        "admin_email",
        "services",
    ]
    assert set(final.values()) == {CheckStatus.PASS}
    cert_line = next(e for e in events if e.step == "certificate" and e.status is CheckStatus.PASS)
    assert (
        result.certificate.sha1 in cert_line.detail
        and result.certificate.sha256 in cert_line.detail
    )


async def test_app_id_with_braces_and_spaces_is_forgiven(
    emu: Any, validator: ManualValidator
) -> None:
    result, _ = await check(emu, validator, app="{ " + app_id(1).upper() + " }", cert="good")
    assert isinstance(result, ConnectionResult) and result.app_id == app_id(1)


async def test_missing_global_reader_is_a_warning_with_its_fix(
    emu: Any, validator: ManualValidator
) -> None:
    result, _ = await check(emu, validator, app=app_id(2), cert="noreader")
    assert isinstance(result, ConnectionResult), result
    assert [w.step for w in result.warnings] == ["permissions"]
    assert "Global Reader" in result.warnings[0].detail
    assert "Roles and administrators" in result.warnings[0].remediation


async def test_app_registered_in_another_tenant(emu: Any, validator: ManualValidator) -> None:
    outcome, events = await check(emu, validator, app=app_id(20), cert="foreign")
    error = assert_failed(outcome, events, "app_not_found_in_tenant", "sign_in")
    assert CONTOSO in error.message
    # The tenant that was asked is named by the email's domain too.
    assert "tenant contoso.com (" in error.message
    assert error.details["field"] == "app_id"


async def test_object_id_instead_of_application_id(emu: Any, validator: ManualValidator) -> None:
    outcome, events = await check(emu, validator, app=object_id(1), cert="good")
    error = assert_failed(outcome, events, "app_not_found_in_tenant", "sign_in")
    assert "Object ID" in error.remediation


async def test_enterprise_app_of_another_tenant(emu: Any, validator: ManualValidator) -> None:
    outcome, events = await check(emu, validator, app=app_id(21), cert="partner")
    error = assert_failed(outcome, events, "enterprise_app_not_registration", "registration")
    assert error.details["owner_tenant_id"] == FABRIKAM
    assert FABRIKAM in error.message


async def test_app_without_service_principal(emu: Any, validator: ManualValidator) -> None:
    outcome, events = await check(emu, validator, app=app_id(8), cert="nosp")
    assert_failed(outcome, events, "app_missing_service_principal", "sign_in")


async def test_certificate_not_registered_on_the_app(emu: Any, validator: ManualValidator) -> None:
    outcome, events = await check(emu, validator, app=app_id(3), cert="unregistered")
    error = assert_failed(outcome, events, "certificate_not_registered", "sign_in")
    cert_line = next(e for e in events if e.step == "certificate" and e.status is CheckStatus.PASS)
    assert error.details["pfx_sha1"] in cert_line.detail
    assert error.details["pfx_sha1"] in error.remediation


async def test_expired_key_on_the_app(emu: Any, validator: ManualValidator) -> None:
    outcome, events = await check(emu, validator, app=app_id(4), cert="expiredkey")
    assert_failed(outcome, events, "certificate_expired", "sign_in")


async def test_no_consent_at_all(emu: Any, validator: ManualValidator) -> None:
    outcome, events = await check(emu, validator, app=app_id(5), cert="noconsent")
    error = assert_failed(outcome, events, "missing_permissions", "permissions")
    assert set(error.details["missing"]) == {
        "Microsoft Graph",
        "Office 365 Exchange Online",
        "Office 365 SharePoint Online",
    }
    assert sum(len(v) for v in error.details["missing"].values()) == 20
    # Without any permission the app cannot read its own registration, so "not added" and
    # "not consented" cannot be told apart; the consent address fixes both.
    assert error.details["not_added"] is None and error.details["not_consented"] is None
    assert error.details["admin_consent_url"].endswith(f"adminconsent?client_id={app_id(5)}")
    assert error.details["admin_consent_url"] in error.remediation


async def test_some_permissions_not_consented(emu: Any, validator: ManualValidator) -> None:
    outcome, events = await check(emu, validator, app=app_id(6), cert="partial")
    error = assert_failed(outcome, events, "missing_permissions", "permissions")
    assert error.details["missing"] == {
        "Microsoft Graph": ["Sites.Read.All"],
        "Office 365 Exchange Online": ["full_access_as_app"],
    }
    assert error.details["not_added"] == []
    assert "Sites.Read.All" in error.message and "full_access_as_app" in error.message
    assert "added but not consented" in error.message
    assert error.remediation.startswith("Grant admin consent")


async def test_some_permissions_not_added_to_the_app(emu: Any, validator: ManualValidator) -> None:
    outcome, events = await check(emu, validator, app=app_id(7), cert="notadded")
    error = assert_failed(outcome, events, "missing_permissions", "permissions")
    assert sorted(error.details["not_added"]) == [
        "Microsoft Graph: ChannelMessage.Read.All",
        "Office 365 SharePoint Online: Sites.FullControl.All",
    ]
    assert error.details["not_consented"] == ["Microsoft Graph: Group.Read.All"]
    assert "Add a permission" in error.remediation
    # The message tells the two halves of the fix apart, per API.
    assert "not added to the app: Microsoft Graph: ChannelMessage.Read.All; " in error.message
    assert "added but not consented: Microsoft Graph: Group.Read.All" in error.message


async def test_clock_skew(emu: Any, validator: ManualValidator) -> None:
    emu.faults.clock_offset = 3600
    try:
        outcome, events = await check(emu, validator, app=app_id(1), cert="good")
    finally:
        emu.faults.clock_offset = 0
    error = assert_failed(outcome, events, "clock_skew", "sign_in")
    assert error.details["local_time"] and error.details["server_time"]


async def test_unknown_domain(emu: Any, validator: ManualValidator) -> None:
    outcome, events = await check(
        emu, validator, app=app_id(1), cert="good", email="admin@nowhere.example"
    )
    assert_failed(outcome, events, "tenant_not_found", "tenant")


async def test_admin_email_not_a_user_of_the_tenant(emu: Any, validator: ManualValidator) -> None:
    outcome, events = await check(
        emu, validator, app=app_id(1), cert="good", email="nobody@contoso.com"
    )
    error = assert_failed(outcome, events, "user_not_in_tenant", "admin_email")
    assert error.details["field"] == "admin_email"


async def test_teams_selected_in_a_tenant_without_teams(
    emu: Any, validator: ManualValidator
) -> None:
    outcome, events = await check(
        emu, validator, app=app_id(22), cert="fabgood", email="admin@fabrikam.com"
    )
    error = assert_failed(outcome, events, "invalid_argument", "services")
    assert error.details["refused"] == ["teams"]
    assert error.details["field"] == "services"
    assert "Microsoft Teams" in error.message


async def test_same_tenant_without_teams_selected_connects(
    emu: Any, validator: ManualValidator
) -> None:
    result, _ = await check(
        emu,
        validator,
        app=app_id(22),
        cert="fabgood",
        email="admin@fabrikam.com",
        services=frozenset({"exchange", "sharepoint"}),
    )
    assert isinstance(result, ConnectionResult), result
    assert result.available_services == ("exchange", "sharepoint")


@pytest.mark.parametrize(
    ("email", "app", "field"),
    [("admin-at-contoso.com", app_id(1), "admin_email"), ("admin@contoso.com", "12345", "app_id")],
)
async def test_form_mistakes_are_caught_before_anything_is_sent(
    emu: Any, validator: ManualValidator, email: str, app: str, field: str
) -> None:
    before = len(emu.request_log)
    outcome, _ = await check(emu, validator, app=app, cert="good", email=email)
    assert isinstance(outcome, VdcError)
    assert (outcome.code, outcome.details["field"]) == ("invalid_argument", field)
    assert len(emu.request_log) == before
