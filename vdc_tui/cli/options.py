"""The option kit every parser of the command line shares.

``main`` (the wizard, ``connect``, ``doctor``, ``emulator``) and ``connections_main`` (the
dashboard and its seven actions) build their parsers from these pieces, so an option means
the same thing and reads the same in every command's ``--help``. What the parsed options
become (endpoints, the home folder, settings, the store passphrase) is :mod:`.session`'s.
"""

from __future__ import annotations

import argparse
from typing import Any, NoReturn

from vdc_tui import __version__
from vdc_tui.cli.argtypes import guid, ranged
from vdc_tui.cli.output import QR_STYLES
from vdc_tui.connect.microsoft.clouds import CLOUDS
from vdc_tui.connect.service import DEFAULT_APP_DISPLAY_NAME, PLANS
from vdc_tui.settings import DEFAULT_DEMO_PORT

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
  vdc-tui connections                       the fleet dashboard (in a terminal)
  vdc-tui connections list
  vdc-tui connections check --all --openmetrics vdc_tui.prom
                                            check every connection, write metrics
  vdc-tui connections renew --all --within 30
                                            new certificates, no admin needed
  vdc-tui connections repair contoso.com    an admin signs in; missing grants are added
  EXPORT_PW=... vdc-tui connections export contoso.com --pfx contoso.pfx \\
      --pfx-password-env EXPORT_PW          the certificate for the manual form
  vdc-tui connections remove contoso.com --offboard
                                            delete the app in the tenant, then the profile
  vdc-tui audit --verify                    is the audit trail intact? (exit 3 if not)
  vdc-tui doctor                            can this machine onboard? each line with a fix
  vdc-tui emulator --port 8443              a standalone emulator for rehearsals
  vdc-tui emulator --print-demo             the demo tenant's manual app, PFX and password

exit codes: 0 connected/done, 2 invalid invocation or input, 3 the check found a problem,
            4 a service was unreachable or failed after retries, 130 cancelled (Ctrl+C,
            SIGHUP, SIGTERM), 141 output closed by its reader (e.g. | head).
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


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors become :class:`UsageError` (one line, exit 2)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, self.prog)


class RefusePassword(argparse.Action):
    """``--pfx-password``: refused, whatever its value (which is never echoed)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        raise UsageError(
            "--pfx-password is not accepted: a password in the command line is visible to "
            "other users and kept in shell history; use --pfx-password-env VAR or "
            "--pfx-password-stdin",
            parser.prog,
        )


def approve_after(text: str) -> float | None:
    if text.lower() in ("off", "never", "none"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more seconds (or 'off')")
    return value


port_number = ranged(int, lambda v: 0 <= v <= 65535, unreadable="not a port number: {text}",
               out_of_range="must be between 1 and 65535 (0 = any free port)")


positive_seconds = ranged(float, lambda v: 0 < v <= 120,
                           unreadable="not a number of seconds: {text}",
                           out_of_range="must be between 0 and 120 seconds")


def add_common(parser: argparse.ArgumentParser, *, keys: bool = True) -> None:
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
        add_key_passphrase(group)
    group.add_argument("--version", action="version", version=f"{PROG} {__version__}")


def add_key_passphrase(group: Any) -> None:
    group.add_argument("--key-passphrase-env", metavar="VAR", default=argparse.SUPPRESS,
                       help="read the store passphrase of the saved keys from environment "
                            "variable VAR (else: $VDC_TUI_KEY_PASSPHRASE_FILE, the OS keyring, "
                            "a prompt)")
    group.add_argument("--key-passphrase-stdin", action="store_true", default=argparse.SUPPRESS,
                       help="read the store passphrase from the first line of stdin")


def add_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--demo", action="store_true", default=argparse.SUPPRESS,
                        help="use the built-in emulator's demo tenant; profiles go to "
                             "$VDC_TUI_HOME/demo, never mixed with real ones")


def add_demo_port(parser: argparse.ArgumentParser, *, said: str) -> None:
    parser.add_argument("--demo-port", metavar="N", type=port_number, default=argparse.SUPPRESS,
                        help=f"demo only: the emulator's loopback port, fixed so scripts and "
                             f"recordings see the same sign-in address (default: "
                             f"{DEFAULT_DEMO_PORT}; a free port when busy, said {said}; "
                             f"0 = any free port)")


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print exactly one JSON object on stdout (progress stays on stderr)")


def add_qr_option(parser: argparse.ArgumentParser) -> None:
    """``--qr``: how a command that shows a device code draws its QR code on stderr."""
    parser.add_argument("--qr", choices=QR_STYLES, default=argparse.SUPPRESS,
                        help="the sign-in address's QR code on stderr: unicode (half blocks, "
                             "for a dark terminal; default), ascii (## per dark module, only "
                             "ASCII characters, for a log, e-mail or paper) or off")


def add_app_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--client-id", metavar="GUID", type=guid, default=argparse.SUPPRESS,
                        help="public client used for the device-code sign-in "
                             "(default: Microsoft Graph Command Line Tools)")
    parser.add_argument("--app-name", metavar="NAME", default=argparse.SUPPRESS,
                        help=f"display name of the app registration to create "
                             f"(default: {DEFAULT_APP_DISPLAY_NAME})")
    parser.add_argument("--keep-consent", action="store_true", default=argparse.SUPPRESS,
                        help="leave the sign-in's delegated consent (the onboarding scopes "
                             "granted to the sign-in client) in place; by default the run's "
                             "last step removes it")
    parser.add_argument("--demo-approve-after", metavar="SECONDS", type=approve_after,
                        default=argparse.SUPPRESS,
                        help="demo only: the emulator approves the device code after SECONDS "
                             "('off' = only through its device-login page)")
