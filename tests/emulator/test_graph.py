"""Graph subset: reads, app registration CRUD, grants, roles, sites, 401 and 403."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from support.emulator import (
    DEMO_APP,
    DEMO_TENANT,
    StartEmulator,
    app_token,
    client_credentials,
    delegated_token,
    demo_credential,
    graph,
)

from vdc_tui.emulator import EmulatorServer, FakeClock

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
SITES_READ_ALL = "332a536c-c7ef-4017-ab91-336970924f0d"
GLOBAL_READER = "f2ef992c-3afb-46b9-b7cf-a126ee74c451"


@pytest.fixture
def emu(start_emulator: StartEmulator) -> EmulatorServer:
    return start_emulator("demo")


def test_organization_and_skus(demo_emulator: EmulatorServer) -> None:
    with graph(demo_emulator, app_token(demo_emulator)) as g:
        org = g.get("/organization").json()["value"][0]
        skus = g.get("/subscribedSkus").json()["value"]
    assert org["id"] == DEMO_TENANT and org["displayName"] == "Contoso Ltd"
    default = [d["name"] for d in org["verifiedDomains"] if d["isDefault"]]
    initial = [d["name"] for d in org["verifiedDomains"] if d["isInitial"]]
    assert default == ["contoso.com"] and initial == ["contoso.onmicrosoft.com"]
    plans = {p["servicePlanName"] for s in skus for p in s["servicePlans"]}
    assert {"EXCHANGE_S_ENTERPRISE", "SHAREPOINTENTERPRISE", "TEAMS1",
            "EXCHANGE_S_FOUNDATION", "SHAREPOINTWAC"} <= plans
    assert all(s["prepaidUnits"]["enabled"] > 0 for s in skus)


def test_me_and_member_of(demo_emulator: EmulatorServer) -> None:
    with graph(demo_emulator, delegated_token(demo_emulator, "reader@contoso.com")) as g:
        assert g.get("/me").json()["userPrincipalName"] == "reader@contoso.com"
        direct = g.get("/me/memberOf").json()["value"]
        transitive = g.get("/me/transitiveMemberOf").json()["value"]
    roles = [i.get("roleTemplateId") for i in direct if "roleTemplateId" in i]
    assert roles == []  # Global Reader only through the Auditors group
    assert GLOBAL_READER in [i.get("roleTemplateId") for i in transitive]


def test_me_with_app_token_is_400(demo_emulator: EmulatorServer) -> None:
    with graph(demo_emulator, app_token(demo_emulator)) as g:
        response = g.get("/me")
    assert response.status_code == 400


def test_user_by_upn_and_unknown_user(demo_emulator: EmulatorServer) -> None:
    with graph(demo_emulator, app_token(demo_emulator)) as g:
        assert g.get("/users/admin@contoso.com").json()["displayName"] == "Alex Wilber"
        missing = g.get("/users/nobody@contoso.com")
    assert missing.status_code == 404
    error = missing.json()["error"]
    assert error["code"] == "Request_ResourceNotFound"
    assert set(error["innerError"]) == {"date", "request-id", "client-request-id"}


def test_application_lifecycle(emu: EmulatorServer) -> None:
    _, cert = demo_credential()
    der = cert.public_bytes(serialization.Encoding.DER)
    body = {
        "displayName": "Veeam Data Cloud for Microsoft 365", "signInAudience": "AzureADMyOrg",
        "tags": ["vdc-tui"],
        "requiredResourceAccess": [{"resourceAppId": GRAPH_APP_ID,
                                    "resourceAccess": [{"id": SITES_READ_ALL, "type": "Role"}]}],
        "keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify",
                            "key": base64.b64encode(der).decode(), "displayName": "CN=demo"}],
    }
    with graph(emu, delegated_token(emu)) as g:
        created = g.post("/applications", json=body)
        assert created.status_code == 201, created.text
        app = created.json()
        assert app["keyCredentials"][0]["key"] is None
        by_alt = g.get(f"/applications(appId='{app['appId']}')").json()
        assert by_alt["id"] == app["id"]
        selected = g.get(f"/applications/{app['id']}", params={"$select": "keyCredentials"})
        assert selected.json()["keyCredentials"][0]["key"]
        listed = g.get("/applications", params={"$filter": "tags/any(t:t eq 'vdc-tui')"})
        assert [a["appId"] for a in listed.json()["value"]] == [app["appId"]]
        by_name = g.get("/applications",
                        params={"$filter": "displayName eq 'Veeam Data Cloud for Microsoft 365'"})
        assert len(by_name.json()["value"]) == 1
        assert g.patch(f"/applications/{app['id']}",
                       json={"displayName": "Renamed"}).status_code == 204
        assert g.get(f"/applications/{app['id']}").json()["displayName"] == "Renamed"
        sp = g.post("/servicePrincipals", json={"appId": app["appId"]})
        assert sp.status_code == 201
        found = g.get("/servicePrincipals", params={"$filter": f"appId eq '{app['appId']}'"})
        assert found.json()["value"][0]["id"] == sp.json()["id"]
        assert g.delete(f"/applications/{app['id']}").status_code == 204
        assert g.get(f"/applications/{app['id']}").status_code == 404
        assert g.get(f"/servicePrincipals/{sp.json()['id']}").status_code == 404


def test_resource_principals_have_real_roles(demo_emulator: EmulatorServer) -> None:
    with graph(demo_emulator, app_token(demo_emulator)) as g:
        sp = g.get(f"/servicePrincipals(appId='{GRAPH_APP_ID}')").json()
        exo = g.get("/servicePrincipals(appId='00000002-0000-0ff1-ce00-000000000000')").json()
    roles = {r["value"]: r["id"] for r in sp["appRoles"]}
    assert roles["Application.ReadWrite.All"] == "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9"
    assert roles["Sites.Read.All"] == SITES_READ_ALL
    assert "https://graph.microsoft.com" in sp["servicePrincipalNames"]
    assert "https://outlook.office365.com" in exo["servicePrincipalNames"]


def test_grant_then_duplicate_is_400(emu: EmulatorServer) -> None:
    with graph(emu, delegated_token(emu)) as g:
        app = g.post("/applications", json={"displayName": "x"}).json()
        sp = g.post("/servicePrincipals", json={"appId": app["appId"]}).json()
        graph_sp = g.get(f"/servicePrincipals(appId='{GRAPH_APP_ID}')").json()
        body = {"principalId": sp["id"], "resourceId": graph_sp["id"],
                "appRoleId": SITES_READ_ALL}
        first = g.post(f"/servicePrincipals/{graph_sp['id']}/appRoleAssignedTo", json=body)
        assert first.status_code == 201, first.text
        again = g.post(f"/servicePrincipals/{graph_sp['id']}/appRoleAssignedTo", json=body)
        assert again.status_code == 400
        assert again.json()["error"]["message"] == (
            "Permission being assigned already exists on the object.")
        listed = g.get(f"/servicePrincipals/{sp['id']}/appRoleAssignments").json()["value"]
        assert [a["appRoleId"] for a in listed] == [SITES_READ_ALL]
        unknown_role = dict(body, appRoleId="00000000-0000-4000-8000-000000000000")
        bad = g.post(f"/servicePrincipals/{graph_sp['id']}/appRoleAssignedTo", json=unknown_role)
        assert bad.status_code == 400


def test_directory_role_assignment(emu: EmulatorServer) -> None:
    with graph(emu, delegated_token(emu)) as g:
        app = g.post("/applications", json={"displayName": "x"}).json()
        sp = g.post("/servicePrincipals", json={"appId": app["appId"]}).json()
        body = {"@odata.type": "#microsoft.graph.unifiedRoleAssignment",
                "roleDefinitionId": GLOBAL_READER, "principalId": sp["id"],
                "directoryScopeId": "/"}
        created = g.post("/roleManagement/directory/roleAssignments", json=body)
        assert created.status_code == 201, created.text
        assert g.post("/roleManagement/directory/roleAssignments", json=body).status_code == 400
        listed = g.get("/roleManagement/directory/roleAssignments",
                       params={"$filter": f"principalId eq '{sp['id']}'"}).json()["value"]
    assert [r["roleDefinitionId"] for r in listed] == [GLOBAL_READER]


def test_sites_root_and_tenant_without_sharepoint(start_emulator: StartEmulator) -> None:
    emu = start_emulator({"tenants": [{
        "id": DEMO_TENANT, "display_name": "No SPO", "domains": ["nospo.onmicrosoft.com"],
        "sharepoint_host": None,
        "applications": [{"display_name": "a", "app_id": DEMO_APP,
                          "certificates": [{"pfx": "demo-manual-app.pfx", "password": "demo"}]}],
        "service_principals": [{"app_id": DEMO_APP, "grants": ["catalog"]}]}]})
    with graph(emu, app_token(emu)) as g:
        assert g.get("/sites/root").status_code == 404


def test_sites_root_web_url(demo_emulator: EmulatorServer) -> None:
    with graph(demo_emulator, app_token(demo_emulator)) as g:
        assert g.get("/sites/root").json()["webUrl"] == "https://contoso.sharepoint.com"


def test_missing_and_bad_tokens_are_401(demo_emulator: EmulatorServer) -> None:
    with graph(demo_emulator, "not.a.token") as g:
        assert g.get("/organization").status_code == 401
        response = g.get("/organization", headers={"Authorization": ""})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_wrong_audience_is_401(demo_emulator: EmulatorServer) -> None:
    exo = client_credentials(demo_emulator, scope="https://outlook.office365.com/.default")
    with graph(demo_emulator, exo.json()["access_token"]) as g:
        response = g.get("/organization")
    assert response.status_code == 401
    assert "audience" in response.json()["error"]["message"]


def test_expired_token_is_401(start_emulator: StartEmulator) -> None:
    clock = FakeClock()
    emu = start_emulator("demo", clock=clock)
    token = app_token(emu)
    with graph(emu, token) as g:
        assert g.get("/organization").status_code == 200
        clock.advance(3600 + 301)
        response = g.get("/organization")
    assert response.status_code == 401
    assert "expired" in response.json()["error"]["message"]


def test_non_admin_cannot_grant(emu: EmulatorServer) -> None:
    with graph(emu, delegated_token(emu, "lee@contoso.com")) as g:
        graph_sp = g.get(f"/servicePrincipals(appId='{GRAPH_APP_ID}')").json()
        response = g.post(f"/servicePrincipals/{graph_sp['id']}/appRoleAssignedTo", json={
            "principalId": "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d",
            "resourceId": graph_sp["id"], "appRoleId": SITES_READ_ALL})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "Authorization_RequestDenied"


def test_delegated_scope_missing_is_403(emu: EmulatorServer) -> None:
    with graph(emu, delegated_token(emu, scope="User.Read")) as g:
        response = g.post("/applications", json={"displayName": "x"})
    assert response.status_code == 403


def test_app_token_without_roles_is_access_denied(start_emulator: StartEmulator) -> None:
    emu = start_emulator({"tenants": [{
        "id": DEMO_TENANT, "display_name": "C", "domains": ["c.onmicrosoft.com"],
        "applications": [{"display_name": "a", "app_id": DEMO_APP,
                          "certificates": [{"generate": "a"}]}],
        "service_principals": [{"app_id": DEMO_APP, "grants": ["graph:Sites.Read.All"]}]}]})
    from support.emulator import load_pfx

    key, cert = load_pfx(emu.certificate_path("a"), None)
    with graph(emu, app_token(emu, key=key, cert=cert)) as g:
        assert g.get("/sites/root").status_code == 200
        denied = g.get("/subscribedSkus")
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "Authorization_RequestDenied"
    # An Exchange token without any Exchange grant is still issued, without roles.
    response = client_credentials(emu, key=key, cert=cert,
                                  scope="https://outlook.office365.com/.default")
    assert response.status_code == 200


def test_misspelled_property_is_rejected(emu: EmulatorServer) -> None:
    with graph(emu, delegated_token(emu)) as g:
        response = g.post("/applications", json={"displayName": "x",
                                                 "requiredResourceAcess": []})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "Request_BadRequest"
    assert "requiredResourceAcess" in error["message"]
