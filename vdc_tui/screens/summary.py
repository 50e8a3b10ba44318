"""Step 5: the summary; Finish writes the profile."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Button, Static

from vdc_tui.connect.errors import VdcError, scrub
from vdc_tui.connect.models import SERVICE_LABELS, SERVICE_NAMES, ConnectionResult
from vdc_tui.screens.base import WizardScreen
from vdc_tui.widgets.text import home_relative

if TYPE_CHECKING:
    from vdc_tui.connect.service import ConnectionService


def summary_rows(
    result: ConnectionResult, selected: Sequence[str], profile_folder: str
) -> list[tuple[str, str]]:
    """``(label, value)`` rows of the summary; values are plain (untrusted) text."""
    tenant = result.tenant
    cert = result.certificate
    rows = [
        ("Tenant", tenant.name or "(no name)"),
        ("Tenant ID", tenant.id),
        ("Default domain", tenant.default_domain or "(unknown)"),
        ("Mode", "Automatic (app registration created)" if result.mode == "automatic"
         else "Manual (your app registration)"),
        ("Signed-in admin" if result.mode == "automatic" else "Admin email", result.signed_in_as),
        ("App (client) ID", result.app_id),
        ("Certificate", f"SHA-1 {cert.sha1}"),
        ("Valid until", cert.not_after.strftime("%Y-%m-%d %H:%M UTC")),
    ]
    chosen = [SERVICE_LABELS[name] for name in SERVICE_NAMES if name in selected]
    for index, label in enumerate(chosen):
        rows.append(("Services" if index == 0 else "", label))
    # A result exists only when every required permission was verified (PermissionStatus).
    rows.append(("Permissions",
                 f"{len(result.permissions.granted)} verified in app-only tokens, none missing"))
    for warning in result.warnings:
        rows.append(("Warning", f"{warning.title}: {warning.detail}".strip(": ")))
    rows.append(("Profile", profile_folder))
    return rows


def rows_widgets(rows: Iterable[tuple[str, str]]) -> Iterable[Widget]:
    """The rows as two columns; a long value (a path) wraps under itself, not the label.

    Values are scrubbed and never parsed as markup.
    """
    for label, value in rows:
        with Horizontal(classes="summary-row"):
            yield Static(Content.styled(label, "bold"), classes="summary-label")
            yield Static(Content(scrub(value, limit=300)), classes="summary-value")


class SummaryScreen(WizardScreen[Path | None]):
    """Review; Finish saves the profile and returns its path, Esc goes back."""

    BINDINGS = [
        Binding("f", "finish", "Finish", id="summary.finish",
                tooltip="Write the connection profile and exit"),
        Binding("escape", "back", "Back", id="summary.back",
                tooltip="Back to the services"),
    ]

    def __init__(
        self, service: ConnectionService, result: ConnectionResult, selected: Sequence[str]
    ) -> None:
        """Create the summary.

        Args:
            service: The connection service (writes the profile).
            result: The verified connection.
            selected: Services to protect.
        """
        super().__init__(id="summary")
        self._service = service
        self._result = result
        self._selected = tuple(selected)
        self._saving = False

    def compose_body(self) -> Iterable[Widget]:
        """The summary table, a status line and the buttons."""
        folder = home_relative(self._service.profiles.tenant_dir(self._result.tenant.id))
        with Vertical(classes="body"):
            yield Static("Summary", classes="step-heading", markup=False)
            with VerticalScroll(id="summary-scroll"):
                yield from rows_widgets(summary_rows(self._result, self._selected, folder))
            yield Static("", id="summary-status", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Finish (f)", id="finish", variant="success")
                yield Button("Back (Esc)", id="back")

    def on_mount(self) -> None:
        """Finish has focus."""
        self.query_one("#finish", Button).focus()

    @on(Button.Pressed, "#finish")
    def action_finish(self) -> None:
        """Write the profile."""
        if not self._saving:
            self._save()

    @on(Button.Pressed, "#back")
    def action_back(self) -> None:
        """Back to the services."""
        if not self._saving:
            self.dismiss(None)

    async def _ask_passphrase(self) -> bool:
        """Ask for the store passphrase when no other source gives it (once per session)."""
        # The keyring is probed in a thread: it may take up to its timeout.
        needed = await asyncio.to_thread(self._service.passphrase_prompt)
        if needed is None:
            return True
        from vdc_tui.screens.passphrase import PassphraseScreen

        secret = await self.app.push_screen_wait(PassphraseScreen(new=needed == "new"))
        if secret is None:
            return False
        self._service.set_typed_passphrase(secret)
        return True

    @work(group="save", exclusive=True, exit_on_error=False)
    async def _save(self) -> None:
        self._saving = True
        status = self.query_one("#summary-status", Static)
        status.update("Saving the profile…")
        try:
            if not await self._ask_passphrase():
                status.update("Not saved: the key needs the store passphrase.")
                return
            # File locking and writing can wait on the disk: keep the UI responsive.
            path = await asyncio.to_thread(
                self._service.save_profile, self._result, self._selected
            )
        except VdcError as error:
            status.update(Content.assemble(("✘ " + scrub(error.message), "bold $error"), "\n",
                                           (scrub(error.remediation), "italic")))
            return
        finally:
            self._saving = False
        self.dismiss(path)

    def quit_warning(self) -> str | None:
        """Nothing is saved until Finish."""
        return "The connection is verified but not saved: no profile will be written."
