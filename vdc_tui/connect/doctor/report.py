"""One line of the doctor's report, built one way (its texts scrubbed for a terminal)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vdc_tui.connect.errors import scrub
from vdc_tui.connect.models import CheckStatus


@dataclass(frozen=True)
class DoctorCheck:
    """One line of the doctor's report.

    Attributes:
        id: Stable id (``proxy``, ``dns:<host>``, ``https:<host>``, ``clock``, ``terminal``…).
        category: ``network``, ``clock``, ``terminal`` or ``profiles`` (decides the exit code).
        title: What was checked.
        status: PASS, WARN or FAIL.
        detail: What was found (safe to print: no secrets, no control characters).
        fix: What to do on WARN or FAIL.
    """

    id: str
    category: str
    title: str
    status: CheckStatus
    detail: str
    fix: str = ""

    def to_json(self) -> dict[str, Any]:
        """The check as a JSON object."""
        return {
            "id": self.id,
            "category": self.category,
            "title": self.title,
            "status": str(self.status),
            "detail": self.detail,
            "fix": self.fix,
        }


def check(
    id_: str, category: str, title: str, status: CheckStatus, detail: str, fix: str = ""
) -> DoctorCheck:
    """A report line; details and fixes quote host names, paths and server text, so they are
    scrubbed here, never raw to a terminal."""
    return DoctorCheck(id_, category, title, status, scrub(detail, limit=500),
                       scrub(fix, limit=500))


__all__ = ["DoctorCheck", "check"]
