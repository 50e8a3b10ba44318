"""Deleted items of applications, as Microsoft's "directory: deleted items" and "Restore
deleted item" pages describe them: a deleted app keeps its ``id``, ``appId`` and keys for 30
days and comes back with them; its service principal does not come back with it."""

from __future__ import annotations

from typing import Any

from support.emulator import DEMO_TENANT, StartEmulator, delegated_token, graph

from vdc_tui.emulator import EmulatorServer

APP_ID = "dddddddd-0000-4000-8000-000000000001"
OBJECT_ID = "dddddddd-1111-4000-8000-000000000001"
GONE_APP = "dddddddd-0000-4000-8000-000000000002"
GONE_OBJECT = "dddddddd-1111-4000-8000-000000000002"
DELETED = "/directory/deletedItems/microsoft.graph.application"


def scenario(**app: Any) -> dict[str, Any]:
    return {"seed": 5, "tenants": [{
        "id": DEMO_TENANT, "display_name": "Contoso Ltd", "domains": ["contoso.com"],
        "users": [{"upn": "admin@contoso.com", "roles": ["Global Administrator"]}],
        "applications": [
            {"display_name": "backup", "app_id": APP_ID, "id": OBJECT_ID,
             "certificates": [{"generate": "deleted-items"}], **app},
            {"display_name": "old backup", "app_id": GONE_APP, "id": GONE_OBJECT,
             "deleted_days_ago": 40},
        ],
        "service_principals": [] if app else [
            {"app_id": APP_ID, "grants": ["graph:Directory.Read.All"],
             "directory_roles": ["Global Reader"]}],
    }]}


def test_restore_keeps_id_app_id_and_keys_but_not_the_principal(
        start_emulator: StartEmulator) -> None:
    emu: EmulatorServer = start_emulator(scenario())
    with graph(emu, delegated_token(emu)) as g:
        before = g.get(f"/applications/{OBJECT_ID}",
                       params={"$select": "id,keyCredentials"}).json()["keyCredentials"]
        assert g.delete(f"/applications/{OBJECT_ID}").status_code == 204
        assert g.get(f"/servicePrincipals(appId='{APP_ID}')").status_code == 404
        assert g.post(f"/directory/deletedItems/{OBJECT_ID}/restore").status_code == 200
        after = g.get(f"/applications(appId='{APP_ID}')",
                      params={"$select": "id,keyCredentials"}).json()
        assert after["id"] == OBJECT_ID
        assert [k["keyId"] for k in after["keyCredentials"]] == [k["keyId"] for k in before]
        # The principal (and its grants) stay deleted: a new one must be created.
        assert g.get(f"/servicePrincipals(appId='{APP_ID}')").status_code == 404
        created = g.post("/servicePrincipals", json={"appId": APP_ID})
        assert created.status_code == 201, created.text
        roles = g.get(f"/servicePrincipals/{created.json()['id']}/appRoleAssignments")
        assert roles.json()["value"] == []


def test_deleted_items_filter_on_app_id(start_emulator: StartEmulator) -> None:
    emu: EmulatorServer = start_emulator(scenario(deleted_days_ago=2))
    with graph(emu, delegated_token(emu)) as g:
        listed = g.get(DELETED, params={"$filter": f"appId eq '{APP_ID}'"}).json()["value"]
        assert [a["id"] for a in listed] == [OBJECT_ID]
        assert g.get(DELETED, params={"$filter": "appId eq 'nope'"}).json()["value"] == []


def test_a_scenario_app_deleted_days_ago_is_restorable_within_30_days(
        start_emulator: StartEmulator) -> None:
    emu: EmulatorServer = start_emulator(scenario(deleted_days_ago=2))
    with graph(emu, delegated_token(emu)) as g:
        assert g.get(f"/applications/{OBJECT_ID}").status_code == 404
        item = g.get(f"/directory/deletedItems/{OBJECT_ID}").json()
        assert item["appId"] == APP_ID and item["deletedDateTime"]
        assert g.post(f"/directory/deletedItems/{OBJECT_ID}/restore").status_code == 200
        assert g.get(f"/applications/{OBJECT_ID}").status_code == 200


def test_a_scenario_app_deleted_more_than_30_days_ago_is_gone(
        start_emulator: StartEmulator) -> None:
    emu: EmulatorServer = start_emulator(scenario())
    with graph(emu, delegated_token(emu)) as g:
        assert g.get(f"/applications/{GONE_OBJECT}").status_code == 404
        assert g.get(f"/directory/deletedItems/{GONE_OBJECT}").status_code == 404
        assert g.post(f"/directory/deletedItems/{GONE_OBJECT}/restore").status_code == 404
        listed = g.get(DELETED).json()["value"]
        assert GONE_OBJECT not in [a["id"] for a in listed]
