"""``connections remove --offboard``: what is deleted in the tenant, and what never is."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.commands import Outcome
from support.lifecycle import MANUAL_APP, TENANT, endpoint_args, managed_app, scenario

from vdc_tui.emulator import EmulatorServer

Run = Callable[..., Outcome]
StartEmulator = Callable[..., EmulatorServer]


@pytest.fixture
def connected(run: Run, start_emulator: StartEmulator) -> EmulatorServer:
    """Northwind connected in automatic mode (the device code is approved at once)."""
    emu = start_emulator(scenario(), auto_approve_after=0)
    outcome = run("connect", "auto", "--json", *endpoint_args(emu))
    assert outcome.code == 0, outcome.err
    return emu


def offboard(run: Run, emu: EmulatorServer, *extra: str) -> Outcome:
    return run("connections", "remove", TENANT, "--offboard", "--yes", "--json", *extra,
               *endpoint_args(emu))


def test_offboard_deletes_the_managed_app_and_the_profile(run: Run,
                                                          connected: EmulatorServer) -> None:
    app = managed_app(connected)
    outcome = offboard(run, connected)
    assert outcome.code == 0, outcome.err
    document = outcome.json()
    assert document["status"] == "offboarded"
    assert document["tenant"]["app_deleted"] and not document["tenant"]["app_purged"]
    assert document["tenant"]["restorable_until"]
    assert app.id not in connected.state.applications
    assert app.id in connected.state.deleted_applications
    assert not any(sp.app_id == app.app_id for sp in connected.state.service_principals.values())
    assert "restorable" in outcome.err and "30 days" in outcome.err
    assert run("connections", "list", "--json").json()["connections"] == []


def test_offboard_purge_removes_it_from_deleted_items(run: Run,
                                                      connected: EmulatorServer) -> None:
    app = managed_app(connected)
    outcome = offboard(run, connected, "--purge")
    assert outcome.code == 0, outcome.err
    assert outcome.json()["tenant"]["app_purged"] is True
    assert app.id not in connected.state.deleted_applications


def test_offboard_refuses_an_app_without_the_managed_tag(run: Run, connected: EmulatorServer,
                                                        home: Path) -> None:
    app = managed_app(connected)
    app.props["tags"] = ["someone-else"]
    outcome = offboard(run, connected)
    assert outcome.code == 3, outcome.err
    assert outcome.json()["error"]["code"] == "app_not_managed"
    assert app.id in connected.state.applications  # nothing deleted
    assert len(run("connections", "list", "--json").json()["connections"]) == 1


def test_offboard_keeps_a_manual_mode_app_without_delete_app(
        run: Run, start_emulator: StartEmulator, monkeypatch: Any) -> None:
    emu = start_emulator(scenario(), auto_approve_after=0)
    monkeypatch.setenv("NW_PW", "pw-nw")
    connect = run("connect", "manual", "--admin-email", "admin@northwind.com", "--app-id",
                  MANUAL_APP, "--pfx", str(emu.certificate_path("northwind-manual")),
                  "--pfx-password-env", "NW_PW", "--json", *endpoint_args(emu))
    assert connect.code == 0, connect.err
    before = set(emu.state.applications)
    kept = offboard(run, emu)
    assert kept.code == 0, kept.err
    assert kept.json()["tenant"]["app_kept"] and not kept.json()["tenant"]["app_deleted"]
    assert set(emu.state.applications) == before
    assert run("connections", "list", "--json").json()["connections"] == []


def test_offboard_deletes_a_manual_mode_app_with_delete_app(
        run: Run, start_emulator: StartEmulator, monkeypatch: Any) -> None:
    emu = start_emulator(scenario(), auto_approve_after=0)
    monkeypatch.setenv("NW_PW", "pw-nw")
    assert run("connect", "manual", "--admin-email", "admin@northwind.com", "--app-id",
               MANUAL_APP, "--pfx", str(emu.certificate_path("northwind-manual")),
               "--pfx-password-env", "NW_PW", *endpoint_args(emu)).code == 0
    outcome = offboard(run, emu, "--delete-app")
    assert outcome.code == 0, outcome.err
    assert not any(a.app_id == MANUAL_APP for a in emu.state.applications.values())


def test_offboard_without_yes_and_without_a_terminal_changes_nothing(
        run: Run, connected: EmulatorServer) -> None:
    app = managed_app(connected)
    outcome = run("connections", "remove", TENANT, "--offboard", "--json",
                  *endpoint_args(connected))
    assert outcome.code == 2
    assert "--yes" in outcome.json()["error"]["remediation"]
    assert app.id in connected.state.applications
    assert len(run("connections", "list", "--json").json()["connections"]) == 1


def test_offboard_by_an_admin_of_another_role_is_refused(run: Run,
                                                        connected: EmulatorServer) -> None:
    connected.scenario.device_code.auto_approve_user = "reader@northwind.com"
    outcome = offboard(run, connected)
    assert outcome.code == 3, outcome.err
    assert outcome.json()["error"]["code"] == "not_global_admin"
    assert managed_app(connected).id in connected.state.applications


def test_remove_without_offboard_says_the_app_still_exists(run: Run,
                                                          connected: EmulatorServer) -> None:
    app = managed_app(connected)
    outcome = run("connections", "remove", TENANT, "--json")
    assert outcome.code == 0
    assert "--offboard" in outcome.json()["note"]
    assert app.id in connected.state.applications


def test_purge_without_offboard_is_an_invalid_invocation(run: Run,
                                                         connected: EmulatorServer) -> None:
    outcome = run("connections", "remove", TENANT, "--purge", "--json")
    assert outcome.code == 2
    assert len(run("connections", "list", "--json").json()["connections"]) == 1


def test_the_confirmation_names_the_tenant_and_what_will_be_deleted() -> None:
    from vdc_tui.connect.lifecycle.offboard import offboard_plan
    from vdc_tui.connect.store.profile import Profile

    document = {"tenant": {"id": TENANT, "name": "Northwind"}, "mode": "automatic",
                "app": {"app_id": "11111111-2222-4333-8444-555555555555"}}
    profile = Profile.from_json(document)
    said = offboard_plan(profile, delete_app=False, purge=False)
    assert "Northwind" in said and TENANT in said
    assert "delete the app registration 11111111-2222-4333-8444-555555555555" in said
    assert "30 days" in said
    assert "purge" in offboard_plan(profile, delete_app=False, purge=True)
    manual = offboard_plan(Profile.from_json({**document, "mode": "manual"}), delete_app=False,
                           purge=False)
    assert "keep the app registration" in manual and "--delete-app" in manual
