"""Admin consent: app-role assignments to the app's principal, and the Global Reader role.

As few ``$batch`` round trips as Graph allows. While the new principal is not yet visible,
every grant fails alike, so one probe request per round finds out instead of the whole set.
Grants already there count as granted, so the same call completes a partial set (repair
passes only the missing permissions).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vdc_tui.connect.entra.pacing import Pacing
from vdc_tui.connect.errors import ProvisioningFailed
from vdc_tui.connect.microsoft.answers import graph_error_text, is_duplicate, is_replication_lag
from vdc_tui.connect.permissions import GLOBAL_READER_ROLE
from vdc_tui.connect.progress import Checklist

if TYPE_CHECKING:
    from vdc_tui.connect.microsoft.graph import GraphClient
    from vdc_tui.connect.permissions import RequiredPermission as Permission


@dataclass(frozen=True)
class Resource:
    """A Microsoft API's principal in the tenant, with the app roles it publishes.

    Attributes:
        key: The catalog's key of the API (``graph``, ``exchange``, ``sharepoint``).
        principal_id: Object id of its service principal in the tenant.
        roles: App-role id -> value, as published.
    """

    key: str
    principal_id: str
    roles: Mapping[str, str]


async def grant(
    graph: GraphClient,
    pacing: Pacing,
    sp_id: str,
    permissions: Sequence[Permission],
    resources: Mapping[str, Resource],
    checklist: Checklist,
    *,
    directory_role: bool = True,
) -> None:
    """Grant ``permissions`` (and the Global Reader role) to the principal ``sp_id``.

    Args:
        graph: The admin's Graph client.
        pacing: Time limits and backoff (the principal may still be replicating).
        sp_id: The app's service principal.
        permissions: The application permissions to grant.
        resources: The APIs' principals, by catalog key.
        checklist: Reports ``grants`` and ``directory_role``.
        directory_role: Also assign Global Reader (a failure there is a warning).

    Raises:
        ProvisioningFailed: a grant was refused, or the principal never became usable.
    """
    from vdc_tui.connect.microsoft.graph import BatchRequest

    checklist.running("grants", f"0/{len(permissions)}")
    if directory_role:
        checklist.running("directory_role")
    pending: dict[str, BatchRequest] = {}
    labels: dict[str, str] = {}
    seen: set[tuple[str, str]] = set()
    for perm in permissions:
        res = resources[perm.resource.key]
        if (res.principal_id, perm.id) in seen:
            continue
        seen.add((res.principal_id, perm.id))
        rid = f"g{len(pending)}"
        pending[rid] = BatchRequest(
            rid,
            "POST",
            f"/servicePrincipals/{res.principal_id}/appRoleAssignedTo",
            {"principalId": sp_id, "resourceId": res.principal_id, "appRoleId": perm.id},
            {"Content-Type": "application/json"},
        )
        labels[rid] = perm.display
    total = len(pending)
    if directory_role:
        pending["role"] = BatchRequest(
            "role",
            "POST",
            "/roleManagement/directory/roleAssignments",
            {
                "roleDefinitionId": GLOBAL_READER_ROLE,
                "principalId": sp_id,
                "directoryScopeId": "/",
            },
            {"Content-Type": "application/json"},
        )
    done = 0
    role_problem: str | None = None
    backoff = pacing.backoff(pacing.replication)
    probe: str | None = None
    while pending:
        # While the new principal is not visible every grant fails alike: one probe
        # request per round finds out, instead of the whole set (Graph throttles each
        # request of a batch on its own).
        sending = {probe: pending[probe]} if probe is not None else pending
        answers = await graph.batch(list(sending.values()), concurrent=True)
        retry: dict[str, BatchRequest] = {
            rid: req for rid, req in pending.items() if rid not in sending
        }
        lagging = 0
        errors: list[str] = []
        for rid, request in sending.items():
            answer = answers.get(rid)
            err = answer.error() if answer is not None else None
            if answer is not None and err is None:
                done += rid != "role"
                continue
            if err is not None and is_duplicate(err):
                done += rid != "role"
                continue
            if answer is None or (err is not None and is_replication_lag(err)):
                retry[rid] = request
                lagging += 1
                continue
            assert err is not None
            if rid == "role":
                role_problem = graph_error_text(err)
            else:
                errors.append(f"{labels[rid]}: {graph_error_text(err)}")
        if errors:
            raise ProvisioningFailed(
                "provisioning_failed",
                "Some permissions could not be granted: " + "; ".join(errors),
                "Check that the signed-in account may grant application permissions "
                "(Global Administrator), then try again.",
                {"failed": errors},
            )
        if "role" in sending and "role" not in retry:
            _report_role(checklist, role_problem)
        pending = retry
        if not pending:
            break
        if lagging == 0:
            probe = None  # the probe went through: send the rest at once
            continue
        probe = next(iter(pending))
        checklist.running(
            "grants",
            f"{done}/{total}; waiting for the new principal to replicate "
            f"({backoff.describe()})",
        )
        if not await backoff.wait():
            names = [labels.get(r, "Global Reader role") for r in pending]
            raise ProvisioningFailed(
                "provisioning_failed",
                "The new principal did not become usable for: " + ", ".join(names) + ".",
                "Microsoft Entra is replicating slowly; try again in a few minutes.",
                {"pending": names},
            )
    checklist.passed("grants", f"{total}/{total} application permissions granted")


def _report_role(checklist: Checklist, problem: str | None) -> None:
    if problem is None:
        checklist.passed("directory_role", "Global Reader assigned")
    else:
        checklist.warn(
            "directory_role",
            f"Global Reader could not be assigned: {problem}",
            "Assign the Global Reader role to the app in Entra admin centre → Roles and "
            "administrators → Global Reader → Add assignments.",
        )


__all__ = ["Resource", "grant"]
