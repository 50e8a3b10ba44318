"""Step 1 and step 6 of automatic mode: what the tenant is and has.

One ``$batch`` reads the tenant, the admin's roles (when the token's ``wids`` do not already
show Global Administrator), the apps this tool made, the app a journal or the saved profile
names (with its keys), the subscriptions, the SharePoint root site and the three resource
principals, whose app roles are checked against the catalog *before* anything is created.
At the end, the services the tenant has are reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from vdc_tui.connect.entra.application import MANAGED_TAG, REUSE_SELECT, managed_apps_query
from vdc_tui.connect.entra.grants import Resource
from vdc_tui.connect.entra.journal import Journal
from vdc_tui.connect.entra.services import ServiceDetection, detect, sharepoint_root_from_principal
from vdc_tui.connect.errors import (
    DiagnosedProblem,
    ProvisioningFailed,
    SignInError,
    VdcError,
    scrub,
)
from vdc_tui.connect.inputs import is_guid
from vdc_tui.connect.microsoft.answers import BatchAnswers
from vdc_tui.connect.microsoft.clouds import Endpoints
from vdc_tui.connect.models import Availability, TenantInfo
from vdc_tui.connect.permissions import GLOBAL_ADMINISTRATOR_ROLE, PermissionCatalog
from vdc_tui.connect.progress import Checklist, Sleep

if TYPE_CHECKING:
    from vdc_tui.connect.microsoft.graph import GraphClient
    from vdc_tui.connect.microsoft.identity import AppToken, DelegatedToken
    from vdc_tui.connect.permissions import RequiredPermission as Permission


class FirstReads(BatchAnswers):
    """The answers of the first ``$batch``, by request id."""

    def __init__(self, answers: Mapping[str, Any]) -> None:
        super().__init__(answers)
        self.tenant_id: str | None = None
        org = self.value_list("org")
        if org:
            self.tenant_id = str(org[0].get("id") or "") or None

    def sharepoint_hint(self, endpoints: Endpoints) -> str | None:
        """The tenant's SharePoint root as the SharePoint principal names it, if it does."""
        return sharepoint_root_from_principal(self.body("sp_sharepoint"), endpoints)

    def needs_app_read(self) -> bool:
        """Subscriptions or the root site were refused to the admin (not simply absent)."""
        site = self.status("site")
        return self.body("skus") is None or (site is not None and site in (401, 403))


async def read_tenant(
    graph: GraphClient,
    token: DelegatedToken,
    catalog: PermissionCatalog,
    previous: Journal | None,
    saved: str | None,
) -> FirstReads:
    """Send the first ``$batch`` (see the module docstring).

    Args:
        graph: The admin's Graph client.
        token: The admin's token (its ``wids`` may spare the role read).
        catalog: The permission catalog (the resource principals to read).
        previous: The journal an earlier run left (its app is read with its keys).
        saved: The saved profile's Application (client) ID (read with its keys).
    """
    from vdc_tui.connect.microsoft.graph import BatchRequest

    requests = [
        BatchRequest("org", "GET", "/organization"),
        BatchRequest("apps", "GET", managed_apps_query()),
        BatchRequest("skus", "GET", "/subscribedSkus"),
        BatchRequest("site", "GET", "/sites/root"),
    ]
    if GLOBAL_ADMINISTRATOR_ROLE not in token.admin.role_template_ids:
        # The token's wids may be absent (or trimmed); ask the directory, transitive so
        # that a role held through a group counts as it does for the portal.
        requests.append(BatchRequest("me_roles", "GET", "/me/transitiveMemberOf"))
    select = f"?$select={REUSE_SELECT}"
    if previous is not None and previous.application_id:
        requests.append(
            BatchRequest(
                "journal_app", "GET", f"/applications/{previous.application_id}{select}"
            )
        )
    restoring = (previous.restore or {}).get("application_id") if previous else None
    if restoring:
        # A killed rerun changed this app; it comes first, so its keys can be put right.
        requests.append(
            BatchRequest("restore_app", "GET", f"/applications/{restoring}{select}")
        )
    if saved and is_guid(saved):  # it goes into a URL: a local file is not trusted blindly
        # The app a rerun most likely reuses, read with its keys now rather than later.
        requests.append(
            BatchRequest("saved_app", "GET", f"/applications(appId='{saved}'){select}")
        )
    for res in catalog.resources:
        requests.append(
            BatchRequest(f"sp_{res.key}", "GET", f"/servicePrincipals(appId='{res.app_id}')")
        )
    answers = FirstReads(await graph.batch(requests))
    if answers.status("apps") == 400:
        # A directory that does not support filtering on tags: list and filter here.
        apps = await graph.get_all("/applications")
        answers.replace(
            "apps", {"value": [a for a in apps if MANAGED_TAG in (a.get("tags") or [])]}
        )
    return answers


def check_signed_in_tenant(token: DelegatedToken, tenant_id: str) -> None:
    """The administrator signed in to the saved connection's tenant (repair, offboarding).

    Raises:
        SignInError: ``user_not_in_tenant``.
    """
    if token.tenant_id.lower() != tenant_id.lower():
        upn = scrub(token.admin.upn, limit=200)
        raise SignInError(
            "user_not_in_tenant",
            f"{upn} signed in to tenant {token.tenant_id}, not to {tenant_id}.",
            "Sign in with a Global Administrator of the connection's tenant.",
            {"signed_in_tenant": token.tenant_id, "tenant_id": tenant_id})


def check_admin(token: DelegatedToken, first: FirstReads, checklist: Checklist) -> None:
    """The signed-in account holds Global Administrator (in its token, or as the
    directory says).

    Raises:
        DiagnosedProblem: ``not_global_admin``.
    """
    upn = scrub(token.admin.upn, limit=200)
    if GLOBAL_ADMINISTRATOR_ROLE in token.admin.role_template_ids:
        checklist.passed("admin", f"{upn} is a Global Administrator")
        return
    roles = first.value_list("me_roles")
    if roles is None:
        first.raise_for("me_roles")
    held = {
        str(r.get("roleTemplateId") or "")
        for r in roles or ()
        if str(r.get("@odata.type", "")).endswith("directoryRole")
    }
    if GLOBAL_ADMINISTRATOR_ROLE in held:
        checklist.passed("admin", f"{upn} is a Global Administrator")
        return
    raise DiagnosedProblem(
        "not_global_admin",
        f"{upn} is not a Global Administrator of this tenant.",
        "Sign in again with an account that holds the Global Administrator role "
        "(an eligible PIM role must be activated first), or use manual mode.",
        {"upn": upn, "tenant_id": token.tenant_id},
    )


def check_organization(
    endpoints: Endpoints, token: DelegatedToken, first: FirstReads, checklist: Checklist
) -> TenantInfo:
    """The tenant, as its organization object describes it."""
    checklist.running("organization")
    orgs = first.value_list("org")
    if not orgs:
        first.raise_for("org")
        raise ProvisioningFailed(
            "provisioning_failed",
            "The tenant's organization object could not be read.",
            "Try again in a minute.",
        )
    org = orgs[0]
    domains = org.get("verifiedDomains") or []
    default = next((d.get("name") for d in domains if d.get("isDefault")), None)
    tenant = TenantInfo(
        id=str(org.get("id") or token.tenant_id),
        name=scrub(str(org.get("displayName") or ""), limit=256) or None,
        default_domain=scrub(str(default), limit=256) if default else None,
        cloud=endpoints.cloud.name,
    )
    checklist.passed(
        "organization", f"{tenant.name or '?'} ({tenant.default_domain or '?'}), {tenant.id}"
    )
    return tenant


def check_resources(
    catalog: PermissionCatalog,
    required: tuple[Permission, ...],
    first: FirstReads,
    checklist: Checklist,
) -> dict[str, Resource]:
    """Every catalog permission must be an application role its API publishes."""
    checklist.running("resource_principals")
    out: dict[str, Resource] = {}
    problems: list[str] = []
    wanted = catalog.by_resource(required)
    for res in catalog.resources:
        if res.key not in wanted:
            continue
        body = first.body(f"sp_{res.key}")
        if body is None:
            raise ProvisioningFailed(
                "provisioning_failed",
                f"The {res.name} service principal ({res.app_id}) could not be read: "
                f"{first.problem(f'sp_{res.key}')}.",
                f"Check that {res.name} is available in this tenant, then try again.",
                {"resource": res.name, "app_id": res.app_id},
            )
        roles = {
            str(r.get("id")): str(r.get("value"))
            for r in body.get("appRoles") or ()
            if "Application" in (r.get("allowedMemberTypes") or ["Application"])
            and r.get("isEnabled", True)
        }
        for perm in wanted[res.key]:
            published = roles.get(perm.id)
            if published != perm.value:
                problems.append(
                    f"{perm.display} ({perm.id})"
                    + (" is published as " + repr(published) if published else " not published")
                )
        out[res.key] = Resource(res.key, str(body["id"]), roles)
    if problems:
        raise ProvisioningFailed(
            "provisioning_failed",
            "Permission ids of the catalog do not match what the APIs publish: "
            + "; ".join(problems)
            + ".",
            "Update vdc-tui (its permission catalog is out of date for this cloud), or "
            "grant the permissions by hand and use manual mode.",
            {"mismatched": problems},
        )
    checklist.passed("resource_principals", f"{len(required)} permissions found")
    return out


async def detect_as_app(
    endpoints: Endpoints, sleep: Sleep, token: AppToken, before: ServiceDetection
) -> ServiceDetection:
    """The services, read with the app's own Graph token (``before`` if that fails)."""
    from vdc_tui.connect.microsoft.graph import GraphClient

    app_graph = GraphClient(endpoints, token.access_token, sleep=sleep)
    try:
        return await detect(app_graph)
    except VdcError:
        return before
    finally:
        await app_graph.aclose()


def report_services(
    detection: ServiceDetection, services: frozenset[str], checklist: Checklist
) -> None:
    """Report the services; a warning when a selected one is not available."""
    lacking = [
        s
        for s in detection.services
        if s.service in services and s.availability is not Availability.AVAILABLE
    ]
    if lacking:
        checklist.warn(
            "services",
            detection.summary(),
            " ".join(f"{s.label}: {s.reason}" for s in lacking)
            + " Only available services can be selected.",
        )
    else:
        checklist.passed("services", detection.summary())


__all__ = [
    "FirstReads",
    "check_admin",
    "check_signed_in_tenant",
    "check_organization",
    "check_resources",
    "detect_as_app",
    "read_tenant",
    "report_services",
]
