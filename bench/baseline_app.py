"""The baseline for the first-frame figure: the smallest Textual application worth the name.

One ``Static`` and a ``Footer`` with one binding, started the same way as the wizard (a fresh
interpreter in a pseudo-terminal). The wizard's start-up is reported as a ratio to this, so
a slow or busy machine cancels out.
"""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Static

#: Text the benchmark waits for on the baseline's screen.
BASELINE_TEXT = "Baseline ready"
BASELINE_KEY_TEXT = "Quit"


class BaselineApp(App[None]):
    """One Static and a Footer."""

    BINDINGS = [Binding("ctrl+q", "quit", BASELINE_KEY_TEXT, id="quit", tooltip="Quit")]

    def compose(self) -> ComposeResult:
        """Lay out the two widgets."""
        yield Static(BASELINE_TEXT)
        yield Footer()


if __name__ == "__main__":
    BaselineApp().run()
