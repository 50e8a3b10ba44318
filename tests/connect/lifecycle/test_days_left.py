"""One rule for a certificate's days left: the check and renewal count the same number
(whole days toward zero), so `check` and `renew --all` never show 9 and 10.0 for one
certificate."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.commands import Outcome
from support.lifecycle import TENANT, endpoint_args, scenario

from vdc_tui.connect.certificates import check_validity, generate_self_signed
from vdc_tui.connect.fleet.check import HealthChecker
from vdc_tui.connect.lifecycle.renew import renewal_candidates
from vdc_tui.connect.models import days_left
from vdc_tui.connect.store.profile import Profile
from vdc_tui.connect.store.profiles import ProfileStore
from vdc_tui.emulator import EmulatorServer

Run = Callable[..., Outcome]


@pytest.mark.parametrize(("left", "shown"), [
    (timedelta(days=9, hours=23), 9), (timedelta(days=10), 10), (timedelta(hours=1), 0),
    (timedelta(hours=-1), 0), (timedelta(days=-1, hours=-2), -1),
])
def test_days_left_counts_whole_days_toward_zero(left: timedelta, shown: int) -> None:
    now = datetime(2027, 1, 1, tzinfo=UTC)
    assert days_left(now + left, now) == shown


def _certificate_days(checker_clock: datetime, pfx: object, profile: Profile
                      ) -> tuple[int, str]:
    # The check's certificate piece alone: it reads the clock and the key, nothing else.
    checker = HealthChecker.__new__(HealthChecker)
    checker.clock = lambda: checker_clock
    facts: dict[str, object] = {}
    check = checker._certificate(pfx, profile, TENANT, "automatic", facts)  # type: ignore[arg-type]
    days = facts["days_left"]
    assert isinstance(days, int)
    return days, check.detail


def test_check_and_renew_count_the_same_days_left(run: Run, start_emulator: Callable[
        ..., EmulatorServer], home: Path) -> None:
    emu = start_emulator(scenario(), auto_approve_after=0)
    assert run("connect", "auto", "--json", *endpoint_args(emu)).code == 0
    store = ProfileStore(home)
    pfx = store.read_key(TENANT)
    [entry] = store.list()
    assert entry.profile is not None
    not_after = pfx.info.not_after
    for left in (timedelta(days=9, hours=22, minutes=30), timedelta(days=30, hours=12)):
        now = not_after - left
        [candidate] = renewal_candidates(store, within_days=30, include_manual=False, now=now)
        checked, detail = _certificate_days(now, pfx, entry.profile)
        assert candidate.days_left == checked == left.days
        assert isinstance(candidate.days_left, int)
        # Within 30 days means the number shown is 30 or less.
        assert candidate.due == (left.days <= 30)
        assert f"expires in {left.days} days" in detail or f"({left.days} days)" in detail
        assert candidate.skip_reason in (None, f"not due: {left.days} days left")


def test_the_expiry_warning_says_the_same_days() -> None:
    now = datetime(2027, 1, 1, tzinfo=UTC)
    pfx = generate_self_signed("days", now=now - timedelta(days=700),
                               lifetime=timedelta(days=700, hours=9 * 24 + 20))
    [warning] = check_validity(pfx.info, now=now)
    assert f"expires in {days_left(pfx.info.not_after, now)} days" in warning
