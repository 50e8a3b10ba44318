"""A tenant's last recorded changes (the audit log, ``connect/store/audit.py``), newest last.

Used by the dashboard's detail screen. The log is read in a thread (it may be long); the
section stays hidden while the tenant has no record. Every value comes from a file anyone
with access to the home could edit: it is scrubbed and shown as plain text, never markup.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Static

from vdc_tui.connect.errors import scrub

#: How many actions the section shows.
HISTORY_LINES = 5

_OUTCOME_STYLE = {"ok": "$success", "failed": "$error", "cancelled": "$warning",
                  "unfinished": "$warning"}


def history_line(record: dict[str, Any]) -> Content:
    """One action: when, what, how it ended, who (the admin, else the OS user and host)."""
    when = scrub(str(record.get("time") or "")[:16].replace("T", " "), limit=16) or "-"
    action = scrub(str(record.get("action") or "?"), limit=20)
    outcome = "unfinished" if record.get("unfinished") else str(record.get("outcome") or "?")
    actor = record.get("actor") if isinstance(record.get("actor"), dict) else {}
    admin = (actor or {}).get("admin")
    who = admin or f"{(actor or {}).get('os_user') or '?'}@{(actor or {}).get('host') or '?'}"
    details = record.get("details") if isinstance(record.get("details"), dict) else {}
    error = (details or {}).get("error")
    code = f" ({error.get('code')})" if isinstance(error, dict) and error.get("code") else ""
    return Content.assemble(
        f"{when}  ", (f"{action:<15}", "bold"),
        (f"{scrub(outcome, limit=12):<11}", _OUTCOME_STYLE.get(outcome, "$text-muted")),
        scrub(f"by {who}{code}", limit=120))


class AuditHistory(Vertical):
    """The "Recent changes" section of one tenant."""

    DEFAULT_CSS = """
    AuditHistory {
        height: auto;
        display: none;
        margin: 0 0 1 0;
    }
    AuditHistory.-has-records {
        display: block;
    }
    AuditHistory > #audit-history-title {
        text-style: bold;
    }
    """

    def __init__(self, home: Path, tenant_id: str) -> None:
        """Show the records of ``tenant_id`` in ``home``'s audit log."""
        super().__init__(id="audit-history")
        self.home = home
        self.tenant_id = tenant_id
        self.records: list[dict[str, Any]] = []

    def compose(self) -> Any:
        """Title and lines."""
        yield Static("Recent changes (vdc-tui audit)", id="audit-history-title", markup=False)
        yield Static("", id="audit-history-lines", markup=False)

    def on_mount(self) -> None:
        """Read the log once shown."""
        self.reload()

    def reload(self) -> None:
        """Read the log again (after an action on this tenant)."""
        self.run_worker(self._load(), group="audit-history", exclusive=True)

    async def _load(self) -> None:
        from vdc_tui.connect.store.audit import AuditLog

        log = AuditLog(self.home)
        try:
            records = await asyncio.to_thread(log.history, self.tenant_id, HISTORY_LINES)
        except OSError:
            records = []  # an unreadable log: `vdc-tui audit` says why
        self.show(records)

    def show(self, records: list[dict[str, Any]]) -> None:
        """Show ``records`` (newest last); hidden when there is none."""
        self.records = records
        self.set_class(bool(records), "-has-records")
        self.query_one("#audit-history-lines", Static).update(
            Content("\n").join(history_line(r) for r in records))
