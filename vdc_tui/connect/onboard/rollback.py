"""Rollback: undo a run that failed or was cancelled before it verified.

- An app this run created is deleted (its principal goes with it). When the create was still
  in flight (no answer yet), the app is looked for by the run's tag for a short, bounded
  time, since the directory may still be finishing the create or replicating it; found, it
  is deleted; not found, the journal stays and the next run finds it by the tag.
- An app that an earlier, *verified* run made is never left worse than it was: the journal
  recorded its keys and required permissions as they were, and they are put back (so the
  saved connection keeps working); a principal this run created for it goes.

When that cannot be done, the journal stays (``rollback_incomplete``) and the error says
what is left in the tenant and how to remove it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import suppress
from typing import TYPE_CHECKING, Any, NoReturn

from vdc_tui.connect.entra.application import RUN_TAG_PREFIX, apps_tagged, key_sha1
from vdc_tui.connect.entra.journal import RunState
from vdc_tui.connect.entra.pacing import Pacing
from vdc_tui.connect.errors import ProvisioningFailed, ServiceUnavailable, scrub
from vdc_tui.connect.microsoft.answers import graph_error_text, is_replication_lag
from vdc_tui.connect.progress import Checklist

if TYPE_CHECKING:
    from vdc_tui.connect.microsoft.graph import GraphClient

#: The rollback's outcome is logged (``--log``): after SIGHUP nobody may see the screen.
_log = logging.getLogger(__name__)

#: Longest a run cancelled by Ctrl+C, SIGHUP or SIGTERM (headless or in the wizard) may
#: spend rolling back before it gives up: its journal stays, and the next run for the tenant
#: resumes or removes what is left. The pacing's own limits (30 s looking for an unanswered
#: create, 60 s deleting) fit inside it.
ROLLBACK_BOUND_SECONDS = 120.0


class Rollback:
    """Undoes a run through the admin's Graph client, within the pacing's time limits."""

    def __init__(self, graph: GraphClient, pacing: Pacing) -> None:
        self._graph = graph
        self._pacing = pacing

    async def undo(self, state: RunState, checklist: Checklist) -> None:
        """Undo this run: delete the app it created, or put back a reused app's keys."""
        if not state.created and state.journal.pending == "application":
            # The create was sent and never answered: it may exist, or still be coming.
            await self._find_inflight_application(state, checklist)
        if state.created and state.application_id is not None:
            await self._delete_application(state, checklist)
            return
        if state.journal.restore is not None:
            await self._restore_application(state, checklist)
            return
        if state.journal.pending == "application":
            _log.warning("rollback: the app of an unanswered create was not found within "
                         "%.0f s; the journal %s stays", self._pacing.inflight,
                         state.journal.path)
            checklist.warn(
                "application",
                "The app registration may have been created before the failure; it was not "
                f"found within {self._pacing.inflight:.0f} s.",
                "Run automatic mode again: it finds that app by this run's tag and reuses it.",
            )
            return  # the journal stays: the next run looks for the run's tag
        if state.wrote_journal:
            state.journal.remove()
            _log.info("rolled back: nothing was created; journal removed")

    async def _find_inflight_application(
        self, state: RunState, checklist: Checklist
    ) -> None:
        """Look for the app of an unanswered create by the run's tag, for a bounded time."""
        from vdc_tui.connect.microsoft.graph import GraphError

        tag = RUN_TAG_PREFIX + state.journal.run_id
        backoff = self._pacing.backoff(self._pacing.inflight, initial=0.25)
        while True:
            try:
                found = await apps_tagged(self._graph, tag)
            except (GraphError, ServiceUnavailable):
                found = []  # keep looking until the window closes
            if found:
                state.made(found[0])
                with suppress(OSError):
                    state.write_journal()  # a kill during the delete still knows the id
                return
            checklist.running(
                "application",
                "Rolling back: looking for the app registration the interrupted request may "
                f"have created ({backoff.describe()})",
            )
            if not await backoff.wait():
                return

    async def _delete_application(
        self, state: RunState, checklist: Checklist
    ) -> None:
        """Delete the app this run created (its principal goes with it)."""

        checklist.running("application", f"Rolling back: deleting {state.app_id}")
        await self._delete_created(f"/applications/{state.application_id}",
                                   lambda why: _rollback_incomplete(state, checklist, why))
        state.journal.remove()
        _log.info("rolled back: deleted app registration %s (object %s); journal removed",
                  state.app_id, state.application_id)
        checklist.warn(
            "application",
            f"Rolled back: deleted app registration {state.app_id} (object "
            f"{state.application_id}) and its principal.",
            "Fix the cause shown above, then run automatic mode again.",
        )

    async def _delete_created(self, path: str, incomplete: Callable[[str], NoReturn]) -> None:
        """Delete an object this run created. A 404 right after creation may be replication
        lag, so it is tried again for a while; after that, the object is gone from everywhere
        this tool can see. Any other refusal is ``incomplete(why)`` (which raises)."""
        from vdc_tui.connect.microsoft.graph import GraphError

        backoff = self._pacing.backoff(self._pacing.rollback, initial=0.5)
        while True:
            try:
                await self._graph.delete(path)
                return
            except GraphError as err:
                if err.status != 404:
                    incomplete(graph_error_text(err))
                if not await backoff.wait():
                    return
            except ServiceUnavailable as err:
                incomplete(err.message)

    async def _restore_application(
        self, state: RunState, checklist: Checklist
    ) -> None:
        """Put a reused app's keys (and required permissions) back as they were."""
        from vdc_tui.connect.microsoft.graph import GraphError

        restore = state.journal.restore
        assert restore is not None
        application_id = str(restore["application_id"])
        body: dict[str, Any] = {"keyCredentials": list(restore["key_credentials"])}
        if restore.get("required_resource_access") is not None:
            body["requiredResourceAccess"] = restore["required_resource_access"]
        checklist.running(
            "application", f"Rolling back: putting back the certificates of {restore['app_id']}"
        )
        backoff = self._pacing.backoff(self._pacing.rollback, initial=0.5)
        gone = False
        while True:
            try:
                await self._graph.patch(f"/applications/{application_id}", body)
                break
            except GraphError as err:
                if err.status == 404:
                    gone = True  # deleted meanwhile: nothing of ours is left on it
                    break
                if not (is_replication_lag(err) and await backoff.wait()):
                    _restore_incomplete(state, checklist, graph_error_text(err))
            except ServiceUnavailable as err:
                _restore_incomplete(state, checklist, err.message)
        if state.principal_created and state.service_principal_id and not gone:
            # This run made the principal of an app that had none: it goes too.
            await self._delete_created(f"/servicePrincipals/{state.service_principal_id}",
                                       lambda why: _restore_incomplete(state, checklist, why))
        state.journal.remove()
        _log.info("rolled back: app registration %s put back as it was (gone: %s)",
                  restore["app_id"], gone)
        if gone:
            checklist.warn(
                "application",
                f"App registration {restore['app_id']} no longer exists; nothing to put back.",
                "Run automatic mode again to create a new app registration.",
            )
            return
        what = "certificates and API permissions" if "requiredResourceAccess" in body else (
            "certificates"
        )
        checklist.warn(
            "application",
            f"Rolled back: app registration {restore['app_id']} has its previous {what} "
            "again; the certificate this run added was removed, and the saved connection "
            "keeps working.",
            "Fix the cause shown above, then run automatic mode again.",
        )

def _restore_incomplete(state: RunState, checklist: Checklist, why: str) -> NoReturn:
    _log.warning("rollback incomplete (%s); the journal %s stays", scrub(why, limit=300),
                 state.journal.path)
    restore = state.journal.restore or {}
    state.journal.state = "rollback_incomplete"
    with suppress(OSError):
        state.write_journal()
    app_id = restore.get("app_id")
    new_sha1 = key_sha1(state.new_key) if state.new_key else "?"
    left = (
        f"The certificate this run added (key {restore.get('new_key_id')}, SHA-1 "
        f"{new_sha1}) is still registered"
    )
    if state.old_keys_removed:
        left += ", and the previous certificates may have been removed"
    if state.principal_created and state.service_principal_id:
        left += f"; the principal {state.service_principal_id} this run created remains"
    error = ProvisioningFailed(
        "rollback_incomplete",
        f"Provisioning failed and app registration {app_id} could not be put back as it "
        f"was: {scrub(why, limit=300)}. {left}.",
        "Run automatic mode again: it puts the previous certificates back from its journal "
        f"(or finishes the change). Or, in the Entra admin centre, remove the key "
        f"{restore.get('new_key_id')} from app registration {app_id} (Certificates & "
        "secrets).",
        {
            "application_id": restore.get("application_id"),
            "app_id": app_id,
            "added_key_id": restore.get("new_key_id"),
            "added_key_sha1": new_sha1,
            "previous_keys_removed": state.old_keys_removed,
            "service_principal_id": state.service_principal_id
            if state.principal_created
            else None,
        },
    )
    checklist.failed("application", error)
    raise error


def _rollback_incomplete(state: RunState, checklist: Checklist, why: str) -> NoReturn:
    _log.warning("rollback incomplete (%s); the journal %s stays", scrub(why, limit=300),
                 state.journal.path)
    state.journal.state = "rollback_incomplete"
    with suppress(OSError):
        state.write_journal()
    error = ProvisioningFailed(
        "rollback_incomplete",
        f"Provisioning failed and app registration {state.app_id} (object "
        f"{state.application_id}) could not be deleted: {scrub(why, limit=300)}",
        f"Delete the app registration {state.app_id} in the Entra admin centre (App "
        "registrations → All applications), or run automatic mode again to resume it.",
        {
            "application_id": state.application_id,
            "app_id": state.app_id,
            "service_principal_id": state.service_principal_id,
        },
    )
    checklist.failed("application", error)
    raise error


__all__ = ["Rollback"]
