"""Scenarios: the emulator's starting state as data (see ``SCENARIOS.md``).

A scenario is a JSON file or a dict of the same shape; :func:`load_scenario` turns either into
:class:`Scenario` dataclasses, which a test may also build directly. Unknown keys are errors,
so a typo in a scenario fails loudly instead of silently testing something else.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

#: Names a scenario may use for directory roles, and their template ids.
DIRECTORY_ROLES: dict[str, str] = {
    "Global Administrator": "62e90394-69f5-4237-9190-012177145e10",
    "Global Reader": "f2ef992c-3afb-46b9-b7cf-a126ee74c451",
    "Privileged Role Administrator": "e8611ab8-c189-46e8-94e1-60213ab1f814",
    "Cloud Application Administrator": "158c047a-c907-4556-b7ef-446551a6b5f7",
    "Application Administrator": "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
    "User Administrator": "fe930be7-5e62-47db-91af-98c3a49a38b1",
}
ROLE_NAMES: dict[str, str] = {v: k for k, v in DIRECTORY_ROLES.items()}
GLOBAL_ADMINISTRATOR = DIRECTORY_ROLES["Global Administrator"]
PRIVILEGED_ROLE_ADMINISTRATOR = DIRECTORY_ROLES["Privileged Role Administrator"]

#: Service plans by name (real ids, research/domain.md §4), so scenarios can list names only.
SERVICE_PLANS: dict[str, str] = {
    "EXCHANGE_S_STANDARD": "9aaf7827-d63c-4b61-89c3-182f06f82e5c",
    "EXCHANGE_S_ENTERPRISE": "efb87545-963c-4e0d-99df-69c6916d9eb0",
    "EXCHANGE_S_DESKLESS": "4a82b400-a79f-41a4-b4e2-e94f5787b113",
    "EXCHANGE_S_ESSENTIALS": "1126bef5-da20-4f07-b45e-ad25d2581aa8",
    "EXCHANGE_S_FOUNDATION": "113feb6c-3fe4-4440-bddc-54d774bf0318",
    "SHAREPOINTSTANDARD": "c7699d2e-19aa-44de-8edf-1736da088ca1",
    "SHAREPOINTENTERPRISE": "5dbe027f-2339-4123-9542-606e4d348a72",
    "SHAREPOINTDESKLESS": "902b47e5-dcb2-4fdc-858b-c63a90a2bdb9",
    "SHAREPOINTWAC": "e95bec33-7c88-4a70-8e19-b10bd9d0c014",
    "ONEDRIVESTANDARD": "13696edf-5a08-49f6-8134-03083ed8ba30",
    "ONEDRIVEENTERPRISE": "afcafa6a-d966-4462-918c-ec0b4e0fe642",
    "ONEDRIVE_BASIC": "da792a53-cbc0-4184-a10d-e544dd34b3c1",
    "TEAMS1": "57ff2da0-773e-42df-b2af-ffb7a2317929",
}

#: The scope set a delegated ``.default`` token carries when the scenario does not say
#: (what an admin-consented Graph CLI Tools sign-in for this tool would hold).
DEFAULT_DELEGATED_SCOPES: tuple[str, ...] = (
    "Application.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
    "Directory.ReadWrite.All",
    "RoleManagement.ReadWrite.Directory",
    "Organization.Read.All",
    "User.Read",
    "openid",
    "profile",
    "email",
)

_ID_NAMESPACE = uuid.UUID("5b0c6f1e-7d1a-4b8e-9f3c-6a2e1d0c9b8a")


def stable_id(*parts: object) -> str:
    """A GUID derived from ``parts``: the same scenario gives the same ids every run."""
    return str(uuid.uuid5(_ID_NAMESPACE, "/".join(str(p) for p in parts)))


class ScenarioError(ValueError):
    """A scenario file or dict is malformed."""


@dataclass
class CertificateSpec:
    """One certificate of an app (a ``keyCredentials`` entry); see SCENARIOS.md."""

    pfx: str | None = None
    password: str | None = field(default=None, repr=False)
    cert: str | None = None
    generate: str | None = None
    not_before_days: float = -1
    not_after_days: float = 730
    registered: bool = True
    key_size: int = 2048
    key_start: str | None = None
    key_end: str | None = None
    visible_after: float = 0
    display_name: str | None = None


@dataclass
class GroupSpec:
    """A group a user belongs to, with the directory roles the group holds."""

    display_name: str
    roles: list[str] = field(default_factory=list)
    id: str | None = None


@dataclass
class UserSpec:
    """A user of a tenant."""

    upn: str
    display_name: str | None = None
    id: str | None = None
    roles: list[str] = field(default_factory=list)
    groups: list[GroupSpec] = field(default_factory=list)
    eligible_roles: list[str] = field(default_factory=list)


@dataclass
class ServicePlanSpec:
    """A service plan inside a SKU."""

    name: str
    id: str | None = None
    provisioning_status: str = "Success"
    applies_to: str = "User"


@dataclass
class SkuSpec:
    """A subscribed SKU."""

    sku_part_number: str
    sku_id: str | None = None
    capability_status: str = "Enabled"
    consumed_units: int = 10
    enabled_units: int = 25
    service_plans: list[ServicePlanSpec] = field(default_factory=list)


@dataclass
class ApplicationSpec:
    """An app registration (lives in its home tenant)."""

    display_name: str
    app_id: str | None = None
    id: str | None = None
    sign_in_audience: str = "AzureADMyOrg"
    tags: list[str] = field(default_factory=list)
    required_resource_access: list[dict[str, Any]] = field(default_factory=list)
    certificates: list[CertificateSpec] = field(default_factory=list)
    visible_after: float = 0
    deleted_days_ago: float | None = None


@dataclass
class ServicePrincipalSpec:
    """A service principal (enterprise app) in a tenant."""

    app_id: str
    id: str | None = None
    display_name: str | None = None
    grants: list[str] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    directory_roles: list[str] = field(default_factory=list)
    visible_after: float = 0


_UNSET = "\0unset"


@dataclass
class TenantSpec:
    """A tenant with its users, licences, apps and principals."""

    id: str
    display_name: str
    domains: list[str]
    default_domain: str | None = None
    cloud: str = "global"
    region: str | None = None
    sharepoint_host: str | None = _UNSET
    users: list[UserSpec] = field(default_factory=list)
    skus: list[SkuSpec] = field(default_factory=list)
    applications: list[ApplicationSpec] = field(default_factory=list)
    service_principals: list[ServicePrincipalSpec] = field(default_factory=list)
    #: The tenant's app management policy: the longest lifetime (days) of a certificate
    #: credential; ``None`` = no restriction (Entra's default).
    key_max_lifetime_days: int | None = None
    #: Delegated permission grants consented before (see SCENARIOS.md).
    delegated_grants: list[DelegatedGrantSpec] = field(default_factory=list)

    @property
    def initial_domain(self) -> str:
        """The ``*.onmicrosoft.com`` domain (or the first one)."""
        for domain in self.domains:
            if domain.lower().endswith(".onmicrosoft.com"):
                return domain
        return self.domains[0]

    @property
    def sharepoint(self) -> str | None:
        """Host of the tenant's SharePoint, ``None`` when it has none."""
        if self.sharepoint_host == _UNSET:
            suffix = {"usgov": "sharepoint.us", "usgovdod": "sharepoint-mil.us",
                      "china": "sharepoint.cn"}.get(self.cloud, "sharepoint.com")
            return f"{self.initial_domain.split('.')[0]}.{suffix}"
        return self.sharepoint_host


@dataclass
class DeviceCodeSpec:
    """Device-code behaviour of a scenario."""

    user_code: str | None = None
    lifetime: int = 900
    interval: int = 5
    auto_approve_after: float | None = None
    auto_approve_user: str | None = None
    #: The admin ticks "Consent on behalf of your organization": the sign-in's consent is
    #: recorded in an ``AllPrincipals`` grant instead of the admin's own ``Principal`` one.
    consent_for_organization: bool = False


#: Microsoft Graph Command Line Tools, the public client Microsoft publishes for delegated
#: Graph access (research/consent-audit-recordings.md §1.1).
GRAPH_CLI_APP_ID = "14d82eec-204b-4c2f-b7e8-296a70dab67e"


@dataclass
class DelegatedGrantSpec:
    """An ``oAuth2PermissionGrant`` the tenant has before the run (consent given earlier)."""

    scope: str
    consent_type: str = "Principal"
    principal: str | None = None
    client_app_id: str = GRAPH_CLI_APP_ID
    resource: str = "graph"


@dataclass
class Scenario:
    """The whole starting state of an emulator."""

    tenants: list[TenantSpec]
    name: str = "inline"
    description: str = ""
    seed: int = 1
    device_code: DeviceCodeSpec = field(default_factory=DeviceCodeSpec)
    public_clients: list[str] | None = None
    default_delegated_scopes: list[str] = field(
        default_factory=lambda: list(DEFAULT_DELEGATED_SCOPES)
    )
    token_lifetime: int = 3600
    faults: dict[str, Any] = field(default_factory=dict)
    base_dir: Path | None = None


def _build(cls: type[Any], raw: Any, where: str) -> Any:
    """Make dataclass ``cls`` from a dict, refusing unknown keys."""
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: expected an object, got {type(raw).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(raw) - known - {"_comment"})
    if unknown:
        raise ScenarioError(f"{where}: unknown key(s) {', '.join(unknown)}")
    return cls(**{k: v for k, v in raw.items() if k != "_comment"})


def _plan(raw: Any, where: str) -> ServicePlanSpec:
    if isinstance(raw, str):
        if raw not in SERVICE_PLANS:
            raise ScenarioError(f"{where}: unknown service plan name {raw!r}")
        return ServicePlanSpec(name=raw, id=SERVICE_PLANS[raw])
    plan: ServicePlanSpec = _build(ServicePlanSpec, raw, where)
    if plan.id is None:
        plan.id = SERVICE_PLANS.get(plan.name) or stable_id("plan", plan.name)
    return plan


def scenario_from_dict(raw: dict[str, Any], *, base_dir: Path | None = None,
                       name: str | None = None) -> Scenario:
    """Build a :class:`Scenario` from its JSON shape.

    Raises:
        ScenarioError: unknown keys, wrong types, or no tenants.
    """
    data = dict(raw)
    tenants_raw = data.pop("tenants", None)
    if not isinstance(tenants_raw, list) or not tenants_raw:
        raise ScenarioError("a scenario needs a non-empty 'tenants' list")
    device = _build(DeviceCodeSpec, data.pop("device_code", {}), "device_code")
    tenants: list[TenantSpec] = []
    for i, traw in enumerate(tenants_raw):
        where = f"tenants[{i}]"
        t = dict(traw) if isinstance(traw, dict) else traw
        if not isinstance(t, dict):
            raise ScenarioError(f"{where}: expected an object")
        users = [
            _build(UserSpec, {**u, "groups": [_build(GroupSpec, g, f"{where}.users[{j}].groups")
                                              for g in u.get("groups", [])]},
                   f"{where}.users[{j}]")
            for j, u in enumerate(t.pop("users", []))
        ]
        skus = []
        for j, s in enumerate(t.pop("skus", [])):
            plans = [_plan(p, f"{where}.skus[{j}].service_plans")
                     for p in s.get("service_plans", [])]
            sku: SkuSpec = _build(SkuSpec, {**s, "service_plans": plans}, f"{where}.skus[{j}]")
            if sku.sku_id is None:
                sku.sku_id = stable_id("sku", sku.sku_part_number)
            skus.append(sku)
        apps = []
        for j, a in enumerate(t.pop("applications", [])):
            certs = [_build(CertificateSpec, c, f"{where}.applications[{j}].certificates[{k}]")
                     for k, c in enumerate(a.get("certificates", []))]
            apps.append(_build(ApplicationSpec, {**a, "certificates": certs},
                               f"{where}.applications[{j}]"))
        sps = [_build(ServicePrincipalSpec, s, f"{where}.service_principals[{j}]")
               for j, s in enumerate(t.pop("service_principals", []))]
        grants = [_build(DelegatedGrantSpec, g, f"{where}.delegated_grants[{j}]")
                  for j, g in enumerate(t.pop("delegated_grants", []))]
        for j, g in enumerate(grants):
            if g.consent_type not in ("Principal", "AllPrincipals"):
                raise ScenarioError(f"{where}.delegated_grants[{j}]: consent_type is "
                                    "'Principal' or 'AllPrincipals'")
            if (g.consent_type == "Principal") != (g.principal is not None):
                raise ScenarioError(f"{where}.delegated_grants[{j}]: a 'Principal' grant names "
                                    "its user ('principal': UPN), an 'AllPrincipals' one none")
        tenant: TenantSpec = _build(
            TenantSpec,
            {**t, "users": users, "skus": skus, "applications": apps, "service_principals": sps,
             "delegated_grants": grants},
            where,
        )
        if not tenant.domains:
            raise ScenarioError(f"{where}: a tenant needs at least one domain")
        tenants.append(tenant)
    scenario: Scenario = _build(Scenario, {**data, "tenants": tenants, "device_code": device},
                                "scenario")
    scenario.base_dir = base_dir
    if name and scenario.name == "inline":
        scenario.name = name
    return scenario


def scenario_dir() -> Path:
    """The folder of the scenarios shipped with the package."""
    return Path(str(resources.files("vdc_tui.emulator").joinpath("scenarios")))


def load_scenario(source: str | Path | dict[str, Any] | Scenario) -> Scenario:
    """Load a scenario by shipped name (``"demo"``), file path, dict, or pass one through.

    Raises:
        ScenarioError: the file is missing or malformed.
    """
    if isinstance(source, Scenario):
        return source
    if isinstance(source, dict):
        return scenario_from_dict(source)
    path = Path(source)
    if path.suffix != ".json" and not path.exists():
        path = scenario_dir() / f"{source}.json"
    if not path.is_file():
        raise ScenarioError(f"scenario {str(source)!r} not found")
    try:
        raw = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ScenarioError(f"scenario {path.name}: {exc}") from exc
    return scenario_from_dict(raw, base_dir=path.parent.resolve(), name=path.stem)
