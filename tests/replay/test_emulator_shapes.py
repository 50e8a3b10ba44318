"""The emulator's answers against what Microsoft Graph really answered, key by key.

For each recorded call the emulator serves, the same request (the recorded body, with the
emulator's own ids where the recording names objects of its tenant) goes to a running
emulator over HTTPS, and its answer is compared with the recorded one: status, the content
type and ``OData-Version``, ``Location``, ``@odata.context``, and every key of the body
with the JSON kind of its value (``TENANT_DATA`` names the values that are the tenant's
own data, whose kind may differ: a null ``mail`` there, a filled one here).
:data:`NOT_SERVED` lists the recorded calls the emulator does not serve, and why.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from support.emulator import DEMO_TENANT, delegated_token, graph

from vdc_tui.emulator import EmulatorServer
from vdc_tui.emulator.shapes import principal_of_assignment

from .recorded import Exchange, exchange, exchanges

#: Properties whose values are the tenant's data (their kind may differ from the record).
TENANT_DATA = frozenset({
    "city", "country", "postalCode", "state", "street", "onPremisesLastSyncDateTime",
    "onPremisesSyncEnabled", "isMultipleDataLocationsForServicesEnabled",
    "preferredLanguage", "mail", "givenName", "surname", "partnerTenantType",
    "contactEmail", "statementUrl", "description", "homepage", "replyUrls",
})
#: Recorded calls the emulator does not serve on this branch, and why.
NOT_SERVED: dict[str, str] = {
    "POST /applications/{id}/addPassword": "password credentials are not emulated: the "
    "client signs in with certificates only",
    "POST /applications/{id}/microsoft.graph.addPassword": "the same (password credentials)",
    "POST /applications/{id}/removePassword": "the same (password credentials)",
    "POST /applications/{id}/microsoft.graph.removePassword": "the same (password "
    "credentials)",
    "GET /applications/{id} with two passwordCredentials": "the same (password credentials)",
    "GET /applications/{id}/owners": "owners are not emulated: the client never reads them",
    "GET /oauth2PermissionGrants": "delegated grants exist in the emulator only after a "
    "device-code sign-in's consent, which this module's app-only fixtures do not make; "
    "tests/emulator/test_delegated_grants.py checks their shape",
    "POST /oauth2PermissionGrants": "the client never creates a grant: the emulator records "
    "one only through a sign-in's consent, as Entra does",
}

ODATA_JSON = ("application/json;odata.metadata=minimal;odata.streaming=true;"
              "IEEE754Compatible=false;charset=utf-8")
GRAPH_SP = "00000003-0000-0000-c000-000000000000"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


#: Properties Graph added after the PowerShell recording of 2021-10-12 (azure-cli's 2022
#: recordings serve them): ours may have them where that recording has not.
NEWER_THAN_2021 = frozenset({"serviceManagementReference"})


def shape_problems(recorded: Any, ours: Any, where: str = "", *,
                   newer: frozenset[str] = frozenset()) -> list[str]:
    """How ``ours`` differs from ``recorded`` in keys and kinds of values (recursively;
    the first items of two non-empty arrays are compared; tenant data excepted; ``newer``:
    properties added to Graph after the recording)."""
    name = where.rsplit(".", 1)[-1].split("[")[0]
    if name in TENANT_DATA:
        return []
    if isinstance(recorded, dict) and isinstance(ours, dict):
        wanted = {k for k in recorded if not k.startswith("extension_")}
        problems = [f"{where}.{k}: missing" for k in sorted(wanted - set(ours))]
        problems += [f"{where}.{k}: not served by Graph"
                     for k in sorted(set(ours) - wanted - newer)]
        for key in sorted(wanted & set(ours)):
            problems += shape_problems(recorded[key], ours[key], f"{where}.{key}", newer=newer)
        return problems
    if isinstance(recorded, list) and isinstance(ours, list):
        if recorded and ours:
            return shape_problems(recorded[0], ours[0], f"{where}[0]", newer=newer)
        return []
    if _kind(recorded) != _kind(ours):
        return [f"{where}: {_kind(ours)} where Graph served {_kind(recorded)}"]
    return []


def _same_content_type(response: httpx.Response, recorded: Exchange) -> None:
    def norm(text: str) -> str:
        return text.replace(" ", "").lower()

    if recorded.status == 204:
        assert "content-type" not in response.headers and not response.content
        return
    expected = recorded.headers.get("content-type", ODATA_JSON if recorded.status < 400
                                    else "application/json")
    assert norm(response.headers["content-type"]) == norm(expected)
    if recorded.status < 400:
        assert response.headers["odata-version"] == "4.0"
    else:
        assert "odata-version" not in response.headers


def _context_of(recorded: Exchange, graph_url: str) -> str:
    return str(recorded.body["@odata.context"]).replace("https://graph.microsoft.com",
                                                        graph_url)


def check(response: httpx.Response, recorded: Exchange, graph_url: str) -> None:
    """The emulator's answer has the recorded status, headers and body shape."""
    assert response.status_code == recorded.status, response.text
    _same_content_type(response, recorded)
    if recorded.body is None:
        return
    body = response.json()
    if "@odata.context" in recorded.body:
        assert body["@odata.context"] == _context_of(recorded, graph_url)
    newer = NEWER_THAN_2021 if "azure-powershell" in recorded.source else frozenset()
    problems = shape_problems(recorded.body, body, newer=newer)
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorServer]:
    with EmulatorServer("demo") as server:
        yield server


@pytest.fixture(scope="module")
def admin(emu: EmulatorServer) -> Iterator[httpx.Client]:
    with graph(emu, delegated_token(emu)) as client:
        yield client


def _location_pattern(emu: EmulatorServer, tail: str) -> str:
    return rf"{re.escape(emu.graph_url)}/v2/{DEMO_TENANT}/{tail}"


@pytest.fixture(scope="module")
def created(emu: EmulatorServer, admin: httpx.Client) -> dict[str, Any]:
    """An application made with the recorded certificate body (and its answer)."""
    recorded = exchange("POST /applications (with certificate keyCredential)")
    response = admin.post("/applications", json=recorded.request_body)
    assert response.status_code == 201, response.text
    return {"response": response, "body": response.json()}


# --- applications -------------------------------------------------------------------------

def test_create_application_with_certificate_answers_the_recorded_shape(
        emu: EmulatorServer, created: dict[str, Any]) -> None:
    recorded = exchange("POST /applications (with certificate keyCredential)")
    response, body = created["response"], created["body"]
    check(response, recorded, emu.graph_url)
    app_id = body["id"]
    assert re.fullmatch(_location_pattern(
        emu, f"directoryObjects/{app_id}/Microsoft\\.DirectoryServices\\.Application"),
        response.headers["location"])
    # Values that come from the request and the certificate, not from the tenant.
    [ours], [theirs] = body["keyCredentials"], recorded.body["keyCredentials"]
    for key in ("customKeyIdentifier", "displayName", "endDateTime", "key", "type", "usage"):
        assert ours[key] == theirs[key], key
    assert body["api"]["requestedAccessTokenVersion"] is None  # AzureADMultipleOrgs
    assert body["publisherDomain"] == "contoso.onmicrosoft.com"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z", body["createdDateTime"])


def test_create_minimal_application_answers_the_recorded_defaults(
        emu: EmulatorServer, admin: httpx.Client) -> None:
    recorded = exchange("POST /applications (minimal)")
    response = admin.post("/applications", json=recorded.request_body)
    check(response, recorded, emu.graph_url)
    body = response.json()
    for key in ("signInAudience", "api", "info", "parentalControlSettings", "publicClient",
                "spa", "web", "verifiedPublisher", "identifierUris", "tags"):
        assert body[key] == recorded.body[key], key


def test_read_after_patch_answers_the_recorded_shape(
        emu: EmulatorServer, admin: httpx.Client) -> None:
    made = exchange("POST /applications (minimal)")
    patch = exchange("PATCH /applications/{id} (adds certificate keyCredential)")
    read = exchange("GET /applications/{id} after PATCH")
    app_id = admin.post("/applications", json=made.request_body).json()["id"]
    answer = admin.patch(f"/applications/{app_id}", json=patch.request_body)
    check(answer, patch, emu.graph_url)
    response = admin.get(f"/applications/{app_id}")
    check(response, read, emu.graph_url)
    body = response.json()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["createdDateTime"])
    assert body["keyCredentials"][0]["displayName"] == \
        read.body["keyCredentials"][0]["displayName"]


def test_create_with_web_and_patches_answer_the_recorded_shapes(
        emu: EmulatorServer, admin: httpx.Client) -> None:
    recorded = exchange("POST /applications (displayName, signInAudience, web)")
    response = admin.post("/applications", json=recorded.request_body)
    check(response, recorded, emu.graph_url)
    body = response.json()
    assert body["web"]["redirectUris"] == recorded.request_body["web"]["redirectUris"]
    assert body["web"]["implicitGrantSettings"] == recorded.body["web"]["implicitGrantSettings"]
    for patch in (exchange("PATCH /applications/{id} (requiredResourceAccess)"),
                  exchange("PATCH /applications/{id}", nth=2)):
        assert patch.method == "PATCH"
        check(admin.patch(f"/applications/{body['id']}", json=patch.request_body), patch,
              emu.graph_url)


def test_application_collections_answer_the_recorded_shape(
        emu: EmulatorServer, admin: httpx.Client, created: dict[str, Any]) -> None:
    app = created["body"]  # made with the body of the app the appId filter found
    # The app the displayName filter found was made with this body (PowerShell, 2021).
    web = exchange("POST /applications (displayName, signInAudience, web)").request_body
    named = admin.post("/applications", json={**web, "displayName": "replay-listed"}).json()
    cases = [
        (exchange("GET /applications?$filter=startswith (empty collection)"),
         {"$filter": "startswith(displayName,'no-such-app')"}),
        (exchange("GET /applications?$filter=appId eq (one match)"),
         {"$filter": f"appId eq '{app['appId']}'"}),
        (exchange("GET /applications?$filter=displayName eq (one match)"),
         {"$filter": f"displayName eq '{named['displayName']}'"}),
    ]
    for recorded, params in cases:
        response = admin.get("/applications", params=params)
        check(response, recorded, emu.graph_url)
        assert len(response.json()["value"]) == len(recorded.body["value"])


def test_select_id_in_any_case_answers_the_recorded_shape(
        emu: EmulatorServer, admin: httpx.Client, created: dict[str, Any]) -> None:
    app = created["body"]
    one = exchange("GET /applications/{id}?$select=Id")
    response = admin.get(f"/applications/{app['id']}", params={"$select": "Id"})
    check(response, one, emu.graph_url)
    listed = exchange("GET /applications?$filter=appId eq ...&$select=Id")
    response = admin.get("/applications", params={"$filter": f"appId eq '{app['appId']}'",
                                                  "$select": "Id"})
    check(response, listed, emu.graph_url)


def test_missing_application_answers_the_recorded_error(
        emu: EmulatorServer, admin: httpx.Client, created: dict[str, Any]) -> None:
    recorded = exchange("GET /applications/{id} 404 (id is an appId")
    app_id = created["body"]["appId"]  # an appId in the object-id slot
    response = admin.get(f"/applications/{app_id}")
    check(response, recorded, emu.graph_url)
    assert app_id in response.json()["error"]["message"]
    inner = response.json()["error"]["innerError"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", inner["date"])
    assert inner["request-id"] == inner["client-request-id"]


def test_delete_and_permanent_delete_answer_204_without_body(
        emu: EmulatorServer, admin: httpx.Client) -> None:
    made = exchange("POST /applications (displayName + identifierUris)")
    app_id = admin.post("/applications", json=made.request_body).json()["id"]
    check(admin.delete(f"/applications/{app_id}"), exchange("DELETE /applications/{id}"),
          emu.graph_url)
    check(admin.delete(f"/directory/deletedItems/{app_id}"),
          exchange("DELETE /directory/deletedItems/{id} (permanent delete)"), emu.graph_url)
    check(admin.get(f"/applications/{app_id}"),
          exchange("GET /applications/{id} 404 (after delete)"), emu.graph_url)


# --- service principals -------------------------------------------------------------------

def test_service_principal_lifecycle_answers_the_recorded_shapes(
        emu: EmulatorServer, admin: httpx.Client) -> None:
    made = exchange("POST /applications (displayName + identifierUris)")
    app = admin.post("/applications", json=made.request_body).json()
    create = exchange("POST /servicePrincipals", status=201)
    response = admin.post("/servicePrincipals",
                          json={**create.request_body, "appId": app["appId"]})
    check(response, create, emu.graph_url)
    sp = response.json()
    assert re.fullmatch(_location_pattern(
        emu, f"directoryObjects/{sp['id']}/Microsoft\\.DirectoryServices\\.ServicePrincipal"),
        response.headers["location"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", sp["createdDateTime"])
    assert sp["signInAudience"] == app["signInAudience"]
    by_name = {"$filter": f"servicePrincipalNames/any(c:c eq '{app['appId']}')"}
    check(admin.get("/servicePrincipals", params=by_name), exchange(
        "GET /servicePrincipals?$filter=servicePrincipalNames/any(c:c eq '{appId}')"),
        emu.graph_url)
    check(admin.get(f"/servicePrincipals/{sp['id']}"), exchange("GET /servicePrincipals/{id}"),
          emu.graph_url)
    check(admin.delete(f"/servicePrincipals/{sp['id']}"),
          exchange("DELETE /servicePrincipals/{id}"), emu.graph_url)
    check(admin.get("/servicePrincipals", params=by_name),
          exchange("GET /servicePrincipals?$filter=... (empty collection after delete)"),
          emu.graph_url)
    check(admin.get(f"/servicePrincipals/{sp['id']}"),
          exchange("GET /servicePrincipals/{id} 404"), emu.graph_url)


def test_microsoft_graph_principal_answers_the_recorded_shape(
        emu: EmulatorServer, admin: httpx.Client) -> None:
    recorded = exchange("GET /servicePrincipals?$filter=servicePrincipalNames/any(c:c eq "
                        "'00000003-0000-0")
    response = admin.get("/servicePrincipals", params={
        "$filter": f"servicePrincipalNames/any(c:c eq '{GRAPH_SP}')"})
    check(response, recorded, emu.graph_url)
    [ours], [theirs] = response.json()["value"], recorded.body["value"]
    for key in ("appId", "appOwnerOrganizationId", "createdDateTime", "servicePrincipalType"):
        assert ours[key] == theirs[key], key
    assert {r["origin"] for r in ours["appRoles"]} == {"Application"}


def test_sharepoint_principal_answers_the_fixture_shape(
        emu: EmulatorServer, admin: httpx.Client) -> None:
    recorded = exchange("GET /servicePrincipals?$filter=... (Office 365 SharePoint Online SP)")
    theirs = recorded.body["value"][0]
    response = admin.get("/servicePrincipals", params={"$filter": f"appId eq '{theirs['appId']}'"})
    assert response.status_code == 200
    [ours] = response.json()["value"]
    # A unit-test fixture of an older shape, not a recording: every property it has must be
    # there; its own values (a creation date, a logout URL) are its tenant's data.
    problems = [p for p in shape_problems(theirs, ours)
                if p.endswith(": missing") or p.startswith(".appRoles")]
    assert not problems, "\n".join(problems)


def test_app_role_assignment_answers_the_fixture_shape_with_its_id_form(
        emu: EmulatorServer, admin: httpx.Client) -> None:
    recorded = exchange("POST /servicePrincipals/{id}/appRoleAssignments 201")
    made = admin.post("/applications", json={"displayName": "replay assignment"}).json()
    sp = admin.post("/servicePrincipals", json={"appId": made["appId"]}).json()
    graph_sp = admin.get("/servicePrincipals", params={
        "$filter": f"appId eq '{GRAPH_SP}'"}).json()["value"][0]
    role = graph_sp["appRoles"][0]["id"]
    response = admin.post(f"/servicePrincipals/{sp['id']}/appRoleAssignments", json={
        "principalId": sp["id"], "resourceId": graph_sp["id"], "appRoleId": role})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["@odata.context"] == _context_of(recorded, emu.graph_url).replace(
        "24448e9c-d0fa-43d1-a1dd-e279720969a0", sp["id"])
    assert shape_problems(recorded.body, body) == []
    assert principal_of_assignment(body["id"]) == sp["id"]
    assert principal_of_assignment(recorded.body["id"]) == recorded.body["principalId"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", body["id"])


# --- the tenant ---------------------------------------------------------------------------

def test_organization_answers_the_recorded_shape(
        emu: EmulatorServer, admin: httpx.Client) -> None:
    check(admin.get("/organization"), exchange("GET /organization"), emu.graph_url)


def test_user_answers_the_recorded_projection_with_id_last(
        emu: EmulatorServer, admin: httpx.Client) -> None:
    recorded = exchange("GET /users/{upn}")
    response = admin.get("/users/admin@contoso.com")
    check(response, recorded, emu.graph_url)
    assert list(response.json())[-1] == "id" == list(recorded.body)[-1]


# --- what is compared, and what is not ----------------------------------------------------

#: The calls the tests above compare (by the start of their ``call``).
COMPARED = (
    "GET /applications?$filter=startswith", "POST /applications (with certificate",
    "GET /applications?$filter=appId eq (one match)", "DELETE /applications/{id}",
    "GET /applications/{id} 404", "POST /applications (minimal)",
    "PATCH /applications/{id} (adds certificate", "GET /applications/{id} after PATCH",
    "POST /applications (displayName + identifierUris)", "POST /servicePrincipals",
    "GET /servicePrincipals?$filter=servicePrincipalNames/any(c:c eq '{appId}')",
    "GET /servicePrincipals/{id}", "DELETE /servicePrincipals/{id}",
    "GET /servicePrincipals?$filter=... (empty collection after delete)",
    "DELETE /directory/deletedItems/{id}", "GET /applications?$filter=displayName eq",
    "GET /applications/{id}?$select=Id", "GET /applications?$filter=appId eq ...&$select=Id",
    "GET /servicePrincipals?$filter=servicePrincipalNames/any(c:c eq '00000003-0000-0",
    "GET /organization", "GET /users/{upn}",
    "POST /servicePrincipals/{id}/appRoleAssignments",
    # Bodies sent elsewhere and answered 204 like the PATCH above:
    "PATCH /applications/{id} (requiredResourceAccess)", "PATCH /applications/{id}",
    "POST /applications (displayName, signInAudience, web)",
    "GET /servicePrincipals?$filter=... (Office 365 SharePoint Online SP)",
)


def test_every_recorded_call_is_compared_or_listed_with_a_reason() -> None:
    unaccounted = [e.call for e in exchanges()
                   if not e.call.startswith(COMPARED) and not e.call.startswith(
                       tuple(NOT_SERVED))]
    assert unaccounted == []
    assert all(len(why) > 20 for why in NOT_SERVED.values())


def test_calls_listed_as_not_served_are_not_served(
        emu: EmulatorServer, admin: httpx.Client, created: dict[str, Any]) -> None:
    app_id = created["body"]["id"]
    for path, method in ((f"/applications/{app_id}/addPassword", "POST"),
                         (f"/applications/{app_id}/removePassword", "POST"),
                         (f"/applications/{app_id}/owners", "GET")):
        response = admin.request(method, path, json={} if method == "POST" else None)
        assert response.status_code in (400, 405), (path, response.text)
