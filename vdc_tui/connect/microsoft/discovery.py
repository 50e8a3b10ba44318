"""From an email address or a domain to the tenant behind it.

The identity platform publishes an OpenID configuration for every verified domain of a
tenant (``{authority}/{domain}/v2.0/.well-known/openid-configuration``, no sign-in needed);
the tenant id is the first path segment of its token endpoint. An unknown domain answers
HTTP 400 with AADSTS90002.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from vdc_tui.connect.errors import DiagnosedProblem, InvalidInput, ServiceUnavailable, scrub
from vdc_tui.connect.microsoft.clouds import CLOUDS, Endpoints
from vdc_tui.connect.microsoft.http import make_async_client

_DOMAIN = re.compile(
    r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$"
)
_AADSTS = re.compile(r"AADSTS(\d+)")

#: Discovery is cheap and idempotent: a transient failure is retried a couple of times.
_ATTEMPTS = 3
_MAX_WAIT = 10.0


@dataclass(frozen=True)
class TenantDiscovery:
    """What the tenant's OpenID configuration says.

    Attributes:
        tenant_id: Tenant GUID.
        domain: The domain that was looked up.
        issuer: The token issuer of the tenant.
        token_endpoint: The tenant's v2.0 token endpoint.
        device_authorization_endpoint: Its device-code endpoint, when published.
        cloud_instance_name: ``microsoftonline.com``, ``microsoftonline.us``, …
        tenant_region_scope: ``NA``, ``EU``, ``USGov``, … (``None`` when absent).
        msgraph_host: The Graph host of the tenant's cloud (``graph.microsoft.com``).
    """

    tenant_id: str
    domain: str
    issuer: str
    token_endpoint: str
    device_authorization_endpoint: str | None
    cloud_instance_name: str | None
    tenant_region_scope: str | None
    msgraph_host: str | None

    @property
    def cloud_name(self) -> str | None:
        """Our name of the tenant's cloud (``global``, ``usgov``, …), when it can be told."""
        if self.msgraph_host:
            for cloud in CLOUDS.values():
                if urlsplit(cloud.graph_url).hostname == self.msgraph_host.lower():
                    return cloud.name
        instance = (self.cloud_instance_name or "").lower()
        return {
            "microsoftonline.com": "global",
            "microsoftonline.us": "usgov",
            "partner.microsoftonline.cn": "china",
        }.get(instance)


def domain_of(email_or_domain: str) -> str:
    """The domain part of an email address, or the domain itself, lower-cased.

    Raises:
        InvalidInput: neither an email address nor a DNS domain name.
    """
    text = email_or_domain.strip()
    domain = text.rpartition("@")[2].strip().rstrip(".").lower()
    local = text.rpartition("@")[0]
    if ("@" in text and not local.strip()) or not _DOMAIN.match(domain):
        raise InvalidInput(
            "invalid_argument",
            f"{scrub(text, limit=120)!r} is not an email address or a domain name.",
            "Give the admin's email address (admin@contoso.com) or a verified domain of "
            "the tenant (contoso.com or contoso.onmicrosoft.com).",
            {"field": "admin_email"},
        )
    return domain


def _tenant_not_found(endpoints: Endpoints, domain: str, body: dict[str, Any]) -> DiagnosedProblem:
    description = str(body.get("error_description") or "")
    match = _AADSTS.search(description)
    details: dict[str, Any] = {"domain": domain, "cloud": endpoints.cloud.name}
    if match:
        details["aadsts"] = int(match.group(1))
    if body.get("error"):
        details["error"] = scrub(str(body["error"]), limit=100)
    if description:
        details["description"] = scrub(description.split("\r\n")[0].split("\n")[0], limit=400)
    if body.get("correlation_id"):
        details["correlation_id"] = scrub(str(body["correlation_id"]), limit=100)
    return DiagnosedProblem(
        "tenant_not_found",
        f"No tenant was found for the domain {domain!r} in {endpoints.cloud.label}.",
        "The domain must be a verified domain of the tenant in the chosen cloud: check the "
        "spelling of the email address, add and verify the domain in the Microsoft Entra "
        "admin centre (Settings > Domain names), or pick the tenant's cloud with --cloud.",
        details,
    )


def _tenant_id_of(config: dict[str, Any]) -> str | None:
    for key in ("token_endpoint", "issuer"):
        value = config.get(key)
        if not isinstance(value, str):
            continue
        segments = [s for s in urlsplit(value).path.split("/") if s]
        if segments:
            try:
                return str(uuid.UUID(segments[0]))
            except ValueError:
                continue
    return None


def _retry_wait(response: httpx.Response | None, attempt: int) -> float:
    if response is not None:
        try:
            seconds = float(str(response.headers.get("Retry-After", "")))
            return min(_MAX_WAIT, max(0.0, seconds))
        except ValueError:
            pass
    return min(_MAX_WAIT, 0.5 * float(2.0**attempt))


async def discover_tenant(
    endpoints: Endpoints,
    email_or_domain: str,
    *,
    client: httpx.AsyncClient | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> TenantDiscovery:
    """Find the tenant behind an email address or a domain.

    Args:
        endpoints: The cloud (authority host) to ask.
        email_or_domain: ``admin@contoso.com`` or ``contoso.com``.
        client: An HTTP client to reuse; one is made (and closed) when ``None``.
        sleep: Waits between retries of a transient failure (tests inject a recorder).

    Raises:
        InvalidInput: not an email address or domain.
        DiagnosedProblem: ``tenant_not_found``.
        ServiceUnavailable: the identity platform could not be reached or kept failing.
    """
    domain = domain_of(email_or_domain)
    url = f"{endpoints.authority_host}/{domain}/v2.0/.well-known/openid-configuration"
    own = client is None
    http = client if client is not None else make_async_client(endpoints, timeout=20.0)
    try:
        last = ""
        for attempt in range(_ATTEMPTS):
            response: httpx.Response | None = None
            try:
                response = await http.get(url, headers={"Accept": "application/json"})
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}"
            else:
                if response.status_code == 200:
                    return _parse(endpoints, domain, response)
                if 400 <= response.status_code < 500 and response.status_code != 429:
                    raise _tenant_not_found(endpoints, domain, _json_object(response))
                last = f"HTTP {response.status_code}"
            if attempt + 1 < _ATTEMPTS:
                await sleep(_retry_wait(response, attempt))
        raise ServiceUnavailable(
            f"Could not look up the tenant of {domain!r} at {endpoints.authority_host} ({last}).",
            details={"domain": domain, "url": url},
        )
    finally:
        if own:
            await http.aclose()


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return body if isinstance(body, dict) else {}


def _parse(endpoints: Endpoints, domain: str, response: httpx.Response) -> TenantDiscovery:
    config = _json_object(response)
    tenant_id = _tenant_id_of(config)
    if tenant_id is None or not isinstance(config.get("token_endpoint"), str):
        raise ServiceUnavailable(
            f"The identity platform at {endpoints.authority_host} answered the lookup of "
            f"{domain!r} with an OpenID configuration that names no tenant.",
            "Check --authority-host: it must be the identity platform of the tenant's cloud.",
            {"domain": domain},
        )

    def text(key: str) -> str | None:
        value = config.get(key)
        return value if isinstance(value, str) and value else None

    return TenantDiscovery(
        tenant_id=tenant_id,
        domain=domain,
        issuer=text("issuer") or "",
        token_endpoint=str(config["token_endpoint"]),
        device_authorization_endpoint=text("device_authorization_endpoint"),
        cloud_instance_name=text("cloud_instance_name"),
        tenant_region_scope=text("tenant_region_scope"),
        msgraph_host=text("msgraph_host"),
    )
