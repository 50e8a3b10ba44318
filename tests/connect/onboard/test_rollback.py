"""Rollback that loses nothing and leaves nothing behind (a fresh emulator per test).

- A create still in flight when the run is cancelled: its app is found by the run's tag and
  deleted.
- A rerun on an app an earlier run verified adds its certificate next to the old one; only a
  verified rerun removes the old key, and a failed, cancelled or killed rerun puts the app's
  keys (and required permissions) back, so the saved connection keeps working.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from support.provisioning import (
    CONTOSO,
    connector,
    journal_path,
    managed_apps,
    provision,
    sign_in,
    wait_until,
)

from vdc_tui.connect.certificates import load_pfx_bytes
from vdc_tui.connect.entra.application import RUN_TAG_PREFIX
from vdc_tui.connect.entra.verification import Verifier
from vdc_tui.connect.errors import ProvisioningFailed, VdcError
from vdc_tui.connect.microsoft.clouds import server_endpoints
from vdc_tui.connect.microsoft.graph import GraphClient, GraphError
from vdc_tui.connect.microsoft.identity import AppToken, IdentityClient
from vdc_tui.connect.models import CheckEvent, CheckStatus, ConnectionResult
from vdc_tui.connect.onboard.rollback import Rollback
from vdc_tui.connect.service import DEFAULT_PUBLIC_CLIENT_ID

#: Longer than any test: a key added while it is set stays invisible to sign-ins.
NEVER = 3600.0


async def app_sign_in(emu: Any, result: ConnectionResult) -> AppToken:
    """Sign in as the app with the certificate of an earlier run's result (its profile)."""
    credential = load_pfx_bytes(result.certificate_pfx, None, source="profile").credential()
    identity = IdentityClient(server_endpoints(emu), client_id=DEFAULT_PUBLIC_CLIENT_ID)
    try:
        return await identity.app_token(
            CONTOSO, result.app_id, credential, server_endpoints(emu).graph_scope
        )
    finally:
        await identity.aclose()


def key_thumbprints(emu: Any) -> list[str]:
    (app,) = managed_apps(emu)
    with emu.state.lock:
        return [k.sha1.hex().upper() for k in app.key_credentials]


def stalled(emu: Any) -> int:
    """How many requests the stall fault has caught so far (counted as they arrive)."""
    counts: dict[str, int] = emu._core.counters.counts
    return counts.get("stall", 0)


def rolled_back(events: list[CheckEvent]) -> str:
    warnings = [e for e in events if e.step == "application" and e.status is CheckStatus.WARN]
    assert warnings, [e.detail for e in events]
    return warnings[-1].detail


# -- a create in flight ------------------------------------------------------------------


async def test_cancel_while_the_create_is_in_flight_deletes_the_app_by_its_run_tag(
    emu: Any, tmp_path: Path
) -> None:
    token = await sign_in(emu)
    # The directory takes a second to carry out POST /applications; the run is cancelled
    # after the request arrived and before any answer.
    emu.faults.update(stall_every=1, stall_path="/v1.0/applications", stall_seconds=1.0)
    auto, identity = connector(emu, tmp_path)
    events: list[CheckEvent] = []
    task = asyncio.create_task(auto.run(token, events.append))
    try:
        await wait_until(lambda: stalled(emu) == 1)
        run_id = json.loads(journal_path(tmp_path).read_text())["run_id"]
        emu.faults.update(stall_every=0)  # only that one request is slow
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        await identity.aclose()
    log = [(m, p, status) for m, p, status in emu.request_log]
    assert ("POST", "/v1.0/applications", 201) in log  # the create did happen ...
    assert any(m == "DELETE" and status == 204 for m, _, status in log)  # ... and was undone
    with emu.state.lock:
        tagged = [
            a
            for a in emu.state.applications.values()
            if RUN_TAG_PREFIX + run_id in (a.props.get("tags") or [])
        ]
    assert tagged == [] and managed_apps(emu) == []
    assert not journal_path(tmp_path).exists()
    assert "Rolled back: deleted app registration" in rolled_back(events)


async def test_create_not_seen_in_time_keeps_the_journal_and_the_next_run_resumes_it(
    emu: Any, tmp_path: Path
) -> None:
    token = await sign_in(emu)
    emu.faults.update(stall_every=1, stall_path="/v1.0/applications", stall_seconds=2.0)
    auto, identity = connector(emu, tmp_path, inflight_timeout=0.3)
    events: list[CheckEvent] = []
    task = asyncio.create_task(auto.run(token, events.append))
    try:
        await wait_until(lambda: stalled(emu) == 1)
        emu.faults.update(stall_every=0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        await identity.aclose()
    # Not there within the window: the journal stays, naming the create in flight.
    journal = json.loads(journal_path(tmp_path).read_text())
    assert journal["pending"] == "application" and journal["application_id"] is None
    assert "not found within" in rolled_back(events)

    await wait_until(lambda: len(managed_apps(emu)) == 1)  # the slow create lands
    (orphan,) = managed_apps(emu)
    result = await provision(emu, tmp_path)
    assert result.app_id == orphan.app_id and result.created_app
    assert [a.id for a in managed_apps(emu)] == [orphan.id]
    assert not journal_path(tmp_path).exists()


# -- certificate rotation on reuse --------------------------------------------------------


async def test_successful_rerun_keeps_only_the_new_key(emu: Any, tmp_path: Path) -> None:
    first = await provision(emu, tmp_path)
    second = await provision(emu, tmp_path)
    assert second.app_id == first.app_id and not second.created_app
    assert key_thumbprints(emu) == [second.certificate.sha1]
    assert (await app_sign_in(emu, second)).roles
    with pytest.raises(VdcError) as refused:
        await app_sign_in(emu, first)
    assert refused.value.code == "certificate_not_registered"
    assert not journal_path(tmp_path).exists()


async def test_rerun_that_fails_verification_keeps_the_previous_certificate(
    emu: Any, tmp_path: Path
) -> None:
    first = await provision(emu, tmp_path)
    # The new key never becomes usable: verification gives up, after the key was added.
    emu.faults.update(replication_delay=NEVER)
    events: list[CheckEvent] = []
    with pytest.raises(ProvisioningFailed) as failed:
        await provision(emu, tmp_path, events, verify_timeout=1.0)
    emu.faults.update(replication_delay=0)
    assert failed.value.code == "provisioning_failed"
    patches = [r for r in emu.request_log if r[0] == "PATCH" and r[2] == 204]
    assert len(patches) == 2  # the key added, then the previous keys put back
    assert key_thumbprints(emu) == [first.certificate.sha1]
    assert (await app_sign_in(emu, first)).roles
    assert "previous certificates again" in rolled_back(events)
    assert not journal_path(tmp_path).exists()


async def test_cancelled_rerun_keeps_the_previous_certificate(emu: Any, tmp_path: Path) -> None:
    first = await provision(emu, tmp_path)
    token = await sign_in(emu)
    emu.faults.update(replication_delay=NEVER)
    auto, identity = connector(emu, tmp_path)
    events: list[CheckEvent] = []
    task = asyncio.create_task(auto.run(token, events.append))
    try:
        await wait_until(lambda: any(e.step == "verify" for e in events))
        assert len(key_thumbprints(emu)) == 2  # old and new side by side while verifying
        restore = json.loads(journal_path(tmp_path).read_text())["restore"]
        assert restore["application_id"] == managed_apps(emu)[0].id
        assert "PRIVATE KEY" not in journal_path(tmp_path).read_text()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        await identity.aclose()
        emu.faults.update(replication_delay=0)
    assert key_thumbprints(emu) == [first.certificate.sha1]
    assert (await app_sign_in(emu, first)).roles
    assert not journal_path(tmp_path).exists()


async def test_failed_rerun_puts_back_the_required_permissions_it_changed(
    emu: Any, tmp_path: Path
) -> None:
    await provision(emu, tmp_path, services=frozenset({"exchange"}))
    (app,) = managed_apps(emu)
    with emu.state.lock:
        before = json.dumps(app.props["requiredResourceAccess"], sort_keys=True)
    emu.faults.update(replication_delay=NEVER)
    with pytest.raises(ProvisioningFailed):
        await provision(emu, tmp_path, verify_timeout=1.0)  # asks for SharePoint too
    emu.faults.update(replication_delay=0)
    with emu.state.lock:
        after = json.dumps(app.props["requiredResourceAccess"], sort_keys=True)
    assert after == before


async def test_killed_rerun_is_put_right_by_the_next_run(
    emu: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await provision(emu, tmp_path)
    token = await sign_in(emu)
    emu.faults.update(replication_delay=NEVER)
    auto, identity = connector(emu, tmp_path)

    async def killed(*args: Any) -> None:
        """The process died: nothing after this point runs."""

    monkeypatch.setattr(Rollback, "undo", killed)
    events: list[CheckEvent] = []
    task = asyncio.create_task(auto.run(token, events.append))
    await wait_until(lambda: any(e.step == "verify" for e in events))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await identity.aclose()
    monkeypatch.undo()  # the next run is a new process
    assert len(key_thumbprints(emu)) == 2  # the killed run's key is left on the app ...
    assert json.loads(journal_path(tmp_path).read_text())["restore"]

    # ... and the next run, failing too, puts back the keys from before the killed run.
    with pytest.raises(ProvisioningFailed):
        await provision(emu, tmp_path, verify_timeout=1.0)
    emu.faults.update(replication_delay=0)
    assert key_thumbprints(emu) == [first.certificate.sha1]
    assert (await app_sign_in(emu, first)).roles
    assert not journal_path(tmp_path).exists()


async def test_restore_that_fails_names_the_key_left_and_the_next_run_finishes(
    emu: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await provision(emu, tmp_path)
    refuse = False
    patch = GraphClient.patch

    async def sometimes_refused(self: GraphClient, path: str, body: dict[str, Any]) -> None:
        if refuse:
            raise GraphError(403, "Authorization_RequestDenied", "Insufficient privileges")
        await patch(self, path, body)

    def on_progress(event: CheckEvent) -> None:
        nonlocal refuse
        refuse = refuse or event.step == "verify"  # the key is added; changes fail from now

    monkeypatch.setattr(GraphClient, "patch", sometimes_refused)
    emu.faults.update(replication_delay=NEVER)
    token = await sign_in(emu)
    auto, identity = connector(emu, tmp_path, verify_timeout=1.0)
    try:
        with pytest.raises(ProvisioningFailed) as failed:
            await auto.run(token, on_progress)
    finally:
        await identity.aclose()
    emu.faults.update(replication_delay=0)
    error = failed.value
    assert error.code == "rollback_incomplete"
    journal = json.loads(journal_path(tmp_path).read_text())
    assert journal["state"] == "rollback_incomplete"
    assert error.details["added_key_id"] == journal["restore"]["new_key_id"]
    assert error.details["app_id"] == first.app_id
    assert error.details["added_key_id"] in error.remediation
    assert len(key_thumbprints(emu)) == 2
    assert (await app_sign_in(emu, first)).roles  # the old key was never removed

    refuse = False
    third = await provision(emu, tmp_path)
    assert third.app_id == first.app_id
    assert key_thumbprints(emu) == [third.certificate.sha1]
    assert not journal_path(tmp_path).exists()


# -- fewer round trips ---------------------------------------------------------------------


async def test_tenant_discovery_is_fetched_once_alongside_the_first_reads(
    emu: Any, tmp_path: Path
) -> None:
    token = await sign_in(emu)
    auto, identity = connector(emu, tmp_path)
    before = len(emu.request_log)
    try:
        await auto.run(token, lambda e: None)
    finally:
        await identity.aclose()
    sent = [(m, p) for m, p, _ in emu.request_log[before:]]
    discovery = ("GET", f"/{CONTOSO}/v2.0/.well-known/openid-configuration")
    assert sent.count(discovery) == 1
    assert sent.index(discovery) < sent.index(("POST", "/v1.0/applications"))
    tokens = [p for m, p in sent if p.endswith("/oauth2/v2.0/token")]
    assert len(tokens) == 3


async def test_failed_rerun_removes_the_principal_it_had_to_create(
    emu: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await provision(emu, tmp_path)
    with emu.state.lock:  # someone deleted the enterprise app since the first run
        emu.state.service_principals.pop(first.extra["service_principal_id"])
    token = await sign_in(emu)
    auto, identity = connector(emu, tmp_path)

    async def verification_fails(*args: Any) -> None:
        raise ProvisioningFailed("provisioning_failed", "Verification failed.", "Try again.")

    monkeypatch.setattr(Verifier, "verify", verification_fails)
    try:
        with pytest.raises(ProvisioningFailed):
            await auto.run(token, lambda e: None)
    finally:
        await identity.aclose()
    with emu.state.lock:
        principals = [
            sp for sp in emu.state.service_principals.values() if sp.app_id == first.app_id
        ]
    assert principals == []
    assert key_thumbprints(emu) == [first.certificate.sha1]
    assert not journal_path(tmp_path).exists()
