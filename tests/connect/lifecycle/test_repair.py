"""``connections repair``: one admin sign-in grants only what is missing, then verifies."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from support.commands import Outcome
from support.lifecycle import TENANT, endpoint_args, managed_app, scenario

from vdc_tui.connect.permissions import GLOBAL_READER_ROLE, load_catalog
from vdc_tui.emulator import EmulatorServer

from .test_renew import connect, profile_of

Run = Callable[..., Outcome]
StartEmulator = Callable[..., EmulatorServer]


def principal_id(emu: EmulatorServer) -> str:
    app = managed_app(emu)
    return next(sp.id for sp in emu.state.service_principals.values()
                if sp.app_id == app.app_id)


def test_repair_grants_only_the_revoked_permission_and_global_reader(
        run: Run, start_emulator: StartEmulator, home: Path) -> None:
    emu = start_emulator(scenario(), auto_approve_after=0)
    connect(run, emu)
    sp = principal_id(emu)
    with emu.state.lock:
        grants = [a for a in emu.state.app_role_assignments.values() if a.principal_id == sp]
        revoked = grants[0]
        del emu.state.app_role_assignments[revoked.id]
        for ra in [r for r in emu.state.role_assignments.values()
                   if r.principal_id == sp and r.role_definition_id == GLOBAL_READER_ROLE]:
            del emu.state.role_assignments[ra.id]
    before = len(emu.request_log)
    outcome = run("connections", "repair", TENANT, "--json", *endpoint_args(emu))
    assert outcome.code == 0, outcome.err
    document = outcome.json()
    assert len(document["permissions"]["granted_now"]) == 1
    assert document["global_reader_assigned"] is True
    posted = [r for r in emu.request_log[before:] if r.method == "POST"
              and "appRoleAssignedTo" in r.path]
    assert len(posted) == 1  # only the missing one went out
    with emu.state.lock:
        assert emu.state.find_assignment(sp, revoked.resource_id, revoked.app_role_id)
        assert any(r.principal_id == sp and r.role_definition_id == GLOBAL_READER_ROLE
                   for r in emu.state.role_assignments.values())
    permissions = profile_of(home)["permissions"]
    assert permissions["catalog_version"] == load_catalog().version
    assert permissions["missing"] == []


def test_repair_adds_missing_entries_to_required_resource_access(
        run: Run, start_emulator: StartEmulator, home: Path) -> None:
    emu = start_emulator(scenario(), auto_approve_after=0)
    connect(run, emu)
    app = managed_app(emu)
    with emu.state.lock:
        app.props["requiredResourceAccess"] = app.props["requiredResourceAccess"][:1]
    outcome = run("connections", "repair", TENANT, "--json", *endpoint_args(emu))
    assert outcome.code == 0, outcome.err
    document = outcome.json()
    assert document["required_access_updated"] is True
    assert document["permissions"]["granted_now"] == []
    apis = {a["resourceAppId"] for a in app.props["requiredResourceAccess"]}
    selected = profile_of(home)["services"]["selected"]
    assert {p.resource.app_id for p in load_catalog().required_for(selected)} <= apis


def test_repair_by_a_non_admin_grants_nothing(run: Run, start_emulator: StartEmulator,
                                               home: Path) -> None:
    emu = start_emulator(scenario(), auto_approve_after=0)
    connect(run, emu)
    emu.scenario.device_code.auto_approve_user = "reader@northwind.com"
    before = len(emu.request_log)
    outcome = run("connections", "repair", TENANT, "--json", *endpoint_args(emu))
    assert outcome.code == 3
    assert outcome.json()["error"]["code"] == "not_global_admin"
    assert not any(r.method == "POST" and "appRoleAssignedTo" in r.path
                   for r in emu.request_log[before:])


def test_repair_of_an_app_gone_for_good_says_connect_again(
        run: Run, start_emulator: StartEmulator) -> None:
    emu = start_emulator(scenario(), auto_approve_after=0)
    connect(run, emu)
    with emu.state.lock:  # deleted (its principal with it), then purged from deleted items
        app = managed_app(emu)
        emu.state.delete_application(app, now=time.time())
        del emu.state.deleted_applications[app.id]
    outcome = run("connections", "repair", TENANT, "--json", *endpoint_args(emu))
    assert outcome.code == 3, outcome.err
    error = outcome.json()["error"]
    assert error["code"] == "app_not_restorable"
    assert "connect auto" in error["remediation"]
