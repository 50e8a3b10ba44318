"""Helpers for automatic-mode tests: the customer tenant, a signed-in admin, polling."""

from __future__ import annotations

import asyncio
import heapq
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from vdc_tui.connect.entra.application import MANAGED_TAG
from vdc_tui.connect.microsoft.clouds import server_endpoints
from vdc_tui.connect.microsoft.identity import DelegatedToken, IdentityClient
from vdc_tui.connect.models import CheckEvent, ConnectionResult
from vdc_tui.connect.onboard.automatic import AutomaticConnector
from vdc_tui.connect.permissions import load_catalog
from vdc_tui.connect.service import DEFAULT_PUBLIC_CLIENT_ID
from vdc_tui.connect.store.profiles import ProfileStore

T = TypeVar("T")
CONTOSO = "8f3b6a52-0c1d-4e5f-9a7b-2c4d6e8f0a1b"
#: The services every automatic run of these tests asks for.
ALL = frozenset({"exchange", "sharepoint", "teams"})


def contoso(**faults: Any) -> dict[str, Any]:
    """The customer tenant of these tests: one Global Administrator, one helpdesk account
    without it, an E3 subscription (Exchange, SharePoint, Teams)."""
    return {
        "name": "automatic",
        "device_code": {"interval": 1, "lifetime": 120},
        "faults": faults,
        "tenants": [
            {
                "id": CONTOSO,
                "display_name": "Contoso Ltd",
                "domains": ["contoso.onmicrosoft.com", "contoso.com"],
                "default_domain": "contoso.com",
                "users": [
                    {
                        "upn": "admin@contoso.com",
                        "display_name": "Megan Bowen",
                        "roles": ["Global Administrator"],
                    },
                    {
                        "upn": "helpdesk@contoso.com",
                        "display_name": "Help Desk",
                        "roles": ["User Administrator"],
                    },
                ],
                "skus": [
                    {
                        "sku_part_number": "ENTERPRISEPACK",
                        "service_plans": [
                            "EXCHANGE_S_ENTERPRISE",
                            "SHAREPOINTENTERPRISE",
                            "TEAMS1",
                            "EXCHANGE_S_FOUNDATION",
                            "SHAREPOINTWAC",
                        ],
                    }
                ],
            }
        ],
    }


async def sign_in(emu: Any, upn: str = "admin@contoso.com") -> DelegatedToken:
    """Drive a real device-code sign-in through the emulator and approve it as ``upn``."""
    identity = IdentityClient(server_endpoints(emu), client_id=DEFAULT_PUBLIC_CLIENT_ID)
    try:
        scopes = [f"{emu.graph_url}/{s}" for s in load_catalog().delegated_sign_in_scopes]
        session = await identity.start_device_flow(scopes)
        emu.approve_device_code(session.code.user_code, upn)
        return await identity.wait_for_sign_in(session)
    finally:
        await identity.aclose()


def connector(emu: Any, home: Path, **kwargs: Any) -> tuple[AutomaticConnector, IdentityClient]:
    """An automatic connector on ``emu`` saving under ``home`` (``kwargs`` override options).

    The caller closes the returned identity client.
    """
    identity = IdentityClient(server_endpoints(emu), client_id=DEFAULT_PUBLIC_CLIENT_ID)
    options: dict[str, Any] = {"app_display_name": "VDC test app", "services": ALL}
    options.update(kwargs)
    connector = AutomaticConnector(server_endpoints(emu), identity, ProfileStore(home), **options)
    return connector, identity


async def provision(
    emu: Any, home: Path, events: list[CheckEvent] | None = None, **kwargs: Any
) -> ConnectionResult:
    """Sign the admin in and run automatic mode to its end (``events`` collects progress)."""
    token = await sign_in(emu)
    auto, identity = connector(emu, home, **kwargs)
    try:
        return await auto.run(token, (events if events is not None else []).append)
    finally:
        await identity.aclose()


async def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll ``condition`` until it holds (fails the test after ``timeout`` seconds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def managed_apps(emu: Any) -> list[Any]:
    """App registrations in the emulator that carry vdc-tui's tag."""
    with emu.state.lock:
        return [
            a for a in emu.state.applications.values() if MANAGED_TAG in (a.props.get("tags") or [])
        ]


def journal_path(home: Path) -> Path:
    return home / "connections" / CONTOSO / "provisioning.json"


def journal_names_the_app(home: Path) -> bool:
    """The run's journal is written and already names the app registration it created."""
    path = journal_path(home)
    return path.exists() and bool(json.loads(path.read_text())["application_id"])


class VirtualTime:
    """Sleeps that move a fake clock instead of waiting, for tests of long lags.

    Concurrent pollers share time as they would in reality: the clock moves to the earliest
    wake-up only when no tracked call is in flight and every woken sleeper has run again,
    so three pollers sleeping 2 s each advance the clock by 2 s, not 6 s.
    """

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self._busy = 0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seq += 1
        heapq.heappush(self._sleepers, (self.clock() + max(0.0, seconds), self._seq, future))
        self._advance()
        await future
        self._busy -= 1  # this sleeper runs again: ...
        self._later()

    def track(self, call: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        """Wrap an async call so that time stands still while it is in flight."""

        async def tracked(*args: Any, **kwargs: Any) -> T:
            self._busy += 1
            try:
                return await call(*args, **kwargs)
            finally:
                self._busy -= 1
                self._later()

        return tracked

    def _later(self) -> None:
        # ... and carries on synchronously into its next call or sleep; only after it has
        # yielded may time move, or the clock would jump past its next wake-up.
        asyncio.get_running_loop().call_soon(self._advance)

    def _advance(self) -> None:
        if self._busy or not self._sleepers:
            return
        target, _, future = heapq.heappop(self._sleepers)
        if target > self.clock():
            self.clock.advance(target - self.clock())
        self._busy += 1  # woken, not yet running
        future.set_result(None)
