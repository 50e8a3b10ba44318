"""``vdc-tui doctor``: print the machine's readiness report."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from vdc_tui.cli.output import Reporter
from vdc_tui.connect.errors import EXIT_DIAGNOSED, EXIT_OK, EXIT_SERVICE
from vdc_tui.connect.models import CheckStatus

if TYPE_CHECKING:
    from vdc_tui.connect.doctor import DoctorCheck
    from vdc_tui.connect.microsoft.clouds import Endpoints


def doctor_exit_code(checks: Sequence[DoctorCheck]) -> int:
    """0 without failures; 4 when the network or a host failed; 3 for any other failure."""
    failed = [c for c in checks if c.status is CheckStatus.FAIL]
    if not failed:
        return EXIT_OK
    if any(c.category == "network" for c in failed):
        return EXIT_SERVICE
    return EXIT_DIAGNOSED


def run_doctor_command(endpoints: Endpoints, home: Path, reporter: Reporter, *,
                       timeout: float) -> int:
    """Run the checks and print one line each (stdout), or one JSON object with --json."""
    from vdc_tui.connect.doctor import run_doctor

    checks = asyncio.run(run_doctor(endpoints, home, timeout=timeout))
    code = doctor_exit_code(checks)
    worst = ("fail" if code else
             "warn" if any(c.status is CheckStatus.WARN for c in checks) else "pass")
    if reporter.json_mode:
        reporter.emit({"status": worst, "checks": [c.to_json() for c in checks]})
        return code
    from vdc_tui.cli.output import status_line

    for check in checks:
        reporter.result(status_line(check.status, check.title, check.detail, check.fix))
    failures = sum(c.status is CheckStatus.FAIL for c in checks)
    warnings = sum(c.status is CheckStatus.WARN for c in checks)
    reporter.result(
        f"\n{len(checks)} checks: {failures} failed, {warnings} warnings."
        + ("" if failures else " This machine can run an onboarding.")
    )
    return code
