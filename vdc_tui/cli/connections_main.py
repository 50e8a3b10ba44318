"""``vdc-tui connections [ACTION]``: the options of the dashboard and its actions; dispatch.

The actions are ``list``, ``show``, ``check``, ``export``, ``renew``, ``repair`` and
``remove [--offboard]`` (design.md's "The headless command line"). Their work lives in
``connections_cmd``, ``check_cmd``, ``export_cmd`` and ``lifecycle_cmd``, each imported only
when its action runs, so building the parser (``--help``, the wizard's start) loads this
module alone. :mod:`.main` builds the rest of the command line; the options every command shares
(``--cloud``, ``--demo``, ``--json``, the store passphrase...) come from :mod:`.options`.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import Any

from vdc_tui.cli.argtypes import ranged
from vdc_tui.cli.options import (
    DEMO_KEYS_NOTE,
    EPILOG,
    Parser,
    RefusePassword,
    add_app_options,
    add_common,
    add_demo,
    add_demo_port,
    add_json,
    add_qr_option,
)
from vdc_tui.cli.output import Reporter
from vdc_tui.cli.session import (
    connect_settings,
    home_of,
    key_passphrase,
    opt,
    run_wizard,
    session_endpoints,
)
from vdc_tui.connect.errors import InvalidInput

#: Defaults of ``connections check`` (connect/fleet/run.py has the same; kept here so that
#: building the parser imports nothing heavy).
DEFAULT_CONCURRENCY = 32
DEFAULT_DEADLINE = 60.0


_concurrency = ranged(int, lambda v: 1 <= v <= 256,
                      unreadable="{text} is not a whole number from 1 to 256",
                      out_of_range="{text} is not a whole number from 1 to 256")
_seconds = ranged(float, lambda v: 0 < v <= 3600,
                  unreadable="{text} is not a number of seconds (0-3600]",
                  out_of_range="{text} is not a number of seconds (0-3600]")
_days = ranged(float, lambda v: 0 <= v <= 3650, unreadable="not a number of days: {text}",
               out_of_range="must be between 0 and 3650 days")


def add_connections_parser(commands: Any, formatter: type[argparse.HelpFormatter], *,
                           full: bool = True) -> None:
    """Register ``connections`` and its actions on the main parser's sub-commands
    (``full=False``: its name and help only, for a command line that does not use it)."""
    connections = commands.add_parser(
        "connections", help="the fleet dashboard; list, show, check, renew, repair, export "
                            "or remove (--offboard) saved connections",
        allow_abbrev=False, formatter_class=formatter, epilog=EPILOG)
    if not full:
        return
    actions = connections.add_subparsers(dest="action", metavar="ACTION", required=False,
                                         parser_class=Parser)
    listing = actions.add_parser("list", help="list saved connections", allow_abbrev=False)
    show = actions.add_parser("show", help="show one connection", allow_abbrev=False)
    remove = actions.add_parser(
        "remove", help="delete a profile and its key files; --offboard also deletes the app "
                       "registration in the tenant (a Global Administrator signs in)",
        allow_abbrev=False)
    export = actions.add_parser(
        "export", help="write the connection's certificate as a password-protected PFX for "
                       "the backup service's manual connection form", allow_abbrev=False,
        formatter_class=formatter)
    _add_export_options(export)
    remove.add_argument("--offboard", action="store_true",
                        help="a Global Administrator signs in (device code) and the app "
                             "registration vdc-tui made is deleted before the local files")
    remove.add_argument("--purge", action="store_true",
                        help="with --offboard: also remove the app from deleted items "
                             "(otherwise it stays restorable for 30 days)")
    remove.add_argument("--delete-app", action="store_true",
                        help="with --offboard: also delete an app brought in manual mode")
    remove.add_argument("--yes", action="store_true",
                        help="with --offboard: do not ask for confirmation")
    add_app_options(remove)
    add_qr_option(remove)
    add_demo_port(remove, said="on stderr")
    renew = actions.add_parser(
        "renew", help="roll a connection's certificate with addKey/removeKey (no admin)",
        allow_abbrev=False, formatter_class=formatter, epilog=EPILOG,
        description="The app proves possession of its current certificate and rolls its own "
                    "key; no one signs in. --all --within 30 renews every certificate that "
                    "ends within 30 days (the provider's cron job).")
    which = renew.add_mutually_exclusive_group(required=True)
    which.add_argument("tenant", metavar="TENANT", nargs="?",
                       help="tenant id, default domain or name")
    which.add_argument("--all", action="store_true",
                       help="every saved connection whose certificate is due")
    renew.add_argument("--within", metavar="DAYS", type=_days, default=None,
                       help="with --all: renew certificates that end within DAYS (default 30)")
    renew.add_argument("--include-manual", action="store_true",
                       help="also renew connections made in manual mode (the operator's app)")
    renew.add_argument("--concurrency", metavar="N", type=_concurrency, default=None,
                       help="with --all: tenants renewed at once (default 4)")
    repair = actions.add_parser(
        "repair", help="a Global Administrator signs in once; what an admin can fix is fixed",
        allow_abbrev=False, formatter_class=formatter, epilog=EPILOG,
        description="Keeps the app and its app id and fixes, in one run: a deleted app "
                    "(restored from the tenant's deleted items), the saved certificate "
                    "missing from the app (registered again) or expired (a new one on the "
                    "same app: export it for the backup service), a deleted service "
                    "principal, the permissions the connection lacks (revoked, or new in "
                    "this release's catalog) and Global Reader; then verifies every "
                    "permission with app-only tokens.")
    add_app_options(repair)
    add_qr_option(repair)
    add_demo_port(repair, said="on stderr")
    for sub in (show, remove, repair, export):
        sub.add_argument("tenant", metavar="TENANT", help="tenant id, default domain or name")
    check = _add_check_parser(actions, formatter)
    add_demo_port(check, said="on stderr")
    add_demo_port(renew, said="on stderr")
    for each in (listing, show, remove, renew, repair, export, check):
        add_json(each)
        add_demo(each)
        add_common(each)
    # The dashboard itself (`vdc-tui connections --demo`).
    add_demo(connections)
    add_demo_port(connections, said="in its DEMO badge")
    add_common(connections)


def _add_check_parser(actions: Any, formatter: type[argparse.HelpFormatter]
                      ) -> argparse.ArgumentParser:
    """Register ``connections check`` on the ``connections`` sub-parsers."""
    check: argparse.ArgumentParser = actions.add_parser(
        "check", help="check saved connections app-only (certificate, sign-in, permissions, "
        "Global Reader, licences)", allow_abbrev=False, formatter_class=formatter,
        epilog=EPILOG,
        description="Sign in as each tenant's app with its saved certificate and judge the "
        "connection: healthy, warning or broken, each problem with its fix. Exit 0 nothing "
        "broken, 3 something broken, 4 a tenant unreachable.")
    check.add_argument("tenants", nargs="*", metavar="TENANT",
                       help="tenant id, default domain or name (default: every saved one)")
    check.add_argument("--all", action="store_true", dest="check_all",
                       help="check every saved connection")
    check.add_argument("--concurrency", type=_concurrency, default=DEFAULT_CONCURRENCY,
                       metavar="N", help=f"tenants checked at once (default: "
                       f"{DEFAULT_CONCURRENCY})")
    check.add_argument("--deadline", type=_seconds, default=DEFAULT_DEADLINE,
                       metavar="SECONDS", help="longest one tenant may take before it is "
                       f"reported unreachable (default: {DEFAULT_DEADLINE:g})")
    check.add_argument("--openmetrics", metavar="FILE", type=Path, default=None,
                       help="also write the figures as an OpenMetrics text file (atomically), "
                       "for node-exporter's textfile collector")
    return check


def _add_export_options(parser: argparse.ArgumentParser) -> None:
    """The options of ``connections export`` (TENANT, --json and the common ones are
    added by the caller)."""
    parser.add_argument("--pfx", required=True, metavar="OUT",
                        help="the PFX file to write (0600; refused if it exists)")
    password = parser.add_mutually_exclusive_group()
    password.add_argument("--pfx-password-env", metavar="VAR",
                          help="protect the PFX with the password in environment variable VAR")
    password.add_argument("--pfx-password-stdin", action="store_true",
                          help="protect the PFX with the password on the first line of stdin")
    password.add_argument("--generate-password", action="store_true",
                          help="generate a random password, shown once (the default)")
    parser.add_argument("--pfx-password", nargs="?", action=RefusePassword,
                        help=argparse.SUPPRESS)
    parser.add_argument("--force", action="store_true", help="replace OUT if it exists")
    parser.add_argument("--show-password", action="store_true",
                        help="with --json at a terminal: put a generated password into the "
                        "JSON document")


def run_connections(ns: argparse.Namespace, reporter: Reporter) -> int:
    """Run ``connections [ACTION]``; returns the exit code."""
    from vdc_tui.cli.connections_cmd import list_connections, remove_connection, show_connection
    from vdc_tui.connect.store.profiles import ProfileStore

    demo = bool(opt(ns, "demo", False))
    if demo:
        from vdc_tui.demo import ensure_demo_world

        ensure_demo_world(home_of(ns))  # the first demo run seeds the demo fleet
    store = ProfileStore(home_of(ns), passphrase=key_passphrase(ns))
    talks_to_tenant = ns.action in (None, "check", "renew", "repair") or (
        ns.action == "remove" and ns.offboard)
    if demo and not talks_to_tenant:  # those say it with the emulator
        reporter.note(DEMO_KEYS_NOTE)
    if ns.action is None:
        return _dashboard(ns, reporter, store)
    if ns.action == "check":
        from vdc_tui.cli.check_cmd import run_check_command

        with contextlib.ExitStack() as stack:
            endpoints, _ = session_endpoints(ns, reporter, stack, device_code=False)
            return run_check_command(store, endpoints, reporter, ns)
    if ns.action == "list":
        return list_connections(store, reporter)
    if ns.action == "export":
        from vdc_tui.cli.export_cmd import export_connection

        return export_connection(store, reporter, ns)
    if ns.action == "show":
        return show_connection(store, reporter, ns.tenant)
    if ns.action == "renew":
        return _renew(ns, reporter)
    if ns.action == "repair":
        return _admin_command(ns, reporter)
    if not ns.offboard:
        if ns.purge or ns.delete_app or getattr(ns, "keep_consent", False):
            raise InvalidInput("invalid_argument",
                               "--purge, --delete-app and --keep-consent only apply with "
                               "--offboard.",
                               "Add --offboard to delete the app registration in the tenant.")
        return remove_connection(store, reporter, ns.tenant)
    return _admin_command(ns, reporter)


def _dashboard(ns: argparse.Namespace, reporter: Reporter, store: Any) -> int:
    """The dashboard; with ``--demo`` on the demo world, a DEMO banner on screen and the
    simulated customer approving the admin sign-ins of repair and offboarding."""
    from vdc_tui.cli.check_cmd import open_dashboard
    from vdc_tui.settings import AppSettings

    if opt(ns, "demo_approve_after") is None:
        # A person watches: the code shows as long as in the wizard before it is approved.
        ns.demo_approve_after = AppSettings.demo_approve_after
    with contextlib.ExitStack() as stack:
        endpoints, _ = session_endpoints(ns, reporter, stack, device_code=True)
        banner = None
        on_admin_sign_in = None
        if opt(ns, "demo", False):
            from vdc_tui.demo import expect_admin_of

            banner = f"demo world · sign-in page {endpoints.authority_host}/devicelogin"
            home = home_of(ns)

            def on_admin_sign_in(tenant_id: str) -> None:
                expect_admin_of(home, tenant_id)

        return open_dashboard(store, endpoints, lambda: run_wizard(ns), demo_banner=banner,
                              on_admin_sign_in=on_admin_sign_in)
    raise AssertionError("unreachable")  # pragma: no cover (mypy: ExitStack may swallow)


def _renew(ns: argparse.Namespace, reporter: Reporter) -> int:
    import asyncio

    from vdc_tui.cli.lifecycle_cmd import RenewRun

    if not ns.all and (ns.within is not None or ns.concurrency is not None):
        raise InvalidInput("invalid_argument", "--within and --concurrency apply to --all.",
                           "Use `renew --all --within DAYS`, or name one TENANT without them.")
    within = 30.0 if ns.within is None else ns.within
    concurrency = 4 if ns.concurrency is None else ns.concurrency
    with contextlib.ExitStack() as stack:
        endpoints, _ = session_endpoints(ns, reporter, stack, device_code=False)
        run = RenewRun(connect_settings(ns, endpoints), reporter)
        if ns.all:
            return asyncio.run(run.all(within_days=within, include_manual=ns.include_manual,
                                       concurrency=concurrency))
        return asyncio.run(run.one(ns.tenant, include_manual=ns.include_manual))
    raise AssertionError("unreachable")  # pragma: no cover (mypy: ExitStack may swallow)


def _admin_command(ns: argparse.Namespace, reporter: Reporter) -> int:
    """``remove --offboard`` and ``repair``: an administrator signs in with a device code."""
    import asyncio

    from vdc_tui.cli.lifecycle_cmd import OffboardRun, RepairRun

    with contextlib.ExitStack() as stack:
        endpoints, note = session_endpoints(ns, reporter, stack, device_code=True)
        if opt(ns, "demo", False):
            from vdc_tui.demo import expect_admin_of

            expect_admin_of(home_of(ns), ns.tenant)
        settings = connect_settings(ns, endpoints)
        if ns.action == "repair":
            return asyncio.run(RepairRun(settings, reporter, demo_note=note).run(ns.tenant))
        run = OffboardRun(settings, reporter, demo_note=note)
        return asyncio.run(run.run(ns.tenant, purge=ns.purge, delete_app=ns.delete_app,
                                   yes=ns.yes))
    raise AssertionError("unreachable")  # pragma: no cover (mypy: ExitStack may swallow)
