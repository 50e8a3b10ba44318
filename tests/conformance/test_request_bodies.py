"""Every Graph request body our automatic mode sends, checked against Graph's schema.

A full automatic run goes against the emulator while an httpx request hook on our own
Graph client records every request on the wire. Each body is then validated with the CSDL
extract: by URL → entity type for plain requests, and for ``$batch`` the envelope (at most
20 requests, unique ids, relative URLs, ``dependsOn`` among the ids) plus every inner body.
A body whose URL maps to no known type fails the test, so new calls cannot slip past.
"""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

import vdc_tui.connect.microsoft.graph as graph_module
from vdc_tui.connect.microsoft.clouds import Endpoints, server_endpoints
from vdc_tui.connect.microsoft.http import make_async_client
from vdc_tui.connect.microsoft.identity import DelegatedToken, IdentityClient
from vdc_tui.connect.models import ConnectionResult, ignore_progress
from vdc_tui.connect.onboard.automatic import AutomaticConnector
from vdc_tui.connect.permissions import load_catalog
from vdc_tui.connect.store.profiles import ProfileStore
from vdc_tui.emulator import EmulatorServer, load_scenario
from vdc_tui.emulator.schema import validate_batch_envelope, validate_entity

TENANT = "7c2e9a41-3b5d-4f68-9e10-a2b4c6d8e0f1"
DOMAIN = "northwindbodies.onmicrosoft.com"
ADMIN = f"admin@{DOMAIN}"
PUBLIC_CLIENT = "14d82eec-204b-4c2f-b7e8-296a70dab67e"

SCENARIO: dict[str, Any] = {
    "name": "request-bodies",
    "description": "A licensed tenant with a Global Administrator; automatic mode runs twice.",
    "device_code": {"interval": 1},
    "tenants": [
        {
            "id": TENANT,
            "display_name": "Northwind Bodies",
            "domains": [DOMAIN],
            "users": [
                {"upn": ADMIN, "display_name": "Bodies Admin", "roles": ["Global Administrator"]}
            ],
            # Consent given before: the cleanup PATCHes the grant (keeps User.Read).
            "delegated_grants": [
                {"consent_type": "Principal", "principal": ADMIN, "scope": "User.Read"}
            ],
            "skus": [
                {
                    "sku_part_number": "ENTERPRISEPACK",
                    "sku_id": "6fd2c87f-b296-42f0-b197-1e91e994b900",
                    "service_plans": ["EXCHANGE_S_ENTERPRISE", "SHAREPOINTENTERPRISE", "TEAMS1"],
                }
            ],
        }
    ],
}

#: Graph v1.0 paths that take a body, and the CSDL type of that body (identity.md §5).
#: (pattern, method) → (type, partial).
_ID = r"[^/()]+"
BODY_TYPES: list[tuple[str, re.Pattern[str], str, bool]] = [
    ("POST", re.compile(r"^/applications$"), "application", False),
    ("PATCH", re.compile(rf"^/applications/{_ID}$"), "application", True),
    ("PATCH", re.compile(r"^/applications\(appId='[^']+'\)$"), "application", True),
    ("POST", re.compile(r"^/servicePrincipals$"), "servicePrincipal", False),
    ("PATCH", re.compile(rf"^/servicePrincipals/{_ID}$"), "servicePrincipal", True),
    (
        "POST",
        re.compile(rf"^/servicePrincipals/{_ID}/appRoleAssignedTo$"),
        "appRoleAssignment",
        False,
    ),
    (
        "POST",
        re.compile(rf"^/servicePrincipals/{_ID}/appRoleAssignments$"),
        "appRoleAssignment",
        False,
    ),
    (
        "POST",
        re.compile(r"^/roleManagement/directory/roleAssignments$"),
        "unifiedRoleAssignment",
        False,
    ),
    # the consent cleanup (oauth2permissiongrant-update.md: scope replaced whole)
    ("PATCH", re.compile(r"^/oauth2PermissionGrants/[A-Za-z0-9_-]+$"), "oAuth2PermissionGrant",
     True),
]


@dataclass(frozen=True)
class SentRequest:
    """One request our Graph client put on the wire."""

    method: str
    path: str  # relative to /v1.0, without the query
    body: Any  # parsed JSON, or None


class BodyRecorder:
    """An httpx request hook that keeps every request our Graph clients send."""

    def __init__(self, graph_v1: str) -> None:
        self._prefix = httpx.URL(graph_v1).path
        self.sent: list[SentRequest] = []

    async def __call__(self, request: httpx.Request) -> None:
        path = request.url.path
        assert path.startswith(self._prefix), f"Graph call outside {self._prefix}: {path}"
        content = request.content
        body = json.loads(content) if content else None
        self.sent.append(SentRequest(request.method, path[len(self._prefix) :], body))


def body_type(method: str, path: str) -> tuple[str, bool]:
    """The CSDL type of a body sent with ``method`` to ``path`` (relative to /v1.0)."""
    bare = path.split("?", 1)[0]
    for want_method, pattern, type_name, partial in BODY_TYPES:
        if method.upper() == want_method and pattern.match(bare):
            return type_name, partial
    raise AssertionError(f"no schema type known for a body sent with {method} {bare}")


def problems_of(sent: SentRequest) -> list[str]:
    """Schema problems of one recorded request (batch: envelope and every inner body)."""
    if sent.body is None:
        return []
    if sent.method == "POST" and sent.path == "/$batch":
        out = [f"$batch: {p}" for p in validate_batch_envelope(sent.body)]
        for inner in sent.body.get("requests", []):
            if inner.get("body") is None:
                continue
            url = str(inner["url"])
            type_name, partial = body_type(str(inner["method"]), url)
            out += [
                f"$batch {inner['id']} {inner['method']} {url}: {p}"
                for p in validate_entity(type_name, inner["body"], partial=partial)
            ]
        return out
    type_name, partial = body_type(sent.method, sent.path)
    return [
        f"{sent.method} {sent.path}: {p}"
        for p in validate_entity(type_name, sent.body, partial=partial)
    ]


def _writes(sent: list[SentRequest]) -> list[tuple[str, str]]:
    """(method, path) of every request that carried a body, batch members included."""
    out: list[tuple[str, str]] = []
    for s in sent:
        if s.path == "/$batch" and s.body:
            out += [
                (str(r["method"]), str(r["url"]).split("?", 1)[0])
                for r in s.body["requests"]
                if r.get("body") is not None
            ]
        elif s.body is not None:
            out.append((s.method, s.path))
    return out


@dataclass
class RunRecord:
    """What one automatic run sent, and its result."""

    sent: list[SentRequest]
    result: ConnectionResult


@pytest.fixture(scope="module")
def emulator() -> Iterator[Any]:
    with EmulatorServer(load_scenario(SCENARIO), port=0) as emu:
        yield emu


async def _sign_in(emu: Any, endpoints: Endpoints) -> tuple[IdentityClient, DelegatedToken]:
    identity = IdentityClient(endpoints, client_id=PUBLIC_CLIENT)
    session = await identity.start_device_flow(
        [f"{endpoints.graph_url}/{s}" for s in load_catalog().delegated_sign_in_scopes]
    )
    emu.approve_device_code(session.code.user_code, ADMIN)
    return identity, await identity.wait_for_sign_in(session)


async def _automatic_run(emu: Any, home: Path, monkeypatch: pytest.MonkeyPatch) -> RunRecord:
    endpoints = server_endpoints(emu)
    recorder = BodyRecorder(endpoints.graph_v1)
    real_factory = make_async_client

    def recording_client(endpoints: Endpoints, *, timeout: float = 30.0) -> httpx.AsyncClient:
        client = real_factory(endpoints, timeout=timeout)
        client.event_hooks["request"].append(recorder)
        return client

    monkeypatch.setattr(graph_module, "make_async_client", recording_client)
    identity, token = await _sign_in(emu, endpoints)
    try:
        connector = AutomaticConnector(
            endpoints,
            identity,
            ProfileStore(home),
            app_display_name="Northwind Backup (conformance)",
            services=frozenset({"exchange", "sharepoint", "teams"}),
            verify_timeout=60.0,
            replication_timeout=60.0,
        )
        result = await connector.run(token, ignore_progress)
    finally:
        await identity.aclose()
        monkeypatch.setattr(graph_module, "make_async_client", real_factory)
    return RunRecord(recorder.sent, result)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def two_runs(
    emulator: Any, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[RunRecord, RunRecord]]:
    """A first automatic run (creates the app) and a second one (reuses and updates it)."""
    home = tmp_path_factory.mktemp("vdc-home")
    with pytest.MonkeyPatch.context() as monkeypatch:
        first = await _automatic_run(emulator, home, monkeypatch)
        ProfileStore(home).save(first.result, ["exchange"], plan="flex", cloud="global")
        second = await _automatic_run(emulator, home, monkeypatch)
    yield first, second


#: The runs happen once, in a module-wide event loop; the tests read what they recorded.
in_module_loop = pytest.mark.asyncio(loop_scope="module")


@in_module_loop
async def test_first_run_sends_only_schema_valid_bodies(
    two_runs: tuple[RunRecord, RunRecord],
) -> None:
    first, _ = two_runs
    problems = [p for sent in first.sent for p in problems_of(sent)]
    assert not problems, "\n".join(problems)


@in_module_loop
async def test_first_run_covers_every_kind_of_write(two_runs: tuple[RunRecord, RunRecord]) -> None:
    # The check above is only as good as what it saw: the run must have sent each write.
    first, _ = two_runs
    kinds = {body_type(m, p)[0] for m, p in _writes(first.sent)}
    assert kinds == {
        "application",
        "servicePrincipal",
        "appRoleAssignment",
        "unifiedRoleAssignment",
        "oAuth2PermissionGrant",
    }
    assert any(s.path == "/$batch" for s in first.sent)


@in_module_loop
async def test_second_run_reusing_the_app_sends_only_schema_valid_bodies(
    two_runs: tuple[RunRecord, RunRecord],
) -> None:
    first, second = two_runs
    assert second.result.app_id == first.result.app_id
    problems = [p for sent in second.sent for p in problems_of(sent)]
    assert not problems, "\n".join(problems)
    assert ("PATCH", f"/applications/{first.result.app_object_id}") in _writes(second.sent)


@in_module_loop
async def test_every_batch_respects_the_envelope_rules(
    two_runs: tuple[RunRecord, RunRecord],
) -> None:
    batches = [s.body for run in two_runs for s in run.sent if s.path == "/$batch"]
    assert batches
    for body in batches:
        requests = body["requests"]
        ids = [r["id"] for r in requests]
        assert 1 <= len(requests) <= 20
        assert len(set(ids)) == len(ids)
        for r in requests:
            assert r["url"].startswith("/") and "://" not in r["url"]
            assert set(r.get("dependsOn", [])) <= set(ids) - {r["id"]}
        assert validate_batch_envelope(body) == []


def test_a_misspelled_property_is_rejected_by_the_validator() -> None:
    body = {"displayName": "x", "requiredResourceAcess": []}
    assert any("requiredResourceAcess" in p for p in validate_entity("application", body))


def test_body_type_refuses_an_unknown_write() -> None:
    with pytest.raises(AssertionError, match="no schema type"):
        body_type("POST", "/groups")


@in_module_loop
async def test_a_misspelled_property_is_a_400_from_the_emulator_over_https(
    emulator: Any,
) -> None:
    endpoints = server_endpoints(emulator)
    identity, token = await _sign_in(emulator, endpoints)
    await identity.aclose()
    body = {
        "displayName": "Misspelled",
        "signInAudience": "AzureADMyOrg",
        "requiredResourceAcess": [
            {
                "resourceAppId": "00000003-0000-0000-c000-000000000000",
                "resourceAccess": [{"id": "7ab1d382-f21e-4acd-a863-ba3e13f7da61", "type": "Role"}],
            }
        ],
    }
    headers = {"Authorization": f"Bearer {token.access_token}"}
    async with httpx.AsyncClient(
        verify=ssl.create_default_context(cafile=str(emulator.ca_bundle)), trust_env=False
    ) as http:
        plain = await http.post(f"{endpoints.graph_v1}/applications", json=body, headers=headers)
        batched = await http.post(
            f"{endpoints.graph_v1}/$batch",
            headers=headers,
            json={
                "requests": [
                    {
                        "id": "1",
                        "method": "POST",
                        "url": "/applications",
                        "headers": {"Content-Type": "application/json"},
                        "body": body,
                    }
                ]
            },
        )
    assert plain.status_code == 400, plain.text
    error = plain.json()["error"]
    assert error["code"] and "requiredResourceAcess" in error["message"]
    assert batched.status_code == 200
    (inner,) = batched.json()["responses"]
    assert inner["status"] == 400
    assert "requiredResourceAcess" in inner["body"]["error"]["message"]
