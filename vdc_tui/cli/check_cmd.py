"""``vdc-tui connections check [TENANT...|--all] [--json] [--concurrency N] [--openmetrics FILE]``.

A table on stdout (one row per tenant, worst first) and one progress line per finished
tenant on stderr; with ``--json`` one object on stdout (design.md's contract). Exit 0 when
nothing is broken, 3 when something is, 4 when a tenant could not be reached at all.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from vdc_tui.connect.errors import Cancelled, InvalidInput, VdcError, scrub

if TYPE_CHECKING:
    from vdc_tui.cli.output import Reporter
    from vdc_tui.connect.fleet.health import FleetProgress, TenantHealth
    from vdc_tui.connect.microsoft.clouds import Endpoints
    from vdc_tui.connect.store.profiles import ProfileEntry, ProfileStore


def run_check_command(store: ProfileStore, endpoints: Endpoints, reporter: Reporter,
                      ns: argparse.Namespace) -> int:
    """``connections check`` from parsed arguments."""
    return run_check(store, endpoints, reporter, ns.tenants, check_all=ns.check_all,
                     concurrency=ns.concurrency, deadline=ns.deadline,
                     openmetrics=ns.openmetrics)


def open_dashboard(store: ProfileStore, endpoints: Endpoints,
                   wizard: Callable[[], int] | None = None, *,
                   demo_banner: str | None = None,
                   on_admin_sign_in: Callable[[str], None] | None = None) -> int:
    """``vdc-tui connections`` with no action: the fleet dashboard, in a terminal only.

    ``wizard`` runs the onboarding wizard when the operator presses ``n``; ``demo_banner``
    is the DEMO badge's text and ``on_admin_sign_in`` is told the tenant of each admin
    sign-in (demo mode: the simulated customer)."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise InvalidInput(
            "invalid_argument",
            "`vdc-tui connections` without an action opens the dashboard, which needs a "
            "terminal.",
            "In scripts use `vdc-tui connections list` or `vdc-tui connections check --json`.")
    from vdc_tui.dashboard import run_dashboard

    return run_dashboard(store, endpoints, wizard, demo_banner=demo_banner,
                         on_admin_sign_in=on_admin_sign_in)


def select_entries(store: ProfileStore, tenants: Sequence[str], check_all: bool
                   ) -> list[ProfileEntry]:
    """The profiles to check: the named ones (id, domain or name), or all of them.

    Raises:
        InvalidInput: tenants and ``--all`` together, an unknown tenant, or no profiles.
    """
    if tenants and check_all:
        raise InvalidInput("invalid_argument", "Give tenants or --all, not both.",
                           "Drop --all to check the named tenants, or drop the names.")
    if tenants:
        chosen: dict[str, ProfileEntry] = {}
        for tenant in tenants:
            entry = store.find(tenant)
            chosen.setdefault(entry.tenant_id, entry)
        return list(chosen.values())
    entries = store.list()
    if not entries:
        raise InvalidInput(
            "invalid_argument", f"No saved connections under {store.connections_dir}.",
            "Connect a tenant first (`vdc-tui connect auto`), or set VDC_TUI_HOME to the "
            "folder that holds the profiles.")
    return entries


def _line(result: TenantHealth) -> str:
    label = result.name or result.default_domain or result.tenant_id
    return f"{result.health:<8} {label} ({result.tenant_id}): {result.summary}"


def table(results: Sequence[TenantHealth]) -> list[str]:
    """The human table, worst first, then one line per problem with its fix."""
    from vdc_tui.connect.fleet.run import summary, worst_first

    rows: list[tuple[str, ...]] = [("HEALTH", "TENANT", "DOMAIN", "CERT DAYS", "MISSING",
                                    "PROBLEM")]
    ordered = worst_first(results)
    for r in ordered:
        health = "UNREACHABLE" if r.unreachable else r.health.upper()
        rows.append((
            health,
            scrub(r.name or r.tenant_id, limit=40),
            scrub(r.default_domain or "-", limit=40),
            "-" if r.days_left is None else str(r.days_left),
            str(len(r.missing)),
            scrub(r.summary, limit=70) if r.health != "healthy" else "-",
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join([c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)]
                       + [row[-1]]).rstrip() for row in rows]
    problems = [r for r in ordered if r.health != "healthy"]
    if problems:
        lines.append("")
    for r in problems:
        lines.append(f"{scrub(r.name or r.tenant_id, limit=60)} ({r.tenant_id}):")
        for c in r.checks:
            if c.status in ("broken", "warning"):
                lines.append(f"  {c.status.upper():<7} {c.title}: {scrub(c.detail, limit=400)}")
                if c.remediation:
                    lines.append(f"          fix: {scrub(c.remediation, limit=400)}")
    counts = summary(results)
    lines.append("")
    lines.append(f"{counts['checked']} checked: {counts['healthy']} healthy, "
                 f"{counts['warning']} warning, {counts['broken']} broken"
                 + (f" ({counts['unreachable']} unreachable)" if counts["unreachable"] else ""))
    return lines


def unlock_for_check(store: ProfileStore, entries: Sequence[ProfileEntry]) -> None:
    """Check the store passphrase before any tenant is checked.

    Without it no encrypted key opens, and every tenant would be written broken (its saved
    result, the metrics file) for a problem of this machine. The run stops first instead:
    the last results and the last metrics file stay as they were.

    Raises:
        VdcError: ``key_passphrase_required``, ``key_passphrase_wrong``,
            ``key_passphrase_file_unsafe``, or ``invalid_argument`` (a passphrase source
            that cannot be read, such as a misspelt ``VDC_TUI_KEY_PASSPHRASE_FILE``); all
            exit 2.
    """
    if any(store.key_status(e.tenant_id) == "encrypted" for e in entries):
        store.unlock()


def run_check(
    store: ProfileStore,
    endpoints: Endpoints,
    reporter: Reporter,
    tenants: Sequence[str],
    *,
    check_all: bool = False,
    concurrency: int,
    deadline: float,
    openmetrics: Path | None = None,
) -> int:
    """Run the check and report it; returns the exit code (0, 3 or 4)."""
    import asyncio

    from vdc_tui.cli.connect_cmd import run_cancellable
    from vdc_tui.connect.fleet.run import FleetCheck, exit_code, summary

    entries = select_entries(store, tenants, check_all)
    for warning in store.warnings:
        reporter.warning(warning)
    try:
        unlock_for_check(store, entries)
    except VdcError:
        reporter.note("Nothing was checked: the last saved results"
                      + (" and the OpenMetrics file are" if openmetrics is not None else " are")
                      + " left as they were.")
        raise
    reporter.note(f"Checking {len(entries)} connection{'s' if len(entries) != 1 else ''} "
                  f"({min(concurrency, len(entries))} at a time)…")

    finished: list[str] = []

    def progress(event: FleetProgress) -> None:
        if event.result is not None:
            finished.append(event.tenant_id)
            reporter.note(f"[{event.done}/{event.total}] {_line(event.result)}")

    from vdc_tui.connect.fleet.workers import default_workers

    fleet = FleetCheck(store, endpoints, concurrency=concurrency, deadline=deadline,
                       workers=default_workers(len(entries)))
    try:
        # Ctrl+C, a hung-up session and SIGTERM (`timeout`, a cron job's stop) all end the
        # run the same way: named, exit 130, the tenants already checked keep their results.
        results = asyncio.run(run_cancellable(
            fleet.run(entries, progress), on_cancel=lambda: None, rollback_bound=10.0,
            undoing="stopping the checks still running", reporter=reporter))
    except Cancelled as cancelled:
        cancelled.remediation = (
            f"{len(finished)} of {len(entries)} connections were checked before it stopped; "
            "their results are kept, and the dashboard (`vdc-tui connections`) shows them. "
            "Run the check again for the rest.")
        raise
    if openmetrics is not None:
        from vdc_tui.connect.fleet.run import write_openmetrics

        write_openmetrics(openmetrics, results)
        reporter.note(f"Wrote the OpenMetrics file {openmetrics}.")
    if reporter.json_mode:
        reporter.emit(summary(results))
    else:
        for line in table(results):
            reporter.result(line)
    return exit_code(results)
