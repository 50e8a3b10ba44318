"""``connect`` and ``doctor`` against emulators with scenarios and faults made for the test."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from support.commands import Outcome

from vdc_tui.connect.microsoft.clouds import server_endpoints
from vdc_tui.emulator import EmulatorServer

Run = Callable[..., Outcome]
StartEmulator = Callable[..., EmulatorServer]

TENANT = "4c9e1f2a-7b3d-4e5f-8a6b-1c2d3e4f5a6b"
APP = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"

#: A tenant with Exchange Online only, and a working manual app with a generated certificate.
EXCHANGE_ONLY: dict[str, Any] = {
    "name": "exchange-only",
    "device_code": {"interval": 1},
    "tenants": [{
        "id": TENANT,
        "display_name": "Fabrikam",
        "domains": ["fabrikam.onmicrosoft.com", "fabrikam.com"],
        "sharepoint_host": None,
        "users": [{"upn": "admin@fabrikam.com", "roles": ["Global Administrator"]}],
        "skus": [{"sku_part_number": "EXCHANGESTANDARD",
                  "service_plans": ["EXCHANGE_S_STANDARD"]}],
        "applications": [{"display_name": "Fabrikam backup", "app_id": APP,
                          "certificates": [{"generate": "fabrikam", "password": "pw-fabrikam"}]}],
        "service_principals": [{"app_id": APP, "grants": ["catalog"],
                                "directory_roles": ["Global Reader"]}],
    }],
}


def endpoint_args(emu: EmulatorServer) -> list[str]:
    return ["--authority-host", emu.authority_host, "--graph-url", emu.graph_url,
            "--ca-bundle", str(server_endpoints(emu).ca_bundle)]


def manual_args(emu: EmulatorServer) -> list[str]:
    return ["connect", "manual", "--admin-email", "admin@fabrikam.com", "--app-id", APP,
            "--pfx", str(emu.certificate_path("fabrikam")), "--pfx-password-env", "FAB_PW",
            *endpoint_args(emu)]


def test_a_service_the_tenant_lacks_is_refused_with_the_reason(
    run: Run, start_emulator: StartEmulator, monkeypatch: Any
) -> None:
    emu = start_emulator(EXCHANGE_ONLY)
    monkeypatch.setenv("FAB_PW", "pw-fabrikam")
    outcome = run(*manual_args(emu), "--services", "exchange,teams", "--json")
    assert outcome.code == 2, outcome.err
    error = outcome.json()["error"]
    assert error["code"] == "invalid_argument" and error["details"]["field"] == "services"
    assert error["details"]["refused"] == ["teams"]
    assert error["details"]["available"] == ["exchange"]
    assert "Teams" in error["message"] and "Teams" in error["remediation"]
    assert run("connections", "list", "--json").json()["connections"] == []


def test_without_a_selection_every_available_service_is_saved(
    run: Run, start_emulator: StartEmulator, monkeypatch: Any
) -> None:
    emu = start_emulator(EXCHANGE_ONLY)
    monkeypatch.setenv("FAB_PW", "pw-fabrikam")
    outcome = run(*manual_args(emu), "--json")
    assert outcome.code == 0, outcome.err
    assert outcome.json()["services"] == {"selected": ["exchange"], "available": ["exchange"]}
    assert "[fail]" not in outcome.err  # the first check's refusal is not shown as a failure


def test_a_declined_sign_in_is_diagnosed_with_exit_3(run: Run,
                                                     start_emulator: StartEmulator) -> None:
    emu = start_emulator(EXCHANGE_ONLY)

    def decline_when_issued() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            codes = emu.pending_user_codes()
            if codes:
                emu.decline_device_code(codes[0])
                return
            time.sleep(0.05)

    decliner = threading.Thread(target=decline_when_issued, daemon=True)
    decliner.start()
    outcome = run("connect", "auto", "--json", *endpoint_args(emu))
    decliner.join(timeout=30)
    assert outcome.code == 3, outcome.err
    assert outcome.json()["error"]["code"] == "sign_in_declined"
    assert "enters the code" in outcome.err


def test_an_unreachable_service_is_exit_4(run: Run, start_emulator: StartEmulator,
                                          tmp_path: Path) -> None:
    emu = start_emulator(EXCHANGE_ONLY)
    args = endpoint_args(emu)
    ca_copy = tmp_path / "ca.pem"  # the emulator removes its own files when it stops
    ca_copy.write_bytes(Path(args[-1]).read_bytes())
    args[-1] = str(ca_copy)
    emu.stop()
    outcome = run("connect", "auto", "--json", *args)
    assert outcome.code == 4, outcome.err
    assert outcome.json()["error"]["code"] == "service_unavailable"


def test_doctor_fails_when_the_clock_is_off_by_more_than_sign_in_allows(
        run: Run, start_emulator: StartEmulator) -> None:
    emu = start_emulator("demo", clock_offset=-900)
    outcome = run("doctor", "--json", *endpoint_args(emu))
    document = outcome.json()
    checks = {c["id"]: c for c in document["checks"]}
    assert checks["https:127.0.0.1"]["status"] == "pass"
    clock = checks["clock"]
    assert clock["status"] == "fail" and "ahead of" in clock["detail"]
    assert "AADSTS700024" in clock["detail"] and clock["fix"]
    assert outcome.code == 3 and document["status"] == "fail"
    text = run("doctor", *endpoint_args(emu))
    assert text.code == 3
    assert "can run an onboarding" not in text.out + text.err
    # What doctor foretold: the sign-in itself fails with clock_skew.
    emu.faults.update(auto_approve_after=0)
    signed = run("connect", "auto", "--json", *endpoint_args(emu))
    assert signed.code == 3 and signed.json()["error"]["code"] == "clock_skew"


def test_doctor_only_warns_when_the_clock_is_off_by_less_than_sign_in_allows(
        run: Run, start_emulator: StartEmulator) -> None:
    emu = start_emulator("demo", clock_offset=-120)
    outcome = run("doctor", "--json", *endpoint_args(emu))
    clock = {c["id"]: c for c in outcome.json()["checks"]}["clock"]
    assert clock["status"] == "warn" and "ahead of" in clock["detail"]
    assert outcome.code == 0  # a warning is not a failure


def test_automatic_mode_refuses_a_service_the_tenant_lacks(run: Run,
                                                           start_emulator: StartEmulator) -> None:
    emu = start_emulator(EXCHANGE_ONLY, auto_approve_after=0)
    outcome = run("connect", "auto", "--services", "exchange,teams", "--json",
                  *endpoint_args(emu))
    assert outcome.code == 2, outcome.err
    error = outcome.json()["error"]
    assert error["code"] == "invalid_argument" and error["details"]["refused"] == ["teams"]
    assert run("connections", "list", "--json").json()["connections"] == []


def test_automatic_mode_selects_what_the_tenant_has(run: Run,
                                                    start_emulator: StartEmulator) -> None:
    emu = start_emulator(EXCHANGE_ONLY, auto_approve_after=0)
    outcome = run("connect", "auto", "--json", *endpoint_args(emu))
    assert outcome.code == 0, outcome.err
    assert outcome.json()["services"] == {"selected": ["exchange"], "available": ["exchange"]}
