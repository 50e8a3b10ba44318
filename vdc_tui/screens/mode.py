"""Step 1: automatic or manual connection."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from textual import on
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.widget import Widget
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from vdc_tui.screens.base import WizardScreen

ModeChoice = Literal["automatic", "manual"]


def automatic_prompt(scopes: Sequence[str]) -> Content:
    """The automatic option: what it needs and which delegated permissions it asks for.

    Lines are wrapped by hand to fit an 80-column terminal inside the list's frame, so the
    indentation holds; the permissions go two to a line to keep the screen within 24 lines.
    """
    pairs = [" · ".join(scopes[i:i + 2]) for i in range(0, len(scopes), 2)]
    return Content.assemble(
        ("Automatic", "bold"),
        "  ",
        # $text-success is made to be read on tinted backgrounds (the highlighted option).
        ("(recommended)", "bold $text-success"),
        "\n  A Global Admin of the customer's tenant signs in with a code, then\n"
        "  the tool creates the app registration, certificate and permissions.\n",
        ("  The sign-in asks for these delegated permissions:", "dim"),
        *[(f"\n    {pair}", "italic") for pair in pairs],
    )


MANUAL_PROMPT = Content.assemble(
    ("Manual", "bold"),
    "\n  Bring your own app registration: its Application ID and PFX file.\n"
    "  The tool proves that it works, or says exactly what is wrong.",
)


class ModeScreen(WizardScreen[ModeChoice]):
    """Choose automatic (device-code sign-in) or manual (own app registration)."""

    BINDINGS = [
        Binding("a", "choose('automatic')", "Automatic", id="mode.automatic",
                tooltip="Sign in as a Global Admin with a device code"),
        Binding("m", "choose('manual')", "Manual", id="mode.manual",
                tooltip="Use an existing app registration and PFX certificate"),
    ]

    def __init__(self, delegated_scopes: Sequence[str], *, status: str = "") -> None:
        """Create the screen.

        Args:
            delegated_scopes: The delegated permissions the automatic sign-in asks for.
            status: A first status line (e.g. while the demo emulator starts).
        """
        super().__init__(id="mode")
        self._scopes = tuple(delegated_scopes)
        self._status = status

    def compose_body(self) -> Iterable[Widget]:
        """The two options and a status line."""
        with Vertical(classes="body"):
            yield Static("Choose how to connect the customer's Microsoft 365 tenant",
                         classes="step-heading", markup=False)
            yield OptionList(
                Option(automatic_prompt(self._scopes), id="automatic"),
                None,
                Option(MANUAL_PROMPT, id="manual"),
                id="modes",
            )
            yield Static(self._status, id="mode-status", markup=False)

    def on_mount(self) -> None:
        """Automatic is highlighted and focused."""
        modes = self.query_one("#modes", OptionList)
        modes.highlighted = 0
        modes.focus()

    @on(OptionList.OptionSelected, "#modes")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.action_choose(event.option_id or "automatic")

    def action_choose(self, mode: str) -> None:
        """Go on with a mode; manual first shows the "I understand" notice."""
        if mode == "manual":
            from vdc_tui.screens.dialogs import ManualModeNotice  # not needed for the first frame

            self.app.push_screen(ManualModeNotice(), self._after_notice)
        else:
            self.dismiss("automatic")

    def _after_notice(self, understood: bool | None) -> None:
        if understood:
            self.dismiss("manual")
