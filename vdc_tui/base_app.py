"""What the wizard and the fleet dashboard share as Textual apps: the stylesheet, the
theme (started without a second stylesheet pass), the breakpoints of the 80×24 minimum,
the global keys and how keys are named on screen."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType

from .connect.terminal import MIN_COLUMNS, MIN_LINES
from .theme import KEY_NAMES, VDC_THEME

if TYPE_CHECKING:
    from .screens.base import WizardScreen

ReturnT = TypeVar("ReturnT")


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
        from .screens.base import WizardScreen

        for screen in reversed(self.screen_stack):
            if isinstance(screen, WizardScreen):
                return screen
        return None

    def action_request_quit(self) -> None:
        """Quit; when work is in progress, say what quitting cancels and ask first."""
        from .screens.dialogs import ConfirmDialog

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
        from .screens.dialogs import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))


__all__ = ["VdcBaseApp", "global_bindings"]
