"""The client's Graph layer and parsers fed real Microsoft Graph answers.

Each test answers the client's requests from ``graph-v1.json`` (status, headers and body
as served) through :class:`~tests.replay.recorded.Replay` and asserts what the client
makes of them. Nothing here runs the emulator: what the client accepts here it accepts
from Microsoft, leniency included.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest

from vdc_tui.connect.entra.application import (
    MANAGED_TAG,
    Applications,
    access_set,
    key_sha1,
    pick_existing,
    writable_key,
)
from vdc_tui.connect.entra.journal import Journal, RunState
from vdc_tui.connect.entra.pacing import Pacing
from vdc_tui.connect.entra.principal import ensure_service_principal
from vdc_tui.connect.entra.services import sharepoint_root_from_principal
from vdc_tui.connect.entra.tenant import FirstReads, check_organization, check_resources
from vdc_tui.connect.errors import ProvisioningFailed
from vdc_tui.connect.microsoft.answers import graph_error_text, is_duplicate, is_replication_lag
from vdc_tui.connect.microsoft.clouds import resolve_endpoints
from vdc_tui.connect.microsoft.graph import BatchResponse, GraphClient, GraphError
from vdc_tui.connect.permissions import load_catalog
from vdc_tui.connect.progress import Checklist

from .recorded import RECORDED_TENANT, Exchange, Replay, exchange, exchanges

T = TypeVar("T")


def run(replay: Replay, work: Callable[[GraphClient], Awaitable[T]]) -> T:
    """Run ``work`` with a Graph client whose every request the recordings answer."""

    async def go() -> T:
        async def no_sleep(_: float) -> None:
            return None

        async with replay.client() as http:
            graph = GraphClient(resolve_endpoints("global"), "recorded-token", client=http,
                                max_attempts=1, sleep=no_sleep)
            return await work(graph)

    result = asyncio.run(go())
    assert replay.unmatched == [], f"requests no recording answers: {replay.unmatched}"
    return result


def send(recorded: Exchange) -> Callable[[GraphClient], Awaitable[Any]]:
    """The client's call of the recorded request (its verb, target and body)."""

    async def work(graph: GraphClient) -> Any:
        if recorded.method == "GET":
            return await graph.get(recorded.target)
        if recorded.method == "PATCH":
            return await graph.patch(recorded.target, recorded.request_body)
        if recorded.method == "DELETE":
            return await graph.delete(recorded.target)
        return await graph.post(recorded.target, recorded.request_body)

    return work


def checklist() -> Checklist:
    return Checklist({}, lambda event: None)


def pacing() -> Pacing:
    async def no_sleep(_: float) -> None:
        return None

    return Pacing(replication=0.0, sleep=no_sleep)


def batch_answers(**bodies: Exchange) -> FirstReads:
    """A first ``$batch``'s answers made of recorded single answers (same status, body)."""
    return FirstReads({rid: BatchResponse(rid, e.status, dict(e.headers), e.body)
                       for rid, e in bodies.items()})


# --- applications -------------------------------------------------------------------------

def test_created_application_gives_its_ids_and_the_certificate_thumbprint() -> None:
    recorded = exchange("POST /applications (with certificate keyCredential)")
    body = run(Replay(recorded), lambda g: g.post("/applications", recorded.request_body))
    assert body["id"] == "63e64527-fcfc-4b49-9620-12448f5c4ba6"
    assert body["appId"] == "c603620f-3d35-453e-bcde-9f680b44a0f3"
    [key] = body["keyCredentials"]
    sent = recorded.request_body["keyCredentials"][0]
    # Graph serves the thumbprint and no key: the client reads it from customKeyIdentifier,
    # and it is the SHA-1 the client computes of the certificate it sent.
    assert key["key"] is None
    assert key_sha1(key) == "7AB4DD9219E5E03ECC025136572DFAA262EC85CB"
    assert key_sha1(sent) == key_sha1(key)
    assert hashlib.sha1(base64.b64decode(sent["key"])).hexdigest().upper() == key_sha1(key)


def test_application_read_after_patch_keeps_keys_the_client_can_send_back() -> None:
    recorded = exchange("GET /applications/{id} after PATCH")
    app_id = "fec5d7b5-eed3-41c1-8395-9f6d6f9acb17"
    async def read(g: GraphClient) -> dict[str, Any]:
        return await Applications(g, pacing(), ()).read(app_id)

    body = run(Replay(recorded, by_path=True), read)
    [key] = body["keyCredentials"]
    assert key["displayName"] == "O=Internet Widgits Pty Ltd, S=Some-State, C=AU"
    assert key_sha1(key) == key["customKeyIdentifier"]
    # A key served without its certificate is kept by keyId; nothing null is sent back.
    kept = writable_key(key)
    assert kept["keyId"] == key["keyId"] and "key" not in kept
    assert all(v is not None for v in kept.values())


def test_application_collections_read_as_lists() -> None:
    empty = exchange("GET /applications?$filter=startswith (empty collection)")
    one = exchange("GET /applications?$filter=appId eq (one match)")
    assert run(Replay(empty), lambda g: g.get_all(empty.target)) == []
    [app] = run(Replay(one), lambda g: g.get_all(one.target))
    assert app["appId"] == "c603620f-3d35-453e-bcde-9f680b44a0f3"
    assert "@odata.context" not in app  # items of a collection carry none


def test_select_id_answer_has_only_the_id() -> None:
    recorded = exchange("GET /applications/{id}?$select=Id")
    body = run(Replay(recorded), lambda g: g.get(recorded.target))
    assert {k for k in body if not k.startswith("@")} == {"id"}


def test_application_not_found_is_a_graph_error_with_request_id() -> None:
    recorded = exchange("GET /applications/{id} 404 (id is an appId")
    with pytest.raises(GraphError) as caught:
        run(Replay(recorded), lambda g: g.get(recorded.target))
    err = caught.value
    inner = recorded.body["error"]["innerError"]
    assert (err.status, err.code) == (404, "Request_ResourceNotFound")
    assert err.request_id == inner["request-id"]
    assert "c603620f-3d35-453e-bcde-9f680b44a0f3" in err.message
    assert is_replication_lag(err) and not is_duplicate(err)
    assert graph_error_text(err).startswith("HTTP 404 Request_ResourceNotFound: Resource '")


def test_empty_answers_of_patch_delete_and_remove_password_read_as_nothing() -> None:
    for call in ("PATCH /applications/{id} (adds", "DELETE /applications/{id}",
                 "POST /applications/{id}/removePassword",
                 "DELETE /directory/deletedItems/{id} (permanent delete)"):
        recorded = exchange(call)
        assert recorded.status == 204 and "content-type" not in recorded.headers
        assert run(Replay(recorded), send(recorded)) in (None, {})


def test_add_password_answer_of_200_is_the_credential() -> None:
    for recorded in (exchange("POST /applications/{id}/addPassword"),
                     exchange("POST /applications/{id}/microsoft.graph.addPassword")):
        body = run(Replay(recorded), send(recorded))
        assert recorded.status == 200 and body["keyId"] and body["hint"]


# --- service principals -------------------------------------------------------------------

def _state(tmp_path: Path, app_id: str) -> RunState:
    state = RunState(Journal(tmp_path / "provisioning.json", RECORDED_TENANT, "replay-run"))
    state.app_id = app_id
    return state


def test_new_service_principal_id_comes_from_the_create_answer(tmp_path: Path) -> None:
    recorded = exchange("POST /servicePrincipals", status=201)
    state = _state(tmp_path, recorded.request_body["appId"])
    sp_id = run(Replay(recorded, by_path=True), lambda g: ensure_service_principal(
        g, pacing(), state, checklist(), reused=False))
    assert sp_id == "45e0a0cf-92d7-4ea9-8a44-0e84fae7aa74"
    assert state.service_principal_id == sp_id and state.principal_created


def test_service_principal_lists_and_404() -> None:
    one = exchange("GET /servicePrincipals?$filter=servicePrincipalNames/any(c:c eq '{appId}')")
    gone = exchange("GET /servicePrincipals?$filter=... (empty collection after delete)")
    missing = exchange("GET /servicePrincipals/{id} 404")
    [sp] = run(Replay(one), lambda g: g.get_all(one.target))
    assert sp["appId"] == "5a512f68-af7f-4e8b-b7d4-19f3ea7372db"
    assert run(Replay(gone), lambda g: g.get_all(gone.target)) == []
    with pytest.raises(GraphError) as caught:
        run(Replay(missing), lambda g: g.get(missing.target))
    assert caught.value.code == "Request_ResourceNotFound"


def test_app_role_assignment_with_a_base64url_id_is_accepted() -> None:
    recorded = exchange("POST /servicePrincipals/{id}/appRoleAssignments 201")
    body = run(Replay(recorded), lambda g: g.post(recorded.target, recorded.request_body))
    # Not a GUID: the client keeps it as it is, and grants match on the pair instead.
    assert body["id"] == "nI5EJPrQ0UOh3eJ5cglpoLL3KmM12wZPom8Zw6AEypw"
    assert (body["resourceId"], body["appRoleId"]) == (
        recorded.request_body["resourceId"], recorded.request_body["appRoleId"])


def test_oauth2_permission_grant_answers_read() -> None:
    created = exchange("POST /oauth2PermissionGrants")
    listed = exchange("GET /oauth2PermissionGrants?$filter=clientId eq (one grant)")
    body = run(Replay(created), lambda g: g.post(created.target, created.request_body))
    assert body["id"] == "35MyBBmbqkaWL2X5V9e8yInI76O38TJFngGR4y0QOfQ"
    [grant] = run(Replay(listed), lambda g: g.get_all(listed.target))
    assert grant["scope"] == "Directory.Read.All" and grant["principalId"] is None


def test_owners_and_user_answers_read() -> None:
    owners = exchange("GET /applications/{id}/owners")
    user = exchange("GET /users/{upn}")
    [owner] = run(Replay(owners), lambda g: g.get_all(owners.target))
    assert owner["@odata.type"] == "#microsoft.graph.user"
    body = run(Replay(user), lambda g: g.get(user.target))
    assert body["id"] == "6d97229a-391f-473a-893f-f0608b592d7b"
    assert body["userPrincipalName"] == "example@example.com"


# --- the tenant and its resource principals -----------------------------------------------

def test_organization_of_a_real_tenant_reads(tmp_path: Path) -> None:
    recorded = exchange("GET /organization")
    first = batch_answers(org=recorded)
    token: Any = type("Token", (), {"tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47"})()
    tenant = check_organization(resolve_endpoints("global"), token, first, checklist())
    assert tenant.id == "72f988bf-86f1-41af-91ab-2d7cd011db47"
    assert tenant.name == "Microsoft"
    assert tenant.default_domain is None  # the recording's trimmed domains have no default
    assert first.tenant_id == tenant.id


def _graph_principal() -> Exchange:
    return exchange("GET /servicePrincipals?$filter=servicePrincipalNames/any(c:c eq "
                    "'00000003-0000-0")


def test_catalog_passes_against_the_recorded_microsoft_graph_principal() -> None:
    catalog = load_catalog()
    recorded = _graph_principal()
    published = {r["value"] for r in recorded.body["value"][0]["appRoles"]}
    # The 2022 principal lacks the roles added later (research/recordings.md §A).
    required = tuple(p for p in catalog.permissions
                     if p.resource.key == "graph" and p.value in published)
    assert len(required) == 11
    first = batch_answers(sp_graph=replace(recorded, body=recorded.body["value"][0]))
    resources = check_resources(catalog, required, first, checklist())
    assert resources["graph"].principal_id == recorded.body["value"][0]["id"]


def test_catalog_check_names_a_role_the_recorded_principal_does_not_publish() -> None:
    catalog = load_catalog()
    recorded = _graph_principal()
    first = batch_answers(sp_graph=replace(recorded, body=recorded.body["value"][0]))
    required = tuple(p for p in catalog.permissions if p.value == "User.ReadBasic.All")
    with pytest.raises(ProvisioningFailed) as caught:
        check_resources(catalog, required, first, checklist())
    assert "User.ReadBasic.All" in caught.value.message


def test_sharepoint_principal_fixture_resolves_roles_of_its_own_resource() -> None:
    catalog = load_catalog()
    recorded = exchange("GET /servicePrincipals?$filter=... (Office 365 SharePoint Online SP)")
    body = recorded.body["value"][0]
    first = batch_answers(sp_sharepoint=replace(recorded, body=body))
    required = tuple(p for p in catalog.permissions if p.resource.key == "sharepoint")
    resources = check_resources(catalog, required, first, checklist())
    # df021288… is User.Read.All here and on Graph: read on this resource, it is this one's.
    assert resources["sharepoint"].roles["df021288-bdef-4463-88db-98f22de89214"] == \
        "User.Read.All"
    assert resources["sharepoint"].roles["678536fe-1083-478a-9c59-b99265e6b0d3"] == \
        "Sites.FullControl.All"


def test_required_resource_access_as_served_compares_as_a_set() -> None:
    recorded = exchange("PATCH /applications/{id} (requiredResourceAccess)")
    sent = recorded.request_body["requiredResourceAccess"]
    reordered = [{**api, "resourceAccess": list(reversed(api["resourceAccess"]))}
                 for api in reversed(sent)]
    assert access_set(reordered) == access_set(sent)


def test_every_success_body_of_the_recordings_is_a_json_object_the_client_accepts() -> None:
    for recorded in exchanges():
        if recorded.method != "GET" or recorded.status != 200:
            continue
        assert run(Replay(recorded), send(recorded)) == recorded.body, recorded.call


def test_oldest_app_is_picked_whatever_form_graph_gave_its_time() -> None:
    created = exchange("POST /applications (with certificate keyCredential)").body
    listed = exchange("GET /applications?$filter=appId eq (one match)").body["value"][0]
    # The same second, as the create answered it (7 digits) and as a read does (none).
    assert created["createdDateTime"] == "2022-06-09T05:55:05.7090167Z"
    assert listed["createdDateTime"] == "2022-06-09T05:55:05Z"
    newer = {**created, "id": "newer", "appId": "newer", "tags": [MANAGED_TAG]}
    older = {**listed, "id": "older", "appId": "older", "tags": [MANAGED_TAG]}
    chosen = pick_existing([newer, older], None, None, None, checklist())
    assert chosen is not None and chosen["id"] == "older"


def test_sharepoint_root_is_not_guessed_from_a_wildcard_or_another_cloud_name() -> None:
    recorded = exchange("GET /servicePrincipals?$filter=... (Office 365 SharePoint Online SP)")
    body = recorded.body["value"][0]
    # Its names: '…/*.sharepoint.com' (no https host) and Microsoft's dogfood host.
    assert sharepoint_root_from_principal(body, resolve_endpoints("global")) is None
    first = batch_answers(sp_sharepoint=replace(recorded, body=body))
    assert first.sharepoint_hint(resolve_endpoints("global")) is None
