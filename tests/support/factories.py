"""Plain test data for command-line tests (no network)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vdc_tui.connect.certificates import generate_self_signed
from vdc_tui.connect.models import (
    Availability,
    CertificateInfo,
    ConnectionResult,
    PermissionStatus,
    ServiceAvailability,
    TenantInfo,
)

TENANT = "8f3b6a52-0c1d-4e5f-9a7b-2c4d6e8f0a1b"
OTHER = "0b6c2a44-1111-4e5f-9a7b-2c4d6e8f0a1b"
#: A real PFX without a password, as a run hands it to the profile store (in memory only).
KEY = generate_self_signed("CN=VDC test")
KEY_BYTES = KEY.pfx_bytes


def make_result(tenant_id: str = TENANT, name: str = "Contoso Ltd",
                domain: str = "contoso.com") -> ConnectionResult:
    """A verified automatic-mode connection where Teams is not licensed."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return ConnectionResult(
        mode="automatic",
        tenant=TenantInfo(tenant_id, name, domain, "global"),
        app_id="11111111-2222-3333-4444-555555555555",
        certificate=CertificateInfo("CN=VDC", "A" * 40, "B" * 64, now,
                                    now + timedelta(days=730), 2048),
        certificate_pfx=KEY_BYTES,
        signed_in_as="admin@contoso.com",
        services=(
            ServiceAvailability("exchange", Availability.AVAILABLE, "EXCHANGE_S_ENTERPRISE"),
            ServiceAvailability("sharepoint", Availability.AVAILABLE, "SHAREPOINTENTERPRISE"),
            ServiceAvailability("teams", Availability.NOT_LICENSED, "no Teams plan"),
        ),
        permissions=PermissionStatus(granted=("Microsoft Graph: Sites.Read.All",)),
    )
