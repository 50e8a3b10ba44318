"""``vdc-tui audit [TENANT] [--since DATE] [--action NAME] [--json] | --verify``.

Lists the audit log of the home folder (``$VDC_TUI_HOME/audit.jsonl``, see
:mod:`vdc_tui.connect.store.audit`): one row per action, newest last, an action a run did
not finish shown as ``unfinished``. ``--verify`` walks the hash chain: exit 0, or 3
(``audit_chain_broken``) naming the first line edited, removed or reordered.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vdc_tui.cli.options import add_common, add_demo, add_json
from vdc_tui.cli.output import Reporter
from vdc_tui.connect.errors import EXIT_OK, VdcError, scrub

#: Width of the table's columns (time, action, outcome, tenant, app).
_ROW = "{time:<20} {action:<15} {outcome:<10} {tenant:<28} {app:<36} {who}"


def add_audit_parser(commands: Any, formatter: type[argparse.HelpFormatter], *,
                     full: bool) -> None:
    """Register ``audit`` (its options only when ``full``: the command line names it)."""
    audit = commands.add_parser(
        "audit", help="the audit log: who changed which tenant or key, and when",
        allow_abbrev=False, formatter_class=formatter,
        description="List the audit log ($VDC_TUI_HOME/audit.jsonl: one JSON record per "
                    "change, hash-chained), newest last; --verify checks the chain.")
    if not full:
        return
    from vdc_tui.connect.store.audit import ACTIONS

    audit.add_argument("tenant", nargs="?", metavar="TENANT",
                       help="only this tenant (id, default domain or name)")
    audit.add_argument("--since", metavar="DATE", type=_since,
                       help="only records from DATE on (YYYY-MM-DD or an ISO 8601 time; UTC "
                            "when no zone is given)")
    audit.add_argument("--action", metavar="NAME", choices=ACTIONS,
                       help=f"only this action ({', '.join(ACTIONS)})")
    audit.add_argument("--verify", action="store_true",
                       help="walk the hash chain: exit 0, or 3 naming the first line edited, "
                            "removed or reordered")
    add_json(audit)
    add_demo(audit)
    add_common(audit, keys=False)


def _since(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a date or ISO 8601 time: {scrub(text, limit=60)}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _moment(record: dict[str, Any]) -> datetime | None:
    value = record.get("time")
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _tenant_ids(home: Path, tenant: str) -> set[str]:
    """What ``TENANT`` may be in the log: the text, and the id of a profile it names."""
    from vdc_tui.connect.store.profiles import ProfileStore

    wanted = {tenant.strip().casefold()}
    try:
        wanted.add(ProfileStore(home).find(tenant).tenant_id.casefold())
    except VdcError:
        pass  # an offboarded tenant has no profile: its id or name still matches
    return wanted


def select(records: list[dict[str, Any]], *, home: Path, tenant: str | None,
           since: datetime | None, action: str | None) -> list[dict[str, Any]]:
    """The records the filters keep, in the log's order (newest last)."""
    wanted = _tenant_ids(home, tenant) if tenant else None
    kept = []
    for record in records:
        if wanted is not None and not ({str(record.get("tenant_id") or "").casefold(),
                                        str(record.get("tenant_name") or "").casefold()}
                                       & wanted):
            continue
        if action is not None and record.get("action") != action:
            continue
        if since is not None:
            moment = _moment(record)
            if moment is None or moment < since:
                continue
        kept.append(record)
    return kept


def run_audit(ns: argparse.Namespace, home: Path, reporter: Reporter) -> int:
    """List or verify the audit log of ``home``."""
    from vdc_tui.connect.store.audit import AuditLog

    log = AuditLog(home)
    if getattr(ns, "verify", False):
        return _verify(log, reporter)
    records = select(log.actions(), home=home, tenant=ns.tenant, since=ns.since,
                     action=ns.action)
    if reporter.json_mode:
        reporter.emit({"records": records})
        return EXIT_OK
    if not records:
        reporter.note(f"No audit records{' match' if log.path.exists() else ' yet'} "
                      f"({log.path}).")
        return EXIT_OK
    reporter.result(_ROW.format(time="TIME (UTC)", action="ACTION", outcome="OUTCOME",
                                tenant="TENANT", app="APP ID", who="BY"))
    for record in records:
        reporter.result(_row(record))
    unfinished = sum(1 for r in records if r.get("unfinished"))
    if unfinished:
        reporter.note(f"{unfinished} action(s) did not finish (the run was stopped or "
                      "killed): check those tenants with `vdc-tui connections check`.")
    return EXIT_OK


def _row(record: dict[str, Any]) -> str:
    def text(value: Any, limit: int) -> str:
        return scrub(str(value), limit=limit) if value not in (None, "") else "-"

    actor = record.get("actor") if isinstance(record.get("actor"), dict) else {}
    who = (actor or {}).get("admin") or (actor or {}).get("os_user")
    when = str(record.get("time") or "")[:19].replace("T", " ")
    outcome = "unfinished" if record.get("unfinished") else record.get("outcome")
    tenant = record.get("tenant_name") or record.get("tenant_id")
    error = (record.get("details") or {}).get("error") if isinstance(
        record.get("details"), dict) else None
    tail = f" ({text(error.get('code'), 60)})" if isinstance(error, dict) else ""
    return _ROW.format(time=text(when, 20), action=text(record.get("action"), 15),
                       outcome=text(outcome, 10), tenant=text(tenant, 28),
                       app=text(record.get("app_id"), 36), who=text(who, 80) + tail)


def _verify(log: Any, reporter: Reporter) -> int:
    report = log.verify()
    if not report.ok:
        raise VdcError(
            "audit_chain_broken",
            f"The audit log {log.path} is not intact: {report.problem}.",
            "Compare it with the copy forwarded to your log service (journald, SIEM) to see "
            "what changed; keep the file as it is for the investigation.",
            {"line": report.bad_line, "lines": report.lines, "path": str(log.path)},
        )
    if reporter.json_mode:
        reporter.emit({"status": "ok", "lines": report.lines, "path": str(log.path)})
    else:
        reporter.result(f"The audit log is intact: {report.lines} line(s), every link of the "
                        f"chain holds ({log.path}).")
    return EXIT_OK

