"""``vdc-tui connections export TENANT --pfx OUT``: hand a connection to the backup service.

The product's manual connection form asks for exactly four things: Admin Email, App
Registration (client) ID, a PFX certificate file and its password. This command writes the
PFX (a new AES-256 PKCS#12 under a password of its own, never the store passphrase) and
prints the other three, with the certificate's thumbprint and expiry to check against the
Entra admin centre.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from vdc_tui.connect.errors import InvalidInput, scrub

if TYPE_CHECKING:
    # Only an export imports this module (its options are in connections_main), and the
    # export's own modules wait until it runs.
    from vdc_tui.cli.output import Reporter
    from vdc_tui.connect.store.profiles import ProfileStore


def _password(ns: argparse.Namespace, reporter: Reporter) -> tuple[str, bool]:
    """(the export password, whether it was generated)."""
    from vdc_tui.cli.connect_cmd import read_password
    from vdc_tui.connect.lifecycle.export import generate_password, weak_password_warning

    given = read_password(ns.pfx_password_env, ns.pfx_password_stdin)
    if given is None:
        return generate_password(), True
    if not given:
        raise InvalidInput("invalid_argument", "The PFX password is empty.",
                           "Give a password, or use --generate-password.",
                           {"field": "pfx_password"})
    warning = weak_password_warning(given)
    if warning:
        reporter.warning(warning)
    return given, False


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def refuse_untrusted_output(reporter: Reporter, *, show_password: bool) -> None:
    """A generated password is shown once, on a terminal only: the stream it would go to
    (stdout for the text form and for ``--json --show-password``, else stderr) must be one.
    Output that is redirected or piped lands in logs, so it never gets the password.

    Raises:
        InvalidInput: ``password_needs_terminal`` (exit 2), before anything is written.
    """
    on_stdout = not reporter.json_mode or show_password
    stream = sys.stdout if on_stdout else sys.stderr
    if _is_terminal(stream):
        return
    where = "stdout" if on_stdout else "stderr"
    raise InvalidInput(
        "password_needs_terminal",
        f"A generated PFX password is shown only on a terminal, and {where} is not one "
        "(redirected or piped output ends up in logs).",
        "Give the password yourself with --pfx-password-env VAR or --pfx-password-stdin, "
        "or run the export in a terminal.",
        {"field": "pfx_password", "stream": where})


def export_connection(store: ProfileStore, reporter: Reporter, ns: argparse.Namespace) -> int:
    """Write the PFX and print what the manual connection form asks for."""
    from vdc_tui.connect.lifecycle.export import export_connection as write_export
    from vdc_tui.connect.lifecycle.export import export_target

    if ns.show_password and not reporter.json_mode:
        raise InvalidInput("invalid_argument", "--show-password only applies with --json.",
                           "Drop --show-password (a generated password is shown anyway).")
    entry = store.find(ns.tenant)
    store.load(entry.tenant_id)  # a damaged profile is said before anything is asked
    out = export_target(store, ns.pfx, force=ns.force)
    if not (ns.pfx_password_env or ns.pfx_password_stdin):
        refuse_untrusted_output(reporter, show_password=ns.show_password)
    password, generated = _password(ns, reporter)
    done = write_export(store, entry.tenant_id, out, password)
    form = {
        "admin_email": done.admin_email,
        "app_id": done.app_id,
        "pfx": str(done.pfx),
        "thumbprint": done.thumbprint,
        "thumbprint_sha256": done.thumbprint_sha256,
        "not_after": done.not_after.isoformat(),
        "password_generated": generated,
    }
    _report(reporter, entry.tenant_id, entry.name, form, password if generated else None,
            ns.show_password)
    return 0


def _report(reporter: Reporter, tenant_id: str, name: str | None, form: dict[str, Any],
            generated: str | None, show_password: bool) -> None:
    if reporter.json_mode:
        document: dict[str, Any] = {"status": "exported", "tenant_id": tenant_id, **form}
        if generated is not None and show_password:
            document["pfx_password"] = generated
        elif generated is not None:
            print(f"PFX password (shown once, not in the JSON): {generated}",
                  file=sys.stderr, flush=True)
        reporter.emit(document)
        return
    lines = [
        f"Exported the connection of {scrub(name or tenant_id, limit=120)} ({tenant_id}).",
        "Enter these in the backup service's manual connection form:",
        f"  Admin Email:                    {scrub(str(form['admin_email'] or '-'), limit=200)}",
        f"  App Registration (client) ID:   {form['app_id'] or '-'}",
        f"  PFX certificate file:           {scrub(form['pfx'], limit=300)}",
    ]
    if generated is not None:
        lines.append(f"  PFX password:                   {generated}")
        lines.append("    (generated; shown only this once: copy it now)")
    else:
        lines.append("  PFX password:                   the one you gave")
    lines += [
        f"Certificate thumbprint (SHA-1):   {form['thumbprint']}",
        f"Certificate expires:              {form['not_after']}",
    ]
    for line in lines:
        reporter.result(line)

