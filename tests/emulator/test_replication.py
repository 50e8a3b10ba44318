"""Eventual consistency: new objects are invisible where Entra shows the lag, then visible."""

from __future__ import annotations

import base64
from typing import Any

from cryptography.hazmat.primitives import serialization
from support.emulator import (
    StartEmulator,
    claims_of,
    client_credentials,
    delegated_token,
    demo_credential,
    graph,
)

from vdc_tui.emulator import FakeClock

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
SITES_READ_ALL = "332a536c-c7ef-4017-ab91-336970924f0d"


def test_new_app_principal_key_and_grant_replicate(start_emulator: StartEmulator) -> None:
    clock = FakeClock()
    emu = start_emulator("demo", clock=clock, replication_delay=30)
    key, cert = demo_credential()
    der = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    with graph(emu, delegated_token(emu)) as g:
        app = g.post("/applications", json={
            "displayName": "new", "signInAudience": "AzureADMyOrg",
            "keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": der}]})
        assert app.status_code == 201
        app_id = app.json()["appId"]
        assert g.get(f"/applications(appId='{app_id}')").status_code == 404
        early = g.post("/servicePrincipals", json={"appId": app_id})
        assert early.status_code == 400
        assert early.json()["error"]["details"][0]["code"] == "NoBackingApplicationObject"
        token = client_credentials(emu, client_id=app_id, key=key, cert=cert)
        assert token.json()["error_codes"] == [700016]

        clock.advance(31)
        assert g.get(f"/applications(appId='{app_id}')").status_code == 200
        sp = g.post("/servicePrincipals", json={"appId": app_id}).json()
        assert client_credentials(emu, client_id=app_id, key=key,
                                  cert=cert).json()["error_codes"] == [7000229]
        graph_sp = g.get(f"/servicePrincipals(appId='{GRAPH_APP_ID}')").json()
        grant = {"principalId": sp["id"], "resourceId": graph_sp["id"],
                 "appRoleId": SITES_READ_ALL}
        brand_new = g.post(f"/servicePrincipals/{graph_sp['id']}/appRoleAssignedTo", json=grant)
        assert brand_new.status_code == 404

        clock.advance(31)
        assert g.post(f"/servicePrincipals/{graph_sp['id']}/appRoleAssignedTo",
                      json=grant).status_code == 201
        no_roles = client_credentials(emu, client_id=app_id, key=key, cert=cert)
        assert no_roles.status_code == 200
        assert "roles" not in claims_of(no_roles.json()["access_token"])

        clock.advance(31)
        with_roles = client_credentials(emu, client_id=app_id, key=key, cert=cert)
        assert claims_of(with_roles.json()["access_token"])["roles"] == ["Sites.Read.All"]


def test_just_added_key_is_not_found_until_replicated(start_emulator: StartEmulator) -> None:
    clock = FakeClock()
    emu = start_emulator({"tenants": [{
        "id": "44444444-4444-4444-8444-444444444444", "display_name": "T",
        "domains": ["t.onmicrosoft.com"],
        "users": [{"upn": "admin@t.onmicrosoft.com", "roles": ["Global Administrator"]}],
        "applications": [{"display_name": "a", "app_id": "55555555-5555-4555-8555-555555555555",
                          "certificates": [{"generate": "new-key", "visible_after": 20}]}],
        "service_principals": [{"app_id": "55555555-5555-4555-8555-555555555555"}]}]},
        clock=clock)
    from support.emulator import load_pfx

    key, cert = load_pfx(emu.certificate_path("new-key"), None)
    kwargs: dict[str, Any] = {"tenant": "44444444-4444-4444-8444-444444444444",
              "client_id": "55555555-5555-4555-8555-555555555555", "key": key, "cert": cert}
    assert client_credentials(emu, **kwargs).json()["error_codes"] == [700027]
    clock.advance(21)
    assert client_credentials(emu, **kwargs).status_code == 200
