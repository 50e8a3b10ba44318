"""``vdc-tui connections`` in a terminal: the fleet dashboard (a small Textual app).

Same theme, stylesheet, title bar, footer and keys (Ctrl+Q, F1) as the wizard. It opens
with the last result of each tenant (kept by every check), so 500 connections show at
once; checks run in the app's loop through :class:`~vdc_tui.connect.fleet.run.FleetCheck`.
``n`` leaves the dashboard for the onboarding wizard; :func:`run_dashboard` brings the
dashboard back when the wizard ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar

from textual.binding import BindingType
from textual.reactive import reactive

from vdc_tui.base_app import VdcBaseApp, global_bindings

if TYPE_CHECKING:
    from vdc_tui.connect.fleet.health import TenantHealth
    from vdc_tui.connect.fleet.run import FleetCheck
    from vdc_tui.connect.microsoft.clouds import Endpoints
    from vdc_tui.connect.service import ConnectionService, ConnectSettings
    from vdc_tui.connect.store.profiles import ProfileEntry, ProfileStore
    from vdc_tui.screens.tenant_actions import FleetContext


class DashboardApp(VdcBaseApp[str | None]):
    """The fleet dashboard; its return value is ``"new"`` when the operator pressed ``n``."""

    BINDINGS: ClassVar[list[BindingType]] = global_bindings(
        "Leave the dashboard (asks first while an action runs)")
    QUIT_TITLE = "Quit the dashboard?"
    #: The DEMO badge's text (every screen's ``DemoBadge`` follows it); empty: no badge.
    demo_status: reactive[str] = reactive("")

    def __init__(
        self,
        store: ProfileStore,
        endpoints: Endpoints,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        fleet_factory: Callable[[], FleetCheck] | None = None,
        concurrency: int | None = None,
        settings: ConnectSettings | None = None,
        demo_banner: str | None = None,
        on_admin_sign_in: Callable[[str], None] | None = None,
    ) -> None:
        """Create the dashboard for the profiles of ``store``.

        Args:
            store: The saved connections.
            endpoints: The cloud (or emulator) they live in.
            clock: Now (ages of results; tests freeze it).
            fleet_factory: Makes the checker (tests may pass their own).
            concurrency: Tenants checked at once (default: the command line's default).
            settings: How renew, repair and offboard run (default: ``endpoints``, the
                store's folder and passphrase, the default public client).
            demo_banner: Demo mode: the DEMO badge's text, on screen all along.
            on_admin_sign_in: Told the tenant id before each admin sign-in (demo mode:
                the simulated customer signs in to that tenant).
        """
        super().__init__()
        self.store = store
        self.endpoints = endpoints
        self.clock = clock
        self._fleet_factory = fleet_factory
        self._concurrency = concurrency
        self._settings = settings
        self._service: ConnectionService | None = None
        self._passphrase_lock: asyncio.Lock | None = None
        self._fleet_context: FleetContext | None = None
        self._index_whole = False
        self._warned: set[str] = set()
        self._first_entries: dict[str, ProfileEntry] = {}
        self._first_results: dict[str, TenantHealth] = {}
        self.title = "Connections"
        self.start_in_theme()
        if demo_banner:
            self.set_reactive(DashboardApp.demo_status, demo_banner)
        self._on_admin_sign_in = on_admin_sign_in

    def admin_sign_in_starts(self, tenant_id: str) -> None:
        """An admin sign-in for ``tenant_id`` is about to start (repair, offboarding)."""
        if self._on_admin_sign_in is not None:
            self._on_admin_sign_in(tenant_id)

    def _load(self) -> tuple[list[ProfileEntry], dict[str, TenantHealth]]:
        """What the first frame shows: each tenant from the index (``index.json``) when
        its files' ``stat`` says the summary is still true, else from its files."""
        from vdc_tui.connect.fleet.health import HealthCache
        from vdc_tui.connect.fleet.summaries import first_frame_records

        ids = self.store.tenant_ids()
        entries, results, whole = first_frame_records(self.store, ids)
        self._index_whole = whole
        if len(entries) < len(ids):  # stale or unknown: from their files, as before
            cache = HealthCache(self.store)
            for tid in ids:
                if tid not in entries:
                    entries[tid] = self.store.read_entry(tid)
                    found = cache.load(tid)
                    if found is not None:
                        results[tid] = found
        ordered = sorted(entries.values(), key=lambda e: ((e.name or "").casefold(),
                                                          e.tenant_id))
        return ordered, results

    def _load_full(self) -> None:
        """After the first frame: every tenant's full records (the actions and the
        detail screens need them), the permission warnings, and a new index if the one
        read was not all true."""
        from vdc_tui.connect.fleet.health import HealthCache
        from vdc_tui.connect.fleet.summaries import summary_of
        from vdc_tui.connect.store.index import SummaryIndex

        index = SummaryIndex(self.store)
        ids = self.store.tenant_ids()
        # Stat before reading: a file changed in between reads as stale next time.
        sigs = {tid: index.signatures(tid) for tid in ids} if not self._index_whole else {}
        entries = self.store.list()
        results = HealthCache(self.store).load_all(entries)
        if not self._index_whole:
            index.write(summary_of(e, results.get(e.tenant_id), sigs[e.tenant_id])
                        for e in entries if e.tenant_id in sigs)
        self.call_from_thread(self._take_full, entries, results)

    def _take_full(self, entries: list[ProfileEntry], results: dict[str, TenantHealth]
                   ) -> None:
        from vdc_tui.screens.dashboard import DashboardScreen

        for warning in self.store.warnings:
            if warning not in self._warned:
                self._warned.add(warning)
                self.notify(warning, severity="warning", markup=False)
        screen = next((s for s in self.screen_stack if isinstance(s, DashboardScreen)), None)
        if screen is not None:
            screen.take_full_records(entries, results, self._first_entries,
                                     self._first_results)

    def make_fleet(self) -> FleetCheck:
        """The checker the dashboard's checks run through."""
        if self._fleet_factory is not None:
            return self._fleet_factory()
        from vdc_tui.connect.fleet.run import DEFAULT_CONCURRENCY, FleetCheck

        return FleetCheck(self.store, self.endpoints,
                          concurrency=self._concurrency or DEFAULT_CONCURRENCY)

    def connection_service(self) -> ConnectionService:
        """The service renew, repair, offboard and the admin sign-in run through."""
        if self._service is None:
            from vdc_tui.connect.service import ConnectionService, ConnectSettings

            settings = self._settings or ConnectSettings(
                endpoints=self.endpoints, home=self.store.root,
                key_passphrase=self.store.passphrase)
            self._service = ConnectionService(settings)
        return self._service

    async def ensure_passphrase(self) -> bool:
        """Before a key is read: ask for the store passphrase on its own masked screen
        when no source (option, file, keyring) gives it, once per session; a wrong one is
        said and asked again. ``False`` when the operator cancels.

        Raises:
            VdcError: a named source is unusable (an unsafe passphrase file, …).
        """
        from vdc_tui.connect.errors import VdcError
        from vdc_tui.screens.passphrase import PassphraseScreen

        if self._passphrase_lock is None:
            self._passphrase_lock = asyncio.Lock()
        service = self.connection_service()
        async with self._passphrase_lock:
            problem: str | None = None
            while True:
                # The keyring is probed in a thread: it may take up to its timeout.
                needed = await asyncio.to_thread(service.passphrase_prompt)
                if needed is None:
                    return True
                prompt = PassphraseScreen(new=needed == "new", purpose="read the saved keys",
                                          problem=problem)
                secret = await self.push_screen_wait(prompt)
                # The prompt is still being taken down: a second one pushed now (after a
                # wrong passphrase) could go with it, and the check would wait for ever.
                for _ in range(200):
                    if not prompt.is_attached:
                        break
                    await asyncio.sleep(0.01)
                if secret is None:
                    return False
                service.set_typed_passphrase(secret)
                try:
                    await asyncio.to_thread(service.profiles.unlock)
                except VdcError as error:
                    if error.code != "key_passphrase_wrong":
                        raise
                    problem = "Wrong passphrase: it does not open the saved keys."
                    continue
                return True

    async def on_unmount(self) -> None:
        """Close the service's network clients."""
        if self._service is not None:
            await self._service.aclose()

    def on_mount(self) -> None:
        """Read the profiles and their last results, show the table."""
        from vdc_tui.screens.dashboard import DashboardScreen

        # Read here, in the app's own thread: a reader thread started with the app (to
        # overlap Textual's start-up) made the first frame ~6 ms later with 500 profiles,
        # both being CPU work that takes turns on the interpreter's lock, plus the switches.
        entries, results = self._load()
        self._first_entries = {e.tenant_id: e for e in entries}
        self._first_results = dict(results)
        self.sub_title = f"{len(entries)} saved"
        for warning in self.store.warnings:
            self._warned.add(warning)
            self.notify(warning, severity="warning", markup=False)
        self.push_screen(DashboardScreen(entries, results, self.fleet_context()), self._leave)
        self.call_after_first_frame(self._read_full_records)

    def fleet_context(self) -> FleetContext:
        """What the dashboard's screens get from this app (they never reach for it)."""
        from textual.signal import Signal

        from vdc_tui.screens.tenant_actions import FleetContext

        if self._fleet_context is None:
            self._fleet_context = FleetContext(
                store=self.store, clock=self.clock, service=self.connection_service,
                fleet=self.make_fleet, ensure_passphrase=self.ensure_passphrase,
                admin_sign_in_starts=self.admin_sign_in_starts,
                results=Signal(self, "tenant-results"),
                after_first_frame=self.call_after_first_frame)
        return self._fleet_context

    def _read_full_records(self) -> None:
        self.run_worker(self._load_full, thread=True, exclusive=True, group="full-records",
                        exit_on_error=False)

    def _leave(self, outcome: str | None) -> None:
        self.exit(outcome)

def run_dashboard(
    store: ProfileStore,
    endpoints: Endpoints,
    wizard: Callable[[], int] | None = None,
    *,
    demo_banner: str | None = None,
    on_admin_sign_in: Callable[[str], None] | None = None,
) -> int:
    """Run the dashboard; ``n`` runs ``wizard`` and then the dashboard again. Returns 0."""
    while True:
        app = DashboardApp(store, endpoints, demo_banner=demo_banner,
                           on_admin_sign_in=on_admin_sign_in)
        outcome = app.run()
        if outcome != "new" or wizard is None:
            return 0
        wizard()


__all__ = ["DashboardApp", "run_dashboard"]
