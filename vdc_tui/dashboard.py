"""``vdc-tui connections`` in a terminal: the fleet dashboard (a small Textual app).

Same theme, stylesheet, title bar, footer and keys (Ctrl+Q, F1) as the wizard. It opens
with the last result of each tenant (kept by every check), so 500 connections show at
once; checks run in the app's loop through :class:`~vdc_tui.connect.fleet.FleetCheck`.
``n`` leaves the dashboard for the onboarding wizard; :func:`run_dashboard` brings the
dashboard back when the wizard ends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar

from textual.app import App
from textual.binding import Binding, BindingType

from .connect.terminal import MIN_COLUMNS, MIN_LINES
from .theme import KEY_NAMES, VDC_THEME

if TYPE_CHECKING:
    from .connect.clouds import Endpoints
    from .connect.fleet import FleetCheck
    from .connect.health import TenantHealth
    from .connect.profiles import ProfileEntry, ProfileStore


class DashboardApp(App[str | None]):
    """The fleet dashboard; its return value is ``"new"`` when the operator pressed ``n``."""

    CSS_PATH = "vdc_tui.tcss"
    ENABLE_COMMAND_PALETTE = False
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (MIN_COLUMNS, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (MIN_LINES, "-tall")]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True,
                tooltip="Leave the dashboard"),
        Binding("f1", "help", "Help", id="app.help", priority=True, key_display="F1",
                tooltip="List every key of this screen"),
        Binding("question_mark", "help", "Help", id="app.help_alt", show=False,
                tooltip="List every key of this screen"),
    ]

    def __init__(
        self,
        store: ProfileStore,
        endpoints: Endpoints,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        fleet_factory: Callable[[], FleetCheck] | None = None,
        concurrency: int | None = None,
    ) -> None:
        """Create the dashboard for the profiles of ``store``.

        Args:
            store: The saved connections.
            endpoints: The cloud (or emulator) they live in.
            clock: Now (ages of results; tests freeze it).
            fleet_factory: Makes the checker (tests may pass their own).
            concurrency: Tenants checked at once (default: the command line's default).
        """
        super().__init__()
        self.store = store
        self.endpoints = endpoints
        self.clock = clock
        self._fleet_factory = fleet_factory
        self._concurrency = concurrency
        self.title = "Connections"
        self.register_theme(VDC_THEME)
        self.theme = "vdc"
        # Reading 500 profiles and their last results overlaps with Textual's start-up
        # (driver, stylesheet) instead of delaying the first frame after it.
        self._loaded: tuple[list[ProfileEntry], dict[str, TenantHealth]] | None = None
        self._loader = threading.Thread(target=self._load, name="vdc-dashboard-load",
                                        daemon=True)
        self._loader.start()

    def _load(self) -> None:
        from .connect.health import HealthCache

        entries = self.store.list()
        self._loaded = (entries, HealthCache(self.store).load_all(entries))

    def make_fleet(self) -> FleetCheck:
        """The checker the dashboard's checks run through."""
        if self._fleet_factory is not None:
            return self._fleet_factory()
        from .connect.fleet import DEFAULT_CONCURRENCY, FleetCheck

        return FleetCheck(self.store, self.endpoints,
                          concurrency=self._concurrency or DEFAULT_CONCURRENCY)

    def on_mount(self) -> None:
        """Read the profiles and their last results, show the table."""
        from .screens.dashboard import DashboardScreen

        self._loader.join()
        if self._loaded is None:  # the reader failed: read here, so its error is raised
            self._load()
        assert self._loaded is not None
        entries, results = self._loaded
        self.sub_title = f"{len(entries)} saved"
        for warning in self.store.warnings:
            self.notify(warning, severity="warning", markup=False)
        self.push_screen(DashboardScreen(entries, results, clock=self.clock), self._leave)

    def _leave(self, outcome: str | None) -> None:
        self.exit(outcome)

    def get_key_display(self, binding: Binding) -> str:
        """Key names as the wizard writes them ("Esc", "Enter", "F1")."""
        if not binding.key_display and binding.key in KEY_NAMES:
            return KEY_NAMES[binding.key]
        return super().get_key_display(binding)

    def action_help(self) -> None:
        """Show the keys of the current screen."""
        from .screens.dialogs import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))


def run_dashboard(
    store: ProfileStore,
    endpoints: Endpoints,
    wizard: Callable[[], int] | None = None,
) -> int:
    """Run the dashboard; ``n`` runs ``wizard`` and then the dashboard again. Returns 0."""
    while True:
        app = DashboardApp(store, endpoints)
        outcome = app.run()
        if outcome != "new" or wizard is None:
            return 0
        wizard()


__all__ = ["DashboardApp", "run_dashboard"]
