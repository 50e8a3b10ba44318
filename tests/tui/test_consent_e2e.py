"""The wizard's automatic mode ends with the consent cleanup too: its checklist shows the
line, and the sign-in's onboarding scopes are gone from the demo tenant's grants."""

from __future__ import annotations

from pathlib import Path

import pytest

from vdc_tui.app import make_app
from vdc_tui.connect.models import CheckEvent, CheckStatus
from vdc_tui.connect.permissions import load_catalog
from vdc_tui.connect.service import ConnectSettings
from vdc_tui.connect.steps import CONSENT_STEP, CONSENT_TITLE
from vdc_tui.settings import AppSettings
from vdc_tui.widgets import Checklist

from .conftest import screen_name, wait_until


async def test_wizard_automatic_mode_removes_the_sign_ins_consent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[CheckEvent] = []
    report = Checklist.report

    def recording(self: Checklist, event: CheckEvent) -> None:
        shown.append(event)
        report(self, event)

    monkeypatch.setattr(Checklist, "report", recording)
    settings = AppSettings(demo=True, demo_approve_after=0.2,
                           connect=ConnectSettings(home=tmp_path))
    app = make_app(settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: "https://" in app.demo_status, 30)
        await pilot.press("a")
        await wait_until(pilot, lambda: screen_name(app) == "ConnectedDialog", 60)
        # planned (pending) when the screen opens, then its outcome
        line = [e for e in shown if e.step == CONSENT_STEP][-1]
        assert line.status is CheckStatus.PASS and line.title == CONSENT_TITLE
        assert "removed" in line.detail
        emulator = app._backend.emulator
        onboarding = set(load_catalog().delegated_sign_in_scopes)
        with emulator.state.lock:
            held = [s for g in emulator.state.delegated_grants.values() for s in g.scopes]
        assert not onboarding & set(held)
