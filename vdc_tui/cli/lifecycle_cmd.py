"""``vdc-tui connections remove --offboard``, ``connections renew`` (and repair).

Each command is a thin shell over one :class:`ConnectionService` coroutine with a progress
callback, so the dashboard can offer the same action as one call.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from vdc_tui.cli.connect_cmd import (
    SignInSession,
    admin_sign_in,
    run_cancellable,
    run_service_command,
)
from vdc_tui.cli.output import Reporter
from vdc_tui.connect.errors import Cancelled, InvalidInput, VdcError
from vdc_tui.connect.lifecycle.offboard import offboard_plan
from vdc_tui.connect.service import ConnectionService, ConnectSettings

if TYPE_CHECKING:
    from vdc_tui.connect.entra.consent import ConsentCleanup
    from vdc_tui.connect.lifecycle.offboard import OffboardOutcome
    from vdc_tui.connect.lifecycle.renew import RenewalCandidate, RenewOutcome
    from vdc_tui.connect.lifecycle.repair import RepairOutcome
    from vdc_tui.connect.microsoft.identity import DelegatedToken
    from vdc_tui.connect.store.profile import Profile


def _confirm(reporter: Reporter, question: str) -> bool:
    """Ask on the terminal; False when there is none (scripts pass --yes)."""
    if sys.stdin is None or not sys.stdin.isatty():
        return False
    print(question + " [y/N] ", end="", file=reporter.err, flush=True)
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


class _AdminRun:
    """A command that starts with an administrator's device-code sign-in."""

    def __init__(self, settings: ConnectSettings, reporter: Reporter, *,
                 demo_note: str | None = None) -> None:
        self.settings = settings
        self.reporter = reporter
        self.demo_note = demo_note
        self._sign_in = SignInSession()

    async def _sign_in_admin(self, service: ConnectionService) -> DelegatedToken:
        return await admin_sign_in(service, self.reporter, note=self.demo_note,
                                   on_session=self._sign_in.track)


def _before_repair(service: ConnectionService, tenant: str) -> None:
    service.profiles.load(tenant)
    service.settle_passphrase("read the connection's saved key")


def _consent_json(cleanup: ConsentCleanup | None) -> dict[str, Any]:
    """The ``delegated_consent`` member of an admin command's JSON answer (design.md)."""
    return {} if cleanup is None else {"delegated_consent": cleanup.to_json()}


def _tenant_facts(tenant_id: str, profile: Profile) -> dict[str, Any]:
    """The ``tenant`` object of a command's JSON answer, from the saved profile."""
    return {"id": tenant_id, "name": profile.tenant.name,
            "default_domain": profile.tenant.default_domain}


class RepairRun(_AdminRun):
    """``connections repair TENANT``: admin sign-in, grant what is missing, verify."""

    async def run(self, tenant: str) -> int:
        """Exit code of the command."""

        async def work(service: ConnectionService) -> tuple[RepairOutcome, Profile, str]:
            token = await self._sign_in_admin(service)
            outcome = await service.repair(tenant, token, self.reporter.progress)
            return (outcome, service.profiles.load(outcome.tenant_id),
                    str(service.profiles.tenant_dir(outcome.tenant_id) / "profile.json"))

        done = await run_service_command(
            self.settings, self.reporter, work, what="repair",
            # A wrong name, or a passphrase that cannot open the key repair verifies with,
            # is said before any sign-in.
            before=lambda service: _before_repair(service, tenant),
            on_cancel=self._sign_in.cancel)
        if isinstance(done, VdcError):
            return done.exit_code
        outcome, profile, profile_path = done
        self.reporter.note(outcome.summary())
        if self.reporter.json_mode:
            self.reporter.emit({
                "status": "repaired",
                "tenant": _tenant_facts(outcome.tenant_id, profile),
                "permissions": {"granted_now": list(outcome.granted),
                                "already": list(outcome.already),
                                "granted": list(outcome.verified), "missing": []},
                "global_reader_assigned": outcome.global_reader_assigned,
                "required_access_updated": outcome.required_access_updated,
                "catalog_version": outcome.catalog_version,
                "profile": profile_path,
                **outcome.to_json(),
                **_consent_json(outcome.delegated_consent),
            })
        return 0


class OffboardRun(_AdminRun):
    """``connections remove TENANT --offboard``: admin sign-in, delete the app, remove files."""

    async def run(self, tenant: str, *, purge: bool, delete_app: bool, yes: bool) -> int:
        """Exit code of the command; the outcome is reported on stderr and as JSON."""

        def confirm(service: ConnectionService) -> None:
            profile = service.profiles.load(tenant)
            self.reporter.note(offboard_plan(profile, delete_app=delete_app, purge=purge))
            if not yes and not _confirm(self.reporter, "Go ahead?"):
                if sys.stdin is not None and sys.stdin.isatty():
                    raise Cancelled("Nothing was changed.")
                raise InvalidInput("invalid_argument",
                                   "Offboarding deletes things: it needs a confirmation.",
                                   "Run it in a terminal and answer y, or add --yes.")

        async def work(service: ConnectionService) -> OffboardOutcome:
            token = await self._sign_in_admin(service)
            return await service.offboard(tenant, token, purge=purge, delete_app=delete_app,
                                          on_progress=self.reporter.progress)

        outcome = await run_service_command(self.settings, self.reporter, work,
                                            what="offboarding", before=confirm,
                                            on_cancel=self._sign_in.cancel)
        if isinstance(outcome, VdcError):
            return outcome.exit_code
        self._report(outcome)
        return 0

    def _report(self, outcome: OffboardOutcome) -> None:
        said = outcome.summary()
        self.reporter.note(said)
        self.reporter.note(f"Removed the local profile and key of tenant {outcome.tenant_id}.")
        if self.reporter.json_mode:
            self.reporter.emit({
                "status": "offboarded",
                "tenant": {"id": outcome.tenant_id, **outcome.to_json()},
                "removed": list(outcome.removed),
                "note": said,
                **_consent_json(outcome.delegated_consent),
            })
        else:
            for path in outcome.removed:
                self.reporter.result(f"removed {path}")


def _renewed_document(outcome: RenewOutcome, profile: Profile) -> dict[str, Any]:
    cert = outcome.certificate
    return {
        "status": "renewed",
        "tenant": _tenant_facts(outcome.tenant_id, profile),
        "mode": profile.mode,
        "app_id": outcome.app_id,
        "certificate": {"sha1": cert.sha1, "sha256": cert.sha256,
                        "not_after": cert.not_after.isoformat()},
        "previous_certificate": {"sha1": outcome.previous_sha1},
        "lifetime_days": outcome.lifetime_days,
        "policy_limited": outcome.policy_limited,
        "resumed": outcome.resumed,
        "old_key_removed": outcome.old_key_removed,
        "profile": outcome.profile,
    }


class RenewRun:
    """``connections renew TENANT|--all [--within DAYS] [--include-manual]``."""

    def __init__(self, settings: ConnectSettings, reporter: Reporter) -> None:
        self.settings = settings
        self.reporter = reporter

    def _say(self, outcome: RenewOutcome) -> None:
        self.reporter.note(outcome.summary())
        if outcome.mode == "manual":
            self.reporter.note(
                "This is the operator's own app registration: the old certificate is gone "
                "from it, so anything else that signs in with it needs the new one "
                f"(`vdc-tui connections export {outcome.tenant_id} --pfx FILE "
                "--generate-password`).")

    async def one(self, tenant: str, *, include_manual: bool) -> int:
        """Renew one connection."""

        async def work(service: ConnectionService) -> tuple[RenewOutcome, Profile]:
            outcome = await service.renew(tenant, include_manual=include_manual,
                                          on_progress=self.reporter.progress)
            return outcome, service.profiles.load(outcome.tenant_id)

        done = await run_service_command(self.settings, self.reporter, work, what="renewal")
        if isinstance(done, VdcError):
            return done.exit_code
        outcome, profile = done
        self._say(outcome)
        if self.reporter.json_mode:
            self.reporter.emit(_renewed_document(outcome, profile))
        return 0

    async def all(self, *, within_days: float, include_manual: bool, concurrency: int) -> int:
        """Renew every connection whose certificate ends within ``within_days``."""
        from vdc_tui.connect.lifecycle.renew import renewal_candidates

        service = ConnectionService(self.settings)
        rows: list[dict[str, Any]] = []
        worst = 0
        try:
            candidates = renewal_candidates(service.profiles, within_days=within_days,
                                            include_manual=include_manual)
            gate = asyncio.Semaphore(max(1, concurrency))

            async def renew(candidate: RenewalCandidate) -> None:
                nonlocal worst
                row: dict[str, Any] = {"tenant_id": candidate.tenant_id, "name": candidate.name,
                                       "days_left": candidate.days_left}
                rows.append(row)
                if not candidate.due:
                    row.update(status="skipped", detail=candidate.skip_reason)
                    return
                label = candidate.name or candidate.tenant_id
                async with gate:
                    try:
                        outcome = await service.renew(
                            candidate.tenant_id, include_manual=include_manual,
                            on_progress=lambda e: self.reporter.progress(
                                replace(e, title=f"{label}: {e.title}")))
                    except VdcError as error:
                        worst = max(worst, error.exit_code)
                        self.reporter.warning(f"{label}: {error.message} [{error.code}] "
                                              f"{error.remediation}")
                        row.update(status="failed", error=error.to_json())
                        return
                self._say(outcome)
                row.update(status="renewed",
                           certificate={"sha1": outcome.certificate.sha1,
                                        "not_after": outcome.certificate.not_after.isoformat()},
                           lifetime_days=outcome.lifetime_days, resumed=outcome.resumed)

            await run_cancellable(asyncio.gather(*(renew(c) for c in candidates)),
                                  on_cancel=lambda: None, reporter=self.reporter)
        except VdcError as error:
            self.reporter.failure(error)
            return error.exit_code
        finally:
            await service.aclose()
        counts = {s: sum(1 for r in rows if r["status"] == s)
                  for s in ("renewed", "skipped", "failed")}
        self.reporter.note(f"Renewal: {counts['renewed']} renewed, {counts['skipped']} "
                           f"skipped, {counts['failed']} failed (window {within_days:g} days).")
        if self.reporter.json_mode:
            self.reporter.emit({"status": "failed" if counts["failed"] else "ok",
                                "within_days": within_days, **counts,
                                "connections": sorted(rows, key=lambda r: str(r["tenant_id"]))})
        return worst
