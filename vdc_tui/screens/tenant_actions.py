"""The dashboard's actions on one tenant (export, renew, repair, offboard), in one place.

The dashboard and a tenant's detail screen offer the same four keys; both start them here,
so an action runs the same way, one at a time, from either screen. What the screens need
from their application comes in a :class:`FleetContext` (the store, the service, the
checker, the clock, the passphrase prompt, the signal that carries every new check result):
no screen reaches for its app's attributes, and the detail screen sees the dashboard only
as a :class:`FleetView`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from vdc_tui.connect.errors import VdcError, scrub

if TYPE_CHECKING:
    from textual.widget import Widget
    from textual.signal import Signal

    from vdc_tui.connect.fleet.health import TenantHealth
    from vdc_tui.connect.fleet.run import FleetCheck
    from vdc_tui.connect.service import ConnectionService
    from vdc_tui.connect.store.profiles import ProfileEntry, ProfileStore

#: What cancelling each action does (the question before it is cancelled).
RENEW_CANCEL = ("The renewal stops where it is. The current certificate keeps working; the "
                "next renewal of this tenant finishes or undoes what this one started.")
REPAIR_CANCEL = ("The repair stops where it is. What was fixed so far stays fixed (a key put "
                 "back, permissions granted, a restored app); repair again to finish.")
OFFBOARD_CANCEL = ("Offboarding stops where it is. The local profile and key stay; if the app "
                   "registration was already deleted it stays deleted (restorable for 30 "
                   "days). Offboard again to finish.")
MANUAL_RENEWAL = ("This connection uses your own app registration (manual mode). Renewing "
                  "removes the old certificate from it, so anything else that signs in with "
                  "it needs the new one: export it afterwards with e.")

#: The actions, by the name their keys pass (``act('renew')``).
ACTIONS = ("export", "renew", "repair", "offboard")


@dataclass(frozen=True)
class FleetContext:
    """What the dashboard's screens need from the application that shows them.

    Attributes:
        store: The saved connections.
        clock: Now (ages of results; tests freeze it).
        service: The service renew, repair, offboard and the admin sign-in run through.
        fleet: Makes the checker the dashboard's checks run through.
        ensure_passphrase: Before a key is read: ``True`` once the store passphrase is
            known (asked on its own screen when no source gives it), ``False`` when the
            operator cancels.
        results: Every new check result, as it arrives (the detail screen follows it).
        after_first_frame: Runs a callback once the first frame is on screen (rows below
            the terminal's height are added then).
    """

    store: ProfileStore
    clock: Callable[[], datetime]
    service: Callable[[], ConnectionService]
    fleet: Callable[[], FleetCheck]
    ensure_passphrase: Callable[[], Awaitable[bool]]
    results: Signal[TenantHealth]
    after_first_frame: Callable[[Callable[[], object]], None]


class FleetView(Protocol):
    """The dashboard as the actions and the detail screen see it."""

    @property
    def entries(self) -> Mapping[str, ProfileEntry]:
        """The saved connections, by tenant id."""

    @property
    def results(self) -> Mapping[str, TenantHealth]:
        """The last result of each tenant that has one."""

    def is_checking(self, tenant_id: str) -> bool:
        """Whether the tenant is being checked now."""

    def check_tenants(self, tenant_ids: Sequence[str]) -> None:
        """Check these tenants (their results arrive on the context's signal)."""

    async def recheck(self, tenant_id: str) -> None:
        """Read the tenant's profile again and check it (after an action changed it)."""

    def forget(self, tenant_id: str) -> None:
        """The tenant was offboarded: drop its row."""


def label_of(entry: ProfileEntry) -> str:
    """How a tenant is named on screen (name, else domain, else id)."""
    return scrub(entry.name or entry.default_domain or entry.tenant_id, limit=60)


class TenantActions:
    """Runs export, renew, repair and offboard on one tenant at a time.

    Args:
        context: The store, the service, the passphrase prompt.
        fleet: The dashboard (its entries, checks and rows).
        owner: The node whose workers run the actions (the dashboard screen: it outlives
            the detail screen an offboarding closes).
    """

    def __init__(self, context: FleetContext, fleet: FleetView, owner: Widget) -> None:
        self.context = context
        self.fleet = fleet
        self.owner = owner
        #: The tenant an action is running on, or ``None``.
        self.acting: str | None = None

    def start(self, name: str, entry: ProfileEntry | None) -> None:
        """Start action ``name`` on ``entry`` (one at a time; not while it is checked)."""
        if entry is None:
            return
        why = None
        if self.acting is not None:
            why = "Another action is running; start this one when it has finished."
        elif self.fleet.is_checking(entry.tenant_id):
            why = "The tenant is being checked; act when the check has finished."
        elif entry.profile is None:
            why = f"The profile of {entry.tenant_id} cannot be read: {entry.error}."
        if why is not None:
            self.owner.notify(scrub(why, limit=300), severity="warning", markup=False)
            return
        flows: dict[str, Callable[[ProfileEntry], Awaitable[None]]] = {
            "export": self.export, "renew": self.renew, "repair": self.repair,
            "offboard": self.offboard,
        }
        self.acting = entry.tenant_id
        self.owner.run_worker(self._run(flows[name], entry), group="tenant-action",
                              exit_on_error=False)

    async def _run(self, flow: Callable[[ProfileEntry], Awaitable[None]],
                   entry: ProfileEntry) -> None:
        try:
            await flow(entry)
        except VdcError as error:
            self.say_error(error)
        finally:
            self.acting = None

    def say_error(self, error: VdcError) -> None:
        """A failed action's code, message and fix, as a notification."""
        self.owner.notify(f"{scrub(error.message, limit=300)} [{error.code}]\n"
                          f"{scrub(error.remediation, limit=300)}", title="Not done",
                          severity="error", timeout=20, markup=False)

    # -- the four actions --------------------------------------------------------------------

    async def export(self, entry: ProfileEntry) -> None:
        """Write the connection's key as a password-protected PFX (``connections export``)."""
        from vdc_tui.screens.export import ExportScreen

        if await self.context.ensure_passphrase():
            await self.owner.app.push_screen_wait(ExportScreen(self.context.store, entry))

    async def renew(self, entry: ProfileEntry) -> None:
        """Roll the certificate (``connections renew``; asks first in manual mode)."""
        from vdc_tui.connect.lifecycle.renew import RENEW_STEPS
        from vdc_tui.screens.dialogs import ConfirmDialog
        from vdc_tui.screens.lifecycle import ActionScreen

        app = self.owner.app
        manual = (entry.profile or {}).get("mode") == "manual"
        if manual and not await app.push_screen_wait(ConfirmDialog(
                "Renew your own app's certificate?", MANUAL_RENEWAL, yes="Renew",
                no="Cancel", id="renew-manual")):
            return
        if not await self.context.ensure_passphrase():
            return
        service = self.context.service()
        tid = entry.tenant_id
        await app.push_screen_wait(ActionScreen(
            f"Renewing the certificate of {label_of(entry)}", RENEW_STEPS,
            lambda progress: service.renew(tid, include_manual=manual, on_progress=progress),
            describe=lambda outcome: outcome.summary(), cancel_note=RENEW_CANCEL))
        await self.fleet.recheck(tid)

    async def _admin_token(self, entry: ProfileEntry, purpose: str) -> Any:
        """A Global Administrator's token (the wizard's device-code screen), or ``None``."""
        from vdc_tui.connect.microsoft.identity import DelegatedToken
        from vdc_tui.screens.lifecycle import AdminSignInScreen

        token = await self.owner.app.push_screen_wait(AdminSignInScreen(
            self.context.service(), tenant_label=label_of(entry), purpose=purpose,
            clock=self.context.clock))
        return token if isinstance(token, DelegatedToken) else None

    async def repair(self, entry: ProfileEntry) -> None:
        """Fix what an admin's sign-in can fix (``connections repair``), then verify."""
        from vdc_tui.connect.lifecycle.repair import REPAIR_STEPS
        from vdc_tui.screens.lifecycle import ActionScreen

        if not await self.context.ensure_passphrase():  # verification reads the key
            return
        token = await self._admin_token(entry, "repair")
        if token is None:
            return
        service = self.context.service()
        tid = entry.tenant_id
        await self.owner.app.push_screen_wait(ActionScreen(
            f"Repairing {label_of(entry)} as {scrub(token.admin.upn, limit=60)}",
            REPAIR_STEPS, lambda progress: service.repair(tid, token, progress),
            describe=lambda outcome: outcome.summary(), cancel_note=REPAIR_CANCEL))
        await self.fleet.recheck(tid)

    async def offboard(self, entry: ProfileEntry) -> None:
        """Delete the app in the tenant, then the local files (asks first; admin signs in)."""
        from vdc_tui.connect.lifecycle.offboard import OFFBOARD_STEPS
        from vdc_tui.screens.lifecycle import ActionScreen, OffboardDialog

        app = self.owner.app
        store = self.context.store
        tid = entry.tenant_id
        profile = await asyncio.to_thread(store.load, tid)
        dialog = OffboardDialog(profile, tid, store.tenant_dir(tid))
        if not await app.push_screen_wait(dialog):
            return
        token = await self._admin_token(entry, "offboard")
        if token is None:
            return
        service = self.context.service()
        purge, delete_app = dialog.purge, dialog.delete_app
        outcome = await app.push_screen_wait(ActionScreen(
            f"Offboarding {label_of(entry)} as {scrub(token.admin.upn, limit=60)}",
            {k: v for k, v in OFFBOARD_STEPS.items() if purge or k != "purge"},
            lambda progress: service.offboard(tid, token, purge=purge, delete_app=delete_app,
                                              on_progress=progress),
            describe=lambda done: f"{done.summary()} Removed the local profile and key.",
            cancel_note=OFFBOARD_CANCEL))
        if outcome is None:  # failed or cancelled: the profile is still there
            await self.fleet.recheck(tid)
            return
        self.fleet.forget(tid)


__all__ = [
    "ACTIONS",
    "MANUAL_RENEWAL",
    "FleetContext",
    "FleetView",
    "TenantActions",
    "label_of",
]
