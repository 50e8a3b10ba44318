"""What the wizard and the fleet dashboard share as Textual apps: the stylesheet, the
theme (started without a second stylesheet pass), the breakpoints of the 80×24 minimum,
the global keys and how keys are named on screen."""

from __future__ import annotations

import gc
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from textual import work
from textual._compositor import CompositorUpdate, LayoutUpdate
from textual.app import App
from textual.binding import Binding, BindingType

from vdc_tui.connect.terminal import MIN_COLUMNS, MIN_LINES
from vdc_tui.theme import KEY_NAMES, VDC_THEME

if TYPE_CHECKING:
    from rich.console import RenderableType
    from textual.screen import Screen

    from vdc_tui.screens.base import WizardScreen

ReturnT = TypeVar("ReturnT")

#: A run of one style that starts from a clean state (at the start, after a reset or after a
#: cursor move: Textual ends every styled segment with a reset), followed at once by a reset
#: and the same style again. Textual writes every segment as ``ESC[<style>m text ESC[0m``, so
#: a table row repeats its style once per cell.
_REPEATED_STYLE = re.compile(
    r"((?:^|\x1b\[0m|\x1b\[\d+;\d+H)\x1b\[([0-9;]+)m[^\x1b]*)\x1b\[0m\x1b\[\2m")


def join_repeated_styles(sequence: str) -> str:
    """``sequence`` without the reset and repeat between two runs of the same style: the
    same screen in fewer bytes (the dashboard's first frame: 16.5 -> 11.3 kB), which the
    terminal, or an SSH link, reads faster."""
    while True:
        joined = _REPEATED_STYLE.sub(r"\1", sequence)
        if len(joined) == len(sequence):
            return joined
        sequence = joined


#: Seconds after which work waiting for the first frame runs anyway (a frame that never
#: reaches the terminal, or a Textual whose display path changed): late, never lost.
FIRST_FRAME_FALLBACK = 1.0


def global_bindings(leave: str) -> list[BindingType]:
    """Ctrl+Q, F1 and ? of an app; ``leave`` is the Quit key's tooltip."""
    return [
        Binding("ctrl+q", "request_quit", "Quit", id="app.quit", priority=True,
                tooltip=leave),
        Binding("f1", "help", "Help", id="app.help", priority=True, key_display="F1",
                tooltip="List every key of this screen"),
        Binding("question_mark", "help", "Help", id="app.help_alt", show=False,
                tooltip="List every key of this screen"),
    ]


class VdcBaseApp(App[ReturnT]):
    """A vdc-tui app: the wizard (:class:`~vdc_tui.app.VdcApp`) or the dashboard."""

    CSS_PATH = "vdc_tui.tcss"
    ENABLE_COMMAND_PALETTE = False
    # Below the minimum terminal, only the "too small" notice shows (vdc_tui.tcss).
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (MIN_COLUMNS, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (MIN_LINES, "-tall")]

    def __init__(self) -> None:
        super().__init__()
        self._first_frame_shown = False
        self._after_first_frame: list[Callable[[], object]] = []
        self._gc_paused = False

    async def run_async(self, *args: Any, **kwargs: Any) -> ReturnT | None:
        """Textual's ``run_async`` (which ``run`` calls) without garbage collection until the
        first frame is on the terminal.

        Start-up makes hundreds of thousands of long-lived objects (stylesheet, DOM, the
        dashboard's profiles) and a full collection among them is a 10-20 ms pause before
        the first frame. The collector is back (as it was) right after that frame, or when
        the app ends without one.
        """
        self._gc_paused = gc.isenabled()
        gc.disable()
        try:
            return await super().run_async(*args, **kwargs)
        finally:
            self._resume_gc()

    @property
    def first_frame_shown(self) -> bool:
        """Whether the first frame has been written to the terminal."""
        return self._first_frame_shown

    def call_after_first_frame(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` once the first frame is on the terminal (once it is: after the
        next refresh, as ``call_after_refresh``).

        Before it, Textual's ``call_after_refresh`` may run too early: the first frames of a
        starting app are composed while its mount is still batched, and dropped. Work that
        can wait (rows below the screen, the backend) goes here so the first frame does not
        wait for it; after :data:`FIRST_FRAME_FALLBACK` seconds it runs anyway.
        """
        if self._first_frame_shown:
            self.call_after_refresh(callback)
            return
        if not self._after_first_frame:
            self.set_timer(FIRST_FRAME_FALLBACK, self._first_frame_done,
                           name="first-frame fallback")
        self._after_first_frame.append(callback)

    def _display(self, screen: Screen[Any], renderable: RenderableType | None) -> None:
        """Textual's display of an update; the first whole frame written (not the one a
        starting app composes during its batched mount, which Textual drops) releases the
        work that waited for it. Every update is written with repeated styles joined."""
        if isinstance(renderable, CompositorUpdate):
            render = renderable.render_segments
            # Per instance: Textual's own _display still does the rest (the write, sync).
            renderable.render_segments = (
                lambda console: join_repeated_styles(render(console)))
        super()._display(screen, renderable)
        if (not self._first_frame_shown and isinstance(renderable, LayoutUpdate)
                and not self._batch_count and self._running):
            self.call_later(self._first_frame_done)  # after this update's write

    def _first_frame_done(self) -> None:
        if self._first_frame_shown:
            return
        self._first_frame_shown = True
        self._resume_gc()
        waiting, self._after_first_frame = self._after_first_frame, []
        for callback in waiting:
            callback()

    def _resume_gc(self) -> None:
        if self._gc_paused:
            self._gc_paused = False
            gc.enable()

    def start_in_theme(self, name: str = "vdc") -> None:
        """Register the vdc theme and start in theme ``name`` (unknown: ``vdc``) without
        Textual's theme change.

        Assigning ``self.theme`` in ``__init__`` makes Textual parse every stylesheet a
        second time right after the first (its theme watcher refreshes all CSS once the app
        runs): ~70 ms before the first frame. Before the first parse, the theme's variables
        and classes (what that watcher sets) can be given directly. A theme whose light or
        dark mode differs from the default's also changes the terminal's colour filter, so
        it goes through Textual's own change.
        """
        self.register_theme(VDC_THEME)
        if name not in self.available_themes:
            name = "vdc"
        theme = self.get_theme(name)
        if theme is None or theme.dark != self.current_theme.dark:
            self.theme = name
            return
        self.set_reactive(App.theme, name)
        self.stylesheet.set_variables(self.get_css_variables())
        classes = {c: False for c in self.classes if c.startswith("-theme-")}
        classes[f"-theme-{name}"] = True
        classes["-dark-mode"] = theme.dark
        classes["-light-mode"] = not theme.dark
        self.update_classes(classes, update=False)

    #: The question Ctrl+Q asks while work is in progress, and the exit code of quitting.
    QUIT_TITLE = "Quit?"
    QUIT_CODE = 0

    def top_step(self) -> WizardScreen[Any] | None:
        """The topmost step screen (modal dialogs above it are skipped)."""
        from vdc_tui.screens.base import WizardScreen

        for screen in reversed(self.screen_stack):
            if isinstance(screen, WizardScreen):
                return screen
        return None

    def action_request_quit(self) -> None:
        """Quit; when work is in progress, say what quitting cancels and ask first."""
        from vdc_tui.screens.dialogs import ConfirmDialog

        if isinstance(self.screen, ConfirmDialog) and self.screen.id == "quit-confirm":
            return
        step = self.top_step()
        warning = step.quit_warning() if step is not None else None
        if warning is None:
            self.exit(None, return_code=self.QUIT_CODE)
            return

        def answered(yes: bool | None) -> None:
            if yes and step is not None:
                self._quit_after(step)

        self.push_screen(ConfirmDialog(self.QUIT_TITLE, warning, yes="Quit", no="Stay",
                                       id="quit-confirm"), answered)

    @work(group="quit", exit_on_error=False)
    async def _quit_after(self, step: WizardScreen[Any]) -> None:
        self.notify("Stopping…", markup=False)
        await step.cancel_work()
        self.exit(None, return_code=self.QUIT_CODE)

    def get_key_display(self, binding: Binding) -> str:
        """Key names as the screens' own hints write them ("Esc", "Enter", "F1")."""
        if not binding.key_display and binding.key in KEY_NAMES:
            return KEY_NAMES[binding.key]
        return super().get_key_display(binding)

    def action_help(self) -> None:
        """Show the keys of the current screen."""
        from vdc_tui.screens.dialogs import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))


__all__ = ["VdcBaseApp", "global_bindings"]
