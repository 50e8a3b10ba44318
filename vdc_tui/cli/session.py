"""From parsed options to a run: endpoints, the home folder, settings, the store passphrase.

Every command that talks to a tenant goes through here, ``--demo`` included (the built-in
emulator is started for the run and closed with it). The wizard's launcher is here too: the
dashboard's ``n`` and the bare ``vdc-tui`` open the same wizard with the same settings.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vdc_tui.cli.options import DEMO_KEYS_NOTE, HEADLESS_DEMO_APPROVE_AFTER
from vdc_tui.cli.output import Reporter
from vdc_tui.connect.errors import InvalidInput
from vdc_tui.connect.microsoft.clouds import Endpoints, resolve_endpoints
from vdc_tui.connect.service import (
    DEFAULT_APP_DISPLAY_NAME,
    DEFAULT_PUBLIC_CLIENT_ID,
    ConnectSettings,
)
from vdc_tui.settings import DEFAULT_DEMO_PORT


def opt(ns: argparse.Namespace, name: str, default: Any = None) -> Any:
    return getattr(ns, name, default)


def endpoints_of(ns: argparse.Namespace) -> Endpoints:
    return resolve_endpoints(
        opt(ns, "cloud", "global"),
        authority_host=opt(ns, "authority_host"),
        graph_url=opt(ns, "graph_url"),
        ca_bundle=opt(ns, "ca_bundle"),
    )


def home_of(ns: argparse.Namespace) -> Path:
    from vdc_tui.connect.store.home import vdc_home

    if opt(ns, "demo", False):
        from vdc_tui.demo import demo_home

        return demo_home()
    return vdc_home()


def refuse_overrides_in_demo(ns: argparse.Namespace) -> None:
    given = [f"--{n.replace('_', '-')}" for n in ("cloud", "authority_host", "graph_url",
                                                  "ca_bundle") if opt(ns, n) is not None]
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
        client_id=opt(ns, "client_id", DEFAULT_PUBLIC_CLIENT_ID),
        plan=opt(ns, "plan", "flex"),
        home=home_of(ns),
        app_display_name=opt(ns, "app_name", DEFAULT_APP_DISPLAY_NAME),
        services=frozenset(services) if services else frozenset({"exchange", "sharepoint",
                                                                  "teams"}),
        key_passphrase=key_passphrase(ns),
        keep_consent=bool(getattr(ns, "keep_consent", False)),
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

    if opt(ns, "demo", False):
        return PassphraseProvider.demo()
    stdin = bool(opt(ns, "key_passphrase_stdin", False))
    if stdin and opt(ns, "key_passphrase_env"):
        raise InvalidInput("invalid_argument", "Give the store passphrase one way: "
                           "--key-passphrase-env or --key-passphrase-stdin.", "Drop one of them.")
    if stdin and opt(ns, "pfx_password_stdin", False):
        raise InvalidInput("invalid_argument", "stdin cannot carry both the PFX password and "
                           "the store passphrase.",
                           "Use --pfx-password-env or --key-passphrase-env for one of them.")
    # A prompt only for headless commands on a terminal: the wizard and the dashboard
    # (`connections` without an action) ask on their own masked screen.
    dashboard = opt(ns, "command") == "connections" and opt(ns, "action") is None
    headless = opt(ns, "command") is not None and not dashboard
    asker = terminal_asker if headless and not stdin and sys.stdin.isatty() else None
    return PassphraseProvider(env_var=opt(ns, "key_passphrase_env"), stdin=stdin, asker=asker)


def refuse_demo_port_without_demo(ns: argparse.Namespace) -> None:
    if opt(ns, "demo_port") is not None and not opt(ns, "demo", False):
        raise InvalidInput("invalid_argument", "--demo-port only applies with --demo.",
                           "Add --demo, or drop --demo-port.")


def refuse_without_terminal() -> None:
    """The wizard reads keys from stdin and draws on stderr (Textual's driver): without a
    terminal on both, and on stdout, it would wait for nothing or write escape codes into a
    file or a log. Refused as the dashboard is."""
    streams = (sys.stdin, sys.stdout, sys.stderr)
    if not all(stream is not None and stream.isatty() for stream in streams):
        raise InvalidInput(
            "invalid_argument",
            "`vdc-tui` without a command starts the wizard, which needs a terminal "
            "(stdin, stdout and stderr).",
            "Run it in a terminal; in scripts use `vdc-tui connect auto --json` or "
            "`vdc-tui connect manual ... --json`.")


def run_wizard(ns: argparse.Namespace) -> int:
    from vdc_tui.settings import AppSettings

    demo = bool(opt(ns, "demo", False))
    refuse_demo_port_without_demo(ns)
    if demo:
        refuse_overrides_in_demo(ns)
    settings = AppSettings(
        connect=connect_settings(ns, endpoints_of(ns)),
        demo=demo,
        demo_world=demo,
        demo_approve_after=opt(ns, "demo_approve_after", AppSettings.demo_approve_after),
        demo_port=opt(ns, "demo_port", DEFAULT_DEMO_PORT),
        tenant_name=opt(ns, "tenant_name"),
        theme=opt(ns, "theme", "vdc"),
    )
    refuse_without_terminal()
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


def session_endpoints(ns: argparse.Namespace, reporter: Reporter,
                       stack: contextlib.ExitStack, *,
                       device_code: bool) -> tuple[Endpoints, str | None]:
    """The endpoints of a command that talks to a tenant, and the note for its device code.

    With ``--demo`` the built-in emulator starts (closed with ``stack``) and, when the
    command signs in with a device code, approves it by itself after a moment.
    """
    demo = bool(opt(ns, "demo", False))
    refuse_demo_port_without_demo(ns)
    if not demo:
        from vdc_tui.demo import refuse_real_cloud

        endpoints = endpoints_of(ns)
        refuse_real_cloud(home_of(ns), endpoints)
        return endpoints, None
    refuse_overrides_in_demo(ns)
    from vdc_tui.demo import demo_emulator, emulator_endpoints

    approve = opt(ns, "demo_approve_after", HEADLESS_DEMO_APPROVE_AFTER)
    port = opt(ns, "demo_port", DEFAULT_DEMO_PORT)
    emu = stack.enter_context(demo_emulator(approve if device_code else None, port=port,
                                            home=home_of(ns)))
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
