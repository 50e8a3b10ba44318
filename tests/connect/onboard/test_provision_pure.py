"""Pure parts of automatic provisioning: backoff, journal, error classification."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

from vdc_tui.connect.entra.journal import Journal
from vdc_tui.connect.entra.tenant import check_signed_in_tenant
from vdc_tui.connect.errors import DiagnosedProblem, SignInError
from vdc_tui.connect.microsoft.answers import is_duplicate, is_replication_lag
from vdc_tui.connect.microsoft.graph import GraphError
from vdc_tui.connect.microsoft.identity import DelegatedToken
from vdc_tui.connect.models import CheckEvent, CheckStatus, SignedInAdmin
from vdc_tui.connect.progress import Backoff, Checklist, together


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_backoff_grows_to_its_cap_and_stops_at_the_deadline() -> None:
    t = FakeTime()
    backoff = Backoff(initial=1.0, cap=3.0, total=10.0, factor=2.0, sleep=t.sleep, clock=t.clock)
    while await backoff.wait():
        pass
    assert t.sleeps == [1.0, 2.0, 3.0, 3.0, 1.0]  # the last wait is cut to the deadline
    assert t.now == 110.0
    assert backoff.attempt == 6
    assert not await backoff.wait()


async def test_backoff_describes_attempt_and_elapsed_time() -> None:
    t = FakeTime()
    backoff = Backoff(initial=2.0, cap=2.0, total=60.0, sleep=t.sleep, clock=t.clock)
    await backoff.wait()
    await backoff.wait()
    assert backoff.describe() == "attempt 3, 4 s"


def test_journal_is_private_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "tenant" / "provisioning.json"
    journal = Journal(path, "t1", "run1", pending="application")
    journal.write()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    if os.name == "posix":
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again = Journal.read(path, "t1")
    assert again is not None
    assert (again.run_id, again.pending, again.application_id) == ("run1", "application", None)
    journal.remove()
    assert not path.exists()


def test_journal_of_another_tenant_or_damaged_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "provisioning.json"
    Journal(path, "t1", "run1").write()
    assert Journal.read(path, "t2") is None
    path.write_text("{not json")
    assert Journal.read(path, "t1") is None


def test_no_backing_application_object_is_replication_lag() -> None:
    err = GraphError(
        400,
        "Request_BadRequest",
        "The appId 'x' of the service principal does not reference a valid application object.",
        details=[{"code": "NoBackingApplicationObject", "target": "appId"}],
    )
    assert is_replication_lag(err)
    assert not is_duplicate(err)


def test_not_found_is_lag_and_forbidden_is_not() -> None:
    assert is_replication_lag(
        GraphError(404, "Request_ResourceNotFound", "Resource 'x' does not exist")
    )
    assert not is_replication_lag(
        GraphError(403, "Authorization_RequestDenied", "Insufficient privileges")
    )


def test_duplicate_grant_and_role_assignment_are_success() -> None:
    grant = GraphError(
        400, "Request_BadRequest", "Permission being assigned already exists on the object."
    )
    role = GraphError(
        400,
        "Request_BadRequest",
        "A conflicting object with one or more of the specified property values is present "
        "in the directory.",
    )
    assert is_duplicate(grant) and is_duplicate(role)
    assert not is_duplicate(GraphError(400, "Request_BadRequest", "Invalid value for appRoleId"))


def test_checklist_reports_a_failure_once_with_its_step() -> None:
    events: list[CheckEvent] = []
    checklist = Checklist({"grants": "Grants"}, events.append)
    error = DiagnosedProblem("missing_permissions", "missing", "consent")
    checklist.failed("grants", error)
    checklist.failed("grants", error)
    assert [(e.step, e.status, e.code) for e in events] == [
        ("grants", CheckStatus.FAIL, "missing_permissions")
    ]
    assert error.details["step"] == "grants"


def test_checklist_scrubs_control_characters() -> None:
    events: list[CheckEvent] = []
    Checklist({}, events.append).passed("organization", "Evil\x1b]0;title\x07 Corp")
    assert "\x1b" not in events[0].detail and "\x07" not in events[0].detail


async def test_a_failed_verification_poll_cancels_its_siblings() -> None:
    """When one resource's token poll fails, the others stop too: no background polling
    may outlive a failed (and rolled back) run."""
    sibling_cancelled = asyncio.Event()

    async def keeps_polling() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            sibling_cancelled.set()
            raise

    async def fails() -> None:
        await asyncio.sleep(0)
        raise RuntimeError("certificate refused")

    with pytest.raises(RuntimeError, match="certificate refused"):
        await together(keeps_polling(), fails())
    assert sibling_cancelled.is_set()


def _token_of(tenant_id: str, upn: str) -> DelegatedToken:
    admin = SignedInAdmin(upn, "a1", tenant_id, "Megan Bowen")
    return DelegatedToken(access_token="fake", claims={}, admin=admin, tenant_id=tenant_id)


def test_an_admin_of_another_tenant_is_user_not_in_tenant_for_repair_and_offboarding() -> None:
    saved = "7e3a1c55-2b4d-4f6a-9c8e-0d1f2a3b4c5d"
    other = "11111111-2222-3333-4444-555555555555"
    with pytest.raises(SignInError) as caught:
        check_signed_in_tenant(_token_of(other, "megan@\x1b[31mfabrikam.com"), saved)
    assert caught.value.code == "user_not_in_tenant"
    assert caught.value.details == {"signed_in_tenant": other, "tenant_id": saved}
    assert "\x1b" not in caught.value.message  # the UPN is scrubbed for the terminal
    check_signed_in_tenant(_token_of(saved.upper(), "megan@contoso.com"), saved)  # same tenant
