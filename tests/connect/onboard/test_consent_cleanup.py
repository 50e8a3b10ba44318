"""Automatic mode's last step: no onboarding scope stays in the sign-in client's delegated
grants on Microsoft Graph; scopes consented before stay (entra/consent.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from support.provisioning import CONTOSO, contoso, managed_apps, provision

from vdc_tui.connect.models import CheckEvent, CheckStatus
from vdc_tui.connect.permissions import load_catalog
from vdc_tui.emulator import EmulatorServer, load_scenario

ONBOARDING = set(load_catalog().delegated_sign_in_scopes)
CLI = "14d82eec-204b-4c2f-b7e8-296a70dab67e"


def _scenario(grants: list[dict[str, Any]], *, for_org: bool = False) -> dict[str, Any]:
    raw: dict[str, Any] = contoso()
    raw["tenants"][0]["delegated_grants"] = grants
    raw["tenants"][0]["users"].append({"upn": "lee@contoso.com", "display_name": "Lee Gu"})
    raw["device_code"]["consent_for_organization"] = for_org
    return raw


def _grants(emu: EmulatorServer) -> dict[tuple[str, str | None], list[str]]:
    """The tenant's grants by (consent type, user's UPN) → scopes."""
    tenant = emu.state.tenants[CONTOSO]
    with emu.state.lock:
        return {(g.consent_type,
                 tenant.users[g.principal_id].upn if g.principal_id else None): g.scopes
                for g in emu.state.delegated_grants.values()}


def _final(events: list[CheckEvent]) -> CheckEvent:
    return [e for e in events if e.step == "consent"][-1]


async def test_onboarding_scopes_leave_the_admins_grant_and_earlier_ones_stay(
        tmp_path: Path) -> None:
    raw = _scenario([{"consent_type": "Principal", "principal": "admin@contoso.com",
                      "scope": "User.Read Mail.Read"}])
    with EmulatorServer(load_scenario(raw), port=0) as emu:
        events: list[CheckEvent] = []
        result = await provision(emu, tmp_path, events)
        assert _grants(emu) == {("Principal", "admin@contoso.com"): ["User.Read", "Mail.Read"]}
    consent = result.extra["delegated_consent"]
    assert consent["client_id"] == CLI
    assert set(consent["removed"]) == ONBOARDING and consent["kept"] == ["User.Read",
                                                                         "Mail.Read"]
    assert [(g["consent_type"], g["action"]) for g in consent["grants"]] == [
        ("Principal", "patched")]
    assert _final(events).status is CheckStatus.PASS
    assert "kept User.Read Mail.Read" in _final(events).detail


async def test_a_grant_holding_only_onboarding_scopes_is_deleted(tmp_path: Path) -> None:
    with EmulatorServer(load_scenario(_scenario([])), port=0) as emu:
        result = await provision(emu, tmp_path)
        assert _grants(emu) == {}
        # The client's principal the sign-in created stays (Microsoft's, shared).
        assert emu.state.principal_by_app_id(CONTOSO, CLI, now=None) is not None
    assert [g["action"] for g in result.extra["delegated_consent"]["grants"]] == ["deleted"]


async def test_principal_and_allprincipals_grants_both_lose_the_onboarding_scopes(
        tmp_path: Path) -> None:
    raw = _scenario([
        {"consent_type": "AllPrincipals", "scope": "User.Read"},
        # Onboarded before this change: the admin's own grant still holds one.
        {"consent_type": "Principal", "principal": "admin@contoso.com",
         "scope": "Mail.Read Directory.ReadWrite.All"},
        # Another user's grant is not this sign-in's: left alone.
        {"consent_type": "Principal", "principal": "lee@contoso.com",
         "scope": "User.Read Application.ReadWrite.All"},
    ], for_org=True)
    with EmulatorServer(load_scenario(raw), port=0) as emu:
        result = await provision(emu, tmp_path)
        assert _grants(emu) == {
            ("AllPrincipals", None): ["User.Read"],
            ("Principal", "admin@contoso.com"): ["Mail.Read"],
            ("Principal", "lee@contoso.com"): ["User.Read", "Application.ReadWrite.All"],
        }
    grants = result.extra["delegated_consent"]["grants"]
    assert sorted((g["consent_type"], g["action"]) for g in grants) == [
        ("AllPrincipals", "patched"), ("Principal", "patched")]


async def test_keep_consent_leaves_the_grant_and_says_what_stays(tmp_path: Path) -> None:
    with EmulatorServer(load_scenario(_scenario([])), port=0) as emu:
        events: list[CheckEvent] = []
        result = await provision(emu, tmp_path, events, keep_consent=True)
        assert set(_grants(emu)[("Principal", "admin@contoso.com")]) == ONBOARDING
    consent = result.extra["delegated_consent"]
    assert consent["skipped"] == "keep_consent" and consent["grants"] == []
    assert set(consent["standing"]) == ONBOARDING
    final = _final(events)
    assert final.status is CheckStatus.SKIPPED and "--keep-consent" in final.detail
    assert "Directory.ReadWrite.All" in final.detail


async def test_a_failed_cleanup_is_a_warning_and_the_connection_stands(tmp_path: Path) -> None:
    async def instant(_: float) -> None:
        return None

    with EmulatorServer(load_scenario(_scenario([])), port=0) as emu:
        emu.faults.update(unavailable_every=1, unavailable_path="/v1.0/oauth2PermissionGrants*")
        events: list[CheckEvent] = []
        result = await provision(emu, tmp_path, events, sleep=instant)
        (app,) = managed_apps(emu)
        assert app.app_id == result.app_id  # nothing undone
        assert set(_grants(emu)[("Principal", "admin@contoso.com")]) == ONBOARDING
    final = _final(events)
    assert final.status is CheckStatus.WARN
    assert f"vdc-tui connections repair {CONTOSO}" in final.remediation
    assert final in result.warnings
    consent = result.extra["delegated_consent"]
    assert consent["error"]["code"] == "service_unavailable"
    assert set(consent["standing"]) == ONBOARDING


async def test_the_service_drops_the_admins_cached_tokens_after_the_run(
        tmp_path: Path) -> None:
    from vdc_tui.connect.microsoft.clouds import server_endpoints
    from vdc_tui.connect.service import ConnectionService, ConnectSettings

    with EmulatorServer(load_scenario(_scenario([])), port=0) as emu:
        service = ConnectionService(ConnectSettings(endpoints=server_endpoints(emu),
                                                    home=tmp_path))
        try:
            session = await service.start_device_code()
            emu.approve_device_code(session.code.user_code, "admin@contoso.com")
            token = await service.wait_for_sign_in(session)
            pca = service.identity._pca
            assert pca is not None and pca.get_accounts()  # MSAL cached the admin
            await service.provision(token)
            assert pca.get_accounts() == []
        finally:
            await service.aclose()
