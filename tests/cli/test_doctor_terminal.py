"""The doctor's terminal lines: one per fact, each in the ``terminal`` category."""

from __future__ import annotations

from vdc_tui.connect.doctor.terminal import terminal_checks
from vdc_tui.connect.models import CheckStatus


def test_a_dumb_terminal_is_a_colour_warning_with_its_fix() -> None:
    checks = {c.id: c for c in terminal_checks({"TERM": "dumb"})}
    colours = checks["terminal.colours"]
    assert colours.status is CheckStatus.WARN and "TERM is dumb" in colours.detail
    assert "xterm-256color" in colours.fix
    assert [c.category for c in checks.values()] == ["terminal"] * 5


def test_no_color_wins_over_truecolor() -> None:
    checks = {c.id: c for c in terminal_checks({"NO_COLOR": "1", "COLORTERM": "truecolor"})}
    assert checks["terminal.colours"].status is CheckStatus.PASS
    assert "monochrome" in checks["terminal.colours"].detail
