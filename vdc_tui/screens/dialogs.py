"""Small modal dialogs: confirmation, the manual-mode notice, help."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Static

from vdc_tui.widgets import untrusted


class ConfirmDialog(ModalScreen[bool]):
    """Asks a yes/no question; returns ``True`` for yes."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes", tooltip="Answer yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no", tooltip="Answer no"),
    ]

    def __init__(
        self,
        title: str,
        message: str | Content,
        *,
        yes: str = "Yes",
        no: str = "No",
        id: str | None = None,  # noqa: A002 - Textual's keyword
    ) -> None:
        """Create the dialog.

        Args:
            title: The question, short.
            message: What answering yes does (plain text is shown literally).
            yes: Label of the yes button.
            no: Label of the no button.
            id: The ID of the screen.
        """
        super().__init__(id=id)
        self._title = title
        self._message = message if isinstance(message, Content) else untrusted(message)
        self._yes = yes
        self._no = no

    def compose(self) -> ComposeResult:
        """Title, message and two buttons."""
        with Vertical(classes="dialog"):
            yield Static(Content(self._title), classes="dialog-title")
            yield Static(self._message, classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self._yes} (y)", id="yes", variant="warning")
                yield Button(f"{self._no} (n)", id="no", variant="primary")

    def on_mount(self) -> None:
        """The safe answer has focus."""
        self.query_one("#no", Button).focus()

    def set_message(self, message: str | Content, *, title: str | None = None,
                    yes: str | None = None) -> None:
        """Say something else while the question is open (what answering yes does changed).

        ``title`` and ``yes`` relabel the question and its yes button with it, so the
        button never promises what the message says no longer happens.
        """
        self._message = message if isinstance(message, Content) else untrusted(message)
        self.query_one(".dialog-body", Static).update(self._message)
        if title is not None:
            self._title = title
            self.query_one(".dialog-title", Static).update(Content(title))
        if yes is not None:
            self._yes = yes
            self.query_one("#yes", Button).label = f"{yes} (y)"

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        """Close with an answer."""
        self.dismiss(answer)


class ManualModeNotice(ModalScreen[bool]):
    """The "I understand" pop-up before manual mode; returns ``True`` to continue."""

    BINDINGS = [
        Binding("i,enter", "understand", "I understand", id="manual_notice.ok",
                tooltip="Continue with manual connection"),
        Binding("escape", "dismiss(False)", "Back", id="manual_notice.back",
                tooltip="Go back to the choice of mode"),
    ]

    def compose(self) -> ComposeResult:
        """The responsibilities the operator takes on."""
        with Vertical(classes="dialog"):
            yield Static("Manual connection", classes="dialog-title")
            yield Static(
                "With a manual connection you are responsible for:\n"
                "  • the app registration in the customer's tenant,\n"
                "  • its API permissions and the admin consent for them,\n"
                "  • renewing its certificate before it expires.\n\n"
                "The tool checks that the app works; it does not create or change it.",
                markup=False,
                classes="dialog-body",
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("I understand", id="understand", variant="primary")
                yield Button("Back (Esc)", id="back")

    def on_mount(self) -> None:
        """Focus the main answer."""
        self.query_one("#understand", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "understand")

    def action_understand(self) -> None:
        """Accept and continue to the manual form."""
        self.dismiss(True)


class HelpScreen(ModalScreen[None]):
    """Every key of the screen underneath, with what it does."""

    BINDINGS = [
        Binding("escape,f1,question_mark,q", "dismiss(None)", "Close", id="help.close",
                tooltip="Close the help"),
    ]

    def __init__(self, screen: Screen[object]) -> None:
        """Create the help for ``screen``."""
        super().__init__()
        self._for_screen = screen

    def key_rows(self) -> list[tuple[str, str, str]]:
        """``(keys, description, tooltip)`` of the wizard's own keys active on the screen.

        The step's keys come first, then the app's (help, quit). Textual's built-in keys
        (scrolling, focus, copy) carry no id and are summed up in one line below the table;
        keys doing the same thing share a row ("F1 / ?").
        """
        rows: dict[tuple[str, str], tuple[list[str], str, bool]] = {}
        for active in self._for_screen.active_bindings.values():
            binding = active.binding
            if not binding.id or not binding.description or binding.system:
                continue
            shown = self.app.get_key_display(binding)
            row = (binding.action, binding.description)
            keys, _tooltip, _app = rows.setdefault(
                row, ([], binding.tooltip or active.tooltip or "", binding.id.startswith("app."))
            )
            if shown not in keys:
                keys.append(shown)
        ordered = sorted(rows.items(), key=lambda item: item[1][2])  # the step's keys first
        return [(" / ".join(keys), description, tooltip)
                for (_action, description), (keys, tooltip, _app) in ordered]

    def compose(self) -> ComposeResult:
        """A table of keys."""
        with Vertical(classes="dialog help"):
            yield Static("Keys on this screen", classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                for key, description, tooltip in self.key_rows():
                    # Two columns, so a long explanation wraps under itself, not under the key.
                    with Horizontal(classes="help-row"):
                        yield Static(Content.styled(key, "bold $accent"), classes="help-key")
                        yield Static(
                            Content.assemble((description, "bold"),
                                             (" — " + tooltip if tooltip else "", "dim")),
                            classes="help-text",
                        )
                yield Static(
                    "\nArrows move in lists, Enter chooses, Tab and Shift+Tab move between "
                    "fields and buttons; the mouse works too.",
                    markup=False,
                    classes="help-hint",
                )
            yield Static("Press Esc to close.", classes="dialog-hint", markup=False)
