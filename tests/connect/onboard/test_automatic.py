"""Automatic mode end to end against the emulator (a fresh emulator per test)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from support.provisioning import (
    ALL,
    CONTOSO,
    VirtualTime,
    connector,
    contoso,
    journal_names_the_app,
    journal_path,
    managed_apps,
    provision,
    sign_in,
    wait_until,
)

from vdc_tui.connect.certificates import load_pfx_bytes
from vdc_tui.connect.errors import DiagnosedProblem, ProvisioningFailed
from vdc_tui.connect.microsoft.graph import GraphClient, GraphError
from vdc_tui.connect.models import CheckEvent, CheckStatus
from vdc_tui.connect.onboard.rollback import Rollback
from vdc_tui.connect.permissions import load_catalog
from vdc_tui.connect.store.profiles import ProfileStore
from vdc_tui.emulator import EmulatorServer, load_scenario
from vdc_tui.emulator.faults import FakeClock


async def test_happy_path_creates_consents_and_verifies(emu: Any, tmp_path: Path) -> None:
    token = await sign_in(emu)
    auto, identity = connector(emu, tmp_path)
    events: list[CheckEvent] = []
    before = len(emu.request_log)
    try:
        result = await auto.run(token, events.append)
    finally:
        await identity.aclose()
    sent = emu.request_log[before:]

    assert result.mode == "automatic" and result.created_app
    assert result.tenant.id == CONTOSO and result.tenant.name == "Contoso Ltd"
    assert result.signed_in_as == "admin@contoso.com"
    assert len(result.permissions.granted) == len(load_catalog().required_for(ALL))
    assert result.available_services == ("exchange", "sharepoint", "teams")
    pfx = load_pfx_bytes(result.certificate_pfx, None, source="result")
    assert pfx.info == result.certificate

    (app,) = managed_apps(emu)
    assert app.app_id == result.app_id and app.sign_in_audience == "AzureADMyOrg"
    assert [k.sha1.hex().upper() for k in app.key_credentials] == [result.certificate.sha1]
    finals = {e.step: e.status for e in events if e.status is not CheckStatus.RUNNING}
    assert finals == {
        step: CheckStatus.PASS
        for step in (
            "admin",
            "organization",
            "resource_principals",
            "application",
            "service_principal",
            "grants",
            "directory_role",
            "verify",
            "services",
            "consent",
        )
    }
    assert not journal_path(tmp_path).exists()
    # Nothing secret reaches the progress lines or the result's repr.
    shown = " ".join(f"{e.detail} {e.remediation}" for e in events) + repr(result)
    assert "PRIVATE KEY" not in shown and "eyJ" not in shown
    assert token.access_token not in shown
    # On the wire: one batch of reads, the app, its principal, the grants and the role (two
    # batches sent together), then the services check with the app's own token.
    graph_wire = [r for r in sent if r[1].startswith("/v1.0/") and "($batch)" not in r[1]]
    # The last step, the consent cleanup: one batch (the two principals), the grants, and
    # the sign-in's grant deleted (it held only the onboarding scopes).
    cleanup = graph_wire[-3:]
    graph_wire = graph_wire[:-3]
    assert [(m, p.split("/oauth2PermissionGrants/")[0]) for m, p, _ in cleanup] == [
        ("POST", "/v1.0/$batch"), ("GET", "/v1.0/oauth2PermissionGrants"),
        ("DELETE", "/v1.0")]
    assert result.extra["delegated_consent"]["grants"][0]["action"] == "deleted"
    assert sorted((m, p) for m, p, _ in graph_wire) == sorted(
        [
            ("POST", "/v1.0/$batch"),
            ("POST", "/v1.0/applications"),
            ("POST", "/v1.0/servicePrincipals"),
            ("POST", "/v1.0/$batch"),
            ("POST", "/v1.0/$batch"),
            ("GET", "/v1.0/subscribedSkus"),
            ("GET", "/v1.0/sites/root"),
        ]
    )
    tokens = [r for r in sent if r[1].endswith("/oauth2/v2.0/token")]
    assert len(tokens) == 3  # Graph, Exchange, SharePoint: each verified at the first try
    # Only the admin's read of the root site is refused (the sign-in asks no SharePoint
    # scope); the app's own token reads it afterwards.
    refused = [(m, p) for m, p, status in sent if status >= 400]
    assert refused == [("GET", "/v1.0/sites/root ($batch)")]


async def test_rerun_reuses_the_same_app_and_rotates_its_certificate(
    emu: Any, tmp_path: Path
) -> None:
    first = await provision(emu, tmp_path)
    second = await provision(emu, tmp_path)
    assert second.app_id == first.app_id and not second.created_app
    (app,) = managed_apps(emu)
    assert [k.sha1.hex().upper() for k in app.key_credentials] == [second.certificate.sha1]
    assert second.certificate.sha1 != first.certificate.sha1


async def test_rerun_keeps_the_saved_profiles_certificate_until_the_next_run(
    emu: Any, tmp_path: Path
) -> None:
    # The new profile is written only when the operator finishes the wizard: until then the
    # saved connection's certificate must keep working, so a rerun leaves it on the app and
    # the run after the new profile is saved removes it.
    store = ProfileStore(tmp_path)
    first = await provision(emu, tmp_path)
    store.save(first, ["exchange"], plan="flex", cloud="global")
    second = await provision(emu, tmp_path)
    (app,) = managed_apps(emu)
    on_app = sorted(k.sha1.hex().upper() for k in app.key_credentials)
    assert on_app == sorted([first.certificate.sha1, second.certificate.sha1])
    store.save(second, ["exchange"], plan="flex", cloud="global")
    third = await provision(emu, tmp_path)
    (app,) = managed_apps(emu)
    on_app = sorted(k.sha1.hex().upper() for k in app.key_credentials)
    assert on_app == sorted([second.certificate.sha1, third.certificate.sha1])


async def test_not_a_global_administrator_is_refused_before_anything_is_made(
    emu: Any, tmp_path: Path
) -> None:
    token = await sign_in(emu, "helpdesk@contoso.com")
    auto, identity = connector(emu, tmp_path)
    events: list[CheckEvent] = []
    try:
        with pytest.raises(DiagnosedProblem) as info:
            await auto.run(token, events.append)
    finally:
        await identity.aclose()
    assert info.value.code == "not_global_admin"
    assert "helpdesk@contoso.com" in info.value.message
    assert info.value.remediation
    assert [(e.step, e.code) for e in events if e.status is CheckStatus.FAIL] == [
        ("admin", "not_global_admin")
    ]
    assert managed_apps(emu) == []


async def test_catalog_id_unknown_to_the_api_is_named(emu: Any, tmp_path: Path) -> None:
    catalog = load_catalog()
    bad = replace(catalog.permissions[0], id="00000000-1111-4222-8333-444444444444")
    broken = replace(catalog, permissions=(bad, *catalog.permissions[1:]))
    with pytest.raises(ProvisioningFailed) as info:
        await provision(emu, tmp_path, catalog=broken)
    assert info.value.code == "provisioning_failed"
    assert "Microsoft Graph: Directory.Read.All" in info.value.message
    assert "00000000-1111-4222-8333-444444444444" in info.value.message
    assert managed_apps(emu) == []


async def test_throttling_storm_is_ridden_out_honouring_retry_after(
    emu: Any, tmp_path: Path
) -> None:
    emu.faults.update(throttle_every=2, retry_after=1)
    waits: list[float] = []

    async def quick_sleep(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(0)

    result = await provision(emu, tmp_path, sleep=quick_sleep)
    assert result.created_app
    assert any(status == 429 for _, _, status in emu.request_log)
    assert 1.0 in waits  # Retry-After was honoured, not guessed
    assert len(managed_apps(emu)) == 1


async def test_cancel_during_provisioning_leaves_no_app(emu: Any, tmp_path: Path) -> None:
    token = await sign_in(emu)
    # The principal's creation hangs: the app exists, the run is mid-way.
    emu.faults.update(stall_every=1, stall_path="/v1.0/servicePrincipals", stall_seconds=30)
    auto, identity = connector(emu, tmp_path)
    events: list[CheckEvent] = []
    task = asyncio.create_task(auto.run(token, events.append))
    try:
        await wait_until(lambda: len(managed_apps(emu)) == 1)
        await wait_until(lambda: any(e.step == "service_principal" for e in events))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        emu.faults.update(stall_every=0)
        await identity.aclose()
    assert managed_apps(emu) == []
    assert not journal_path(tmp_path).exists()
    rollback = [e for e in events if e.step == "application" and e.status is CheckStatus.WARN]
    assert rollback and "Rolled back" in rollback[-1].detail


async def test_killed_run_is_resumed_by_the_next_one(
    emu: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = await sign_in(emu)
    emu.faults.update(stall_every=1, stall_path="/v1.0/servicePrincipals", stall_seconds=30)
    auto, identity = connector(emu, tmp_path)

    async def killed(*args: Any) -> None:
        """The process died: nothing after this point runs."""

    monkeypatch.setattr(Rollback, "undo", killed)
    task = asyncio.create_task(auto.run(token, lambda e: None))
    await wait_until(lambda: len(managed_apps(emu)) == 1)
    await wait_until(lambda: journal_names_the_app(tmp_path))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await identity.aclose()
    monkeypatch.undo()  # the next run is a new process
    emu.faults.update(stall_every=0)
    (orphan,) = managed_apps(emu)
    assert json.loads(journal_path(tmp_path).read_text())["application_id"] == orphan.id

    result = await provision(emu, tmp_path)
    assert result.app_id == orphan.app_id
    assert result.created_app  # made by the unfinished run, finished by this one
    assert [a.id for a in managed_apps(emu)] == [orphan.id]
    assert not journal_path(tmp_path).exists()


async def test_rollback_failure_names_what_is_left(
    emu: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refuse(self: GraphClient, path: str) -> None:
        raise GraphError(403, "Authorization_RequestDenied", "Insufficient privileges")

    monkeypatch.setattr(GraphClient, "delete", refuse)
    token = await sign_in(emu)
    emu.faults.update(stall_every=1, stall_path="/v1.0/servicePrincipals", stall_seconds=30)
    auto, identity = connector(emu, tmp_path)
    task = asyncio.create_task(auto.run(token, lambda e: None))
    try:
        await wait_until(lambda: len(managed_apps(emu)) == 1)
        await wait_until(lambda: journal_names_the_app(tmp_path))
        task.cancel()
        with pytest.raises(ProvisioningFailed) as info:
            await task
    finally:
        emu.faults.update(stall_every=0)
        await identity.aclose()
    (left,) = managed_apps(emu)
    assert info.value.code == "rollback_incomplete"
    assert info.value.details["application_id"] == left.id
    assert info.value.details["app_id"] == left.app_id
    assert left.app_id in info.value.remediation
    assert json.loads(journal_path(tmp_path).read_text())["state"] == "rollback_incomplete"


async def test_replication_lag_is_polled_adaptively(tmp_path: Path) -> None:
    clock = FakeClock()
    time = VirtualTime(clock)
    with EmulatorServer(load_scenario(contoso()), port=0, clock=clock) as emu:
        token = await sign_in(emu)
        emu.faults.update(replication_delay=30)
        verified_at: list[float] = []

        def on_progress(event: CheckEvent) -> None:
            if event.step == "verify" and event.status is CheckStatus.PASS:
                verified_at.append(clock())

        auto, identity = connector(emu, tmp_path, sleep=time.sleep, clock=clock)
        # Count the verifications by wrapping the method on this instance (a test double).
        identity.app_token = time.track(identity.app_token)  # type: ignore[method-assign,assignment]
        before = len(emu.request_log)
        try:
            result = await auto.run(token, on_progress)
        finally:
            await identity.aclose()
        sent = emu.request_log[before:]
        with emu.state.lock:
            grants = [
                a
                for a in emu.state.app_role_assignments.values()
                if a.principal_id == result.extra["service_principal_id"]
            ]
        lag_ends = max(a.visible_at for a in grants)
    assert result.created_app and verified_at
    # The chain app → principal → grants took three lags of 30 s; the grants were noticed
    # in the tokens within 3 s of becoming visible ...
    assert lag_ends <= verified_at[0] <= lag_ends + 3.0, (lag_ends, verified_at)
    # ... with a bounded number of requests. A fixed 1 s poll of the same chain would log
    # about 30 principal creations + 30 x 21 assignment requests + 30 x 3 x 2 token and
    # discovery requests, over 800.
    tokens = [r for r in sent if r[1].endswith("/oauth2/v2.0/token")]
    assert len(tokens) <= 60, len(tokens)
    assert len(sent) < 250, len(sent)


async def test_app_sent_but_unanswered_before_a_kill_is_found_by_its_run_tag(
    tmp_path: Path,
) -> None:
    # The earlier run wrote its journal, sent POST /applications and died before the
    # answer: the journal has no id, but the app carries the run's tag.
    scenario = contoso()
    scenario["tenants"][0]["applications"] = [
        {
            "display_name": "VDC test app",
            "app_id": "5e5e5e5e-0000-4000-8000-000000000001",
            "id": "5f5f5f5f-0000-4000-8000-000000000001",
            "tags": ["vdc-tui:managed", "vdc-tui:run:deadbeef"],
        },
        {
            "display_name": "VDC test app",
            "app_id": "5e5e5e5e-0000-4000-8000-000000000002",
            "id": "5f5f5f5f-0000-4000-8000-000000000002",
            "tags": ["vdc-tui:managed"],
        },
    ]
    journal = journal_path(tmp_path)
    journal.parent.mkdir(parents=True)
    journal.write_text(
        json.dumps(
            {
                "version": 1,
                "tenant_id": CONTOSO,
                "run_id": "deadbeef",
                "state": "in_progress",
                "pending": "application",
                "application_id": None,
                "app_id": None,
            }
        )
    )
    with EmulatorServer(load_scenario(scenario), port=0) as emu:
        events: list[CheckEvent] = []
        result = await provision(emu, tmp_path, events)
        assert len(managed_apps(emu)) == 2
    assert result.app_id == "5e5e5e5e-0000-4000-8000-000000000001"
    assert result.created_app
    assert not journal.exists()
    # The other app made by vdc-tui is left alone, and named in a warning.
    warning = next(e for e in events if e.step == "application" and e.status is CheckStatus.WARN)
    assert "5e5e5e5e-0000-4000-8000-000000000002" in warning.remediation
