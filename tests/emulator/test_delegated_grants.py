"""oAuth2PermissionGrant: the consent a device-code sign-in records, and list/get/PATCH/DELETE
as Microsoft Graph documents them (oauth2permissiongrant-*.md; ids as recorded)."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from support.emulator import DEMO_TENANT, StartEmulator, app_token, claims_of, device_login, graph

from vdc_tui.emulator import EmulatorServer
from vdc_tui.emulator.scenario import scenario_dir

CLI = "14d82eec-204b-4c2f-b7e8-296a70dab67e"
ONBOARDING = ("Application.ReadWrite.All AppRoleAssignment.ReadWrite.All "
              "Directory.ReadWrite.All RoleManagement.ReadWrite.Directory")


def _demo(**tenant: Any) -> dict[str, Any]:
    raw: dict[str, Any] = json.loads((scenario_dir() / "demo.json").read_text("utf-8"))
    raw["tenants"][0].update(tenant)
    return raw


def _sign_in(emu: EmulatorServer, scopes: str = ONBOARDING,
             upn: str = "admin@contoso.com") -> dict[str, Any]:
    prefixed = " ".join(f"{emu.graph_url}/{s}" for s in scopes.split())
    return claims_of(device_login(emu, upn, scope=prefixed)["access_token"])


def _grants(emu: EmulatorServer, token: str, query: str = "") -> list[dict[str, Any]]:
    with graph(emu, token) as http:
        response = http.get("/oauth2PermissionGrants" + query)
    assert response.status_code == 200, response.text
    value: list[dict[str, Any]] = response.json()["value"]
    return value


def _cli_sp(emu: EmulatorServer, token: str) -> str:
    with graph(emu, token) as http:
        response = http.get(f"/servicePrincipals(appId='{CLI}')")
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def test_sign_in_creates_the_admins_principal_grant_and_the_clients_principal(
        start_emulator: StartEmulator) -> None:
    emu = start_emulator(_demo())
    claims = _sign_in(emu)
    token = app_token(emu)
    sp_id = _cli_sp(emu, token)
    grants = _grants(emu, token, f"?$filter=clientId eq '{sp_id}'")
    assert len(grants) == 1
    g = grants[0]
    assert g["consentType"] == "Principal" and g["principalId"] == claims["oid"]
    assert g["scope"].split() == ONBOARDING.split()
    # The recorded id form: base64url of clientId ‖ resourceId ‖ principalId (little-endian).
    raw = base64.urlsafe_b64decode(g["id"] + "=" * (-len(g["id"]) % 4))
    assert [str(uuid.UUID(bytes_le=raw[i:i + 16])) for i in (0, 16, 32)] == [
        g["clientId"], g["resourceId"], g["principalId"]]


def test_consent_is_cumulative_and_tokens_carry_earlier_scopes(
        start_emulator: StartEmulator) -> None:
    emu = start_emulator(_demo(delegated_grants=[
        {"consent_type": "Principal", "principal": "admin@contoso.com",
         "scope": "User.Read Mail.Read"}]))
    claims = _sign_in(emu)
    assert set(claims["scp"].split()) == {*ONBOARDING.split(), "User.Read", "Mail.Read"}
    grants = _grants(emu, app_token(emu))
    assert len(grants) == 1
    assert grants[0]["scope"].split() == ["User.Read", "Mail.Read", *ONBOARDING.split()]
    # A later sign-in asking for one scope still gets all of them.
    assert "Directory.ReadWrite.All" in _sign_in(emu, "User.Read")["scp"].split()


def test_consent_for_the_organization_extends_the_allprincipals_grant(
        start_emulator: StartEmulator) -> None:
    raw = _demo(delegated_grants=[{"consent_type": "Principal", "principal": "admin@contoso.com",
                                   "scope": "User.Read"}])
    raw["device_code"]["consent_for_organization"] = True
    emu = start_emulator(raw)
    _sign_in(emu)
    token = app_token(emu)
    sp_id = _cli_sp(emu, token)
    org = _grants(emu, token, f"?$filter=clientId eq '{sp_id}' and consentType eq "
                              "'AllPrincipals'")
    assert len(org) == 1 and org[0]["principalId"] is None
    assert org[0]["scope"].split() == ONBOARDING.split()
    mine = _grants(emu, token, "?$filter=consentType eq 'Principal'")
    assert [g["scope"] for g in mine] == ["User.Read"]
    assert len(org[0]["id"]) == 43  # clientId ‖ resourceId only


def test_patch_replaces_the_scope_and_delete_removes_the_grant(
        start_emulator: StartEmulator) -> None:
    emu = start_emulator(_demo())
    _sign_in(emu)
    admin = str(device_login(emu, scope=f"{emu.graph_url}/Directory.ReadWrite.All")
                ["access_token"])
    grant = _grants(emu, app_token(emu))[0]
    with graph(emu, admin) as http:
        patched = http.patch(f"/oauth2PermissionGrants/{grant['id']}",
                             json={"scope": "User.Read"})
        assert patched.status_code == 204 and patched.content == b""
        got = http.get(f"/oauth2PermissionGrants/{grant['id']}")
        assert got.status_code == 200 and got.json()["scope"] == "User.Read"
        assert got.json()["@odata.context"].endswith("#oauth2PermissionGrants/$entity")
        assert http.delete(f"/oauth2PermissionGrants/{grant['id']}").status_code == 204
        gone = http.get(f"/oauth2PermissionGrants/{grant['id']}")
        assert gone.status_code == 404
        assert gone.json()["error"]["code"] == "Request_ResourceNotFound"


def test_patch_refuses_other_properties(start_emulator: StartEmulator) -> None:
    emu = start_emulator(_demo())
    admin = str(device_login(emu, scope=f"{emu.graph_url}/Directory.ReadWrite.All")
                ["access_token"])
    grant = _grants(emu, app_token(emu))[0]
    with graph(emu, admin) as http:
        response = http.patch(f"/oauth2PermissionGrants/{grant['id']}",
                              json={"consentType": "AllPrincipals"})
    assert response.status_code == 400


def test_filter_on_an_undocumented_property_is_unsupported(
        start_emulator: StartEmulator) -> None:
    emu = start_emulator(_demo())
    with graph(emu, app_token(emu)) as http:
        response = http.get("/oauth2PermissionGrants",
                            params={"$filter": "principalId eq 'x'"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "Request_UnsupportedQuery"


def test_reading_grants_app_only_needs_directory_read_all(
        start_emulator: StartEmulator) -> None:
    raw = _demo()
    sp = raw["tenants"][0]["service_principals"][0]
    sp["grants"] = ["catalog"]
    sp["revoked"] = ["graph:Directory.Read.All", "graph:Directory.ReadWrite.All"]
    emu = start_emulator(raw)
    with graph(emu, app_token(emu)) as http:
        response = http.get("/oauth2PermissionGrants")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "Authorization_RequestDenied"


def test_writing_grants_as_a_user_needs_an_admin_role(start_emulator: StartEmulator) -> None:
    emu = start_emulator(_demo())
    _sign_in(emu)
    grant = _grants(emu, app_token(emu))[0]
    user = str(device_login(emu, "lee@contoso.com",
                            scope=f"{emu.graph_url}/Directory.ReadWrite.All")["access_token"])
    with graph(emu, user) as http:
        response = http.delete(f"/oauth2PermissionGrants/{grant['id']}")
    assert response.status_code == 403
    assert claims_of(user)["tid"] == DEMO_TENANT


def test_list_answer_has_the_recorded_shape(start_emulator: StartEmulator) -> None:
    # GET /oauth2PermissionGrants?$filter=clientId eq '…' as recorded (azure-cli
    # test_app_permission_grant.yaml@b6ea8162, research/recordings.md).
    emu = start_emulator(_demo())
    _sign_in(emu)
    token = app_token(emu)
    sp_id = _cli_sp(emu, token)
    with graph(emu, token) as http:
        body = http.get("/oauth2PermissionGrants",
                        params={"$filter": f"clientId eq '{sp_id}'"}).json()
    assert body["@odata.context"] == f"{emu.graph_url}/v1.0/$metadata#oauth2PermissionGrants"
    (item,) = body["value"]
    assert set(item) == {"clientId", "consentType", "id", "principalId", "resourceId", "scope"}
