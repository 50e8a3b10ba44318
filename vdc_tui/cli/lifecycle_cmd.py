"""``vdc-tui connections remove --offboard`` (and, next to it, renew and repair).

Each command is a thin shell over one :class:`ConnectionService` coroutine with a progress
callback, so the dashboard can offer the same action as one call.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

from ..connect.errors import Cancelled, InvalidInput, VdcError
from ..connect.service import ConnectionService, ConnectSettings
from .connect_cmd import admin_sign_in, run_cancellable
from .output import Reporter

if TYPE_CHECKING:
    from ..connect.identity import DeviceFlowSession
    from ..connect.offboard import OffboardOutcome

log = logging.getLogger("vdc_tui.cli.lifecycle")


def _confirm(reporter: Reporter, question: str) -> bool:
    """Ask on the terminal; False when there is none (scripts pass --yes)."""
    if sys.stdin is None or not sys.stdin.isatty():
        return False
    print(question + " [y/N] ", end="", file=reporter.err, flush=True)
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def offboard_plan(profile: dict[str, Any], *, delete_app: bool, purge: bool) -> str:
    """One sentence naming the tenant and what will be deleted (the confirmation)."""
    tenant = profile.get("tenant") if isinstance(profile.get("tenant"), dict) else {}
    app = profile.get("app") if isinstance(profile.get("app"), dict) else {}
    label = (tenant or {}).get("name") or (tenant or {}).get("default_domain") or (
        tenant or {}).get("id")
    app_id = (app or {}).get("app_id")
    if profile.get("mode") == "manual" and not delete_app:
        what = (f"keep the app registration {app_id} (brought in manual mode; add "
                "--delete-app to delete it)")
    else:
        what = (f"delete the app registration {app_id} "
                + ("and purge it from deleted items" if purge
                   else "(restorable for 30 days from deleted items)"))
    return (f"Offboard {label} ({(tenant or {}).get('id')}): {what}, then remove the local "
            "profile and key.")


class OffboardRun:
    """``connections remove TENANT --offboard``: admin sign-in, delete the app, remove files."""

    def __init__(self, settings: ConnectSettings, reporter: Reporter, *,
                 demo_note: str | None = None) -> None:
        self.settings = settings
        self.reporter = reporter
        self.demo_note = demo_note
        self._session: DeviceFlowSession | None = None

    def _track(self, session: DeviceFlowSession | None) -> None:
        self._session = session

    def _cancel(self) -> None:
        if self._session is not None:
            self._session.cancel()

    async def run(self, tenant: str, *, purge: bool, delete_app: bool, yes: bool) -> int:
        """Exit code of the command; the outcome is reported on stderr and as JSON."""
        service = ConnectionService(self.settings)
        try:
            profile = service.profiles.load(tenant)
            plan = offboard_plan(profile, delete_app=delete_app, purge=purge)
            self.reporter.note(plan)
            if not yes and not _confirm(self.reporter, "Go ahead?"):
                if sys.stdin is not None and sys.stdin.isatty():
                    raise Cancelled("Nothing was changed.")
                raise InvalidInput("invalid_argument",
                                   "Offboarding deletes things: it needs a confirmation.",
                                   "Run it in a terminal and answer y, or add --yes.")

            async def work() -> OffboardOutcome:
                token = await admin_sign_in(service, self.reporter, note=self.demo_note,
                                            on_session=self._track)
                return await service.offboard(tenant, token, purge=purge,
                                              delete_app=delete_app,
                                              on_progress=self.reporter.progress)

            outcome = await run_cancellable(work(), on_cancel=self._cancel)
        except VdcError as error:
            log.info("offboarding failed: %s", error.code)
            self.reporter.failure(error)
            return error.exit_code
        finally:
            await service.aclose()
        self._report(outcome)
        return 0

    def _report(self, outcome: OffboardOutcome) -> None:
        if outcome.app_purged:
            said = f"Deleted the app registration {outcome.app_id} for good."
        elif outcome.app_deleted:
            said = (f"Deleted the app registration {outcome.app_id}; it stays restorable from "
                    f"deleted items until {outcome.restorable_until} (Entra keeps it 30 days; "
                    "--purge removes it at once).")
        elif outcome.app_absent:
            said = f"The app registration {outcome.app_id} was no longer in the tenant."
        else:
            said = f"Kept the app registration {outcome.app_id}: {outcome.app_kept}."
        self.reporter.note(said)
        self.reporter.note(f"Removed the local profile and key of tenant {outcome.tenant_id}.")
        if self.reporter.json_mode:
            self.reporter.emit({
                "status": "offboarded",
                "tenant": {"id": outcome.tenant_id, **outcome.to_json()},
                "removed": list(outcome.removed),
                "note": said,
            })
        else:
            for path in outcome.removed:
                self.reporter.result(f"removed {path}")
