"""MSAL Python against the emulator: it must not be able to tell the difference."""

from __future__ import annotations

import threading

import msal
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from support.emulator import DEMO_APP, DEMO_PFX, DEMO_TENANT, StartEmulator, demo_credential, pem

from vdc_tui.emulator import EmulatorServer


@pytest.fixture(autouse=True)
def _no_ca_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    # MSAL's own requests session lets REQUESTS_CA_BUNDLE override verify= (design.md).
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


def test_device_flow_with_msal(start_emulator: StartEmulator) -> None:
    emu = start_emulator("demo", device_code_interval=1)
    app = msal.PublicClientApplication(
        "14d82eec-204b-4c2f-b7e8-296a70dab67e", authority=f"{emu.authority_host}/organizations",
        instance_discovery=False, verify=str(emu.ca_bundle))
    flow = app.initiate_device_flow(scopes=[f"{emu.graph_url}/.default"])
    assert flow["user_code"] == "CWE5QHLNM", flow
    approver = threading.Timer(0.5, emu.approve_device_code,
                               args=(flow["user_code"], "admin@contoso.com"))
    approver.start()
    result = app.acquire_token_by_device_flow(flow)
    approver.join()
    assert "access_token" in result, result
    assert result["id_token_claims"]["preferred_username"] == "admin@contoso.com"
    account = app.get_accounts()[0]
    assert account["username"] == "admin@contoso.com"
    assert account["home_account_id"].endswith(DEMO_TENANT)


def _cca(emu: EmulatorServer, credential: dict[str, object]) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        DEMO_APP, client_credential=credential, authority=f"{emu.authority_host}/contoso.com",
        instance_discovery=False, verify=str(emu.ca_bundle))


def test_certificate_credential_forms_with_msal(demo_emulator: EmulatorServer) -> None:
    key, cert = demo_credential()
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    forms: list[dict[str, object]] = [
        {"private_key": pem(key).decode(), "public_certificate": cert_pem},  # PS256, x5t#S256
        {"private_key": pem(key).decode(),
         "thumbprint": cert.fingerprint(hashes.SHA1()).hex()},  # RS256, x5t
        {"private_key_pfx_path": str(DEMO_PFX), "passphrase": "demo"},
    ]
    for credential in forms:
        result = _cca(demo_emulator, credential).acquire_token_for_client(
            scopes=[f"{demo_emulator.graph_url}/.default"])
        assert "access_token" in result, result
        assert result["token_type"] == "Bearer"


def test_msal_reports_unknown_app(demo_emulator: EmulatorServer) -> None:
    key, cert = demo_credential()
    app = msal.ConfidentialClientApplication(
        "bbbbbbbb-0000-4000-8000-000000000000",
        client_credential={"private_key": pem(key).decode(),
                           "public_certificate": cert.public_bytes(
                               serialization.Encoding.PEM).decode()},
        authority=f"{demo_emulator.authority_host}/{DEMO_TENANT}", instance_discovery=False,
        verify=str(demo_emulator.ca_bundle))
    result = app.acquire_token_for_client(scopes=[f"{demo_emulator.graph_url}/.default"])
    assert result.get("error_codes") == [700016]
