"""Services detection from subscribedSkus JSON, including the look-alike plans."""

from __future__ import annotations

from typing import Any

from vdc_tui.connect.entra.services import combine_detection, services_from_skus
from vdc_tui.connect.models import Availability


def plan(plan_id: str, name: str) -> dict[str, str]:
    return {"servicePlanId": plan_id, "servicePlanName": name}


EXO_P2 = plan("efb87545-963c-4e0d-99df-69c6916d9eb0", "EXCHANGE_S_ENTERPRISE")
EXO_FOUNDATION = plan("113feb6c-3fe4-4440-bddc-54d774bf0318", "EXCHANGE_S_FOUNDATION")
SPO_P2 = plan("5dbe027f-2339-4123-9542-606e4d348a72", "SHAREPOINTENTERPRISE")
SPO_WAC = plan("e95bec33-7c88-4a70-8e19-b10bd9d0c014", "SHAREPOINTWAC")
TEAMS1 = plan("57ff2da0-773e-42df-b2af-ffb7a2317929", "TEAMS1")
ODB = plan("afcafa6a-d966-4462-918c-ec0b4e0fe642", "ONEDRIVEENTERPRISE")


def sku(
    part: str, *plans: dict[str, str], status: str = "Enabled", plan_status: str = "Success"
) -> dict[str, Any]:
    return {
        "skuId": "00000000-0000-0000-0000-000000000001",
        "skuPartNumber": part,
        "capabilityStatus": status,
        "servicePlans": [dict(p, provisioningStatus=plan_status, appliesTo="User") for p in plans],
    }


def by_name(skus: list[dict[str, Any]]) -> dict[str, Availability]:
    return {s.service: s.availability for s in services_from_skus(skus)}


def test_e3_tenant_has_all_three_services() -> None:
    e3 = sku("ENTERPRISEPACK", EXO_P2, SPO_P2, TEAMS1, EXO_FOUNDATION, SPO_WAC)
    result = services_from_skus([e3])
    assert [s.service for s in result] == ["exchange", "sharepoint", "teams"]
    assert all(s.availability is Availability.AVAILABLE for s in result)
    assert "EXCHANGE_S_ENTERPRISE in ENTERPRISEPACK" in result[0].reason


def test_exchange_foundation_is_not_a_mailbox() -> None:
    result = services_from_skus([sku("AAD_PREMIUM", EXO_FOUNDATION)])
    exchange = result[0]
    assert exchange.availability is Availability.NOT_LICENSED
    assert "EXCHANGE_S_FOUNDATION" in exchange.reason
    assert "no mailbox" in exchange.reason


def test_office_for_the_web_is_not_sharepoint() -> None:
    result = services_from_skus([sku("SOMETHING", SPO_WAC, EXO_P2)])
    sharepoint = result[1]
    assert sharepoint.availability is Availability.NOT_LICENSED
    assert "SHAREPOINTWAC" in sharepoint.reason


def test_onedrive_plan_counts_for_the_sharepoint_switch() -> None:
    assert by_name([sku("ONEDRIVE", ODB)])["sharepoint"] is Availability.AVAILABLE


def test_plans_match_by_name_when_the_id_is_unknown() -> None:
    gov = plan("11111111-2222-3333-4444-555555555555", "EXCHANGE_S_ENTERPRISE_GOV")
    assert by_name([sku("ENTERPRISEPACK_GOV", gov)])["exchange"] is Availability.AVAILABLE


def test_suspended_subscription_does_not_count_and_says_why() -> None:
    result = services_from_skus([sku("TEAMS_ONLY", TEAMS1, status="Suspended")])
    teams = result[2]
    assert teams.availability is Availability.NOT_LICENSED
    assert "subscription Suspended" in teams.reason


def test_warning_subscription_still_counts() -> None:
    warning = sku("ENTERPRISEPACK", TEAMS1, status="Warning")
    assert by_name([warning])["teams"] is Availability.AVAILABLE


def test_disabled_plan_does_not_count() -> None:
    result = services_from_skus([sku("ENTERPRISEPACK", TEAMS1, plan_status="Disabled")])
    assert result[2].availability is Availability.NOT_LICENSED
    assert "plan Disabled" in result[2].reason


def test_pending_activation_counts_but_pending_provisioning_does_not() -> None:
    activation = sku("E", TEAMS1, plan_status="PendingActivation")
    provisioning = sku("E", TEAMS1, plan_status="PendingProvisioning")
    assert by_name([activation])["teams"] is Availability.AVAILABLE
    assert by_name([provisioning])["teams"] is Availability.NOT_LICENSED


def test_one_enabled_sku_is_enough_when_another_is_suspended() -> None:
    skus = [sku("OLD", TEAMS1, status="Suspended"), sku("NEW", TEAMS1)]
    assert by_name(skus)["teams"] is Availability.AVAILABLE


def test_no_skus_means_nothing_is_licensed() -> None:
    assert set(by_name([]).values()) == {Availability.NOT_LICENSED}


def test_control_characters_in_sku_names_are_scrubbed() -> None:
    result = services_from_skus([sku("EVIL\x1b[31m", EXO_P2)])
    assert "\x1b" not in result[0].reason


def test_subscriptions_unreadable_makes_every_service_unknown() -> None:
    detection = combine_detection(None, "HTTP 403 Authorization_RequestDenied", None, "HTTP 403")
    assert {s.availability for s in detection.services} == {Availability.UNKNOWN}
    assert "403" in detection.get("exchange").reason


def test_sharepoint_licensed_but_root_site_missing_is_unknown() -> None:
    detection = combine_detection([sku("E", SPO_P2)], None, None, "HTTP 404 itemNotFound")
    assert detection.get("sharepoint").availability is Availability.UNKNOWN
    assert "404" in detection.get("sharepoint").reason
    assert detection.sharepoint_url is None


def test_sharepoint_root_site_gives_the_host() -> None:
    root = {"id": "x", "webUrl": "https://contoso.sharepoint.com"}
    detection = combine_detection([sku("E", SPO_P2)], None, root, None)
    assert detection.get("sharepoint").availability is Availability.AVAILABLE
    assert detection.sharepoint_url == "https://contoso.sharepoint.com"
