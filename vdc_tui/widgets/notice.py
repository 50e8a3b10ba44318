"""The notice shown instead of the wizard when the terminal is too small."""

from __future__ import annotations

from textual.widgets import Static

MIN_WIDTH = 80
MIN_HEIGHT = 24


class TooSmallNotice(Static):
    """"Terminal too small": shown by the stylesheet when the screen is below 80×24.

    The app's breakpoints put ``-narrow``/``-short`` on the screen; the stylesheet then
    hides everything else and shows this notice (``vdc_tui.tcss``).
    """

    DEFAULT_CSS = """
    TooSmallNotice {
        display: none;
        width: 1fr;
        height: 1fr;
        content-align: center middle;
        text-align: center;
        color: $warning;
        text-style: bold;
    }
    """

    def __init__(self) -> None:
        super().__init__(
            f"Terminal too small (need {MIN_WIDTH}×{MIN_HEIGHT}).\n"
            "Make the window larger, or press Ctrl+Q to quit.",
            markup=False,
        )
