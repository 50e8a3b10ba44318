"""Client credentials with a certificate assertion: success and every AADSTS failure."""

from __future__ import annotations

import time
from typing import Any

import pytest
from support.emulator import (
    DEMO_APP,
    DEMO_TENANT,
    StartEmulator,
    claims_of,
    client_credentials,
    load_pfx,
)

from vdc_tui.connect.permissions import load_catalog
from vdc_tui.emulator import EmulatorServer

OTHER_TENANT = "33333333-3333-4333-8333-333333333333"


def broken_apps() -> dict[str, Any]:
    """Contoso with apps broken in the ways manual mode must diagnose."""
    return {
        "seed": 7,
        "tenants": [
            {"id": DEMO_TENANT, "display_name": "Contoso Ltd", "domains": ["contoso.com"],
             "applications": [
                 {"display_name": "no roles", "app_id": "aaaaaaaa-0000-4000-8000-000000000001",
                  "certificates": [{"generate": "noroles"}]},
                 {"display_name": "no principal",
                  "app_id": "aaaaaaaa-0000-4000-8000-000000000002",
                  "certificates": [{"generate": "nosp"}]},
                 {"display_name": "expired key", "app_id": "aaaaaaaa-0000-4000-8000-000000000003",
                  "certificates": [{"generate": "expired", "not_before_days": -400,
                                    "not_after_days": -1}]},
                 {"display_name": "wrong cert", "app_id": "aaaaaaaa-0000-4000-8000-000000000004",
                  "certificates": [{"generate": "registered"},
                                   {"generate": "unregistered", "registered": False}]},
             ],
             "service_principals": [
                 {"app_id": "aaaaaaaa-0000-4000-8000-000000000001"},
                 {"app_id": "aaaaaaaa-0000-4000-8000-000000000003", "grants": ["catalog"]},
                 {"app_id": "aaaaaaaa-0000-4000-8000-000000000004", "grants": ["catalog"]},
             ]},
            {"id": OTHER_TENANT, "display_name": "Fabrikam", "domains": ["fabrikam.com"]},
        ],
    }


def _error(response: Any) -> tuple[int, str, int]:
    body = response.json()
    return response.status_code, body["error"], body["error_codes"][0]


def test_success_carries_granted_roles(demo_emulator: EmulatorServer) -> None:
    response = client_credentials(demo_emulator)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert "refresh_token" not in body and "id_token" not in body
    claims = claims_of(body["access_token"])
    graph_catalog = {p.value for p in load_catalog().permissions if p.resource.key == "graph"}
    assert set(claims["roles"]) == graph_catalog
    assert claims["appid"] == DEMO_APP and claims["tid"] == DEMO_TENANT
    assert claims["aud"] == demo_emulator.graph_url and claims["ver"] == "1.0"
    assert claims["idtyp"] == "app" and claims["oid"] == claims["sub"]


def test_exchange_scope_gives_exchange_roles(demo_emulator: EmulatorServer) -> None:
    response = client_credentials(demo_emulator, scope="https://outlook.office365.com/.default")
    roles = claims_of(response.json()["access_token"])["roles"]
    assert roles == ["Exchange.ManageAsApp", "full_access_as_app"]


@pytest.mark.parametrize("alg", ["RS256", "PS256"])
@pytest.mark.parametrize("thumbprint", ["x5t", "x5t#S256"])
@pytest.mark.parametrize("padded", [True, False])
def test_assertion_forms_are_accepted(demo_emulator: EmulatorServer, alg: str, thumbprint: str,
                                      padded: bool) -> None:
    response = client_credentials(demo_emulator, alg=alg, thumbprint=thumbprint, padded=padded)
    assert response.status_code == 200, response.text


def test_float_iat_exp_without_nbf(demo_emulator: EmulatorServer) -> None:
    response = client_credentials(demo_emulator, iat=time.time() + 0.123456)
    assert response.status_code == 200


def test_no_roles_means_claim_absent(start_emulator: StartEmulator) -> None:
    emu = start_emulator(broken_apps())
    key, cert = load_pfx(emu.certificate_path("noroles"), None)
    response = client_credentials(emu, client_id="aaaaaaaa-0000-4000-8000-000000000001",
                                  key=key, cert=cert)
    assert response.status_code == 200
    assert "roles" not in claims_of(response.json()["access_token"])


def test_unknown_app_is_700016_400(demo_emulator: EmulatorServer) -> None:
    response = client_credentials(demo_emulator, client_id="bbbbbbbb-0000-4000-8000-000000000000")
    assert _error(response) == (400, "unauthorized_client", 700016)


def test_app_of_another_tenant_is_700016(start_emulator: StartEmulator) -> None:
    emu = start_emulator(broken_apps())
    key, cert = load_pfx(emu.certificate_path("noroles"), None)
    response = client_credentials(emu, tenant=OTHER_TENANT, key=key, cert=cert,
                                  client_id="aaaaaaaa-0000-4000-8000-000000000001")
    assert _error(response) == (400, "unauthorized_client", 700016)


def test_missing_service_principal_is_7000229_401(start_emulator: StartEmulator) -> None:
    emu = start_emulator(broken_apps())
    key, cert = load_pfx(emu.certificate_path("nosp"), None)
    response = client_credentials(emu, client_id="aaaaaaaa-0000-4000-8000-000000000002",
                                  key=key, cert=cert)
    assert _error(response) == (401, "invalid_client", 7000229)


def test_unregistered_certificate_is_700027_key_not_found(start_emulator: StartEmulator) -> None:
    emu = start_emulator(broken_apps())
    key, cert = load_pfx(emu.certificate_path("unregistered"), None)
    response = client_credentials(emu, client_id="aaaaaaaa-0000-4000-8000-000000000004",
                                  key=key, cert=cert)
    assert _error(response) == (401, "invalid_client", 700027)
    assert "The key was not found." in response.json()["error_description"]


def test_expired_key_is_700027_key_expired(start_emulator: StartEmulator) -> None:
    emu = start_emulator(broken_apps())
    key, cert = load_pfx(emu.certificate_path("expired"), None)
    response = client_credentials(emu, client_id="aaaaaaaa-0000-4000-8000-000000000003",
                                  key=key, cert=cert)
    assert _error(response) == (401, "invalid_client", 700027)
    assert "The key used is expired." in response.json()["error_description"]


def test_wrong_private_key_is_invalid_signature(start_emulator: StartEmulator) -> None:
    emu = start_emulator(broken_apps())
    _, registered = load_pfx(emu.certificate_path("registered"), None)
    other_key, _ = load_pfx(emu.certificate_path("unregistered"), None)
    response = client_credentials(emu, client_id="aaaaaaaa-0000-4000-8000-000000000004",
                                  key=other_key, cert=registered)
    assert _error(response) == (401, "invalid_client", 700027)
    assert "did not match" in response.json()["error_description"]


def test_clock_skew_is_700024(start_emulator: StartEmulator) -> None:
    emu = start_emulator("demo", clock_offset=-3600)  # the emulator lives an hour behind
    response = client_credentials(emu)
    assert _error(response) == (401, "invalid_client", 700024)
    assert "assertion valid from 1970-01-01" in response.json()["error_description"]


def test_expired_assertion_is_700024(demo_emulator: EmulatorServer) -> None:
    response = client_credentials(demo_emulator, iat=time.time() - 3600)
    assert _error(response) == (401, "invalid_client", 700024)


def test_unknown_tenant_is_90002(demo_emulator: EmulatorServer) -> None:
    response = client_credentials(demo_emulator, tenant="fabrikam.example")
    assert _error(response) == (400, "invalid_request", 90002)


def test_scope_without_default_is_1002012(demo_emulator: EmulatorServer) -> None:
    response = client_credentials(demo_emulator, scope=f"{demo_emulator.graph_url}/User.Read.All")
    assert _error(response) == (400, "invalid_scope", 1002012)


def test_domain_form_audience_is_accepted(demo_emulator: EmulatorServer) -> None:
    response = client_credentials(demo_emulator, tenant="contoso.com")
    assert response.status_code == 200, response.text
