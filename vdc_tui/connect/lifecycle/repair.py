"""Permission repair: grant only what a saved connection is missing, then verify.

A Global Administrator signs in (device code). The run reads the tenant like automatic mode
does (the same first ``$batch`` and checks: admin role, the APIs' principals and the roles
they publish), compares the app's live grants with the catalog for the profile's services,
grants **only** the missing ones (and adds them to ``requiredResourceAccess``), assigns
Global Reader again if it was removed, and verifies with app-only tokens signed by the
saved certificate, as onboarding does. The profile then records what was verified and the
catalog version it was verified against, so a new release can tell which connections need
repair before a backup fails.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from vdc_tui.connect.entra.application import (
    access_set,
    app_not_in_tenant,
    required_resource_access,
)
from vdc_tui.connect.entra.consent import ConsentCleanup, remove_sign_in_consent
from vdc_tui.connect.entra.grants import grant
from vdc_tui.connect.entra.pacing import Pacing
from vdc_tui.connect.entra.tenant import (
    check_admin,
    check_resources,
    check_signed_in_tenant,
    read_tenant,
)
from vdc_tui.connect.entra.verification import Verifier
from vdc_tui.connect.errors import DiagnosedProblem, VdcError
from vdc_tui.connect.microsoft.graph import GraphClient, GraphError
from vdc_tui.connect.models import ProgressCallback, ignore_progress
from vdc_tui.connect.permissions import GLOBAL_READER_ROLE, PermissionCatalog, load_catalog
from vdc_tui.connect.progress import Checklist, Clock, Sleep
from vdc_tui.connect.steps import CONSENT_STEP, CONSENT_TITLE

if TYPE_CHECKING:
    from vdc_tui.connect.microsoft.clouds import Endpoints
    from vdc_tui.connect.microsoft.identity import DelegatedToken, IdentityClient
    from vdc_tui.connect.permissions import RequiredPermission
    from vdc_tui.connect.store.profiles import ProfileStore

REPAIR_STEPS = {
    "admin": "Signed-in administrator",
    "resource_principals": "Microsoft APIs in the tenant",
    "application": "App registration and its grants",
    "grants": "Grant the missing permissions",
    "directory_role": "Global Reader role",
    "required_access": "App's requiredResourceAccess",
    "verify": "Permissions present in app-only tokens",
    "save": "Profile records the verified permissions",
    CONSENT_STEP: CONSENT_TITLE,
}


@dataclass(frozen=True)
class RepairOutcome:
    """What repair did.

    Attributes:
        tenant_id: The tenant.
        app_id: The app's Application (client) ID.
        granted: Permissions granted by this run (``API: permission``).
        already: Permissions that were there already.
        global_reader_assigned: Global Reader was missing and was assigned again.
        required_access_updated: ``requiredResourceAccess`` was extended.
        verified: Permissions the app-only tokens carried afterwards.
        catalog_version: The catalog version the profile now records.
    """

    tenant_id: str
    app_id: str
    granted: tuple[str, ...]
    already: tuple[str, ...]
    global_reader_assigned: bool
    required_access_updated: bool
    verified: tuple[str, ...]
    catalog_version: str
    delegated_consent: ConsentCleanup | None = None

    def summary(self) -> str:
        """What the repair did, in one sentence (CLI and dashboard)."""
        what = (f"granted {len(self.granted)} missing permission(s)" if self.granted
                else "no permission was missing")
        if self.global_reader_assigned:
            what += "; assigned Global Reader again"
        return (f"Repaired {self.tenant_id}: {what}; {len(self.verified)} permissions "
                "verified in app-only tokens.")


class Repairer:
    """Grants what a saved connection lacks (admin token), then verifies it app-only."""

    def __init__(self, endpoints: Endpoints, identity: IdentityClient, profiles: ProfileStore,
                 *, verify_timeout: float = 300.0, replication_timeout: float = 300.0,
                 catalog: PermissionCatalog | None = None, sleep: Sleep = asyncio.sleep,
                 clock: Clock = time.monotonic, keep_consent: bool = False) -> None:
        self._keep_consent = keep_consent
        self._endpoints = endpoints
        self._identity = identity
        self._profiles = profiles
        self._pacing = Pacing(verify=verify_timeout, replication=replication_timeout,
                              sleep=sleep, clock=clock)
        self._catalog = catalog or load_catalog()

    async def run(self, tenant: str, token: DelegatedToken,
                  on_progress: ProgressCallback = ignore_progress) -> RepairOutcome:
        """Repair the connection of ``tenant`` with the admin's ``token``.

        Raises:
            SignInError: ``user_not_in_tenant``.
            DiagnosedProblem: ``not_global_admin``, ``app_not_found_in_tenant``,
                ``app_missing_service_principal``.
            ProvisioningFailed: a grant was refused, or the tokens never carried them.
            ServiceUnavailable: Graph kept failing.
        """
        entry = self._profiles.find(tenant)
        tenant_id = entry.tenant_id
        profile = self._profiles.load(tenant_id)
        checklist = Checklist(REPAIR_STEPS, on_progress)
        app_id = str((profile.get("app") or {}).get("app_id") or "")
        services = list((profile.get("services") or {}).get("selected") or ["exchange"])
        required = self._catalog.required_for(services)
        try:
            check_signed_in_tenant(token, tenant_id)
            pfx = self._profiles.read_key(tenant_id)
            with self._profiles.lock(tenant_id):
                graph = GraphClient(self._endpoints, token.access_token,
                                    sleep=self._pacing.sleep)
                try:
                    outcome = await self._repair(graph, token, tenant_id, app_id, required,
                                                 checklist)
                finally:
                    await graph.aclose()
                checklist.running("verify")
                verifier = Verifier(self._endpoints, self._identity, self._pacing,
                                    self._catalog, required)
                _, verified = await verifier.confirm(tenant_id, app_id, pfx.credential(),
                                                     outcome.pop("sharepoint_url"), checklist)
                checklist.running("save")
                version = self._catalog.version
                permissions = dict(profile.get("permissions") or {})
                permissions.update(granted=verified, missing=[], catalog_version=version)
                self._profiles.update(tenant_id, permissions=permissions,
                                      verified_at=datetime.now(UTC).isoformat())
                checklist.passed("save", f"catalog {version}")
                cleanup = await self._consent_cleanup(token, checklist)
        except VdcError as error:
            checklist.failed(checklist.current or "admin", error)
            raise
        return RepairOutcome(tenant_id=tenant_id, app_id=app_id, verified=tuple(verified),
                             catalog_version=version, delegated_consent=cleanup, **outcome)

    async def _consent_cleanup(self, token: DelegatedToken,
                               checklist: Checklist) -> ConsentCleanup:
        """The run's last step: the sign-in's onboarding scopes leave its grants."""
        async with GraphClient(self._endpoints, token.access_token,
                               sleep=self._pacing.sleep) as graph:
            return await remove_sign_in_consent(graph, token, self._catalog, checklist,
                                                keep=self._keep_consent)

    async def _repair(self, graph: GraphClient, token: DelegatedToken, tenant_id: str,
                      app_id: str, required: tuple[RequiredPermission, ...],
                      checklist: Checklist) -> dict[str, Any]:
        checklist.running("admin")
        first = await read_tenant(graph, token, self._catalog, None, app_id)
        check_admin(token, first, checklist)
        resources = check_resources(self._catalog, required, first, checklist)
        checklist.running("application")
        app = first.body("saved_app")
        if app is None:
            raise app_not_in_tenant(app_id)
        try:
            sp = await graph.get(f"/servicePrincipals(appId='{app_id}')",
                                 params={"$select": "id,appId"})
        except GraphError as err:
            if err.status != 404:
                raise
            raise DiagnosedProblem(
                "app_missing_service_principal",
                f"The app {app_id} has no service principal (enterprise app) in the tenant.",
                "Connect the tenant again with `vdc-tui connect auto`.",
                {"app_id": app_id}) from err
        sp_id = str(sp["id"])
        assignments = await graph.get_all(f"/servicePrincipals/{sp_id}/appRoleAssignments")
        have = {(str(a.get("resourceId")), str(a.get("appRoleId"))) for a in assignments}
        missing = [p for p in required
                   if (resources[p.resource.key].principal_id, p.id) not in have]
        already = [p.display for p in required if p not in missing]
        roles = await graph.get_all("/roleManagement/directory/roleAssignments",
                                    params={"$filter": f"principalId eq '{sp_id}'"})
        reader = any(r.get("roleDefinitionId") == GLOBAL_READER_ROLE for r in roles)
        checklist.passed("application", f"{len(already)}/{len(required)} permissions granted; "
                         f"Global Reader {'assigned' if reader else 'missing'}")
        if missing or not reader:
            await grant(graph, self._pacing, sp_id, missing, resources, checklist,
                        directory_role=not reader)
        else:
            checklist.passed("grants", "nothing missing")
        if reader:
            checklist.passed("directory_role", "already assigned")
        checklist.running("required_access")
        current = list(app.get("requiredResourceAccess") or [])
        wanted = required_resource_access(required)
        updated = not access_set(wanted) <= access_set(current)
        if updated:
            await graph.patch(f"/applications/{app['id']}",
                              {"requiredResourceAccess": _merged(current, wanted)})
            checklist.passed("required_access", "missing permissions added")
        else:
            checklist.passed("required_access", "already lists every permission")
        return {"granted": tuple(p.display for p in missing), "already": tuple(already),
                "global_reader_assigned": not reader, "required_access_updated": updated,
                "sharepoint_url": first.sharepoint_hint(self._endpoints)}


def _merged(current: list[dict[str, Any]], wanted: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``current`` plus every entry of ``wanted`` it lacks (nothing is taken away)."""
    out: list[dict[str, Any]] = []
    for api in current:
        access: list[dict[str, Any]] = list(api.get("resourceAccess") or [])
        out.append({"resourceAppId": api.get("resourceAppId"), "resourceAccess": access})
    for api in wanted:
        target = next((a for a in out if a["resourceAppId"] == api["resourceAppId"]), None)
        if target is None:
            out.append({"resourceAppId": api["resourceAppId"],
                        "resourceAccess": list(api["resourceAccess"])})
            continue
        entries: list[dict[str, Any]] = target["resourceAccess"]
        ids = {(e.get("id"), e.get("type")) for e in entries}
        entries += [e for e in api["resourceAccess"] if (e["id"], e["type"]) not in ids]
    return out


__all__ = ["REPAIR_STEPS", "RepairOutcome", "Repairer"]
