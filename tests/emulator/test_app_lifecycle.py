"""addKey/removeKey with proof of possession, the credential-lifetime policy, deleted items.

Proofs are signed here with ``cryptography`` directly (not with the client's builder), from
Microsoft's "Generate proof of possession tokens for rolling keys" page.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from support.emulator import DEMO_TENANT, StartEmulator, app_token, delegated_token, graph, load_pfx

from vdc_tui.emulator import EmulatorServer, FakeClock

APP_ID = "cccccccc-0000-4000-8000-000000000001"
OBJECT_ID = "cccccccc-1111-4000-8000-000000000001"
OTHER_APP = "cccccccc-0000-4000-8000-000000000002"
AUD = "00000002-0000-0000-c000-000000000000"


def scenario(**tenant: Any) -> dict[str, Any]:
    return {"seed": 3, "tenants": [{
        "id": DEMO_TENANT, "display_name": "Contoso Ltd", "domains": ["contoso.com"],
        "users": [{"upn": "admin@contoso.com", "roles": ["Global Administrator"]}],
        "applications": [
            {"display_name": "roller", "app_id": APP_ID, "id": OBJECT_ID,
             "tags": ["vdc-tui:managed"], "certificates": [{"generate": "roller"}]},
            {"display_name": "other", "app_id": OTHER_APP, "certificates": [{"generate": "other"}]},
        ],
        "service_principals": [{"app_id": APP_ID, "grants": ["graph:Directory.Read.All"]},
                               {"app_id": OTHER_APP}],
        **tenant}]}


def new_cert(days: int = 365) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rolled")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days)).sign(key, hashes.SHA256()))
    return key, cert


def _b64(raw: bytes, *, padded: bool = False) -> str:
    text = base64.urlsafe_b64encode(raw).decode()
    return text if padded else text.rstrip("=")


def proof(key: rsa.RSAPrivateKey, cert: x509.Certificate, *, iss: str = OBJECT_ID,
          aud: str = AUD, nbf: float | None = None, lifetime: int = 600,
          padded: bool = False) -> str:
    start = int(time.time() if nbf is None else nbf)
    header = {"alg": "RS256", "typ": "JWT", "x5t": _b64(cert.fingerprint(hashes.SHA1()))}
    claims = {"aud": aud, "iss": iss, "nbf": start, "exp": start + lifetime}
    claims["x"] = "a"
    if len(json.dumps(claims)) % 3 == 0:  # padded=True must really produce '='
        claims["x"] = "ab"
    signing_input = (_b64(json.dumps(header).encode(), padded=padded) + "."
                     + _b64(json.dumps(claims).encode(), padded=padded))
    assert ("=" in signing_input) == padded
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + _b64(signature)


def der_b64(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def add_key_body(new: x509.Certificate, pop: str) -> dict[str, Any]:
    return {"keyCredential": {"type": "AsymmetricX509Cert", "usage": "Verify",
                              "key": der_b64(new)},
            "passwordCredential": None, "proof": pop}


@pytest.fixture
def emu(start_emulator: StartEmulator) -> EmulatorServer:
    return start_emulator(scenario())


def own(emu: EmulatorServer) -> httpx.Client:
    key, cert = load_pfx(emu.certificate_path("roller"), None)
    return graph(emu, app_token(emu, tenant=DEMO_TENANT, client_id=APP_ID, key=key, cert=cert))


def current(emu: EmulatorServer) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    return load_pfx(emu.certificate_path("roller"), None)


def key_ids(emu: EmulatorServer) -> list[str]:
    return [k.key_id for k in emu.state.applications[OBJECT_ID].key_credentials]


def test_app_adds_a_key_with_its_own_token_and_a_valid_proof(emu: EmulatorServer) -> None:
    _, new = new_cert()
    with own(emu) as g:
        response = g.post(f"/applications/{OBJECT_ID}/addKey",
                          json=add_key_body(new, proof(*current(emu))))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["type"] == "AsymmetricX509Cert" and body["keyId"] in key_ids(emu)
    assert len(key_ids(emu)) == 2


def test_add_key_by_app_id_alternate_key(emu: EmulatorServer) -> None:
    _, new = new_cert()
    with own(emu) as g:
        response = g.post(f"/applications(appId='{APP_ID}')/addKey",
                          json=add_key_body(new, proof(*current(emu))))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("change", [
    {"aud": "https://graph.microsoft.com"},
    {"iss": APP_ID},
    {"nbf": time.time() - 3600},
    {"lifetime": 3600},
    {"padded": True},
], ids=["wrong-aud", "iss-is-appid", "expired", "longer-than-10-min", "padded"])
def test_bad_proof_is_missing_or_malformed(emu: EmulatorServer, change: dict[str, Any]) -> None:
    _, new = new_cert()
    with own(emu) as g:
        response = g.post(f"/applications/{OBJECT_ID}/addKey",
                          json=add_key_body(new, proof(*current(emu), **change)))
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "Authentication_MissingOrMalformed"
    assert len(key_ids(emu)) == 1


def test_proof_signed_by_a_key_not_on_the_app_is_refused(emu: EmulatorServer) -> None:
    stranger_key, stranger = new_cert()
    _, new = new_cert()
    with own(emu) as g:
        response = g.post(f"/applications/{OBJECT_ID}/addKey",
                          json=add_key_body(new, proof(stranger_key, stranger)))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "Authentication_MissingOrMalformed"


def test_proof_from_an_expired_certificate_is_refused(start_emulator: StartEmulator) -> None:
    raw = scenario()
    raw["tenants"][0]["applications"][0]["certificates"] = [
        {"generate": "roller"},
        {"generate": "old", "not_before_days": -400, "not_after_days": -1}]
    emu = start_emulator(raw)
    old_key, old = load_pfx(emu.certificate_path("old"), None)
    _, new = new_cert()
    with own(emu) as g:
        response = g.post(f"/applications/{OBJECT_ID}/addKey",
                          json=add_key_body(new, proof(old_key, old)))
    assert response.status_code == 401


def test_another_app_without_application_permission_cannot_roll_keys(
        emu: EmulatorServer) -> None:
    key, cert = load_pfx(emu.certificate_path("other"), None)
    token = app_token(emu, tenant=DEMO_TENANT, client_id=OTHER_APP, key=key, cert=cert)
    _, new = new_cert()
    with graph(emu, token) as g:
        response = g.post(f"/applications/{OBJECT_ID}/addKey",
                          json=add_key_body(new, proof(*current(emu))))
    assert response.status_code == 403


def test_unknown_action_parameter_is_a_bad_request(emu: EmulatorServer) -> None:
    _, new = new_cert()
    body = {**add_key_body(new, proof(*current(emu))), "keyCredentials": []}
    with own(emu) as g:
        response = g.post(f"/applications/{OBJECT_ID}/addKey", json=body)
    assert response.status_code == 400
    assert "keyCredentials" in response.json()["error"]["message"]


def test_lifetime_policy_refuses_a_longer_certificate(start_emulator: StartEmulator) -> None:
    emu = start_emulator(scenario(key_max_lifetime_days=90))
    _, long_cert = new_cert(days=730)
    with own(emu) as g:
        response = g.post(f"/applications/{OBJECT_ID}/addKey",
                          json=add_key_body(long_cert, proof(*current(emu))))
        error = response.json()["error"]
        assert response.status_code == 400
        assert error["code"] == "CredentialInvalidLifetimeAsPerAppPolicy"
        assert error["details"][0]["code"] == "InvalidKeyEndDate"
        _, short = new_cert(days=89)
        ok = g.post(f"/applications/{OBJECT_ID}/addKey",
                    json=add_key_body(short, proof(*current(emu))))
    assert ok.status_code == 200, ok.text


def test_remove_key_with_a_proof_signed_by_the_new_key(emu: EmulatorServer) -> None:
    new_key, new = new_cert()
    old_id = key_ids(emu)[0]
    with own(emu) as g:
        added = g.post(f"/applications/{OBJECT_ID}/addKey",
                       json=add_key_body(new, proof(*current(emu))))
        assert added.status_code == 200
        removed = g.post(f"/applications/{OBJECT_ID}/removeKey",
                         json={"keyId": old_id, "proof": proof(new_key, new)})
    assert removed.status_code == 204, removed.text
    assert key_ids(emu) == [added.json()["keyId"]]


def test_remove_key_of_an_unknown_key_id_is_not_found(emu: EmulatorServer) -> None:
    with own(emu) as g:
        response = g.post(f"/applications/{OBJECT_ID}/removeKey",
                          json={"keyId": "dddddddd-0000-4000-8000-000000000000",
                                "proof": proof(*current(emu))})
    assert response.status_code == 404


def test_added_key_signs_in_only_after_replication(start_emulator: StartEmulator) -> None:
    emu = start_emulator(scenario())
    new_key, new = new_cert()
    with own(emu) as g:
        emu.faults.update(replication_delay=3600)
        assert g.post(f"/applications/{OBJECT_ID}/addKey",
                      json=add_key_body(new, proof(*current(emu)))).status_code == 200
    from support.emulator import client_credentials
    lagging = client_credentials(emu, tenant=DEMO_TENANT, client_id=APP_ID, key=new_key, cert=new)
    assert lagging.status_code == 401 and lagging.json()["error_codes"] == [700027]


def test_deleted_application_goes_to_deleted_items_and_can_be_purged(
        emu: EmulatorServer) -> None:
    with graph(emu, delegated_token(emu)) as g:
        assert g.delete(f"/applications/{OBJECT_ID}").status_code == 204
        assert g.get(f"/servicePrincipals(appId='{APP_ID}')").status_code == 404
        listed = g.get("/directory/deletedItems/microsoft.graph.application").json()["value"]
        assert [a["id"] for a in listed] == [OBJECT_ID]
        assert listed[0]["deletedDateTime"] and listed[0]["appId"] == APP_ID
        assert g.get(f"/directory/deletedItems/{OBJECT_ID}").status_code == 200
        assert g.delete(f"/directory/deletedItems/{OBJECT_ID}").status_code == 204
        assert g.get("/directory/deletedItems/microsoft.graph.application").json()["value"] == []
        assert g.delete(f"/directory/deletedItems/{OBJECT_ID}").status_code == 404


def test_deleted_application_can_be_restored(emu: EmulatorServer) -> None:
    # lifecycle.md "Offboarding": a deleted app stays restorable under deletedItems.
    with graph(emu, delegated_token(emu)) as g:
        assert g.delete(f"/applications/{OBJECT_ID}").status_code == 204
        assert g.get(f"/applications/{OBJECT_ID}").status_code == 404
        restored = g.post(f"/directory/deletedItems/{OBJECT_ID}/restore")
        assert restored.status_code == 200, restored.text
        body = restored.json()
        assert body["@odata.type"] == "#microsoft.graph.application"
        assert body["id"] == OBJECT_ID and body["appId"] == APP_ID
        assert g.get(f"/applications(appId='{APP_ID}')").status_code == 200
        assert g.get("/directory/deletedItems/microsoft.graph.application").json()["value"] == []
        assert g.post(f"/directory/deletedItems/{OBJECT_ID}/restore").status_code == 404


def test_deleted_application_is_gone_after_30_days(start_emulator: StartEmulator) -> None:
    # lifecycle.md "Offboarding": restorable for 30 days, then gone for good.
    clock = FakeClock(1_800_000_000.0)
    emu = start_emulator(scenario(), clock=clock)
    with graph(emu, delegated_token(emu)) as g:
        assert g.delete(f"/applications/{OBJECT_ID}").status_code == 204
    clock.advance(29 * 86400)
    with graph(emu, delegated_token(emu)) as g:  # tokens last an hour: a new one
        assert g.get(f"/directory/deletedItems/{OBJECT_ID}").status_code == 200
    clock.advance(2 * 86400)
    with graph(emu, delegated_token(emu)) as g:
        assert g.get(f"/directory/deletedItems/{OBJECT_ID}").status_code == 404
        assert g.post(f"/directory/deletedItems/{OBJECT_ID}/restore").status_code == 404
