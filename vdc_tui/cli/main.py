"""``vdc-tui``: the wizard by default, headless sub-commands for scripts.

The command names, options, exit codes and JSON shapes are the contract of
``docs/design.md`` ("The headless command line"); scripts outside the project rely on them.
Heavy modules (MSAL, cryptography, Textual) are imported only by the command that needs
them, so ``--help`` is instant and the wizard's first frame does not wait for them.

Why one file of ~670 lines: the parser's shared options (endpoints, home, keys, demo), the
small parsers of ``connect``, ``doctor`` and ``emulator``, and the dispatch that reads them
are one contract. The ``connections`` family (seven actions) has its own module
(``connections_main``), and every command's run lives in its ``*_cmd`` module. What stays
here is the part every command goes through.
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
from typing import Any, NoReturn

from vdc_tui import __version__
from vdc_tui.cli.argtypes import ranged
from vdc_tui.cli.output import OutputClosed, Reporter, is_output_closed, quiet_exit
from vdc_tui.connect.errors import (
    EXIT_CANCELLED,
    EXIT_INVALID,
    Cancelled,
    InvalidInput,
    ServiceUnavailable,
    VdcError,
    scrub,
)
from vdc_tui.connect.microsoft.clouds import CLOUDS, Endpoints, resolve_endpoints
from vdc_tui.connect.service import (
    DEFAULT_APP_DISPLAY_NAME,
    DEFAULT_PUBLIC_CLIENT_ID,
    PLANS,
    ConnectSettings,
)
from vdc_tui.settings import DEFAULT_DEMO_PORT, THEMES

PROG = "vdc-tui"

#: Seconds after which the headless demo approves its device code (scripts want it quick).
HEADLESS_DEMO_APPROVE_AFTER = 1.0

EPILOG = """\
examples:
  vdc-tui                                   the wizard (real Microsoft cloud)
  vdc-tui --demo                            the wizard against the built-in emulator
  vdc-tui connect auto --json               device-code sign-in, create and verify the app
  PFX_PW=... vdc-tui connect manual --admin-email admin@contoso.com \\
      --app-id 11111111-2222-3333-4444-555555555555 --pfx app.pfx \\
      --pfx-password-env PFX_PW --services exchange,sharepoint --json
  vdc-tui connections list
  vdc-tui doctor
  vdc-tui emulator --port 8443               a standalone emulator for rehearsals
  vdc-tui emulator --print-demo             the demo tenant's manual app, PFX and password

exit codes: 0 connected/done, 2 invalid invocation or input, 3 the check found a problem,
            4 a service was unreachable or failed after retries, 130 cancelled.
environment: VDC_TUI_HOME  folder for profiles and keys (default: the user data folder).
             VDC_TUI_KEY_PASSPHRASE_FILE  owner-only file holding the store passphrase.
demo mode keeps its profiles in $VDC_TUI_HOME/demo, apart from real connections.
"""


#: Said by every demo command that touches keys.
DEMO_KEYS_NOTE = ("Demo: keys are encrypted with the fixed demo passphrase "
                  "'vdc-tui-demo-passphrase' (public; for demo keys only).")


class UsageError(Exception):
    """A bad invocation, raised instead of argparse's print-usage-and-exit."""

    def __init__(self, message: str, prog: str) -> None:
        super().__init__(message)
        self.message = message
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors become :class:`UsageError` (one line, exit 2)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, self.prog)


class _RefusePassword(argparse.Action):
    """``--pfx-password``: refused, whatever its value (which is never echoed)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        raise UsageError(
            "--pfx-password is not accepted: a password in the command line is visible to "
            "other users and kept in shell history; use --pfx-password-env VAR or "
            "--pfx-password-stdin",
            parser.prog,
        )


def _approve_after(text: str) -> float | None:
    if text.lower() in ("off", "never", "none"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more seconds (or 'off')")
    return value


_port = ranged(int, lambda v: 0 <= v <= 65535, unreadable="not a port number: {text}",
               out_of_range="must be between 1 and 65535 (0 = any free port)")
_positive_seconds = ranged(float, lambda v: 0 < v <= 120,
                           unreadable="not a number of seconds: {text}",
                           out_of_range="must be between 0 and 120 seconds")


def _add_common(parser: argparse.ArgumentParser, *, keys: bool = True) -> None:
    # SUPPRESS: the same options exist on the main parser and every sub-command; without it
    # a sub-parser's defaults would overwrite a value given before the sub-command.
    # ``keys``: the store passphrase options, for every command that may read or write a key.
    group = parser.add_argument_group("common options")
    group.add_argument("--cloud", choices=list(CLOUDS), default=argparse.SUPPRESS,
                       help="Microsoft cloud of the tenant (default: global)")
    group.add_argument("--authority-host", metavar="URL", default=argparse.SUPPRESS,
                       help="identity platform host, e.g. https://login.microsoftonline.com")
    group.add_argument("--graph-url", metavar="URL", default=argparse.SUPPRESS,
                       help="Microsoft Graph root, e.g. https://graph.microsoft.com")
    group.add_argument("--ca-bundle", metavar="PEM", default=argparse.SUPPRESS,
                       help="trust these CA certificates instead of the system store")
    group.add_argument("--plan", choices=PLANS, default=argparse.SUPPRESS,
                       help="the customer's plan (default: flex)")
    group.add_argument("--log", metavar="FILE", default=argparse.SUPPRESS,
                       help="append a log of what was done to FILE (never secrets)")
    if keys:
        _add_key_passphrase(group)
    group.add_argument("--version", action="version", version=f"{PROG} {__version__}")


def _add_key_passphrase(group: Any) -> None:
    group.add_argument("--key-passphrase-env", metavar="VAR", default=argparse.SUPPRESS,
                       help="read the store passphrase of the saved keys from environment "
                            "variable VAR (else: $VDC_TUI_KEY_PASSPHRASE_FILE, the OS keyring, "
                            "a prompt)")
    group.add_argument("--key-passphrase-stdin", action="store_true", default=argparse.SUPPRESS,
                       help="read the store passphrase from the first line of stdin")


def _add_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--demo", action="store_true", default=argparse.SUPPRESS,
                        help="use the built-in emulator's demo tenant; profiles go to "
                             "$VDC_TUI_HOME/demo, never mixed with real ones")


def _add_demo_port(parser: argparse.ArgumentParser, *, said: str) -> None:
    parser.add_argument("--demo-port", metavar="N", type=_port, default=argparse.SUPPRESS,
                        help=f"demo only: the emulator's loopback port, fixed so scripts and "
                             f"recordings see the same sign-in address (default: "
                             f"{DEFAULT_DEMO_PORT}; a free port when busy, said {said}; "
                             f"0 = any free port)")


def _add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print exactly one JSON object on stdout (progress stays on stderr)")


def _add_app_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--client-id", metavar="GUID", default=argparse.SUPPRESS,
                        help="public client used for the device-code sign-in "
                             "(default: Microsoft Graph Command Line Tools)")
    parser.add_argument("--app-name", metavar="NAME", default=argparse.SUPPRESS,
                        help=f"display name of the app registration to create "
                             f"(default: {DEFAULT_APP_DISPLAY_NAME})")
    parser.add_argument("--keep-consent", action="store_true", default=argparse.SUPPRESS,
                        help="leave the sign-in's delegated consent (the onboarding scopes "
                             "granted to the sign-in client) in place; by default the run's "
                             "last step removes it")
    parser.add_argument("--demo-approve-after", metavar="SECONDS", type=_approve_after,
                        default=argparse.SUPPRESS,
                        help="demo only: the emulator approves the device code after SECONDS "
                             "('off' = only through its device-login page)")


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
    parser = _Parser(
        prog=PROG, allow_abbrev=False, formatter_class=formatter, epilog=EPILOG,
        description="Connect a Microsoft 365 tenant to Veeam Data Cloud. Without a command, "
                    "the wizard starts.",
    )
    _add_common(parser)
    _add_demo(parser)
    _add_app_options(parser)
    parser.add_argument("--tenant-name", metavar="NAME", default=argparse.SUPPRESS,
                        help="the tenant name typed in the product's Settings step")
    parser.add_argument("--theme", choices=THEMES, default=argparse.SUPPRESS,
                        help="colour theme of the wizard (default: vdc)")
    _add_demo_port(parser, said="on screen")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    connect = commands.add_parser(
        "connect", help="connect a tenant without the TUI", allow_abbrev=False,
        formatter_class=formatter, epilog=EPILOG,
        description="Run the wizard's checks and provisioning headless.")
    if wanted("connect"):
        _add_connect_modes(connect, formatter)

    from vdc_tui.cli.connections_main import add_connections_parser

    add_connections_parser(commands, formatter, full=wanted("connections"))

    doctor = commands.add_parser(
        "doctor", help="can this machine do an onboarding? (network, TLS, proxy, clock, terminal)",
        allow_abbrev=False, formatter_class=formatter, epilog=EPILOG)
    if wanted("doctor"):
        doctor.add_argument("--timeout", type=_positive_seconds, default=4.0,
                            metavar="SECONDS",
                            help="limit for each name lookup and HTTPS request (default: 4)")
        _add_json(doctor)
        _add_common(doctor)

    emulator = commands.add_parser(
        "emulator", help="run the HTTPS emulator of Entra ID and Graph on 127.0.0.1",
        allow_abbrev=False, formatter_class=formatter, epilog=EPILOG,
        description="The first stdout line is one JSON object with authority_host, graph_url, "
                    "ca_bundle and device_login_url.")
    if wanted("emulator"):
        emulator.add_argument("--port", type=_port, default=0, metavar="N",
                              help="port to listen on, always on 127.0.0.1 (default: a free "
                                   "one)")
        emulator.add_argument("--scenario", metavar="FILE", default=None,
                              help="scenario name or JSON file (default: demo)")
        emulator.add_argument("--print-demo", action="store_true",
                              help="print the demo tenant's admin, manual app id, PFX path and "
                                   "password as JSON, then exit")
        _add_common(emulator, keys=False)  # the emulator reads and writes no saved key
    return parser


def _add_connect_modes(connect: argparse.ArgumentParser,
                       formatter: type[argparse.HelpFormatter]) -> None:
    """``connect auto`` and ``connect manual`` with their options."""
    modes = connect.add_subparsers(dest="mode", metavar="MODE", required=True,
                                   parser_class=_Parser)
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
    manual.add_argument("--pfx-password", nargs="?", action=_RefusePassword,
                        help=argparse.SUPPRESS)
    for sub in (auto, manual):
        sub.add_argument("--services", metavar="LIST",
                         help="comma-separated: exchange,sharepoint,teams (default: every "
                              "service the tenant has; Exchange Online is always included)")
        _add_json(sub)
        _add_demo(sub)
        _add_demo_port(sub, said="on stderr")
        _add_common(sub)
    _add_app_options(auto)
    _add_common(connect)


def _opt(ns: argparse.Namespace, name: str, default: Any = None) -> Any:
    return getattr(ns, name, default)


def _endpoints(ns: argparse.Namespace) -> Endpoints:
    return resolve_endpoints(
        _opt(ns, "cloud", "global"),
        authority_host=_opt(ns, "authority_host"),
        graph_url=_opt(ns, "graph_url"),
        ca_bundle=_opt(ns, "ca_bundle"),
    )


def _home(ns: argparse.Namespace) -> Path:
    from vdc_tui.connect.store.home import vdc_home

    if _opt(ns, "demo", False):
        from vdc_tui.cli.demo import demo_home

        return demo_home()
    return vdc_home()


def _refuse_overrides_in_demo(ns: argparse.Namespace) -> None:
    given = [f"--{n.replace('_', '-')}" for n in ("cloud", "authority_host", "graph_url",
                                                  "ca_bundle") if _opt(ns, n) is not None]
    if given:
        raise InvalidInput(
            "invalid_argument",
            f"--demo runs against the built-in emulator; {', '.join(given)} cannot be used "
            "with it.",
            "Drop --demo to use those endpoints, or drop the endpoint options.",
        )


def connect_settings(ns: argparse.Namespace, endpoints: Endpoints,
                     services: Sequence[str] | None = None) -> ConnectSettings:
    """The :class:`ConnectSettings` of a run from the parsed options."""
    return ConnectSettings(
        endpoints=endpoints,
        client_id=_opt(ns, "client_id", DEFAULT_PUBLIC_CLIENT_ID),
        plan=_opt(ns, "plan", "flex"),
        home=_home(ns),
        app_display_name=_opt(ns, "app_name", DEFAULT_APP_DISPLAY_NAME),
        services=frozenset(services) if services else frozenset({"exchange", "sharepoint",
                                                                  "teams"}),
        key_passphrase=key_passphrase(ns),
        keep_consent=bool(_opt(ns, "keep_consent", False)),
    )


def key_passphrase(ns: argparse.Namespace) -> Any:
    """The store passphrase's provider of a run (:class:`~vdc_tui.connect.store.keystore.
    PassphraseProvider`): the demo's fixed one, or the options, file, keyring and prompt.
    One per run, so what the dashboard's prompt got is kept for the wizard its ``n`` opens."""
    known = getattr(ns, "_key_passphrase_provider", None)
    if known is not None:
        return known
    provider = _new_key_passphrase(ns)
    ns._key_passphrase_provider = provider
    return provider


def _new_key_passphrase(ns: argparse.Namespace) -> Any:
    from vdc_tui.connect.store.keystore import PassphraseProvider, terminal_asker

    if _opt(ns, "demo", False):
        return PassphraseProvider.demo()
    stdin = bool(_opt(ns, "key_passphrase_stdin", False))
    if stdin and _opt(ns, "key_passphrase_env"):
        raise InvalidInput("invalid_argument", "Give the store passphrase one way: "
                           "--key-passphrase-env or --key-passphrase-stdin.", "Drop one of them.")
    if stdin and _opt(ns, "pfx_password_stdin", False):
        raise InvalidInput("invalid_argument", "stdin cannot carry both the PFX password and "
                           "the store passphrase.",
                           "Use --pfx-password-env or --key-passphrase-env for one of them.")
    # A prompt only for headless commands on a terminal: the wizard and the dashboard
    # (`connections` without an action) ask on their own masked screen.
    dashboard = _opt(ns, "command") == "connections" and _opt(ns, "action") is None
    headless = _opt(ns, "command") is not None and not dashboard
    asker = terminal_asker if headless and not stdin and sys.stdin.isatty() else None
    return PassphraseProvider(env_var=_opt(ns, "key_passphrase_env"), stdin=stdin, asker=asker)


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
    reporter = Reporter(json_mode=bool(_opt(ns, "json", False)))
    try:
        with _logging(_opt(ns, "log")):
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
    return [str(w) for w in (_opt(ns, "command"), _opt(ns, "mode"), _opt(ns, "action")) if w] or [
        "wizard"]


def _dispatch(ns: argparse.Namespace, reporter: Reporter) -> int:
    command = _opt(ns, "command")
    if command is None:
        return _wizard(ns)
    if command == "connect":
        return _connect(ns, reporter)
    if command == "connections":
        from vdc_tui.cli.connections_main import run_connections

        return run_connections(ns, reporter)
    if command == "doctor":
        from vdc_tui.cli.doctor_cmd import run_doctor_command

        return run_doctor_command(_endpoints(ns), _home(ns), reporter, timeout=ns.timeout)
    if command == "emulator":
        return _emulator(ns)
    raise AssertionError(f"unhandled command {command!r}")  # argparse allows no other


def _refuse_demo_port_without_demo(ns: argparse.Namespace) -> None:
    if _opt(ns, "demo_port") is not None and not _opt(ns, "demo", False):
        raise InvalidInput("invalid_argument", "--demo-port only applies with --demo.",
                           "Add --demo, or drop --demo-port.")


def _wizard(ns: argparse.Namespace) -> int:
    from vdc_tui.settings import AppSettings

    demo = bool(_opt(ns, "demo", False))
    _refuse_demo_port_without_demo(ns)
    if demo:
        _refuse_overrides_in_demo(ns)
    settings = AppSettings(
        connect=connect_settings(ns, _endpoints(ns)),
        demo=demo,
        demo_approve_after=_opt(ns, "demo_approve_after", AppSettings.demo_approve_after),
        demo_port=_opt(ns, "demo_port", DEFAULT_DEMO_PORT),
        tenant_name=_opt(ns, "tenant_name"),
        theme=_opt(ns, "theme", "vdc"),
    )
    from vdc_tui.app import make_app  # Textual only now, after the options are known to be good

    app = make_app(settings)
    app.run()
    if isinstance(app.return_value, Path):
        # The terminal is back to normal: leave the operator the one thing to keep.
        print(f"Saved the connection profile: {app.return_value}", flush=True)
        if demo:
            print(DEMO_KEYS_NOTE, flush=True)
    code = app.return_code
    return code if isinstance(code, int) else 0


def _connect(ns: argparse.Namespace, reporter: Reporter) -> int:
    import asyncio

    from vdc_tui.cli.connect_cmd import ConnectRun, parse_services, read_password

    requested = parse_services(ns.services)
    password: str | None = None
    if ns.mode == "manual":
        password = read_password(ns.pfx_password_env, ns.pfx_password_stdin)
    with contextlib.ExitStack() as stack:
        endpoints, note = _session_endpoints(ns, reporter, stack,
                                             device_code=ns.mode == "auto")
        run = ConnectRun(connect_settings(ns, endpoints, requested), reporter, requested,
                         demo_note=note)
        if ns.mode == "auto":
            return asyncio.run(run.auto())
        return asyncio.run(run.manual(ns.admin_email, ns.app_id, ns.pfx, password))
    raise AssertionError("unreachable")  # pragma: no cover (mypy: ExitStack may swallow)


def _session_endpoints(ns: argparse.Namespace, reporter: Reporter,
                       stack: contextlib.ExitStack, *,
                       device_code: bool) -> tuple[Endpoints, str | None]:
    """The endpoints of a command that talks to a tenant, and the note for its device code.

    With ``--demo`` the built-in emulator starts (closed with ``stack``) and, when the
    command signs in with a device code, approves it by itself after a moment.
    """
    demo = bool(_opt(ns, "demo", False))
    _refuse_demo_port_without_demo(ns)
    if not demo:
        return _endpoints(ns), None
    _refuse_overrides_in_demo(ns)
    from vdc_tui.cli.demo import demo_emulator, emulator_endpoints

    approve = _opt(ns, "demo_approve_after", HEADLESS_DEMO_APPROVE_AFTER)
    port = _opt(ns, "demo_port", DEFAULT_DEMO_PORT)
    emu = stack.enter_context(demo_emulator(approve if device_code else None, port=port))
    if port and emu.port != port:
        # Another demo (or anything else) holds the port: say where it went, since a
        # script or a recording may expect the fixed address.
        reporter.note(f"Demo: port {port} is busy; the built-in emulator listens on "
                      f"port {emu.port} instead ({emu.device_login_url}).")
    reporter.note(DEMO_KEYS_NOTE)
    note = ("Demo: the emulator approves this code by itself in "
            f"{approve:g} s." if approve is not None else
            "Demo: open the address above in a browser to approve.")
    return emulator_endpoints(emu), note


def _emulator(ns: argparse.Namespace) -> int:
    if ns.print_demo:
        from vdc_tui.cli.demo import DEMO_SCENARIO, demo_facts

        facts = demo_facts(ns.scenario or DEMO_SCENARIO)
        print(json.dumps(facts.to_json(), ensure_ascii=True), flush=True)
        return 0
    from vdc_tui.emulator.cli import serve

    outcome = serve(ns.port, ns.scenario)
    return outcome if isinstance(outcome, int) else 0
