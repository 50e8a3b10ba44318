"""Manual mode: prove that the operator's app registration works, or say exactly why not.

The checklist (step ids of ``docs/architecture.md``), each line pass / warn / fail with its
fix: ``certificate`` → ``tenant`` → ``sign_in`` → ``registration`` → ``permissions`` →
``admin_email`` → ``services``. The form's own mistakes (an email that is not one, an app id
that is not a GUID) are caught before anything is loaded or sent.

After the app's first sign-in, one ``$batch`` with the app's own Graph token reads
everything else the check needs (its principal and registration, the tenant, subscriptions,
root site, the admin's account and the principal's directory roles) while the Exchange
token is fetched alongside; only the SharePoint token has to wait for the root site's host.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote

from vdc_tui.connect.entra.services import (
    ServiceDetection,
    detection_from,
    sharepoint_root_from_principal,
)
from vdc_tui.connect.errors import (
    DiagnosedProblem,
    InvalidInput,
    ServiceUnavailable,
    VdcError,
    scrub,
)
from vdc_tui.connect.inputs import looks_like_email, normalize_guid
from vdc_tui.connect.microsoft.answers import BatchAnswers, graph_error_text
from vdc_tui.connect.microsoft.clouds import Endpoints, sharepoint_scope
from vdc_tui.connect.models import (
    SERVICE_NAMES,
    Availability,
    ConnectionResult,
    PermissionStatus,
    ProgressCallback,
    TenantInfo,
)
from vdc_tui.connect.permissions import (
    GLOBAL_READER_ROLE,
    PermissionCatalog,
    RequiredPermission,
    load_catalog,
    roles_in_tokens,
)
from vdc_tui.connect.progress import Checklist
from vdc_tui.connect.steps import MANUAL_STEPS, MANUAL_TITLES

if TYPE_CHECKING:
    from vdc_tui.connect.microsoft.identity import AppToken, CertificateCredential, IdentityClient



@dataclass(frozen=True)
class ManualInput:
    """What the operator typed into the manual form.

    Attributes:
        admin_email: A user of the customer's tenant (its domain finds the tenant).
        app_id: The app registration's Application (client) ID.
        pfx_path: The PFX with the app's certificate and private key.
        pfx_password: Its password, if it has one (secret).
        services: Services to protect (Exchange Online is always included).
    """

    admin_email: str
    app_id: str
    pfx_path: str
    pfx_password: str | None = field(default=None, repr=False)
    services: frozenset[str] = frozenset({"exchange", "sharepoint", "teams"})


def normalise_app_id(text: str) -> str:
    """The app id as a lower-case GUID; braces, spaces, quotes and ``urn:uuid:`` are forgiven.

    Raises:
        InvalidInput: not a GUID (``details["field"] == "app_id"``).
    """
    cleaned = normalize_guid(text)
    if cleaned is None:
        raise InvalidInput(
            "invalid_argument",
            f"{scrub(text, limit=80)!r} is not an Application (client) ID.",
            "Copy the Application (client) ID from the app registration's Overview page: a "
            "GUID like 1b2c3d4e-0000-4000-8000-123456789abc.",
            {"field": "app_id"},
        )
    return cleaned


def check_admin_email(text: str) -> str:
    """The admin email, trimmed, if it looks like one.

    Raises:
        InvalidInput: not an email address (``details["field"] == "admin_email"``).
    """
    from vdc_tui.connect.microsoft.discovery import domain_of

    cleaned = text.strip()
    if not looks_like_email(cleaned):
        raise InvalidInput(
            "invalid_argument",
            f"{scrub(cleaned, limit=120)!r} is not an email address.",
            "Give the email address (user principal name) of a user of the customer's "
            "tenant, such as admin@contoso.com.",
            {"field": "admin_email"},
        )
    domain_of(cleaned)  # the domain part must be a DNS name (same rule as discovery)
    return cleaned


def with_certificate_facts(
    exc: VdcError, tenant_id: str, domain: str, sha1: str, sha256: str
) -> VdcError:
    """The sign-in error with this PFX's thumbprints in its details and, for certificate
    problems, in its text: the Entra admin centre lists certificates by SHA-1 thumbprint,
    while the sign-in error may quote the SHA-256 one the assertion carried. The tenant
    that was asked is named by the admin email's domain as well as by its id, so an app
    registered in another tenant is easy to spot.

    The one wording of a failed app sign-in with a PFX, for the manual check and the fleet
    health check alike."""
    exc.details.setdefault("tenant_id", tenant_id)
    exc.details.setdefault("tenant_domain", domain)
    exc.details.setdefault("pfx_sha1", sha1)
    exc.details.setdefault("pfx_sha256", sha256)
    if exc.code in ("app_not_found_in_tenant", "app_missing_service_principal"):
        named = f"tenant {domain} ({tenant_id})"
        return type(exc)(
            exc.code,
            exc.message.replace(f"tenant {tenant_id}", named),
            exc.remediation.replace(f"tenant {tenant_id}", named),
            exc.details,
        )
    if exc.code not in ("certificate_not_registered", "certificate_expired"):
        return exc
    facts = f" This PFX's certificate has SHA-1 thumbprint {sha1} (SHA-256 {sha256})."
    remediation = exc.remediation
    if sha1 not in remediation:
        remediation += (
            f" In the app registration's Certificates & secrets, look for thumbprint {sha1}."
        )
    return type(exc)(exc.code, exc.message + facts, remediation, exc.details)


class ManualValidator:
    """Runs the manual-mode checklist against the operator's app registration."""

    def __init__(
        self,
        endpoints: Endpoints,
        identity: IdentityClient,
        *,
        catalog: PermissionCatalog | None = None,
    ) -> None:
        """Build a validator for one cloud, signing in through ``identity``."""
        self._endpoints = endpoints
        self._identity = identity
        self._catalog = catalog or load_catalog()

    async def run(self, manual: ManualInput, on_progress: ProgressCallback) -> ConnectionResult:
        """Check everything; return the verified connection or raise the first problem.

        Every failure is reported as a FAIL event of its step (``details["step"]``) before
        it is raised.
        """
        from vdc_tui.connect.microsoft.graph import GraphError

        checklist = Checklist(MANUAL_TITLES, on_progress)
        try:
            return await self._run(manual, checklist)
        except VdcError as exc:
            checklist.failed(checklist.current or "certificate", exc)
            raise
        except GraphError as exc:
            failure = ServiceUnavailable(
                f"Microsoft Graph refused a read: {graph_error_text(exc)}",
                details={"status": exc.status, "graph_code": scrub(exc.code or "")},
            )
            checklist.failed(checklist.current or "registration", failure)
            raise failure from exc

    async def _run(self, manual: ManualInput, checklist: Checklist) -> ConnectionResult:
        from vdc_tui.connect.certificates import check_validity, export_pfx, load_pfx
        from vdc_tui.connect.microsoft.discovery import discover_tenant
        from vdc_tui.connect.microsoft.graph import BatchRequest, GraphClient

        services = frozenset(manual.services) | {"exchange"}
        checklist.current = "tenant"
        email = check_admin_email(manual.admin_email)
        checklist.current = "sign_in"
        app_id = normalise_app_id(manual.app_id)

        # 1. certificate
        checklist.running("certificate", scrub(manual.pfx_path, limit=200))
        pfx = await asyncio.to_thread(load_pfx, manual.pfx_path, manual.pfx_password)
        info = pfx.info
        cert_detail = (
            f"SHA-1 {info.sha1}; SHA-256 {info.sha256}; valid until {info.not_after:%Y-%m-%d}"
        )
        expiring = check_validity(info)
        if expiring:
            checklist.warn(
                "certificate",
                f"{cert_detail}. {' '.join(expiring)}",
                "Create a new certificate, add it to the app registration and use its PFX.",
            )
        else:
            checklist.passed("certificate", cert_detail)

        # 2. tenant
        checklist.running("tenant", email.rpartition("@")[2])
        discovery = await discover_tenant(self._endpoints, email)
        tenant_id = discovery.tenant_id
        checklist.passed("tenant", f"{discovery.domain} → tenant {tenant_id}")

        # 3. sign-in as the app
        checklist.running("sign_in", f"App {app_id} in tenant {tenant_id}")
        credential = pfx.credential()
        try:
            graph_token = await self._identity.app_token(
                tenant_id, app_id, credential, self._endpoints.graph_scope
            )
        except VdcError as exc:
            raise with_certificate_facts(
                exc, tenant_id, discovery.domain, info.sha1, info.sha256
            ) from None
        sp_object_id = str(graph_token.claims.get("oid") or "")
        checklist.passed("sign_in", f"Signed in as app {app_id} (certificate {info.sha1})")

        # One batch of reads with the app's own token, and the Exchange token alongside.
        checklist.running("registration")
        graph = GraphClient(self._endpoints, graph_token.access_token)
        try:
            requests = [
                BatchRequest("sp", "GET", f"/servicePrincipals(appId='{app_id}')"),
                BatchRequest("app", "GET", f"/applications(appId='{app_id}')"),
                BatchRequest("org", "GET", "/organization"),
                BatchRequest("skus", "GET", "/subscribedSkus"),
                BatchRequest("site", "GET", "/sites/root"),
                BatchRequest("user", "GET", f"/users/{quote(email, safe='@')}"),
                BatchRequest(
                    "sp_sharepoint",
                    "GET",
                    "/servicePrincipals(appId='"
                    + self._catalog.resource("sharepoint").app_id
                    + "')",
                ),
            ]
            if sp_object_id:
                requests.append(
                    BatchRequest(
                        "roles",
                        "GET",
                        "/roleManagement/directory/roleAssignments?$filter=principalId eq "
                        f"'{sp_object_id}'",
                    )
                )
            answers, exchange = await asyncio.gather(
                graph.batch(requests),
                self._try_token(tenant_id, app_id, credential, self._endpoints.exchange_scope),
            )
        finally:
            await graph.aclose()
        reads = BatchAnswers(answers)

        # 4. registration
        sp_id = self._check_registration(reads, app_id, tenant_id, sp_object_id, checklist)

        # 5. permissions
        checklist.running("permissions")
        detection = detection_from(reads)
        tokens: dict[str, AppToken | None] = {"graph": graph_token, "exchange": exchange}
        required = self._catalog.required_for(services)
        # The root site names the SharePoint host; without Sites.Read.All the SharePoint
        # principal's names still do, so the SharePoint token can be checked either way.
        sharepoint_url = detection.sharepoint_url or sharepoint_root_from_principal(
            reads.body("sp_sharepoint"), self._endpoints
        )
        if any(p.resource.key == "sharepoint" for p in required) and sharepoint_url:
            tokens["sharepoint"] = await self._try_token(
                tenant_id, app_id, credential, sharepoint_scope(sharepoint_url)
            )
        granted = self._check_permissions(
            required, tokens, reads, detection, tenant_id, app_id, checklist
        )
        self._check_global_reader(reads, checklist)

        # 6. admin email
        self._check_admin_email(reads, email, tenant_id, checklist)

        # 7. services
        self._check_services(detection, services, checklist)

        orgs = reads.value_list("org") or []
        org = orgs[0] if orgs else {}
        domains = org.get("verifiedDomains") or []
        default = next((d.get("name") for d in domains if d.get("isDefault")), None)
        app_body = reads.body("app") or {}
        return ConnectionResult(
            mode="manual",
            tenant=TenantInfo(
                id=tenant_id,
                name=scrub(str(org.get("displayName") or ""), limit=256) or None,
                default_domain=scrub(str(default), limit=256) if default else discovery.domain,
                cloud=self._endpoints.cloud.name,
            ),
            app_id=app_id,
            app_object_id=str(app_body["id"]) if app_body.get("id") else None,
            certificate=info,
            # In memory only, without the operator's password: the profile store encrypts
            # it under the store passphrase before it reaches the disk.
            certificate_pfx=export_pfx(pfx.private_key, pfx.certificate, chain=pfx.chain),
            signed_in_as=email,
            services=detection.services,
            permissions=PermissionStatus(granted=tuple(granted)),
            warnings=tuple(checklist.warnings),
            extra={"service_principal_id": sp_id, "sharepoint_url": detection.sharepoint_url},
        )

    async def _try_token(
        self, tenant_id: str, app_id: str, credential: CertificateCredential, scope: str
    ) -> AppToken | None:
        """An app-only token, or ``None`` when this resource refuses it (the Graph sign-in
        already proved the app and certificate, so a refusal here is a permission matter)."""
        from vdc_tui.connect.errors import SignInError

        try:
            return await self._identity.app_token(tenant_id, app_id, credential, scope)
        except (SignInError, DiagnosedProblem):
            return None

    # -- checks -------------------------------------------------------------------------

    def _check_registration(
        self,
        reads: BatchAnswers,
        app_id: str,
        tenant_id: str,
        sp_object_id: str,
        checklist: Checklist,
    ) -> str | None:
        sp = reads.body("sp")
        if sp is None:
            checklist.warn(
                "registration",
                f"The app's service principal could not be read ({reads.problem('sp')}); "
                "whether it is an app registration of this tenant is not known.",
                "Grant the app Microsoft Graph Directory.Read.All (application) with admin "
                "consent; the permissions line below lists what is missing.",
            )
            return sp_object_id or None
        owner = str(sp.get("appOwnerOrganizationId") or "").lower()
        if owner and owner != tenant_id.lower():
            raise DiagnosedProblem(
                "enterprise_app_not_registration",
                f"{app_id} is an Enterprise application here; its app registration lives in "
                f"another tenant ({owner}).",
                "Use an App registration created in this tenant (Entra admin centre → App "
                "registrations → New registration) and its Application (client) ID, not an "
                "Enterprise application added from another organisation.",
                {
                    "app_id": app_id,
                    "owner_tenant_id": owner,
                    "tenant_id": tenant_id,
                    "field": "app_id",
                },
            )
        app = reads.body("app")
        if app is None and reads.status("app") == 404:
            raise DiagnosedProblem(
                "enterprise_app_not_registration",
                f"{app_id} has a service principal in this tenant but no app registration here.",
                "Use an App registration of this tenant (Entra admin centre → App "
                "registrations) and its Application (client) ID.",
                {
                    "app_id": app_id,
                    "owner_tenant_id": owner or None,
                    "tenant_id": tenant_id,
                    "field": "app_id",
                },
            )
        name = scrub(str((app or sp).get("displayName") or app_id), limit=200)
        if app is None:
            checklist.warn(
                "registration",
                f"{name}: principal {sp.get('id')} owned by this tenant; the registration "
                f"itself could not be read ({reads.problem('app')}).",
                "Nothing to do unless permissions below are missing.",
            )
        else:
            checklist.passed(
                "registration",
                f"{name}: app registration {app.get('id')} of this tenant, "
                f"principal {sp.get('id')}",
            )
        return str(sp.get("id") or sp_object_id) or None

    def _check_permissions(
        self,
        required: tuple[RequiredPermission, ...],
        tokens: Mapping[str, AppToken | None],
        reads: BatchAnswers,
        detection: ServiceDetection,
        tenant_id: str,
        app_id: str,
        checklist: Checklist,
    ) -> list[str]:
        app = reads.body("app")
        added: set[tuple[str, str]] | None = None
        if app is not None:
            added = {
                (str(rra.get("resourceAppId") or "").lower(), str(ra.get("id") or "").lower())
                for rra in app.get("requiredResourceAccess") or ()
                for ra in rra.get("resourceAccess") or ()
                if ra.get("type") == "Role"
            }
        asked = dict(tokens)
        if "sharepoint" not in asked and not (
            detection.sharepoint_url is None and reads.status("site") == 404
        ):
            # SharePoint exists but no token was had for it: its permissions count as missing.
            # Without SharePoint in the tenant there is nothing to sign in to (unchecked); the
            # services line refuses the SharePoint selection.
            asked["sharepoint"] = None
        found = roles_in_tokens(required, asked)
        granted = [p.display for p in found.granted]
        unchecked = [p.display for p in found.unchecked]
        missing_by_api: dict[str, list[str]] = {}
        not_added: list[str] = []
        not_consented: list[str] = []
        for perm in found.missing:
            missing_by_api.setdefault(perm.resource.name, []).append(perm.value)
            if added is not None:
                if (perm.resource.app_id.lower(), perm.id.lower()) in added:
                    not_consented.append(perm.display)
                else:
                    not_added.append(perm.display)
        consent_url = self._endpoints.admin_consent_url(tenant_id, app_id)
        if missing_by_api:
            count = sum(len(v) for v in missing_by_api.values())
            summary = _per_api(missing_by_api)
            if added is not None and not_added and not_consented:
                # The app object is readable: say which half of the fix each one needs.
                summary = (
                    f"not added to the app: {_per_api(_group(required, not_added))}; "
                    f"added but not consented: {_per_api(_group(required, not_consented))}"
                )
            elif added is not None and not_added:
                summary = f"not added to the app: {summary}"
            elif added is not None:
                summary = f"added but not consented: {summary}"
            steps: list[str] = []
            if not_added:
                steps.append(
                    "Add to the app registration (API permissions → Add a permission → "
                    "APIs my organization uses → Application permissions): "
                    + ", ".join(not_added)
                    + ". Then grant"
                )
            else:
                steps.append("Grant")
            steps.append(
                "admin consent (API permissions → Grant admin consent for the tenant) or "
                f"open {consent_url} as a Global Administrator."
            )
            raise DiagnosedProblem(
                "missing_permissions",
                f"{count} required application permission{'s are' if count != 1 else ' is'} "
                f"missing — {summary}.",
                " ".join(steps),
                {
                    "missing": {api: list(v) for api, v in missing_by_api.items()},
                    "not_added": not_added if added is not None else None,
                    "not_consented": not_consented if added is not None else None,
                    "admin_consent_url": consent_url,
                    "granted": granted,
                },
            )
        if unchecked:
            checklist.warn(
                "permissions",
                f"{len(granted)} permissions consented; not checked (the tenant has no "
                "SharePoint site): " + ", ".join(unchecked),
                "Nothing to do now.",
            )
        else:
            checklist.passed("permissions", f"{len(granted)} permissions consented")
        return granted

    def _check_global_reader(self, reads: BatchAnswers, checklist: Checklist) -> None:
        fix = (
            "Assign the Global Reader role to the app: Entra admin centre → Roles and "
            "administrators → Global Reader → Add assignments → select the app. Exchange "
            "Online PowerShell (Exchange.ManageAsApp) needs it."
        )
        assignments = reads.value_list("roles")
        if assignments is None:
            checklist.warn(
                "permissions",
                f"Could not check the app's directory roles ({reads.problem('roles')}).",
                fix,
            )
            return
        if not any(
            str(a.get("roleDefinitionId") or "").lower() == GLOBAL_READER_ROLE for a in assignments
        ):
            checklist.warn("permissions", "The app does not hold the Global Reader role.", fix)

    def _check_admin_email(
        self, reads: BatchAnswers, email: str, tenant_id: str, checklist: Checklist
    ) -> None:
        checklist.running("admin_email", email)
        user = reads.body("user")
        status = reads.status("user")
        if user is not None:
            name = scrub(str(user.get("displayName") or ""), limit=200)
            checklist.passed("admin_email", f"{email}{f' ({name})' if name else ''}")
            return
        if status == 404:
            raise DiagnosedProblem(
                "user_not_in_tenant",
                f"{email} is not a user of the tenant {tenant_id}.",
                "Give the email (user principal name) of a user of this tenant; a guest "
                "account or a mail alias is not its user principal name.",
                {"admin_email": email, "tenant_id": tenant_id, "field": "admin_email"},
            )
        checklist.warn(
            "admin_email",
            f"{email} could not be looked up ({reads.problem('user')}).",
            "Check that the address is the user principal name of a user of this tenant.",
        )

    def _check_services(
        self, detection: ServiceDetection, services: frozenset[str], checklist: Checklist
    ) -> None:
        checklist.running("services")
        refused = [
            s
            for s in detection.services
            if s.service in services and s.availability is Availability.NOT_LICENSED
        ]
        if refused:
            raise InvalidInput(
                "invalid_argument",
                "Selected but not in this tenant: "
                + "; ".join(f"{s.label} ({s.reason})" for s in refused),
                "Unselect "
                + ", ".join(s.label for s in refused)
                + " (only services the tenant has can be protected), or license them first.",
                {
                    "field": "services",
                    "refused": [s.service for s in refused],
                    "available": [s.service for s in detection.services if s.selectable],
                },
            )
        unknown = [
            s
            for s in detection.services
            if s.service in services and s.availability is Availability.UNKNOWN
        ]
        if unknown:
            checklist.warn(
                "services",
                detection.summary(),
                " ".join(f"{s.label}: {s.reason}" for s in unknown),
            )
        else:
            checklist.passed("services", detection.summary())


__all__ = [
    "MANUAL_STEPS",
    "ManualInput",
    "ManualValidator",
    "SERVICE_NAMES",
    "check_admin_email",
    "normalise_app_id",
    "with_certificate_facts",
]


def _group(
    required: tuple[RequiredPermission, ...], displays: list[str]
) -> dict[str, list[str]]:
    """Group ``API: permission`` strings by API, in catalog order."""
    wanted = set(displays)
    out: dict[str, list[str]] = {}
    for perm in required:
        if perm.display in wanted:
            out.setdefault(perm.resource.name, []).append(perm.value)
    return out


def _per_api(by_api: Mapping[str, list[str]]) -> str:
    """``API: a, b; API2: c`` for a message."""
    return "; ".join(f"{api}: {', '.join(values)}" for api, values in by_api.items())
