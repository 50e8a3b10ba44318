"""Offboarding: delete the app registration this tool made, then the local profile and key.

A Global Administrator of the customer signs in (device code); deleting an application
needs Application.ReadWrite.All, which our own app does not hold. The app is deleted only
when it is provably ours: its appId matches the profile, its object id matches when the
profile has one, and it carries the ``vdc-tui:managed`` tag. An app the operator brought
in manual mode is deleted only when asked explicitly (``delete_app``).

``DELETE /applications/{id}`` is a soft delete: the app stays restorable for 30 days under
deleted items, unless ``purge`` also deletes it from there. Only after the tenant side is
done are the local files removed, so a failure leaves the profile (and the means to retry).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from vdc_tui.connect.entra.application import MANAGED_TAG
from vdc_tui.connect.entra.consent import ConsentCleanup, remove_sign_in_consent
from vdc_tui.connect.entra.tenant import (
    FirstReads,
    check_admin,
    check_signed_in_tenant,
    read_tenant,
)
from vdc_tui.connect.errors import (
    DiagnosedProblem,
    InvalidInput,
    ServiceUnavailable,
    VdcError,
    scrub,
)
from vdc_tui.connect.microsoft.clouds import Endpoints
from vdc_tui.connect.microsoft.graph import GraphClient, GraphError
from vdc_tui.connect.microsoft.identity import DelegatedToken
from vdc_tui.connect.models import ProgressCallback, ignore_progress
from vdc_tui.connect.permissions import load_catalog
from vdc_tui.connect.progress import Backoff, Checklist
from vdc_tui.connect.steps import CONSENT_STEP, CONSENT_TITLE
from vdc_tui.connect.store.profile import Profile
from vdc_tui.connect.store.profiles import ProfileStore

OFFBOARD_STEPS = {
    "admin": "Signed-in administrator",
    "application": "App registration in the tenant",
    "delete": "Delete the app registration",
    "purge": "Remove it from deleted items",
    "local": "Remove the local profile and key",
    CONSENT_STEP: CONSENT_TITLE,
}
RESTORE_DAYS = 30


@dataclass(frozen=True)
class OffboardOutcome:
    """What offboarding did, in the tenant and locally.

    Attributes:
        tenant_id: The tenant.
        app_id: The profile's Application (client) ID.
        object_id: The application's object id, when it was found.
        app_deleted: The app registration was deleted (soft).
        app_purged: It was also removed from deleted items (gone for good).
        app_absent: It was not in the tenant any more (nothing to delete).
        app_kept: Why the app was left in place (manual mode without ``delete_app``).
        restorable_until: When a soft-deleted app stops being restorable (ISO, UTC).
        removed: Local files and folders removed.
    """

    tenant_id: str
    app_id: str
    object_id: str | None
    app_deleted: bool = False
    app_purged: bool = False
    app_absent: bool = False
    app_kept: str | None = None
    restorable_until: str | None = None
    removed: tuple[str, ...] = field(default_factory=tuple)
    delegated_consent: ConsentCleanup | None = None

    def summary(self) -> str:
        """What happened to the app registration, in one sentence (CLI and dashboard)."""
        if self.app_purged:
            return f"Deleted the app registration {self.app_id} for good."
        if self.app_deleted:
            return (f"Deleted the app registration {self.app_id}; it stays restorable from "
                    f"deleted items until {self.restorable_until} (Entra keeps it "
                    f"{RESTORE_DAYS} days; --purge removes it at once).")
        if self.app_absent:
            return f"The app registration {self.app_id} was no longer in the tenant."
        return f"Kept the app registration {self.app_id}: {self.app_kept}."

    def to_json(self) -> dict[str, Any]:
        """The ``tenant`` part of ``remove --offboard --json``."""
        return {
            "app_id": self.app_id,
            "object_id": self.object_id,
            "app_deleted": self.app_deleted,
            "app_purged": self.app_purged,
            "app_absent": self.app_absent,
            "app_kept": self.app_kept,
            "restorable_until": self.restorable_until,
        }


def deletes_app(profile: Profile, *, delete_app: bool) -> bool:
    """Whether offboarding deletes the app registration: always for the app this tool made
    (automatic mode), for the operator's own (manual mode) only when ``delete_app``."""
    return not profile.manual or delete_app


def offboard_plan(profile: Profile, *, delete_app: bool, purge: bool) -> str:
    """One sentence naming the tenant and what offboarding will delete: the confirmation of
    the command line and of the dashboard's ``x``."""
    tenant = profile.tenant
    label = tenant.name or tenant.default_domain or tenant.id
    app_id = profile.app_id
    if not deletes_app(profile, delete_app=delete_app):
        what = (f"keep the app registration {app_id} (brought in manual mode; add "
                "--delete-app to delete it)")
    else:
        what = (f"delete the app registration {app_id} "
                + ("and purge it from deleted items" if purge
                   else "(restorable for 30 days from deleted items)"))
    return (f"Offboard {label} ({tenant.id}): {what}, then remove the local "
            "profile and key.")


class Offboarder:
    """Deletes a connection's app registration (admin token) and then its local files."""

    def __init__(self, endpoints: Endpoints, profiles: ProfileStore, *,
                 replication_timeout: float = 120.0, keep_consent: bool = False) -> None:
        self._keep_consent = keep_consent
        self._endpoints = endpoints
        self._profiles = profiles
        self._replication_timeout = replication_timeout

    async def run(self, tenant: str, token: DelegatedToken, *, purge: bool = False,
                  delete_app: bool = False,
                  on_progress: ProgressCallback = ignore_progress) -> OffboardOutcome:
        """Offboard the connection of ``tenant`` (id, domain or name) with ``token``.

        Raises:
            SignInError: the admin signed in to another tenant (``user_not_in_tenant``).
            DiagnosedProblem: ``not_global_admin``; ``app_not_managed`` (the app in the
                tenant is not the one this tool made for the profile).
            ServiceUnavailable: Graph failed after retries.
        """
        entry = self._profiles.find(tenant)
        profile = self._profiles.load(entry.tenant_id)
        checklist = Checklist(OFFBOARD_STEPS, on_progress)
        app_id = profile.app_id
        object_id = profile.app.object_id
        mode = profile.mode or ""
        if not app_id:
            raise InvalidInput("invalid_argument",
                               f"The profile of tenant {entry.tenant_id} names no app.",
                               "Remove it locally with `vdc-tui connections remove` instead.")
        try:
            check_signed_in_tenant(token, entry.tenant_id)
            async with GraphClient(self._endpoints, token.access_token) as graph:
                checklist.running("admin")
                # The reads and the admin check of automatic mode (one $batch, which also
                # reads the saved app with its tags).
                first = await read_tenant(graph, token, load_catalog(), None, app_id)
                check_admin(token, first, checklist)
                outcome = await self._tenant_side(graph, first, entry.tenant_id, app_id,
                                                  object_id, mode, purge=purge,
                                                  delete_app=delete_app, checklist=checklist)
        except GraphError as err:
            error = _graph_failure(err)
            checklist.failed(checklist.current or "application", error)
            raise error from err
        except VdcError as error:
            checklist.failed(checklist.current or "application", error)
            raise
        checklist.running("local")
        removed = self._profiles.remove(entry.tenant_id)
        checklist.passed("local", f"{len(removed)} path(s) removed")
        # The last step: the sign-in's onboarding scopes leave its grants (a warning if not).
        async with GraphClient(self._endpoints, token.access_token) as graph:
            cleanup = await remove_sign_in_consent(graph, token, load_catalog(), checklist,
                                                   keep=self._keep_consent)
        return OffboardOutcome(**{**outcome.__dict__, "removed": tuple(str(p) for p in removed),
                                  "delegated_consent": cleanup})

    async def _tenant_side(self, graph: GraphClient, first: FirstReads, tenant_id: str,
                           app_id: str, object_id: str | None, mode: str, *, purge: bool,
                           delete_app: bool, checklist: Checklist) -> OffboardOutcome:
        checklist.running("application", f"appId {app_id}")
        found = first.body("saved_app")
        if found is None and first.status("saved_app") != 404:
            first.raise_for("saved_app")
            raise ServiceUnavailable("The app registration could not be read.")
        if found is None:
            checklist.passed("application", "not in the tenant any more: nothing to delete")
            checklist.skipped("delete", "no app registration")
            if purge and object_id:
                # An earlier offboarding may have deleted it and stopped before the purge
                # (cut off, killed): it is then in deleted items, and --purge still means it.
                checklist.running("purge")
                try:
                    purged = await self._purge_leftover(graph, str(object_id))
                except VdcError as error:
                    raise _stopped(error, tenant_id, app_id, deleted=True) from error
                checklist.passed("purge", "gone for good" if purged
                                 else "not in deleted items either")
                return OffboardOutcome(tenant_id, app_id, object_id, app_absent=True,
                                       app_purged=purged)
            return OffboardOutcome(tenant_id, app_id, object_id, app_absent=True)
        found_id = str(found.get("id") or "")
        tags = [str(t) for t in found.get("tags") or []]
        if object_id and found_id.lower() != str(object_id).lower():
            raise _not_managed(app_id, found_id, "its object id differs from the profile's")
        if mode != "manual" and MANAGED_TAG not in tags:
            raise _not_managed(app_id, found_id, f"it does not carry the {MANAGED_TAG} tag")
        if mode == "manual" and not delete_app:
            reason = ("the operator brought this app registration (manual mode); it is "
                      "deleted only with --delete-app")
            checklist.passed("application", f"{found.get('displayName') or app_id} ({found_id})")
            checklist.skipped("delete", reason)
            return OffboardOutcome(tenant_id, app_id, found_id, app_kept=reason)
        checklist.passed("application", f"{found.get('displayName') or app_id} ({found_id})")
        checklist.running("delete")
        try:
            await _call(graph.delete(f"/applications/{found_id}"), missing_ok=True)
        except VdcError as error:
            raise _stopped(error, tenant_id, app_id, deleted=False) from error
        until = (datetime.now(UTC) + timedelta(days=RESTORE_DAYS)).replace(microsecond=0)
        if not purge:
            checklist.passed("delete", f"restorable from deleted items until "
                                       f"{until:%Y-%m-%d} ({RESTORE_DAYS} days)")
            return OffboardOutcome(tenant_id, app_id, found_id, app_deleted=True,
                                   restorable_until=until.isoformat())
        checklist.passed("delete")
        checklist.running("purge")
        try:
            await self._purge(graph, found_id, checklist)
        except VdcError as error:
            raise _stopped(error, tenant_id, app_id, deleted=True) from error
        checklist.passed("purge", "gone for good")
        return OffboardOutcome(tenant_id, app_id, found_id, app_deleted=True, app_purged=True)

    async def _purge(self, graph: GraphClient, object_id: str, checklist: Checklist) -> None:
        # A just-deleted object may take a moment to appear under deleted items.
        backoff = Backoff(initial=1.0, cap=5.0, total=self._replication_timeout)
        while True:
            try:
                await graph.delete(f"/directory/deletedItems/{object_id}")
                return
            except GraphError as err:
                if err.status != 404:
                    raise _graph_failure(err) from err
            checklist.running("purge", f"waiting for deleted items ({backoff.describe()})")
            if not await backoff.wait():
                raise ServiceUnavailable(
                    "The deleted app registration did not appear in deleted items in time.",
                    "Remove it in the Entra admin centre (App registrations → Deleted "
                    "applications), or run again later.", {"object_id": object_id})


    async def _purge_leftover(self, graph: GraphClient, object_id: str) -> bool:
        """Purge a deleted app of an earlier run from deleted items; False when absent."""
        try:
            await graph.delete(f"/directory/deletedItems/{object_id}")
        except GraphError as err:
            if err.status == 404:
                return False
            raise _graph_failure(err) from err
        return True


def _stopped(error: VdcError, tenant_id: str, app_id: str, *, deleted: bool) -> VdcError:
    """``error`` of a tenant-side step, saying what is left: the local profile and key are
    always still there (they go only after the tenant side succeeded)."""
    if error.code == "not_global_admin":
        return error  # a refusal before anything changed: its own words say it
    if deleted:
        left = (f"the app registration {app_id} is deleted but still in deleted items (not "
                "purged)")
        again = (f"Run `vdc-tui connections remove {tenant_id} --offboard --purge` again: "
                 "it purges the app and then removes the local files")
        what = ["deleted_item", "profile", "key"]
    else:
        left = f"the app registration {app_id} is still in the tenant"
        again = (f"Run `vdc-tui connections remove {tenant_id} --offboard` again: it deletes "
                 "the app and then removes the local files")
        what = ["app_registration", "profile", "key"]
    reason = scrub(error.message, limit=300).rstrip(".")
    then = scrub(error.remediation, limit=300).rstrip(".")
    error.message = (f"Offboarding stopped: {left}, and the local profile and key of tenant "
                     f"{tenant_id} are kept ({reason}).")
    error.remediation = f"{again}" + (f" ({then})." if then else ".")
    error.details = {**error.details, "left": what}
    return error


def _not_managed(app_id: str, found_id: str, why: str) -> DiagnosedProblem:
    return DiagnosedProblem(
        "app_not_managed",
        f"The app registration {app_id} in the tenant is not the one vdc-tui made: {why}.",
        "Nothing was deleted. Check the app in the Entra admin centre; delete it there if it "
        "is no longer needed, then run `vdc-tui connections remove` without --offboard.",
        {"app_id": app_id, "object_id": found_id})


async def _call(awaitable: Any, *, missing_ok: bool) -> None:
    try:
        await awaitable
    except GraphError as err:
        if missing_ok and err.status == 404:
            return
        raise _graph_failure(err) from err


def _graph_failure(err: GraphError) -> VdcError:
    if err.status == 403:
        return DiagnosedProblem(
            "not_global_admin", "The signed-in account may not delete app registrations.",
            "Sign in with a Global Administrator (or Application Administrator).",
            {"graph_code": err.code})
    return ServiceUnavailable(f"Microsoft Graph refused the request: {scrub(err.message)} "
                              f"({err.code}).", details={"graph_code": err.code})




__all__ = ["OFFBOARD_STEPS", "OffboardOutcome", "Offboarder", "deletes_app", "offboard_plan"]
