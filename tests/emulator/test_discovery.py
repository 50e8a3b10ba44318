"""Tenant discovery, instance discovery and JWKS, in Entra's exact shapes."""

from __future__ import annotations

from support.emulator import DEMO_TENANT, client

from vdc_tui.emulator import EmulatorServer


def test_discovery_by_verified_domain_names_the_tenant_guid(demo_emulator: EmulatorServer) -> None:
    with client(demo_emulator) as http:
        doc = http.get("/contoso.com/v2.0/.well-known/openid-configuration").json()
    host = demo_emulator.authority_host
    assert doc["token_endpoint"] == f"{host}/{DEMO_TENANT}/oauth2/v2.0/token"
    assert doc["issuer"] == f"{host}/{DEMO_TENANT}/v2.0"
    assert doc["device_authorization_endpoint"] == f"{host}/{DEMO_TENANT}/oauth2/v2.0/devicecode"
    assert doc["tenant_region_scope"] == "NA"
    assert doc["cloud_instance_name"] == "microsoftonline.com"
    assert "private_key_jwt" in doc["token_endpoint_auth_methods_supported"]


def test_discovery_by_initial_domain_and_by_id(demo_emulator: EmulatorServer) -> None:
    with client(demo_emulator) as http:
        for name in ("contoso.onmicrosoft.com", DEMO_TENANT, "CONTOSO.COM"):
            response = http.get(f"/{name}/v2.0/.well-known/openid-configuration")
            assert response.status_code == 200
            assert DEMO_TENANT in response.json()["token_endpoint"]


def test_organizations_document_has_literal_tenantid_issuer(demo_emulator: EmulatorServer) -> None:
    with client(demo_emulator) as http:
        for name in ("organizations", "common"):
            doc = http.get(f"/{name}/v2.0/.well-known/openid-configuration").json()
            assert doc["issuer"] == f"{demo_emulator.authority_host}/{{tenantid}}/v2.0"
            assert doc["device_authorization_endpoint"].endswith(f"/{name}/oauth2/v2.0/devicecode")
            assert doc["tenant_region_scope"] is None


def test_unknown_tenant_is_400_invalid_tenant_90002(demo_emulator: EmulatorServer) -> None:
    with client(demo_emulator) as http:
        response = http.get("/fabrikam.example/v2.0/.well-known/openid-configuration",
                            headers={"client-request-id": "4f1b1e0c-0000-4000-8000-000000000001"})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_tenant"
    assert body["error_codes"] == [90002]
    assert body["error_description"].startswith("AADSTS90002: Tenant 'fabrikam.example' not found.")
    assert "\r\nTrace ID: " in body["error_description"]
    assert body["correlation_id"] == "4f1b1e0c-0000-4000-8000-000000000001"
    assert set(body) >= {"timestamp", "trace_id", "error_uri"}


def test_malformed_tenant_is_900023(demo_emulator: EmulatorServer) -> None:
    with client(demo_emulator) as http:
        response = http.get("/not_a_domain/v2.0/.well-known/openid-configuration")
    assert response.status_code == 400
    assert response.json()["error_codes"] == [900023]


def test_instance_discovery_points_at_the_tenant_document(demo_emulator: EmulatorServer) -> None:
    with client(demo_emulator) as http:
        doc = http.get("/common/discovery/instance", params={
            "api-version": "1.1",
            "authorization_endpoint":
                "https://login.microsoftonline.com/contoso.com/oauth2/v2.0/authorize"}).json()
    assert doc["tenant_discovery_endpoint"] == (
        f"{demo_emulator.authority_host}/contoso.com/v2.0/.well-known/openid-configuration")
    assert "login.windows.net" in doc["metadata"][0]["aliases"]


def test_jwks_publishes_the_token_key(demo_emulator: EmulatorServer) -> None:
    with client(demo_emulator) as http:
        keys = http.get(f"/{DEMO_TENANT}/discovery/v2.0/keys").json()["keys"]
    assert keys[0]["kty"] == "RSA" and keys[0]["kid"]
