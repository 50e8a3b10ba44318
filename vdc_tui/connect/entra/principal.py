"""The app's service principal (enterprise application): found, or created once the new
application has replicated."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vdc_tui.connect.entra.journal import RunState
from vdc_tui.connect.entra.pacing import Pacing
from vdc_tui.connect.errors import ProvisioningFailed
from vdc_tui.connect.microsoft.answers import is_duplicate, is_replication_lag
from vdc_tui.connect.progress import Checklist

if TYPE_CHECKING:
    from vdc_tui.connect.microsoft.graph import GraphClient


async def ensure_service_principal(
    graph: GraphClient, pacing: Pacing, state: RunState, checklist: Checklist, reused: bool
) -> str:
    """The id of the principal of ``state.app_id``: the existing one of a reused app, or a
    new one (the journal names the pending create first).

    Raises:
        ProvisioningFailed: the new application did not replicate in time.
    """
    from vdc_tui.connect.microsoft.graph import GraphError

    checklist.running("service_principal")
    assert state.app_id is not None
    if reused:
        try:
            found = await graph.get(f"/servicePrincipals(appId='{state.app_id}')")
            checklist.passed("service_principal", f"Existing principal {found['id']}")
            return str(found["id"])
        except GraphError as err:
            if err.status != 404:
                raise
    state.journal.pending = "service_principal"
    state.write_journal()
    backoff = pacing.backoff(pacing.replication)
    while True:
        try:
            created = await graph.post("/servicePrincipals", {"appId": state.app_id})
            sp_id = str(created["id"])
            break
        except GraphError as err:
            if is_duplicate(err):
                # It exists (an interrupted run made it) but may not be visible yet.
                sp_id = await _existing_principal(graph, pacing, state.app_id, checklist)
                break
            if not is_replication_lag(err):
                raise
            if not await backoff.wait():
                raise ProvisioningFailed(
                    "provisioning_failed",
                    f"The directory did not make application {state.app_id} usable within "
                    f"{pacing.replication:.0f} s.",
                    "Microsoft Entra is replicating slowly; try again in a few minutes.",
                    {"app_id": state.app_id},
                ) from err
            checklist.running(
                "service_principal",
                f"Waiting for the new application to replicate ({backoff.describe()})",
            )
    state.principal_created = True
    state.service_principal_id = sp_id
    state.journal.pending = None
    state.journal.service_principal_id = sp_id
    state.write_journal()
    checklist.passed("service_principal", f"Principal {sp_id}")
    return sp_id


async def _existing_principal(
    graph: GraphClient, pacing: Pacing, app_id: str, checklist: Checklist
) -> str:
    """The id of a principal the directory says exists, read through replication lag."""
    from vdc_tui.connect.microsoft.graph import GraphError

    backoff = pacing.backoff(pacing.replication)
    while True:
        try:
            found = await graph.get(f"/servicePrincipals(appId='{app_id}')")
            return str(found["id"])
        except GraphError as err:
            if err.status != 404 or not await backoff.wait():
                raise
        checklist.running(
            "service_principal",
            f"The principal exists but is not visible yet ({backoff.describe()})",
        )


__all__ = ["ensure_service_principal"]
