"""Device authorization and the device-code grant: every state, over HTTPS."""

from __future__ import annotations

import re
from typing import Any

import pytest
from support.emulator import (
    DEMO_TENANT,
    DEVICE_GRANT,
    StartEmulator,
    claims_of,
    client,
    device_login,
)

from vdc_tui.emulator import EmulatorServer, FakeClock

CLIENT = "14d82eec-204b-4c2f-b7e8-296a70dab67e"


def _start(emu: EmulatorServer, tenant: str = "organizations") -> dict[str, Any]:
    with client(emu) as http:
        response = http.post(f"/{tenant}/oauth2/v2.0/devicecode", data={
            "client_id": CLIENT, "scope": "User.Read offline_access openid profile"})
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def _poll(emu: EmulatorServer, device_code: str, tenant: str = "organizations") -> dict[str, Any]:
    with client(emu) as http:
        response = http.post(f"/{tenant}/oauth2/v2.0/token", data={
            "grant_type": DEVICE_GRANT, "client_id": CLIENT, "device_code": device_code,
            "client_info": "1"})
    data: dict[str, Any] = response.json()
    data["_status"] = str(response.status_code)
    return data


def test_device_code_answer_has_entra_fields(start_emulator: StartEmulator) -> None:
    emu = start_emulator("demo")
    code = _start(emu)
    assert code["user_code"] == "CWE5QHLNM"  # fixed by the demo scenario
    assert code["verification_uri"] == emu.device_login_url
    assert code["expires_in"] == 900 and code["interval"] == 5
    assert "verification_uri_complete" not in code
    assert "enter the code CWE5QHLNM" in code["message"]


def test_pending_then_approved_then_token(start_emulator: StartEmulator) -> None:
    emu = start_emulator("demo")
    code = _start(emu)
    pending = _poll(emu, code["device_code"])
    assert pending["_status"] == "400"
    assert pending["error"] == "authorization_pending"
    assert pending["error_codes"] == [70016]
    emu.approve_device_code(code["user_code"], "admin@contoso.com")
    token = _poll(emu, code["device_code"])
    assert token["_status"] == "200", token
    claims = claims_of(token["access_token"])
    assert claims["upn"] == "admin@contoso.com" and claims["tid"] == DEMO_TENANT
    assert "62e90394-69f5-4237-9190-012177145e10" in claims["wids"]
    assert claims["scp"] == "User.Read" and claims["idtyp"] == "user"
    id_claims = claims_of(token["id_token"])
    assert id_claims["preferred_username"] == "admin@contoso.com" and id_claims["aud"] == CLIENT
    assert claims_of("x." + token["client_info"] + ".y") == {"uid": claims["oid"],
                                                           "utid": DEMO_TENANT}
    assert token["refresh_token"]


def test_code_is_single_use(start_emulator: StartEmulator) -> None:
    emu = start_emulator("demo")
    code = _start(emu)
    emu.approve_device_code(code["user_code"], "lee@contoso.com")
    assert _poll(emu, code["device_code"])["_status"] == "200"
    again = _poll(emu, code["device_code"])
    assert again["_status"] == "400" and again["error"] == "invalid_grant"
    with pytest.raises(ValueError):
        emu.approve_device_code(code["user_code"], "lee@contoso.com")


def test_declined(start_emulator: StartEmulator) -> None:
    emu = start_emulator("demo")
    code = _start(emu)
    emu.decline_device_code(code["user_code"])
    assert _poll(emu, code["device_code"])["error"] == "authorization_declined"


def test_expired_after_lifetime_on_fake_clock(start_emulator: StartEmulator) -> None:
    clock = FakeClock()
    emu = start_emulator("demo", clock=clock, device_code_lifetime=60)
    code = _start(emu)
    assert code["expires_in"] == 60
    clock.advance(61)
    answer = _poll(emu, code["device_code"])
    assert answer["error"] == "expired_token"
    assert answer["error_description"].startswith("AADSTS70020:")
    with pytest.raises(ValueError, match="expired"):
        emu.approve_device_code(code["user_code"], "admin@contoso.com")


def test_slow_down_only_when_asked(start_emulator: StartEmulator) -> None:
    emu = start_emulator("demo", slow_down=1, device_code_interval=1)
    code = _start(emu)
    assert code["interval"] == 1
    assert _poll(emu, code["device_code"])["error"] == "slow_down"
    assert _poll(emu, code["device_code"])["error"] == "authorization_pending"


def test_bad_device_code(demo_emulator: EmulatorServer) -> None:
    answer = _poll(demo_emulator, "not-a-code")
    assert answer["error"] == "bad_verification_code" and answer["_status"] == "400"


def test_conditional_access_blocks_after_approval(start_emulator: StartEmulator) -> None:
    emu = start_emulator("demo", block_device_code=True)
    code = _start(emu)
    emu.approve_device_code(code["user_code"], "admin@contoso.com")
    answer = _poll(emu, code["device_code"])
    assert answer["error_codes"] == [53003]


def test_auto_approve_after_delay(start_emulator: StartEmulator) -> None:
    clock = FakeClock()
    emu = start_emulator("demo", clock=clock, auto_approve_after=6)
    code = _start(emu)
    assert _poll(emu, code["device_code"])["error"] == "authorization_pending"
    clock.advance(6)
    token = _poll(emu, code["device_code"])
    assert claims_of(token["access_token"])["upn"] == "admin@contoso.com"


def test_second_concurrent_flow_gets_another_code(start_emulator: StartEmulator) -> None:
    emu = start_emulator("demo")
    first, second = _start(emu), _start(emu)
    assert first["user_code"] != second["user_code"]
    assert re.fullmatch(r"[A-Z0-9]{9}", second["user_code"])


def test_tenant_specific_flow_refuses_foreign_user(start_emulator: StartEmulator) -> None:
    emu = start_emulator({"tenants": [
        {"id": "11111111-1111-4111-8111-111111111111", "display_name": "A",
         "domains": ["a.onmicrosoft.com"], "users": [{"upn": "x@a.onmicrosoft.com"}]},
        {"id": "22222222-2222-4222-8222-222222222222", "display_name": "B",
         "domains": ["b.onmicrosoft.com"], "users": [{"upn": "y@b.onmicrosoft.com"}]}]})
    code = _start(emu, tenant="a.onmicrosoft.com")
    with pytest.raises(ValueError, match="not in the tenant"):
        emu.approve_device_code(code["user_code"], "y@b.onmicrosoft.com")


def test_device_login_page_approves_by_form(start_emulator: StartEmulator) -> None:
    emu = start_emulator("demo")
    code = _start(emu)
    with client(emu) as http:
        page = http.get("/devicelogin")
        assert page.status_code == 200 and "<form" in page.text
        pick = http.post("/devicelogin", data={"otc": code["user_code"].lower()})
        assert "admin@contoso.com" in pick.text and "lee@contoso.com" in pick.text
        done = http.post("/devicelogin/complete", data={
            "otc": code["user_code"], "upn": "lee@contoso.com", "action": "approve"})
        assert done.status_code == 200
        wrong = http.post("/devicelogin", data={"otc": "<script>"})
        assert wrong.status_code == 400 and "<script>" not in wrong.text
    token = _poll(emu, code["device_code"])
    assert claims_of(token["access_token"])["upn"] == "lee@contoso.com"


def test_refresh_token_grant(start_emulator: StartEmulator) -> None:
    emu = start_emulator("demo")
    first = device_login(emu)
    with client(emu) as http:
        response = http.post("/organizations/oauth2/v2.0/token", data={
            "grant_type": "refresh_token", "client_id": CLIENT,
            "refresh_token": first["refresh_token"], "scope": f"{emu.graph_url}/.default"})
    assert response.status_code == 200
    assert "Application.ReadWrite.All" in claims_of(response.json()["access_token"])["scp"]
