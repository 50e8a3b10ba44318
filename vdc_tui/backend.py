"""The wizard's backend: its connection service and, in demo mode, the built-in emulator the
service talks to (started on the demo port, or a free one when that is busy).

No Textual here: :class:`~vdc_tui.app.VdcApp` starts it after the first frame and shows its
status; the headless commands' demo uses the same emulator launcher
(:func:`vdc_tui.emulator.launch.start_for_demo`).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from vdc_tui.connect.errors import VdcError, scrub
from vdc_tui.connect.microsoft.clouds import server_endpoints
from vdc_tui.connect.service import ConnectionService
from vdc_tui.settings import AppSettings


class Backend:
    """Builds the service once, then hands it out.

    Args:
        settings: How the wizard was started.
        service: A ready service (tests); built from the settings otherwise.
        on_status: Told the demo status line ("starting…", then the sign-in page).
    """

    def __init__(
        self,
        settings: AppSettings,
        service: ConnectionService | None = None,
        on_status: Callable[[str], None] = lambda text: None,
    ) -> None:
        self._settings = settings
        self._service = service
        self._on_status = on_status
        self._ready = asyncio.Event()
        self.error: VdcError | None = None
        self.emulator: Any = None

    async def start(self) -> VdcError | None:
        """Build the service (starting the emulator in demo mode), then warm it up.

        A failure is kept in :attr:`error` (and raised by :meth:`service`), never raised here.

        Returns:
            The service's own error, for the operator to read now (a profile folder that
            cannot be written, …); ``None`` otherwise.
        """
        announce: VdcError | None = None
        try:
            if self._service is None:
                settings = self._settings.connect
                if self._settings.demo:
                    self._on_status("starting the built-in emulator…")
                    endpoints, status = await asyncio.to_thread(self._start_emulator)
                    home = settings.home or Path(tempfile.mkdtemp(prefix="vdc-tui-demo-"))
                    from vdc_tui.connect.store.keystore import PassphraseProvider

                    # The demo store has a fixed passphrase (and says so): nothing to type.
                    settings = replace(settings, endpoints=endpoints, home=home,
                                       key_passphrase=settings.key_passphrase
                                       or PassphraseProvider.demo())
                    self._on_status(status)
                service = ConnectionService(settings)
                # A profile folder that cannot be written is said now, not after a sign-in
                # and an app registration whose profile could then not be saved.
                await asyncio.to_thread(service.profiles.check_usable)
                self._service = service
            # Import MSAL, httpx and cryptography in a thread, not on the event loop.
            ready = self._service
            await asyncio.to_thread(lambda: ready.identity)
        except VdcError as error:
            self.error = announce = error
        except Exception as error:  # shown to the operator, not raised
            self.error = VdcError(
                "service_unavailable",
                f"The built-in emulator did not start: {scrub(str(error), limit=300)}",
                "Run `vdc-tui doctor`, or start `vdc-tui emulator` on its own to see why.",
            )
        self._ready.set()
        if self._service is not None:
            try:
                # Discovery and MSAL's import happen while the operator reads the first screen.
                await self._service.prepare()
            except Exception:  # the service raises it again when used
                pass
        return announce

    def _start_emulator(self) -> tuple[Any, str]:
        """Start the demo emulator (in a thread); its endpoints and the demo status line
        (which names a fallback port)."""
        from vdc_tui.emulator import load_scenario
        from vdc_tui.emulator.launch import start_for_demo

        wanted = self._settings.demo_port
        emulator = start_for_demo(
            load_scenario(self._settings.demo_scenario),
            wanted,
            approve_after=self._settings.demo_approve_after,
        )
        # Another wizard (or anything else) may hold the port: a free one still works, only
        # recordings lose their fixed address, so the status line says so.
        note = f"port {wanted} busy · " if wanted and emulator.port != wanted else ""
        self.emulator = emulator
        where = "" if note else "built-in emulator · "
        return server_endpoints(emulator), f"{where}{note}sign-in page {emulator.device_login_url}"

    async def service(self) -> ConnectionService:
        """The service, once :meth:`start` has finished.

        Raises:
            VdcError: the backend (the demo emulator) could not start.
        """
        await self._ready.wait()
        if self._service is None:
            assert self.error is not None
            raise self.error
        return self._service

    async def aclose(self) -> None:
        """Close network clients and stop the emulator."""
        if self._service is not None:
            try:
                await self._service.aclose()
            except Exception:  # closing must not hide the exit
                pass
        if self.emulator is not None:
            await asyncio.to_thread(self.emulator.stop)
            self.emulator = None


__all__ = ["Backend"]
