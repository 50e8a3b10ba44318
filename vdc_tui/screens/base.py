"""What every wizard step shares: title bar, DEMO badge, footer and the too-small notice."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import TypeVar

from textual.app import ComposeResult
from textual.content import Content
from textual.geometry import Size
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Static
from textual.widgets._footer import FooterKey

from vdc_tui.widgets.notice import TooSmallNotice
from vdc_tui.widgets.titlebar import TitleBar

ResultType = TypeVar("ResultType")


class DemoBadge(Static):
    """"DEMO" and the emulator's device-login page, shown only in demo mode.

    It follows the app's ``demo_status`` so it fills in once the emulator is up.
    """

    def on_mount(self) -> None:
        """Follow the app's demo status."""
        if hasattr(self.app, "demo_status"):
            self.watch(self.app, "demo_status", self._show)

    def _show(self, status: str) -> None:
        # A class, not ``display``: the stylesheet must still hide it when the terminal is
        # too small.
        self.set_class(bool(status), "-on")
        self.update(
            Content.assemble((" DEMO ", "bold reverse"), " ", (status, "")) if status else ""
        )


class KeysFooter(Footer):
    """Textual's footer, its keys born in the footer's style.

    A ``FooterKey`` starts compact and is then bound to its footer's ``compact`` (not
    compact here): each key restyles itself twice while the footer is built, 18 restyles
    for the dashboard's nine keys (~5 ms before its first frame). Given the footer's
    value before they are mounted, they restyle only if it changes.
    """

    def compose(self) -> ComposeResult:
        """Textual's keys, each already as compact as the footer."""
        compact = self.compact
        for widget in super().compose():
            if isinstance(widget, FooterKey):
                widget.set_reactive(FooterKey.compact, compact)
                widget.set_class(compact, "-compact", update=False)
            yield widget


class WizardScreen(Screen[ResultType]):
    """A step of the wizard. Subclasses yield their body from :meth:`compose_body`.

    The app asks :meth:`quit_warning` before quitting and, when the operator confirms,
    awaits :meth:`cancel_work` so that half-made work is undone first.
    """

    def __init__(self, name: str | None = None, id: str | None = None,  # noqa: A002
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        # Born with the breakpoint classes of the terminal's size: Textual sets them on the
        # first resize, and a class that changes then restyles the whole screen once more
        # before its first frame (the wizard's first frame paid for two styling passes).
        with contextlib.suppress(RuntimeError):  # made outside a running app (tests)
            self.update_classes(self._breakpoints_for(self.app.size), update=False)

    def _breakpoints_for(self, size: Size) -> dict[str, bool]:
        """The breakpoint classes Textual gives a screen of ``size`` (its own rule: the
        largest threshold not above the width, and the same for the height)."""
        horizontal = (self.app.HORIZONTAL_BREAKPOINTS if self.HORIZONTAL_BREAKPOINTS is None
                      else self.HORIZONTAL_BREAKPOINTS) or []
        vertical = (self.app.VERTICAL_BREAKPOINTS if self.VERTICAL_BREAKPOINTS is None
                    else self.VERTICAL_BREAKPOINTS) or []
        classes = {name: False for _, name in (*horizontal, *vertical)}
        for points, extent in ((horizontal, size.width), (vertical, size.height)):
            for threshold, name in sorted(points, reverse=True):
                if extent >= threshold:
                    classes[name] = True
                    break
        return classes

    def on_mount(self) -> None:
        """At start-up, send the whole screen again once the app's mount is over."""
        if not getattr(self.app, "first_frame_shown", True):
            # Textual drops the frames composed during a starting app's (batched) mount; what
            # they drew is only sent again when it changes, so the first screen could
            # come out piecemeal, its last piece with the footer's second layout. Repainting
            # from the widgets' caches sends it whole at the first update after the mount.
            self.call_after_refresh(self._repaint_children)

    def _repaint_children(self) -> None:
        for child in self.children:
            child.refresh()

    def compose(self) -> ComposeResult:
        """Title bar, DEMO badge, the step's body, footer, and the too-small notice."""
        yield TitleBar(id="title-bar")
        yield DemoBadge(id="demo-badge")
        yield from self.compose_body()
        yield KeysFooter()
        yield TooSmallNotice()

    def compose_body(self) -> Iterable[Widget]:
        """The step's own widgets."""
        return ()

    def quit_warning(self) -> str | None:
        """What quitting now would cancel or undo; ``None`` when nothing is in progress."""
        return None

    async def cancel_work(self) -> None:
        """Stop work in progress before the app exits (undoing what it made)."""
