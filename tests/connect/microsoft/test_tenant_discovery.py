"""Tenant discovery from an email address or a domain (scripted identity platform)."""

from __future__ import annotations

import httpx
import pytest

from vdc_tui.connect.errors import DiagnosedProblem, InvalidInput, ServiceUnavailable
from vdc_tui.connect.microsoft.clouds import resolve_endpoints
from vdc_tui.connect.microsoft.discovery import discover_tenant, domain_of

TENANT = "8f3b6a52-0c1d-4e5f-9a7b-2c4d6e8f0a1b"
ENDPOINTS = resolve_endpoints("global", authority_host="https://login.test")


def configuration(tenant: str = TENANT, **extra: object) -> dict[str, object]:
    return {
        "issuer": f"https://login.test/{tenant}/v2.0",
        "token_endpoint": f"https://login.test/{tenant}/oauth2/v2.0/token",
        "device_authorization_endpoint": f"https://login.test/{tenant}/oauth2/v2.0/devicecode",
        "cloud_instance_name": "microsoftonline.com",
        "tenant_region_scope": "EU",
        "msgraph_host": "graph.microsoft.com",
        **extra,
    }


def client_for(*answers: httpx.Response, seen: list[str] | None = None) -> httpx.AsyncClient:
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(str(request.url))
        return queue.pop(0)

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def no_wait(seconds: float) -> None:
    return None


@pytest.mark.parametrize(
    ("text", "domain"),
    [
        ("admin@Contoso.com", "contoso.com"),
        ("  contoso.onmicrosoft.com ", "contoso.onmicrosoft.com"),
        ("first.last@sub.contoso.co.uk.", "sub.contoso.co.uk"),
    ],
)
def test_domain_of_email_or_domain(text: str, domain: str) -> None:
    assert domain_of(text) == domain


@pytest.mark.parametrize("text", ["", "admin@", "@contoso.com", "not a domain", "admin@localhost"])
def test_domain_of_rejects_what_is_not_a_domain(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        domain_of(text)
    assert caught.value.code == "invalid_argument"
    assert caught.value.details["field"] == "admin_email"


async def test_email_leads_to_the_tenant_and_its_cloud() -> None:
    seen: list[str] = []
    found = await discover_tenant(
        ENDPOINTS,
        "admin@contoso.com",
        client=client_for(httpx.Response(200, json=configuration()), seen=seen),
    )
    assert seen == ["https://login.test/contoso.com/v2.0/.well-known/openid-configuration"]
    assert found.tenant_id == TENANT
    assert found.domain == "contoso.com"
    assert found.tenant_region_scope == "EU"
    assert found.cloud_name == "global"


async def test_us_government_tenant_is_recognised() -> None:
    answer = httpx.Response(
        200,
        json=configuration(
            cloud_instance_name="microsoftonline.us",
            tenant_region_scope="USGov",
            msgraph_host="graph.microsoft.us",
        ),
    )
    found = await discover_tenant(ENDPOINTS, "gov.example.us", client=client_for(answer))
    assert found.cloud_name == "usgov"


async def test_unknown_domain_is_tenant_not_found_with_remediation() -> None:
    answer = httpx.Response(
        400,
        json={
            "error": "invalid_tenant",
            "error_description": "AADSTS90002: Tenant 'nowhere.example' not found.\r\nTrace ID: x",
            "error_codes": [90002],
            "correlation_id": "corr-9",
        },
    )
    with pytest.raises(DiagnosedProblem) as caught:
        await discover_tenant(ENDPOINTS, "admin@nowhere.example", client=client_for(answer))
    error = caught.value
    assert error.code == "tenant_not_found"
    assert "nowhere.example" in error.message
    assert "verified domain" in error.remediation and "cloud" in error.remediation
    assert error.details["aadsts"] == 90002
    assert error.details["correlation_id"] == "corr-9"
    assert "Trace ID" not in error.details["description"]


async def test_transient_failures_are_retried_then_reported() -> None:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    ok = await discover_tenant(
        ENDPOINTS,
        "contoso.com",
        client=client_for(
            httpx.Response(503, headers={"Retry-After": "2"}),
            httpx.Response(200, json=configuration()),
        ),
        sleep=record,
    )
    assert ok.tenant_id == TENANT and waits == [2.0]

    with pytest.raises(ServiceUnavailable):
        await discover_tenant(
            ENDPOINTS,
            "contoso.com",
            client=client_for(*[httpx.Response(500) for _ in range(3)]),
            sleep=no_wait,
        )


async def test_configuration_without_a_tenant_is_not_trusted() -> None:
    answer = httpx.Response(200, json={"token_endpoint": "https://login.test/common/token"})
    with pytest.raises(ServiceUnavailable):
        await discover_tenant(ENDPOINTS, "contoso.com", client=client_for(answer), sleep=no_wait)
