"""Which of Exchange Online, SharePoint/OneDrive and Teams the tenant really has.

The answer comes from ``GET /subscribedSkus``: a service is available when an enabled
subscription carries one of its service plans (``data/service_plans.json``, the table of
``research/domain.md`` §4). SharePoint must also answer ``GET /sites/root``, which gives the
tenant's SharePoint host, needed for the SharePoint token scope.

Two traps are data, not code: ``EXCHANGE_S_FOUNDATION`` is in almost every SKU and gives no
mailbox, ``SHAREPOINTWAC`` is Office for the web and gives no SharePoint storage. Both are
listed as ``not_counted`` so a tenant that has only them is told why it does not qualify.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from vdc_tui.connect.errors import VdcError, scrub
from vdc_tui.connect.microsoft.answers import BatchAnswers, describe_failure
from vdc_tui.connect.models import SERVICE_NAMES, Availability, ServiceAvailability, ServiceName

if TYPE_CHECKING:
    from vdc_tui.connect.microsoft.clouds import Endpoints
    from vdc_tui.connect.microsoft.graph import GraphClient


@dataclass(frozen=True)
class ServicePlan:
    """A service plan that counts (or is a known trap) for one service."""

    name: str
    id: str | None
    why: str = ""


@dataclass(frozen=True)
class ServicePlanTable:
    """The contents of ``data/service_plans.json``.

    Attributes:
        counted_capability_status: SKU states whose plans count.
        counted_provisioning_status: Plan states that count.
        plans: Per service, the plans that make it available.
        traps: Per service, look-alike plans that do not (with why).
        labels: Per service, what kind of plan is looked for (for messages).
    """

    counted_capability_status: frozenset[str]
    counted_provisioning_status: frozenset[str]
    plans: Mapping[str, tuple[ServicePlan, ...]]
    traps: Mapping[str, tuple[ServicePlan, ...]]
    labels: Mapping[str, str]

    def match(self, service: str, plan: Mapping[str, Any]) -> ServicePlan | None:
        """The table entry a ``servicePlanInfo`` is for, among the counted plans."""
        return _find(self.plans.get(service, ()), plan)

    def trap(self, service: str, plan: Mapping[str, Any]) -> ServicePlan | None:
        """The trap entry a ``servicePlanInfo`` is for, if it is one."""
        return _find(self.traps.get(service, ()), plan)


def _find(entries: Sequence[ServicePlan], plan: Mapping[str, Any]) -> ServicePlan | None:
    plan_id = str(plan.get("servicePlanId") or "").lower()
    plan_name = str(plan.get("servicePlanName") or "").upper()
    for entry in entries:
        if (entry.id and entry.id == plan_id) or entry.name == plan_name:
            return entry
    return None


@cache
def load_service_plans() -> ServicePlanTable:
    """Load the service-plan table shipped with the package."""
    raw = json.loads(
        resources.files("vdc_tui.connect").joinpath("data/service_plans.json").read_text("utf-8")
    )

    def entries(items: list[dict[str, Any]]) -> tuple[ServicePlan, ...]:
        return tuple(
            ServicePlan(
                name=str(i["name"]).upper(),
                id=str(i["id"]).lower() if i.get("id") else None,
                why=str(i.get("why", "")),
            )
            for i in items
        )

    services: dict[str, Any] = raw["services"]
    return ServicePlanTable(
        counted_capability_status=frozenset(raw["counted_capability_status"]),
        counted_provisioning_status=frozenset(raw["counted_provisioning_status"]),
        plans={k: entries(v["plans"]) for k, v in services.items()},
        traps={k: entries(v.get("not_counted", [])) for k, v in services.items()},
        labels={k: str(v["label"]) for k, v in services.items()},
    )


def services_from_skus(skus: list[dict[str, Any]]) -> tuple[ServiceAvailability, ...]:
    """Availability of each service from the ``value`` of ``GET /subscribedSkus``.

    A plan counts only inside a SKU whose ``capabilityStatus`` is Enabled or Warning (a
    subscription in its grace period still serves data) and only when its own
    ``provisioningStatus`` is Success or PendingActivation. PendingActivation counts because
    the licence is bought and Microsoft switches such plans on at first use (common in new
    tenants); refusing them would block tenants that work. Disabled, Error, PendingInput and
    PendingProvisioning do not count: the workload is switched off or not there yet.

    Returns:
        One entry per service, in ``SERVICE_NAMES`` order; AVAILABLE or NOT_LICENSED.
    """
    table = load_service_plans()
    out: list[ServiceAvailability] = []
    for service in SERVICE_NAMES:
        found: list[str] = []
        inactive: list[str] = []
        traps: list[str] = []
        for sku in skus:
            sku_name = scrub(str(sku.get("skuPartNumber") or sku.get("skuId") or "?"), limit=80)
            sku_state = str(sku.get("capabilityStatus") or "")
            for plan in sku.get("servicePlans") or ():
                entry = table.match(service, plan)
                if entry is None:
                    trap = table.trap(service, plan)
                    if trap is not None:
                        traps.append(f"{trap.name} ({trap.why})")
                    continue
                plan_state = str(plan.get("provisioningStatus") or "")
                if sku_state not in table.counted_capability_status:
                    inactive.append(f"{entry.name} in {sku_name}: subscription {sku_state or '?'}")
                elif plan_state not in table.counted_provisioning_status:
                    inactive.append(f"{entry.name} in {sku_name}: plan {plan_state or '?'}")
                else:
                    found.append(f"{entry.name} in {sku_name}")
        if found:
            out.append(ServiceAvailability(service, Availability.AVAILABLE, _join(found)))
            continue
        reason = f"No {table.labels[service]} in an active subscription"
        details = _dedupe(inactive + [f"only {t}" for t in traps])
        if details:
            reason += ": " + "; ".join(details)
        out.append(ServiceAvailability(service, Availability.NOT_LICENSED, scrub(reason + ".")))
    return tuple(out)


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _join(items: list[str]) -> str:
    unique = _dedupe(items)
    text = ", ".join(unique[:3])
    if len(unique) > 3:
        text += f" and {len(unique) - 3} more"
    return text


@dataclass(frozen=True)
class ServiceDetection:
    """Services of the tenant plus the SharePoint root site that was found.

    Attributes:
        services: One entry per service.
        sharepoint_url: ``webUrl`` of ``GET /sites/root`` (``https://contoso.sharepoint.com``),
            ``None`` when it did not answer.
    """

    services: tuple[ServiceAvailability, ...]
    sharepoint_url: str | None = None

    def summary(self) -> str:
        """The checklist's services line: ``Exchange Online: available; …``."""
        return "; ".join(f"{s.label}: {s.availability.value.replace('_', ' ')}"
                         for s in self.services)

    def get(self, service: str) -> ServiceAvailability:
        """The entry of one service."""
        for entry in self.services:
            if entry.service == service:
                return entry
        raise KeyError(service)


def _unknown_all(why: str) -> tuple[ServiceAvailability, ...]:
    return tuple(ServiceAvailability(s, Availability.UNKNOWN, why) for s in SERVICE_NAMES)


def combine_detection(
    skus: list[dict[str, Any]] | None,
    skus_problem: str | None,
    site_root: Mapping[str, Any] | None,
    site_problem: str | None,
) -> ServiceDetection:
    """Turn the answers of ``/subscribedSkus`` and ``/sites/root`` into a detection.

    Used by :func:`detect` and by callers that fetched both inside their own ``$batch``.

    Args:
        skus: ``value`` of ``/subscribedSkus``, or ``None`` when it failed.
        skus_problem: Why it failed (HTTP status and Graph code), when it did.
        site_root: Body of ``/sites/root``, or ``None`` when it failed.
        site_problem: Why it failed, when it did.
    """
    if skus is None:
        why = f"Could not read the tenant's subscriptions ({skus_problem or 'no answer'})."
        services = _unknown_all(scrub(why))
    else:
        services = services_from_skus(skus)
    web_url = str(site_root.get("webUrl") or "") if site_root else ""
    sharepoint_url = web_url if web_url.startswith("https://") else None
    fixed: list[ServiceAvailability] = []
    for entry in services:
        if entry.service == "sharepoint" and entry.availability is not Availability.NOT_LICENSED:
            if sharepoint_url is None:
                # Licensed (or unknown) but the root site does not answer: SharePoint is not
                # provisioned yet, or cannot be reached, so its token cannot be checked.
                why = site_problem or "no root site"
                entry = ServiceAvailability(
                    "sharepoint",
                    Availability.UNKNOWN,
                    scrub(f"SharePoint root site did not answer ({why}). {entry.reason}".strip()),
                )
            elif entry.availability is Availability.AVAILABLE:
                entry = ServiceAvailability(
                    "sharepoint",
                    Availability.AVAILABLE,
                    scrub(f"{entry.reason}; root site {sharepoint_url}"),
                )
        fixed.append(entry)
    return ServiceDetection(tuple(fixed), sharepoint_url)


def detection_from(answers: BatchAnswers, skus: str = "skus",
                   site: str = "site") -> ServiceDetection:
    """The services, from the answers of ``/subscribedSkus`` and ``/sites/root`` that a
    caller fetched inside its own ``$batch`` (request ids ``skus`` and ``site``)."""
    skus_list = answers.value_list(skus)
    site_root = answers.body(site)
    return combine_detection(
        skus_list,
        None if skus_list is not None else answers.problem(skus),
        site_root,
        None if site_root is not None else answers.problem(site),
    )


def sharepoint_root_from_principal(
    principal: Mapping[str, Any] | None, endpoints: Endpoints
) -> str | None:
    """The tenant's SharePoint root URL from the Office 365 SharePoint Online principal.

    Entra lists the tenant's SharePoint hosts among that principal's
    ``servicePrincipalNames``; the root site's host (not ``-my`` or ``-admin``) gives the
    SharePoint token scope without needing ``Sites.Read.All`` for ``GET /sites/root``.
    """
    suffix = "." + endpoints.cloud.sharepoint_suffix
    for name in (principal or {}).get("servicePrincipalNames") or ():
        text = str(name)
        host = (urlsplit(text).hostname or "").lower()
        if (
            text.startswith("https://")
            and host.endswith(suffix)
            and not host.split(".")[0].endswith(("-my", "-admin"))
        ):
            return f"https://{host}"
    return None


async def detect(graph: GraphClient) -> ServiceDetection:
    """Read ``/subscribedSkus`` and ``/sites/root`` (in parallel) and combine them."""
    from vdc_tui.connect.microsoft.graph import GraphError

    async def skus() -> tuple[list[dict[str, Any]] | None, str | None]:
        try:
            return list(await graph.get_all("/subscribedSkus")), None
        except GraphError as exc:
            return None, describe_failure(exc)

    async def root() -> tuple[dict[str, Any] | None, str | None]:
        try:
            return await graph.get("/sites/root", params={"$select": "id,webUrl"}), None
        except GraphError as exc:
            return None, describe_failure(exc)

    (sku_list, sku_problem), (site, site_problem) = await asyncio.gather(skus(), root())
    return combine_detection(sku_list, sku_problem, site, site_problem)


def default_selection(
    available: Sequence[str], wanted: Sequence[str] = SERVICE_NAMES
) -> tuple[ServiceName, ...]:
    """The services selected by default after a connection: those wanted that the tenant
    has, in the order of :data:`~vdc_tui.connect.models.SERVICE_NAMES` (the wizard's
    services step and ``vdc-tui connect`` without ``--services``)."""
    return tuple(s for s in SERVICE_NAMES if s in wanted and s in available)


def recheck_services(error: VdcError, wanted: Sequence[str]) -> tuple[ServiceName, ...] | None:
    """The services to check a manual connection again with, after ``error``.

    Manual validation refuses a wanted service the tenant is not licensed for
    (``invalid_argument`` with ``details.field == "services"``, ``refused`` and
    ``available``). The wizard and ``vdc-tui connect manual`` without ``--services`` then
    check again with the wanted services the tenant has. ``None`` when the error is another
    one, or when Exchange Online (always required) is what the tenant lacks.
    """
    details = error.details
    refused = details.get("refused")
    available = details.get("available")
    if (
        error.code != "invalid_argument"
        or details.get("field") != "services"
        or not isinstance(refused, list)
        or not refused
        or not isinstance(available, list)
        or "exchange" in refused
    ):
        return None
    return default_selection([str(s) for s in available], [*wanted, "exchange"])


__all__ = [
    "ServiceDetection",
    "ServicePlan",
    "ServicePlanTable",
    "ServiceName",
    "combine_detection",
    "detect",
    "default_selection",
    "detection_from",
    "load_service_plans",
    "recheck_services",
    "services_from_skus",
    "sharepoint_root_from_principal",
]
