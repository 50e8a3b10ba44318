"""The dashboard's ``e``: write a connection's key as a password-protected PFX for the
backup service's manual connection form (what ``connections export`` does).

The operator gives the file (default ``~/<domain>-vdc.pfx``; an existing file is replaced
only after a question) and a password typed twice, or leaves both fields empty to have one
generated (shown once, ``c`` copies it). Afterwards the dialog shows what the form asks
for: Admin Email, App Registration (client) ID, the PFX and its password, plus the
certificate's thumbprint and expiry. The work is
:func:`vdc_tui.connect.lifecycle.export.export_connection`.
"""

from __future__ import annotations

import asyncio

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from vdc_tui.connect.errors import VdcError, scrub
from vdc_tui.connect.lifecycle.export import (
    ExportedConnection,
    default_export_path,
    export_connection,
    export_target,
    generate_password,
    weak_password_warning,
)
from vdc_tui.connect.store.profiles import ProfileEntry, ProfileStore
from vdc_tui.screens.desktop import copy_text
from vdc_tui.screens.dialogs import ConfirmDialog
from vdc_tui.screens.lifecycle import error_content
from vdc_tui.screens.summary import rows_widgets
from vdc_tui.widgets.text import home_relative


class _Rows(Vertical):
    """The outcome's label/value rows (the summary screen's layout)."""

    def __init__(self, rows: list[tuple[str, str]]) -> None:
        super().__init__(id="export-rows")
        self._rows = rows

    def compose(self) -> ComposeResult:
        """One row per fact; values scrubbed, never markup."""
        yield from rows_widgets(self._rows)


class ExportScreen(ModalScreen[ExportedConnection | None]):
    """Asks for the PFX file and its password, writes it, shows the form's fields."""

    BINDINGS = [
        Binding("escape", "close", "Close", id="export.close",
                tooltip="Close (nothing is written before Export)"),
        Binding("c", "copy_password", "Copy password", id="export.copy",
                tooltip="Copy the generated password to the clipboard"),
    ]

    def __init__(self, store: ProfileStore, entry: ProfileEntry) -> None:
        """Create the dialog for the saved connection ``entry`` of ``store``."""
        super().__init__(id="export")
        self._store = store
        self._entry = entry
        self._busy = False
        self._generated: str | None = None
        self.exported: ExportedConnection | None = None

    def compose(self) -> ComposeResult:
        """The form; the outcome replaces it once the file is written."""
        entry = self._entry
        label = scrub(entry.name or entry.default_domain or entry.tenant_id, limit=40)
        default = str(default_export_path(entry.tenant_id, entry.default_domain))
        with Vertical(classes="dialog", id="export-dialog"):
            yield Static(Content(f"Export {label}"), classes="dialog-title")
            with Vertical(id="export-form"):
                yield Static(
                    "A PFX for the backup service's manual connection form, protected by "
                    "a password of its own (never the store passphrase).",
                    classes="dialog-body", markup=False)
                with Horizontal(classes="export-row"):
                    yield Static("PFX file", classes="export-label", markup=False)
                    yield Input(default, id="export-path", compact=True,
                                select_on_focus=False)
                with Horizontal(classes="export-row"):
                    yield Static("Password", classes="export-label", markup=False)
                    yield Input(password=True, id="export-password", compact=True,
                                placeholder="empty: generate one")
                with Horizontal(classes="export-row"):
                    yield Static("Repeat", classes="export-label", markup=False)
                    yield Input(password=True, id="export-repeat", compact=True,
                                placeholder="the same again")
                yield Static("Leave both passwords empty to have one generated and shown "
                             "once.", classes="dialog-hint", markup=False)
            yield Vertical(id="export-done")
            yield Static("", id="export-status")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Export (Enter)", id="export-go", variant="success")
                yield Button("Close (Esc)", id="export-cancel")

    def on_mount(self) -> None:
        """The path has focus; the outcome is hidden until there is one."""
        self.query_one("#export-done").display = False
        path = self.query_one("#export-path", Input)
        path.cursor_position = len(path.value)
        path.focus()

    # -- the form ---------------------------------------------------------------------

    @on(Input.Submitted, "#export-path")
    def _path_done(self) -> None:
        self.query_one("#export-password", Input).focus()

    @on(Input.Submitted, "#export-password")
    def _password_done(self) -> None:
        if self.query_one("#export-password", Input).value:
            self.query_one("#export-repeat", Input).focus()
        else:
            self._submit()

    @on(Input.Submitted, "#export-repeat")
    @on(Button.Pressed, "#export-go")
    def _submit(self) -> None:
        if self._busy or self.exported is not None:
            return
        password = self.query_one("#export-password", Input).value
        if password != self.query_one("#export-repeat", Input).value:
            self._problem(Content.styled("The two passwords differ.", "bold $error"))
            self.query_one("#export-repeat", Input).focus()
            return
        self._export(self.query_one("#export-path", Input).value, password)

    @work(group="export", exclusive=True, exit_on_error=False)
    async def _export(self, path: str, password: str) -> None:
        self._busy = True
        try:
            try:
                out = await asyncio.to_thread(export_target, self._store, path, force=False)
            except VdcError as error:
                if not error.details.get("exists"):
                    raise
                shown = scrub(home_relative(path.strip()), limit=200)
                replace = await self.app.push_screen_wait(ConfirmDialog(
                    "Replace the file?", f"{shown} exists. Replace it with this export?",
                    yes="Replace", no="Keep it", id="export-replace"))
                if not replace:
                    self._problem(Content("Not written: give another path, or replace the "
                                          "file."))
                    self.query_one("#export-path", Input).focus()
                    return
                out = await asyncio.to_thread(export_target, self._store, path, force=True)
            generated = None if password else generate_password()
            self._status(Content("Writing the PFX…"))
            done = await asyncio.to_thread(export_connection, self._store,
                                           self._entry.tenant_id, out, password or generated or "")
        except VdcError as error:
            self._problem(error_content(error))
            return
        finally:
            self._busy = False
        self._generated = generated
        self.exported = done
        self._show(done, weak_password_warning(password) if password else None)

    # -- the outcome ------------------------------------------------------------------

    def _show(self, done: ExportedConnection, warning: str | None) -> None:
        self.query_one("#export-form").display = False
        self.query_one("#export-done").display = True
        self.query_one("#export-go", Button).display = False
        self.query_one("#export-cancel", Button).label = "Close (Esc)"
        rows = [
            ("Admin Email", done.admin_email or "-"),
            ("App (client) ID", done.app_id or "-"),
            ("PFX file", home_relative(done.pfx)),
            ("PFX password", self._generated if self._generated is not None
             else "the one you typed"),
            ("Thumbprint", done.thumbprint),
            ("Expires", done.not_after.strftime("%Y-%m-%d %H:%M UTC")),
        ]
        self.query_one("#export-done", Vertical).mount(_Rows(rows))
        if self._generated is not None:
            note = Content.assemble(("The password is shown only now: ", "bold $warning"),
                                    "c copies it.")
        elif warning:
            note = Content.styled(warning, "$warning")
        else:
            note = Content("Enter these in the backup service's manual connection form.")
        self._status(note)
        self.query_one("#export-cancel", Button).focus()
        self.refresh_bindings()

    def _problem(self, content: Content) -> None:
        self._status(content)

    def _status(self, content: Content) -> None:
        self.query_one("#export-status", Static).update(content)

    # -- keys -------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """``c`` only once a generated password is shown."""
        if action == "copy_password":
            return self._generated is not None
        return True

    def action_copy_password(self) -> None:
        """Copy the generated password (it stays on screen)."""
        if self._generated is None:
            return
        self.notify(copy_text(self.app, self._generated), title="Password copied",
                    markup=False)

    @on(Button.Pressed, "#export-cancel")
    def action_close(self) -> None:
        """Close; before Export nothing has been written."""
        if not self._busy:
            self.dismiss(self.exported)
