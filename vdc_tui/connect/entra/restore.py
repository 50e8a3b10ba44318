"""Bringing a deleted app registration back: deleted items, then its service principal.

Microsoft Graph keeps a deleted application in the tenant's deleted items for 30 days
(``GET /directory/deletedItems/microsoft.graph.application``); ``POST
/directory/deletedItems/{id}/restore`` brings it back with the same ``id`` and ``appId``, so
the certificate the backup service holds still names the right app (research/lifecycle.md).
Its service principal is not restored with it: repair creates one again and grants it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vdc_tui.connect.entra.application import REUSE_SELECT
from vdc_tui.connect.errors import DiagnosedProblem, ProvisioningFailed
from vdc_tui.connect.microsoft.answers import is_duplicate, is_replication_lag

if TYPE_CHECKING:
    from vdc_tui.connect.entra.pacing import Pacing
    from vdc_tui.connect.microsoft.graph import GraphClient
    from vdc_tui.connect.progress import Checklist

DELETED_APPS = "/directory/deletedItems/microsoft.graph.application"
RETENTION_DAYS = 30


def not_restorable(app_id: str) -> DiagnosedProblem:
    """``app_not_restorable``: the app is neither in the tenant nor in its deleted items."""
    return DiagnosedProblem(
        "app_not_restorable",
        f"The app registration {app_id} was deleted and is not in the tenant's deleted items "
        f"(they keep an app {RETENTION_DAYS} days): it cannot be restored.",
        "A Global Administrator connects the tenant again with `vdc-tui connect auto` "
        "(a new app and certificate), then give the backup service the new PFX "
        "(`vdc-tui connections export`).",
        {"app_id": app_id})


async def find_deleted(graph: GraphClient, app_id: str) -> dict[str, Any] | None:
    """The deleted application with ``appId`` ``app_id``, if deleted items still hold it.

    A directory that refuses the ``$filter`` (400) is listed whole and filtered here.
    """
    from vdc_tui.connect.microsoft.graph import GraphError

    try:
        items = await graph.get_all(DELETED_APPS, params={"$filter": f"appId eq '{app_id}'"})
    except GraphError as err:
        if err.status != 400:
            raise
        items = await graph.get_all(DELETED_APPS)
    return next((i for i in items if str(i.get("appId") or "").lower() == app_id.lower()),
                None)


async def restore_application(graph: GraphClient, pacing: Pacing, deleted: dict[str, Any],
                              checklist: Checklist, step: str) -> dict[str, Any]:
    """Restore ``deleted`` and read it back with its keys (through replication lag).

    A restore whose answer was lost is found by the read: the app is then in the tenant.

    Raises:
        ProvisioningFailed: the restored app did not become readable in time.
    """
    from vdc_tui.connect.microsoft.graph import GraphError

    object_id = str(deleted["id"])
    try:
        await graph.post(f"/directory/deletedItems/{object_id}/restore", {})
    except GraphError as err:
        if err.status != 404:
            raise
        # Restored meanwhile (a run killed after its restore): the read below finds it.
    backoff = pacing.backoff(pacing.replication)
    while True:
        try:
            return await graph.get(f"/applications/{object_id}",
                                   params={"$select": REUSE_SELECT})
        except GraphError as err:
            if not is_replication_lag(err):
                raise
            if not await backoff.wait():
                raise ProvisioningFailed(
                    "provisioning_failed",
                    f"The restored app registration {deleted.get('appId')} did not become "
                    f"readable within {pacing.replication:.0f} s.",
                    "Microsoft Entra is replicating slowly; run the same repair again in a "
                    "few minutes (the app is restored; the rerun continues).",
                    {"app_id": deleted.get("appId")}) from err
            checklist.running(step, f"Waiting for the restored app to replicate "
                                    f"({backoff.describe()})")


async def find_principal(graph: GraphClient, app_id: str) -> str | None:
    """The id of the service principal of ``app_id``, or ``None`` when there is none."""
    from vdc_tui.connect.microsoft.graph import GraphError

    try:
        found = await graph.get(f"/servicePrincipals(appId='{app_id}')",
                                params={"$select": "id,appId"})
    except GraphError as err:
        if err.status != 404:
            raise
        return None
    return str(found["id"])


async def create_principal(graph: GraphClient, pacing: Pacing, app_id: str,
                           checklist: Checklist, step: str) -> str:
    """Create the service principal of ``app_id`` (through replication lag of the app).

    A principal that exists already (a killed run made it, not visible yet) is read instead.

    Raises:
        ProvisioningFailed: the app did not become usable, or the principal visible, in time.
    """
    from vdc_tui.connect.microsoft.graph import GraphError

    backoff = pacing.backoff(pacing.replication)
    while True:
        try:
            created = await graph.post("/servicePrincipals", {"appId": app_id})
            return str(created["id"])
        except GraphError as err:
            if is_duplicate(err):
                found = await find_principal(graph, app_id)
                if found is not None:
                    return found
            elif not is_replication_lag(err):
                raise
            if not await backoff.wait():
                raise ProvisioningFailed(
                    "provisioning_failed",
                    f"The service principal of app {app_id} could not be made usable within "
                    f"{pacing.replication:.0f} s.",
                    "Microsoft Entra is replicating slowly; run the same repair again in a "
                    "few minutes.", {"app_id": app_id}) from err
            checklist.running(step, f"Waiting for the app to replicate ({backoff.describe()})")


__all__ = ["DELETED_APPS", "RETENTION_DAYS", "create_principal", "find_deleted",
           "find_principal", "not_restorable", "restore_application"]
