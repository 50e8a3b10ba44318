"""The one-line title bar of every wizard step: "Connect to Flex — Contoso"."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from vdc_tui.connect.errors import scrub


def title_content(title: str, sub_title: str) -> Content:
    """The title, and the tenant name after a dash when there is one (never markup)."""
    if not sub_title:
        return Content.styled(scrub(title, limit=80), "bold")
    # One span for "title — " keeps the spaces around the dash inside a single run of text.
    return Content.assemble((f"{scrub(title, limit=80)} — ", "bold"),
                            (scrub(sub_title, limit=80), "$text-muted"))


class TitleBar(Static):
    """The app's title and sub-title, centred on one line docked at the top.

    Lighter than Textual's ``Header`` (one widget, no icon or clock): it is on every screen,
    the first frame included.
    """

    DEFAULT_CSS = """
    TitleBar {
        dock: top;
        width: 1fr;
        height: 1;
        background: $panel;
        color: $foreground;
        content-align: center middle;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def on_mount(self) -> None:
        """Follow the app's title and sub-title."""
        self.watch(self.app, "title", self._retitle, init=False)
        self.watch(self.app, "sub_title", self._retitle)

    def _retitle(self, _value: str) -> None:
        self.update(title_content(self.app.title, self.app.sub_title))
