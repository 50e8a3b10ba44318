"""The permission catalog against the app roles Microsoft really published, by pairs.

Every ``(resource, value) -> id`` of ``connect/data/permissions.json`` whose role is in a
recorded principal (Microsoft Graph's, 2022; SharePoint Online's, a unit-test fixture) must
have that id there; and a role id names a permission only together with its resource.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from vdc_tui.connect.permissions import load_catalog
from vdc_tui.emulator import load_scenario
from vdc_tui.emulator.state import Directory

from .recorded import exchange

GRAPH = "00000003-0000-0000-c000-000000000000"
SHAREPOINT = "00000003-0000-0ff1-ce00-000000000000"
USER_READ_ALL = "df021288-bdef-4463-88db-98f22de89214"


def _recorded_roles() -> dict[str, dict[str, str]]:
    """resource key -> {value: id} of the recorded principals' application roles."""
    graph = exchange("GET /servicePrincipals?$filter=servicePrincipalNames/any(c:c eq "
                     "'00000003-0000-0").body["value"][0]
    sharepoint = exchange("GET /servicePrincipals?$filter=... (Office 365 SharePoint Online SP)"
                          ).body["value"][0]
    assert (graph["appId"], sharepoint["appId"]) == (GRAPH, SHAREPOINT)

    def roles(sp: dict[str, Any]) -> dict[str, str]:
        return {r["value"]: r["id"] for r in sp["appRoles"]
                if "Application" in r["allowedMemberTypes"]}

    return {"graph": roles(graph), "sharepoint": roles(sharepoint)}


def test_every_catalog_pair_found_in_a_recorded_principal_has_its_id() -> None:
    recorded = _recorded_roles()
    checked = []
    for perm in load_catalog().permissions:
        served = recorded.get(perm.resource.key, {})
        if perm.value in served:
            assert served[perm.value] == perm.id, perm.display
            checked.append(perm.display)
    # 11 of Graph's 16 (the rest appeared after 2022) and both of SharePoint's.
    assert len(checked) == 13, checked


def test_catalog_resources_are_the_recorded_principals() -> None:
    catalog = load_catalog()
    assert catalog.resource("graph").app_id == GRAPH
    assert catalog.resource("sharepoint").app_id == SHAREPOINT


def test_one_role_id_is_two_resources_permissions() -> None:
    recorded = _recorded_roles()
    assert recorded["graph"]["User.Read.All"] == recorded["sharepoint"]["User.Read.All"] \
        == USER_READ_ALL
    catalog = load_catalog()
    on_graph = catalog.by_role_id("graph", USER_READ_ALL)
    on_sharepoint = catalog.by_role_id("sharepoint", USER_READ_ALL.upper())
    assert on_graph is not None and on_sharepoint is not None
    assert on_graph.resource.key == "graph" and on_sharepoint.resource.key == "sharepoint"
    assert on_graph != on_sharepoint
    assert catalog.by_role_id("exchange", USER_READ_ALL) is None


def test_catalog_pairs_are_unique_though_ids_are_not() -> None:
    perms = load_catalog().permissions
    pairs = [(p.resource.key, p.id) for p in perms]
    assert len(set(pairs)) == len(pairs)
    assert len({p.id for p in perms}) < len(perms)  # why nothing may look up by id alone


def test_find_is_by_resource_and_value() -> None:
    catalog = load_catalog()
    graph_sites = catalog.find("graph", "Sites.Read.All")
    assert graph_sites is not None and graph_sites.id == "332a536c-c7ef-4017-ab91-336970924f0d"
    assert catalog.find("sharepoint", "Sites.Read.All") is None  # not asked for there


def test_emulator_roles_in_a_token_come_from_the_resource_granted(tmp_path: Path) -> None:
    """The emulator counts a grant for the resource it was made on: revoking SharePoint's
    User.Read.All leaves Graph's (same id) in Graph tokens and none in SharePoint's."""
    directory = Directory(load_scenario("demo"), now=time.time(), state_dir=tmp_path)
    tenant = next(iter(directory.tenants))
    graph = directory.resource_principal(tenant, "graph")
    sharepoint = directory.resource_principal(tenant, "sharepoint")
    holder = next(a.principal_id for a in directory.app_role_assignments.values()
                  if a.resource_id == sharepoint.id and a.app_role_id == USER_READ_ALL
                  and directory.find_assignment(a.principal_id, graph.id, USER_READ_ALL))
    doomed = directory.find_assignment(holder, sharepoint.id, USER_READ_ALL)
    assert doomed is not None
    del directory.app_role_assignments[doomed.id]
    later = time.time() + 86400
    assert "User.Read.All" in directory.granted_role_values(holder, graph, later)
    assert "User.Read.All" not in directory.granted_role_values(holder, sharepoint, later)


def test_emulator_publishes_the_recorded_ids_for_the_roles_it_has(tmp_path: Path) -> None:
    recorded = _recorded_roles()
    directory = Directory(load_scenario("demo"), now=time.time(), state_dir=tmp_path)
    tenant = next(iter(directory.tenants))
    for key in ("graph", "sharepoint"):
        published = {r["value"]: r["id"]
                     for r in directory.resource_principal(tenant, key).app_roles}
        common = set(published) & set(recorded[key])
        assert common, key
        assert {v: published[v] for v in common} == {v: recorded[key][v] for v in common}
