"""The Textual application: the wizard's flow, its global keys, and when the backend starts.

The flow between steps is :meth:`VdcApp.run_wizard`, one coroutine that reads top to
bottom. Screens do one step each and return their result through ``dismiss()``; all
connection work goes through :class:`~vdc_tui.connect.service.ConnectionService`, which
:class:`~vdc_tui.backend.Backend` builds (with the demo emulator in demo mode). The theme
lives in :mod:`vdc_tui.theme`.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.binding import BindingType
from textual.reactive import reactive

from vdc_tui.backend import Backend
from vdc_tui.base_app import VdcBaseApp, global_bindings
from vdc_tui.connect.errors import EXIT_CANCELLED, VdcError, scrub
from vdc_tui.connect.service import ConnectionService
from vdc_tui.settings import AppSettings
from vdc_tui.theme import VDC_THEME
from vdc_tui.widgets.countdown import utc_now

if TYPE_CHECKING:
    from textual.driver import Driver

    from vdc_tui.connect.models import ConnectionResult

    # Only the mode screen is needed for the first frame; every other step is imported
    # where it is first pushed, so start-up does not pay for the QR code, the file picker
    # and the forms (see the first-frame row of ``make bench``).
    from vdc_tui.screens.manual import ManualDraft, ManualOutcome
    from vdc_tui.screens.mode import ModeChoice

_log = logging.getLogger("vdc_tui.app")

#: Seconds between the first frame and the start of the backend (the demo emulator, MSAL's
#: import, the OpenID discovery). Started earlier, that work competes with the first paint
#: for the interpreter lock; started much later, a quick "a" would wait for it.
BACKEND_START_DELAY = 0.05


class VdcApp(VdcBaseApp[Path | None]):
    """The "Connect to Flex" wizard.

    The app's return value is the saved profile's path, or ``None`` when the operator
    left before Finish (then ``return_code`` is 130).
    """

    QUIT_TITLE = "Quit the wizard?"
    QUIT_CODE = EXIT_CANCELLED

    BINDINGS: ClassVar[list[BindingType]] = global_bindings(
        "Leave the wizard (asks first when work is in progress)")

    demo_status: reactive[str] = reactive("")
    """In demo mode: the emulator's device-login page (shown in the DEMO badge)."""

    def __init__(
        self,
        settings: AppSettings,
        *,
        service: ConnectionService | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """Create the app (nothing slow happens here: the first frame must be quick).

        Args:
            settings: How the wizard was started.
            service: A ready service (tests); by default one is built from the settings,
                or, in demo mode, against the built-in emulator once it has started.
            clock: The clock of the device-code countdown (tests freeze it).
        """
        super().__init__()
        self.settings = settings
        self.clock = clock
        self._backend = Backend(settings, service, self._set_demo_status)
        self._backend_started = False
        self._manual_draft: ManualDraft | None = None
        self._first_choice: asyncio.Future[ModeChoice]  # the mode screen's answer (on_mount)
        self._stop_signal: str | None = None  # SIGHUP or SIGTERM received
        self._signals: list[signal.Signals] = []
        self.title = settings.connect.step_title
        self.sub_title = scrub(settings.tenant_name, limit=80) if settings.tenant_name else ""
        self.start_in_theme(settings.theme)

    # -- start and stop -----------------------------------------------------------------

    def get_driver_class(self) -> type[Driver]:
        """Textual's driver; on Linux and macOS one that outlives its terminal (SIGHUP)."""
        driver = super().get_driver_class()
        from textual.drivers.linux_driver import LinuxDriver

        if driver is LinuxDriver:
            from vdc_tui.hangup import HangupSafeDriver

            return HangupSafeDriver
        return driver

    def _install_stop_signals(self) -> None:
        """SIGHUP (the terminal went away) and SIGTERM stop the wizard like a confirmed
        quit: see :meth:`stop_on_signal`. Not in headless tests (their runner owns signals)."""
        if self.is_headless:
            return
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGHUP, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self.stop_on_signal, sig)
                self._signals.append(sig)
            except (NotImplementedError, RuntimeError, ValueError, AttributeError):
                pass  # no such signal here (Windows), or not the main thread

    def stop_on_signal(self, signum: int) -> None:
        """Stop asking, cancel the work and roll back, then exit 130.

        After SIGHUP the terminal is gone: nothing is drawn any more (the output goes to
        ``/dev/null``) and the outcome reaches only the ``--log`` file and the journal.
        """
        name = signal.Signals(signum).name
        if self._stop_signal is not None:
            return
        self._stop_signal = name
        from vdc_tui.connect.onboard.rollback import ROLLBACK_BOUND_SECONDS
        from vdc_tui.hangup import detach_terminal

        _log.warning("%s received: cancelling, rolling back anything created (at most %.0f s)",
                     name, ROLLBACK_BOUND_SECONDS)
        if signum == signal.SIGHUP:
            detach_terminal(self._driver)
        self._stop_after_signal(name, ROLLBACK_BOUND_SECONDS)

    @work(group="signal", exit_on_error=False)
    async def _stop_after_signal(self, name: str, bound: float) -> None:
        step = self.top_step()
        if step is not None and step.quit_warning() is not None:
            try:
                await asyncio.wait_for(step.cancel_work(), bound)
            except TimeoutError:
                _log.warning("rollback still running after %.0f s: stopped; the journal stays",
                             bound)
            except Exception as error:  # noqa: BLE001 - logged; exiting is what matters now
                _log.warning("cancelling after %s failed: %s", name, type(error).__name__)
        _log.info("wizard ended by %s (exit %d)", name, EXIT_CANCELLED)
        self.exit(None, return_code=EXIT_CANCELLED)
        # Textual's shutdown ends the process (nothing is left to wait on the terminal);
        # the last resort below only fires if something unforeseen still holds it.
        from vdc_tui.hangup import exit_if_stuck

        exit_if_stuck(EXIT_CANCELLED)

    def panic(self, *renderables: Any) -> None:
        """Textual's panic, except while stopping on SIGHUP/SIGTERM: the rollback goes on."""
        if self._stop_signal is not None:
            _log.warning("ignored a crash of the terminal side while stopping on %s",
                         self._stop_signal)
            return
        super().panic(*renderables)

    def on_mount(self) -> None:
        """Show the mode screen and start the wizard; the backend follows the first frame."""
        self._install_stop_signals()
        # Pushed here rather than from the wizard's worker, so the first frame is the mode
        # screen and a key typed ahead ("a") reaches it.
        self._first_choice = self._ask_mode()
        self.run_wizard()
        # After the first frame is on the terminal (if a typed-ahead key needs the service
        # sooner, connection_service() starts the backend).
        self.call_after_first_frame(
            lambda: self.set_timer(BACKEND_START_DELAY, self._ensure_backend))

    def _ensure_backend(self) -> None:
        """Start the backend once (the first of: after the first frame, or when needed)."""
        if not self._backend_started:
            self._backend_started = True
            self._start_backend()

    @property
    def manual_draft(self) -> ManualDraft:
        """What the operator typed in the manual form, kept across visits of the form."""
        if self._manual_draft is None:
            from vdc_tui.screens.manual import ManualDraft

            self._manual_draft = ManualDraft()
        return self._manual_draft

    def _set_demo_status(self, text: str) -> None:
        self.demo_status = text

    @work(group="backend", exit_on_error=False)
    async def _start_backend(self) -> None:
        """Start the backend; a problem the operator must know now becomes a notification."""
        error = await self._backend.start()
        if error is not None:
            self.notify(f"{scrub(error.message)}\n{scrub(error.remediation)}",
                        title="Cannot start", severity="error", timeout=30, markup=False)

    async def on_unmount(self) -> None:
        """Close network clients and stop the emulator."""
        loop = asyncio.get_running_loop()
        for sig in self._signals:
            loop.remove_signal_handler(sig)
        self._signals.clear()
        await self._backend.aclose()

    async def connection_service(self) -> ConnectionService:
        """The service, once the backend is ready.

        Raises:
            VdcError: the backend (the demo emulator) could not start.
        """
        self._ensure_backend()
        return await self._backend.service()

    @property
    def emulator(self) -> Any:
        """The demo emulator, when one runs."""
        return self._backend.emulator

    # -- the wizard ---------------------------------------------------------------------

    @work(group="wizard", exclusive=True, exit_on_error=False)
    async def run_wizard(self) -> None:
        """The whole wizard: mode → connect → connected → services → summary."""
        try:
            result = await self._connect()
        except VdcError as error:
            self.exit(None, return_code=error.exit_code,
                      message=f"{scrub(error.message)}\n{scrub(error.remediation)}")
            return
        from vdc_tui.screens.connected import ConnectedDialog
        from vdc_tui.screens.services import ServicesScreen
        from vdc_tui.screens.summary import SummaryScreen

        service = await self.connection_service()
        from vdc_tui.connect.entra.services import default_selection

        selected: tuple[str, ...] = default_selection(
            result.available_services, tuple(self.settings.connect.services)
        )
        # The dialog appears over the services screen, as in the product.
        services_done = self.push_screen(ServicesScreen(result, selected), wait_for_dismiss=True)
        await self.push_screen_wait(
            ConnectedDialog(self.settings.connect.connected_title, result)
        )
        selected = await services_done
        while True:
            path = await self.push_screen_wait(SummaryScreen(service, result, selected))
            if path is not None:
                self.exit(path)
                return
            selected = await self.push_screen_wait(ServicesScreen(result, selected))

    def _ask_mode(self) -> asyncio.Future[ModeChoice]:
        """Push the mode screen; the future resolves with the operator's choice."""
        from vdc_tui.connect.permissions import load_catalog
        from vdc_tui.screens.mode import ModeScreen

        chosen: asyncio.Future[ModeChoice] = asyncio.get_running_loop().create_future()

        def answered(choice: ModeChoice | None) -> None:
            if not chosen.done() and choice is not None:
                chosen.set_result(choice)

        self.push_screen(ModeScreen(load_catalog().delegated_sign_in_scopes), answered)
        return chosen

    async def _connect(self) -> ConnectionResult:
        """Steps 1–2: choose a mode and connect, until a connection is verified."""
        mode: ModeChoice | None = await self._first_choice
        while True:
            if mode is None:
                mode = await self._ask_mode()
            service = await self.connection_service()
            outcome: object
            if mode == "automatic":
                outcome = await self._automatic(service)
            else:
                from vdc_tui.screens.manual import ManualScreen

                manual: ManualOutcome = await self.push_screen_wait(
                    ManualScreen(service, draft=self.manual_draft,
                                 services=self.settings.connect.services)
                )
                outcome = manual
            from vdc_tui.connect.models import ConnectionResult

            if isinstance(outcome, ConnectionResult):
                return outcome
            if outcome == "manual":
                from vdc_tui.screens.dialogs import ManualModeNotice

                mode = "manual" if await self.push_screen_wait(ManualModeNotice()) else None
            elif outcome == "automatic":
                mode = "automatic"
            else:
                mode = None

    async def _automatic(self, service: ConnectionService) -> object:
        """Device-code sign-in, then provisioning; signs in again after not_global_admin."""
        from vdc_tui.screens.device_code import DeviceCodeScreen
        from vdc_tui.screens.provisioning import ProvisioningScreen

        while True:
            signed_in = await self.push_screen_wait(DeviceCodeScreen(service, clock=self.clock))
            if signed_in is None or signed_in == "manual":
                return signed_in
            outcome = await self.push_screen_wait(ProvisioningScreen(service, signed_in))
            if outcome != "new_code":
                return outcome

    # -- global keys ----------------------------------------------------------------------

def make_app(
    settings: AppSettings,
    *,
    service: ConnectionService | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> VdcApp:
    """Build the wizard app: the factory of the command line, the tests and the screenshots.

    Args:
        settings: How the wizard is started (demo mode, theme, tenant name, endpoints).
        service: A ready connection service (tests); by default built from ``settings``.
        clock: The clock of the device-code countdown (tests freeze it).
    """
    return VdcApp(settings, service=service, clock=clock)


__all__ = ["EXIT_CANCELLED", "VDC_THEME", "VdcApp", "make_app"]
