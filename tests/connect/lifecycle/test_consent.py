"""No standing privilege after an admin sign-in, from the command line: ``connect auto``,
``connections repair`` and ``remove --offboard`` leave no onboarding scope in the admin's
grant (earlier scopes kept), ``--keep-consent`` leaves it and says so, and ``connections
check`` finds the standing consent of a tenant onboarded before this change."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from support.commands import Outcome
from support.lifecycle import TENANT, endpoint_args, managed_app, scenario

from vdc_tui.connect.permissions import load_catalog
from vdc_tui.emulator import EmulatorServer

Run = Callable[..., Outcome]
StartEmulator = Callable[..., EmulatorServer]
ONBOARDING = list(load_catalog().delegated_sign_in_scopes)
CLI = "14d82eec-204b-4c2f-b7e8-296a70dab67e"
EARLIER = {"consent_type": "Principal", "principal": "admin@northwind.com",
           "scope": "User.Read Mail.Read"}


def _emulator(start: StartEmulator, grants: list[dict[str, Any]], *,
              for_org: bool = False) -> EmulatorServer:
    raw = scenario(delegated_grants=grants)
    raw["device_code"]["consent_for_organization"] = for_org
    return start(raw, auto_approve_after=0)


def _grants(emu: EmulatorServer) -> dict[tuple[str, str | None], list[str]]:
    users = emu.state.tenants[TENANT].users
    with emu.state.lock:
        return {(g.consent_type, users[g.principal_id].upn if g.principal_id else None): g.scopes
                for g in emu.state.delegated_grants.values()}


def _connect(run: Run, emu: EmulatorServer, *extra: str) -> dict[str, Any]:
    outcome = run("connect", "auto", "--json", *extra, *endpoint_args(emu))
    assert outcome.code == 0, outcome.err
    document: dict[str, Any] = outcome.json()
    return document


def _check(run: Run, emu: EmulatorServer) -> dict[str, Any]:
    outcome = run("connections", "check", TENANT, "--json", *endpoint_args(emu))
    entry: dict[str, Any] = outcome.json()["connections"][0]
    return next(c for c in entry["checks"] if c["name"] == "delegated_consent")


def test_connect_auto_removes_the_onboarding_scopes_and_keeps_earlier_ones(
        run: Run, start_emulator: StartEmulator) -> None:
    emu = _emulator(start_emulator, [EARLIER])
    document = _connect(run, emu)
    assert _grants(emu) == {("Principal", "admin@northwind.com"): ["User.Read", "Mail.Read"]}
    consent = document["delegated_consent"]
    assert consent["client_id"] == CLI
    assert sorted(consent["removed"]) == sorted(ONBOARDING)
    assert consent["kept"] == ["User.Read", "Mail.Read"]
    (grant,) = consent["grants"]
    assert grant["consent_type"] == "Principal" and grant["action"] == "patched"
    assert grant["id"] in emu.state.delegated_grants
    assert _check(run, emu)["status"] == "ok"


def test_repair_removes_what_its_own_sign_in_consented(
        run: Run, start_emulator: StartEmulator) -> None:
    emu = _emulator(start_emulator, [EARLIER])
    _connect(run, emu)
    outcome = run("connections", "repair", TENANT, "--json", *endpoint_args(emu))
    assert outcome.code == 0, outcome.err
    assert _grants(emu) == {("Principal", "admin@northwind.com"): ["User.Read", "Mail.Read"]}
    consent = outcome.json()["delegated_consent"]
    assert sorted(consent["removed"]) == sorted(ONBOARDING)
    assert [g["action"] for g in consent["grants"]] == ["patched"]
    assert "Remove the sign-in's delegated consent" in outcome.err


def test_offboard_removes_it_with_allprincipals_too(
        run: Run, start_emulator: StartEmulator) -> None:
    emu = _emulator(start_emulator, [EARLIER, {"consent_type": "AllPrincipals",
                                               "scope": "User.Read"}], for_org=True)
    _connect(run, emu)
    outcome = run("connections", "remove", TENANT, "--offboard", "--yes", "--json",
                  *endpoint_args(emu))
    assert outcome.code == 0, outcome.err
    assert _grants(emu) == {("Principal", "admin@northwind.com"): ["User.Read", "Mail.Read"],
                            ("AllPrincipals", None): ["User.Read"]}
    consent = outcome.json()["delegated_consent"]
    assert [(g["consent_type"], g["action"]) for g in consent["grants"]] == [
        ("AllPrincipals", "patched")]


def test_a_grant_of_only_onboarding_scopes_is_deleted_by_repair(
        run: Run, start_emulator: StartEmulator) -> None:
    emu = _emulator(start_emulator, [])
    _connect(run, emu)
    assert _grants(emu) == {}
    outcome = run("connections", "repair", TENANT, "--json", *endpoint_args(emu))
    assert outcome.code == 0, outcome.err
    assert _grants(emu) == {}
    assert [g["action"] for g in outcome.json()["delegated_consent"]["grants"]] == ["deleted"]


@pytest.mark.parametrize("command", ["connect", "repair", "offboard"])
def test_keep_consent_leaves_the_grant_and_says_what_stays(
        run: Run, start_emulator: StartEmulator, command: str) -> None:
    emu = _emulator(start_emulator, [EARLIER])
    keep = "--keep-consent"
    if command == "connect":
        outcome = run("connect", "auto", "--json", keep, *endpoint_args(emu))
    else:
        _connect(run, emu)
        argv = (["connections", "repair", TENANT] if command == "repair"
                else ["connections", "remove", TENANT, "--offboard", "--yes"])
        outcome = run(*argv, "--json", keep, *endpoint_args(emu))
    assert outcome.code == 0, outcome.err
    scopes = _grants(emu)[("Principal", "admin@northwind.com")]
    assert scopes[:2] == ["User.Read", "Mail.Read"] and sorted(scopes[2:]) == sorted(ONBOARDING)
    consent = outcome.json()["delegated_consent"]
    assert consent["skipped"] == "keep_consent" and consent["grants"] == []
    assert sorted(consent["standing"]) == sorted(ONBOARDING)
    assert "--keep-consent" in outcome.err and "Directory.ReadWrite.All" in outcome.err


def test_keep_consent_without_offboard_is_refused(run: Run) -> None:
    outcome = run("connections", "remove", TENANT, "--keep-consent", "--json")
    assert outcome.code == 2
    assert "--keep-consent" in outcome.json()["error"]["message"]


def test_a_failed_cleanup_is_a_warning_with_the_fix_and_the_connection_stands(
        run: Run, start_emulator: StartEmulator) -> None:
    emu = _emulator(start_emulator, [EARLIER])
    # The grants never answer: Graph's retries run out, the connection is saved anyway.
    emu.faults.update(drop_every=1, drop_path="/v1.0/oauth2PermissionGrants*")
    outcome = run("connect", "auto", "--json", *endpoint_args(emu))
    assert outcome.code == 0, outcome.err
    assert managed_app(emu)
    consent = outcome.json()["delegated_consent"]
    assert f"vdc-tui connections repair {TENANT}" in consent["error"]["remediation"]
    assert sorted(consent["standing"]) == sorted(ONBOARDING)
    assert f"vdc-tui connections repair {TENANT}" in outcome.err
    assert run("connections", "list", "--json").json()["connections"]


def test_check_finds_standing_consent_of_a_tenant_onboarded_before_this_change(
        run: Run, start_emulator: StartEmulator) -> None:
    emu = _emulator(start_emulator, [EARLIER])
    _connect(run, emu, "--keep-consent")  # what every onboarding before this change left
    found = _check(run, emu)
    assert found["status"] == "warning"
    assert "Directory.ReadWrite.All" in found["detail"]
    assert f"vdc-tui connections repair {TENANT}" in found["remediation"]
    outcome = run("connections", "check", TENANT, "--json", *endpoint_args(emu))
    assert outcome.code == 0 and outcome.json()["connections"][0]["health"] == "warning"
    assert run("connections", "repair", TENANT, "--json", *endpoint_args(emu)).code == 0
    assert _check(run, emu)["status"] == "ok"


def test_check_says_not_checked_when_the_app_may_not_read_grants(
        run: Run, start_emulator: StartEmulator) -> None:
    emu = _emulator(start_emulator, [])
    _connect(run, emu, "--keep-consent")
    app = managed_app(emu)
    graph = emu.state.resource_principal(TENANT, "graph")
    readers = {r["id"] for r in graph.app_roles
               if r["value"] in ("Directory.Read.All", "Directory.ReadWrite.All")}
    with emu.state.lock:
        sp = emu.state.principal_by_app_id(TENANT, app.app_id, now=None)
        assert sp is not None
        for a in [a for a in emu.state.app_role_assignments.values()
                  if a.principal_id == sp.id and a.app_role_id in readers]:
            del emu.state.app_role_assignments[a.id]
    found = _check(run, emu)
    assert found["status"] == "skipped" and found["detail"].startswith("Not checked")


def test_each_cleanup_is_an_audit_record_of_its_own(run: Run,
                                                   start_emulator: StartEmulator) -> None:
    emu = _emulator(start_emulator, [EARLIER])
    _connect(run, emu)
    assert run("connections", "repair", TENANT, "--json", "--keep-consent",
               *endpoint_args(emu)).code == 0  # skipped: nothing changed, nothing recorded
    outcome = run("audit", "--action", "consent_removed", "--json")
    assert outcome.code == 0, outcome.err
    (record,) = [r for r in outcome.json()["records"] if r.get("phase", "end") == "end"]
    assert record["outcome"] == "ok" and record["tenant_id"] == TENANT
    assert record["actor"]["admin"] == "admin@northwind.com"
    assert record["details"]["kept"] == ["User.Read", "Mail.Read"]
    assert [g["action"] for g in record["details"]["grants"]] == ["patched"]
