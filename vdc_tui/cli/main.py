"""``vdc-tui``: the wizard by default, headless sub-commands for scripts.

The command names, options, exit codes and JSON shapes are the contract of
``docs/design.md`` ("The headless command line"); scripts outside the project rely on them.
Heavy modules (MSAL, cryptography, Textual) are imported only by the command that needs
them, so ``--help`` is instant and the wizard's first frame does not wait for them.

Here: the parsers of ``connect``, ``doctor`` and ``emulator``, logging, and the dispatch.
The option kit both parsers share is :mod:`.options`; what parsed options become (endpoints,
home, settings, the passphrase, the demo emulator, the wizard's start) is :mod:`.session`.
The ``connections`` family (seven actions) has its own parser (``connections_main``), and
every command's run lives in its ``*_cmd`` module.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import sys
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path

from vdc_tui import __version__
from vdc_tui.cli.options import (
    EPILOG,
    PROG,
    Parser,
    RefusePassword,
    UsageError,
    add_app_options,
    add_common,
    add_demo,
    add_demo_port,
    add_json,
    add_qr_option,
    port_number,
    positive_seconds,
)
from vdc_tui.cli.output import OutputClosed, Reporter, is_output_closed, quiet_exit
from vdc_tui.cli.session import (
    connect_settings,
    endpoints_of,
    home_of,
    opt,
    run_wizard,
    session_endpoints,
)
from vdc_tui.connect.errors import (
    EXIT_CANCELLED,
    EXIT_INVALID,
    Cancelled,
    InvalidInput,
    ServiceUnavailable,
    VdcError,
    scrub,
)
from vdc_tui.settings import THEMES


def build_parser(words: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The whole command line.

    Args:
        words: The command line's words, when known: a command that none of them names
            (or starts) is registered with its name and help, as ``--help`` and errors list
            it, without its options, which only its own parsing reads. So a command line
            parses, fails and helps as with every command built, and without a command
            (the wizard) this takes ~2 ms less before its first frame. ``None``: every
            command in full.
    """

    def wanted(command: str) -> bool:
        # A word that starts the name counts too: an argparse that took an abbreviated
        # command would still find its options.
        return words is None or any(w and command.startswith(w) for w in words)

    formatter = argparse.RawDescriptionHelpFormatter
    parser = Parser(
        prog=PROG, allow_abbrev=False, formatter_class=formatter, epilog=EPILOG,
        description="Connect a Microsoft 365 tenant to Veeam Data Cloud. Without a command, "
                    "the wizard starts.",
    )
    add_common(parser)
    add_demo(parser)
    add_app_options(parser)
    parser.add_argument("--tenant-name", metavar="NAME", default=argparse.SUPPRESS,
                        help="the tenant name typed in the product's Settings step")
    parser.add_argument("--theme", choices=THEMES, default=argparse.SUPPRESS,
                        help="colour theme of the wizard (default: vdc)")
    add_demo_port(parser, said="on screen")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    connect = commands.add_parser(
        "connect", help="connect a tenant without the TUI", allow_abbrev=False,
        formatter_class=formatter, epilog=EPILOG,
        description="Run the wizard's checks and provisioning headless.")
    if wanted("connect"):
        _add_connect_modes(connect, formatter)

    from vdc_tui.cli.connections_main import add_connections_parser

    add_connections_parser(commands, formatter, full=wanted("connections"))

    from vdc_tui.cli.audit_cmd import add_audit_parser

    add_audit_parser(commands, formatter, full=wanted("audit"))

    doctor = commands.add_parser(
        "doctor", help="can this machine do an onboarding? (network, TLS, proxy, clock, terminal)",
        allow_abbrev=False, formatter_class=formatter, epilog=EPILOG)
    if wanted("doctor"):
        doctor.add_argument("--timeout", type=positive_seconds, default=4.0,
                            metavar="SECONDS",
                            help="limit for each name lookup and HTTPS request (default: 4)")
        add_json(doctor)
        add_common(doctor)

    emulator = commands.add_parser(
        "emulator", help="run the HTTPS emulator of Entra ID and Graph on 127.0.0.1",
        allow_abbrev=False, formatter_class=formatter, epilog=EPILOG,
        description="The first stdout line is one JSON object with authority_host, graph_url, "
                    "ca_bundle and device_login_url.")
    if wanted("emulator"):
        emulator.add_argument("--port", type=port_number, default=0, metavar="N",
                              help="port to listen on, always on 127.0.0.1 (default: a free "
                                   "one)")
        emulator.add_argument("--scenario", metavar="FILE", default=None,
                              help="scenario name or JSON file (default: demo)")
        emulator.add_argument("--print-demo", action="store_true",
                              help="print the demo tenant's admin, manual app id, PFX path and "
                                   "password as JSON, then exit")
        add_common(emulator, keys=False)  # the emulator reads and writes no saved key
    return parser


def _add_connect_modes(connect: argparse.ArgumentParser,
                       formatter: type[argparse.HelpFormatter]) -> None:
    """``connect auto`` and ``connect manual`` with their options."""
    modes = connect.add_subparsers(dest="mode", metavar="MODE", required=True,
                                   parser_class=Parser)
    auto = modes.add_parser(
        "auto", help="a Global Administrator signs in with a device code; the app is created",
        allow_abbrev=False, formatter_class=formatter, epilog=EPILOG,
        description="Automatic mode: the device code, its address and a QR code go to stderr; "
                    "then one line per check. Ctrl+C cancels and rolls back.")
    manual = modes.add_parser(
        "manual", help="check an app registration you made (app id + PFX)",
        allow_abbrev=False, formatter_class=formatter, epilog=EPILOG,
        description="Manual mode: prove that an existing app registration works, or say why "
                    "not. The PFX password is read from an environment variable or stdin, "
                    "never from the command line.")
    manual.add_argument("--admin-email", required=True, metavar="EMAIL",
                        help="a Global Administrator's email in the tenant")
    manual.add_argument("--app-id", required=True, metavar="GUID",
                        help="Application (client) ID of the app registration")
    manual.add_argument("--pfx", required=True, metavar="PATH",
                        help="the certificate with its private key (PKCS#12)")
    password = manual.add_mutually_exclusive_group()
    password.add_argument("--pfx-password-env", metavar="VAR",
                          help="read the PFX password from environment variable VAR")
    password.add_argument("--pfx-password-stdin", action="store_true",
                          help="read the PFX password from the first line of stdin")
    manual.add_argument("--pfx-password", nargs="?", action=RefusePassword,
                        help=argparse.SUPPRESS)
    for sub in (auto, manual):
        sub.add_argument("--services", metavar="LIST",
                         help="comma-separated: exchange,sharepoint,teams (default: every "
                              "service the tenant has; Exchange Online is always included)")
        add_json(sub)
        add_demo(sub)
        add_demo_port(sub, said="on stderr")
        add_common(sub)
    add_app_options(auto)
    add_qr_option(auto)
    add_common(connect)


class _ScrubFilter(logging.Filter):
    """Last line of defence: a log line never carries a token or control characters."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub(record.getMessage(), limit=4000)
        record.args = None
        return True


class _ScrubFormatter(logging.Formatter):
    """Scrubs the whole formatted record, tracebacks included.

    A traceback quotes exception texts, which may quote a server's answer (control
    characters) or, from a library, a request (a token); the filter above only sees the
    message.
    """

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record), limit=20000)


@contextlib.contextmanager
def _logging(path: str | None) -> Iterator[None]:
    """Send log records to ``path`` only (never to the terminal), for one command."""
    root = logging.getLogger()
    # MSAL is silenced entirely: some of its errors quote the server's whole answer (a
    # token answer it could not parse, with its tokens). Our own records say what failed.
    # httpx logs one INFO line per request (method, URL, status; never headers or bodies).
    quiet = {"msal": logging.CRITICAL + 10, "httpcore": logging.WARNING,
             "asyncio": logging.WARNING}
    saved_levels = {name: logging.getLogger(name).level for name in quiet}
    saved_root = root.level
    handler: logging.Handler
    if path:
        target = Path(path).expanduser()
        try:
            # Created private: a log names tenants, apps and admins. O_NONBLOCK: a named
            # pipe nobody reads fails here at once instead of hanging the run.
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NONBLOCK", 0)
            os.close(os.open(target, flags, 0o600))
            handler = logging.FileHandler(target, mode="a", encoding="utf-8")
        except OSError as exc:
            raise InvalidInput("invalid_argument",
                               f"Cannot write the log file {str(target)!r} ({exc.strerror}).",
                               "Give a --log path in a folder you can write.") from None
        handler.setFormatter(_ScrubFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(_ScrubFilter())
        root.setLevel(logging.INFO)
        for name, level in quiet.items():
            logging.getLogger(name).setLevel(level)
    else:
        # Without --log nothing is logged anywhere: stderr belongs to progress lines.
        handler = logging.NullHandler()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(saved_root)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)


#: Seconds the ``vdc-tui`` process may take to end once its work is done, when a cancelled
#: fleet check left a thread waiting on a tenant that does not answer.
ABANDONED_EXIT_GRACE = 2.0


def console_main() -> int:
    """The ``vdc-tui`` command itself (and ``python -m vdc_tui``): :func:`main`, then an end
    that does not wait for a thread a cancelled check abandoned.

    Python joins every worker thread at exit; one blocked in a tenant's read (its answer no
    longer wanted) would hold the process for the HTTP timeout, with the output already
    written. Only here, never in :func:`main`, which tests call in their own process.
    """
    code = main()
    fleet = sys.modules.get("vdc_tui.connect.fleet.run")
    if fleet is not None and fleet.abandoned_work():
        from vdc_tui.stuck_exit import exit_if_stuck

        exit_if_stuck(code, ABANDONED_EXIT_GRACE, level=logging.INFO,
                      why="after its work (a cancelled check's request still awaited)")
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``vdc-tui`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit code.

    The one place where every command's closed stdout or stderr (a reader such as
    ``head -1`` that went away) becomes a quiet exit 141, see :mod:`.output`.
    """
    try:
        code = _main(argv)
        if sys.stdout is not None:
            sys.stdout.flush()  # here, not at interpreter exit where EPIPE is printed
        return code
    except BaseException as exc:
        if not is_output_closed(exc):
            raise
        return quiet_exit()


def _main(argv: Sequence[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    json_mode = "--json" in args
    try:
        ns = build_parser(args).parse_args(args)
    except UsageError as error:
        hint = f"{error.prog} --help"
        print(f"{PROG}: error: {scrub(error.message, limit=400)} (see `{hint}`)",
              file=sys.stderr, flush=True)
        if json_mode:
            Reporter(json_mode=True, err=io.StringIO()).failure(InvalidInput(
                "invalid_argument", scrub(error.message, limit=400), f"See `{hint}`."))
        return EXIT_INVALID
    except SystemExit as done:  # --help and --version
        return done.code if isinstance(done.code, int) else 0
    reporter = Reporter(json_mode=bool(opt(ns, "json", False)), qr=opt(ns, "qr", "unicode"))
    try:
        with _logging(opt(ns, "log")):
            # Errors are answered while the log is still open: an unexpected one is logged
            # (with its traceback) to the --log file, never to the terminal.
            try:
                logging.getLogger("vdc_tui.cli").info(
                    "vdc-tui %s: %s", __version__, " ".join(_command_words(ns)))
                return _dispatch(ns, reporter)
            except VdcError as error:
                reporter.failure(error)
                return error.exit_code
            except KeyboardInterrupt:
                reporter.failure(Cancelled())
                return EXIT_CANCELLED
            except Exception as exc:  # the service layer should have typed it
                return _unexpected(exc, reporter)
    except VdcError as error:  # the --log file itself cannot be opened
        reporter.failure(error)
        return error.exit_code


def _unexpected(exc: Exception, reporter: Reporter) -> int:
    """An exception that escaped the service layer's typed errors.

    Network-level failures still get the contract's ``service_unavailable`` (exit 4);
    anything else is a bug: exit 1 with ``internal_error``. Only the exception's type is
    shown (its text could quote a request); the log file, if any, has the traceback.
    """
    if is_output_closed(exc):  # a command's own print() into a pipe nobody reads
        raise OutputClosed from exc
    logging.getLogger("vdc_tui.cli").error("unexpected error", exc_info=exc)
    httpx = sys.modules.get("httpx")
    network = (OSError,) + ((httpx.HTTPError,) if httpx is not None else ())
    if isinstance(exc, network):
        error = ServiceUnavailable(f"A connection failed ({type(exc).__name__}).")
        reporter.failure(error)
        return error.exit_code
    print(f"error: internal error ({type(exc).__name__}); this is a bug in vdc-tui "
          "[internal_error]", file=sys.stderr, flush=True)
    if reporter.json_mode:
        reporter.emit({"status": "failed", "error": {
            "code": "internal_error",
            "message": f"Internal error ({type(exc).__name__}).",
            "remediation": "Run again with --log FILE and report the log to the vdc-tui team.",
        }})
    return 1


def _command_words(ns: argparse.Namespace) -> list[str]:
    return [str(w) for w in (opt(ns, "command"), opt(ns, "mode"), opt(ns, "action")) if w] or [
        "wizard"]


def _dispatch(ns: argparse.Namespace, reporter: Reporter) -> int:
    command = opt(ns, "command")
    if command is None:
        return run_wizard(ns)
    if command == "connect":
        return _connect(ns, reporter)
    if command == "connections":
        from vdc_tui.cli.connections_main import run_connections

        return run_connections(ns, reporter)
    if command == "audit":
        from vdc_tui.cli.audit_cmd import run_audit

        return run_audit(ns, home_of(ns), reporter)
    if command == "doctor":
        from vdc_tui.cli.doctor_cmd import run_doctor_command

        return run_doctor_command(endpoints_of(ns), home_of(ns), reporter, timeout=ns.timeout)
    if command == "emulator":
        return _emulator(ns)
    raise AssertionError(f"unhandled command {command!r}")  # argparse allows no other


def _connect(ns: argparse.Namespace, reporter: Reporter) -> int:
    import asyncio

    from vdc_tui.cli.connect_cmd import ConnectRun, parse_services, read_password

    requested = parse_services(ns.services)
    password: str | None = None
    if ns.mode == "manual":
        password = read_password(ns.pfx_password_env, ns.pfx_password_stdin)
    with contextlib.ExitStack() as stack:
        endpoints, note = session_endpoints(ns, reporter, stack,
                                             device_code=ns.mode == "auto")
        run = ConnectRun(connect_settings(ns, endpoints, requested), reporter, requested,
                         demo_note=note)
        if ns.mode == "auto":
            return asyncio.run(run.auto())
        return asyncio.run(run.manual(ns.admin_email, ns.app_id, ns.pfx, password))
    raise AssertionError("unreachable")  # pragma: no cover (mypy: ExitStack may swallow)


def _emulator(ns: argparse.Namespace) -> int:
    if ns.print_demo:
        from vdc_tui.cli.demo import DEMO_SCENARIO, demo_facts

        facts = demo_facts(ns.scenario or DEMO_SCENARIO)
        print(json.dumps(facts.to_json(), ensure_ascii=True), flush=True)
        return 0
    from vdc_tui.emulator.cli import PortUnavailable, serve

    try:
        outcome = serve(ns.port, ns.scenario)
    except PortUnavailable as exc:
        raise InvalidInput(
            "invalid_argument",
            f"The emulator cannot listen on 127.0.0.1:{exc.port} ({exc.reason}).",
            "Choose another --port, or --port 0 for any free port.",
            {"field": "port"},
        ) from None
    return outcome if isinstance(outcome, int) else 0
