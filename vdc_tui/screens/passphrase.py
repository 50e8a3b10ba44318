"""The store passphrase prompt: asked once per session when no other source gives it.

Masked input; when the passphrase is first set it is typed twice and must be long enough
(the rules live in :mod:`vdc_tui.connect.store.keystore`). Returns the passphrase, or ``None``
when the operator cancels (nothing is saved then).
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from vdc_tui.connect.store.keystore import PASSPHRASE_FILE_ENV, check_new_passphrase


class PassphraseScreen(ModalScreen[str | None]):
    """Ask for the store passphrase that encrypts the saved keys."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="passphrase.cancel",
                tooltip="Do not save the key now"),
    ]

    def __init__(self, *, new: bool, purpose: str = "save this one",
                 problem: str | None = None) -> None:
        """Create the prompt.

        Args:
            new: The store has no passphrase yet: ask twice and check its length.
            purpose: What the passphrase is needed for ("save this one", "read the saved
                keys").
            problem: Why it is asked again (a wrong passphrase), shown under the field.
        """
        super().__init__(id="passphrase")
        self._new = new
        self._purpose = purpose
        self._problem = problem

    def compose(self) -> ComposeResult:
        """Explanation, one or two masked fields, status line and buttons."""
        if self._new:
            title = "Set the store passphrase"
            body = ("The connection's private key is saved encrypted (AES-256). Choose a "
                    "passphrase for all saved keys; it is asked once per session. For "
                    f"unattended runs put it in a file readable only by you and set "
                    f"{PASSPHRASE_FILE_ENV}.")
        else:
            title = "Store passphrase"
            body = f"The saved keys are encrypted. Type the store passphrase to {self._purpose}."
        with Vertical(classes="dialog"):
            yield Static(Content(title), classes="dialog-title")
            yield Static(Content(body), classes="dialog-body")
            yield Input(password=True, placeholder="passphrase", id="passphrase")
            if self._new:
                yield Input(password=True, placeholder="repeat it", id="repeat")
            yield Static(Content.styled(self._problem, "bold $error") if self._problem else "",
                         id="passphrase-status")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save (Enter)" if self._purpose == "save this one" else
                             "OK (Enter)", id="ok", variant="success")
                yield Button("Cancel (Esc)", id="cancel")

    def on_mount(self) -> None:
        """The first field has focus."""
        self.query_one("#passphrase", Input).focus()

    @on(Input.Submitted, "#passphrase")
    def _first_done(self) -> None:
        if self._new:
            self.query_one("#repeat", Input).focus()
        else:
            self._submit()

    @on(Input.Submitted, "#repeat")
    @on(Button.Pressed, "#ok")
    def _submit(self) -> None:
        secret = self.query_one("#passphrase", Input).value
        problem: str | None = None if secret else "Type a passphrase."
        if self._new and problem is None:
            problem = check_new_passphrase(secret)
            if problem is not None:
                problem = problem[0].upper() + problem[1:] + "."
            elif self.query_one("#repeat", Input).value != secret:
                problem = "The two entries differ."
        if problem is not None:
            self.query_one("#passphrase-status", Static).update(
                Content.styled(problem, "bold $error"))
            return
        self.dismiss(secret)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Leave without a passphrase (the key is not saved)."""
        self.dismiss(None)
