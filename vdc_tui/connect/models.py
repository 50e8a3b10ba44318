"""Plain data shared by the service layer, the TUI, the command line and the profiles.

These dataclasses are the contract between layers: screens and commands only read them,
the service layer only produces them. None holds a secret.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

ServiceName = Literal["exchange", "sharepoint", "teams"]
SERVICE_NAMES: tuple[ServiceName, ...] = ("exchange", "sharepoint", "teams")
SERVICE_LABELS: dict[str, str] = {
    "exchange": "Exchange Online",
    "sharepoint": "SharePoint Online and OneDrive for Business",
    "teams": "Microsoft Teams",
}

Mode = Literal["automatic", "manual"]


@dataclass(frozen=True)
class TenantInfo:
    """A customer's tenant.

    Attributes:
        id: Tenant GUID.
        name: Display name (``None`` until read from Graph).
        default_domain: The default verified domain (``None`` until read from Graph).
        cloud: Cloud name (``global``, ``usgov``, ``usgovdod``, ``china``).
    """

    id: str
    name: str | None = None
    default_domain: str | None = None
    cloud: str = "global"


@dataclass(frozen=True)
class CertificateInfo:
    """Public facts of a certificate (never the key).

    Attributes:
        subject: RFC 4514 subject string.
        sha1: SHA-1 thumbprint as Entra shows it (40 upper-case hex digits).
        sha256: SHA-256 thumbprint (64 upper-case hex digits).
        not_before: Start of validity (UTC, aware).
        not_after: End of validity (UTC, aware).
        key_size: RSA key size in bits.
    """

    subject: str
    sha1: str
    sha256: str
    not_before: datetime
    not_after: datetime
    key_size: int


def days_left(not_after: datetime, now: datetime) -> int:
    """Whole days from ``now`` until a certificate's ``not_after``, counted toward zero:
    9.9 days left is 9, expired 1.1 days ago is -1.

    The one rule for "days left": the check (its detail, JSON and metrics) and renewal (its
    window, ``--within DAYS``, and its JSON) both count with it, so one certificate shows
    one number everywhere.
    """
    return int((not_after - now).total_seconds() / 86400)


class Availability(StrEnum):
    """Whether the tenant has a service."""

    AVAILABLE = "available"
    NOT_LICENSED = "not_licensed"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ServiceAvailability:
    """One service as the tenant has it.

    Attributes:
        service: ``exchange``, ``sharepoint`` or ``teams``.
        availability: available / not licensed / could not be checked.
        reason: Why (the plans found, or why it could not be checked).
    """

    service: ServiceName
    availability: Availability
    reason: str = ""

    @property
    def label(self) -> str:
        """The product's label for the service."""
        return SERVICE_LABELS[self.service]

    @property
    def selectable(self) -> bool:
        """Only a service the tenant has can be selected."""
        return self.availability is Availability.AVAILABLE


class CheckStatus(StrEnum):
    """State of one line of a live checklist."""

    PENDING = "pending"
    RUNNING = "running"
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class CheckEvent:
    """Progress of one checklist line, reported by the service layer.

    The same ``step`` is reported several times as it moves from running to a result; a
    screen keeps one row per ``step``, a headless run prints one line per final state.

    Attributes:
        step: Stable id of the line (``certificate``, ``tenant``, ``sign_in``, …).
        title: What the line checks, for people.
        status: Its state.
        detail: What was found (thumbprints, ids, "attempt 3, 12 s").
        remediation: What to do, on warn or fail.
        code: The error code on fail.
    """

    step: str
    title: str
    status: CheckStatus
    detail: str = ""
    remediation: str = ""
    code: str | None = None


#: The callback through which the service layer reports progress. It must not block.
ProgressCallback = Callable[[CheckEvent], None]


def ignore_progress(event: CheckEvent) -> None:
    """A :data:`ProgressCallback` that drops every event."""


@dataclass(frozen=True)
class DeviceCode:
    """A device code as shown to the operator.

    Attributes:
        user_code: The code to type at ``verification_uri``.
        verification_uri: The page where it is typed.
        expires_at: When the code dies (UTC, aware).
        expires_in: Its lifetime in seconds, as the server said.
        interval: Polling interval in seconds.
        message: The server's own instruction text (untrusted text).
    """

    user_code: str
    verification_uri: str
    expires_at: datetime
    expires_in: int
    interval: int
    message: str


@dataclass(frozen=True)
class SignedInAdmin:
    """Who signed in with the device code (from the delegated token's claims)."""

    upn: str
    object_id: str
    tenant_id: str
    display_name: str | None = None
    role_template_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class PermissionStatus:
    """The application permissions the app-only tokens carried, as ``API: permission``
    strings.

    There is no "missing" list: a connection result exists only when every required
    permission was in the tokens (otherwise the check fails with ``missing_permissions``),
    so what a verified connection lacks is always nothing. Missing permissions of a saved
    connection are found by the health check (``connect/fleet/health.py``), from live tokens.
    """

    granted: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConnectionResult:
    """A verified connection, ready for the services step and the profile.

    Attributes:
        mode: ``automatic`` or ``manual``.
        tenant: The tenant, with name and default domain.
        app_id: Application (client) ID of the app the backup service will use.
        app_object_id: Object id of the application, when known.
        certificate: The certificate the app signs in with.
        certificate_pfx: PFX bytes of the certificate *with* its private key, to store in
            the profile folder (0600). Secret: never logged, printed or put into JSON.
        signed_in_as: The admin's UPN (automatic) or the admin email (manual).
        services: What the tenant has, one entry per service.
        permissions: What the app-only tokens carried, against the catalog.
        warnings: Warnings of the check (``CheckEvent`` with status WARN), for the summary.
        created_app: True when this run created the app registration (automatic mode).
    """

    mode: Mode
    tenant: TenantInfo
    app_id: str
    certificate: CertificateInfo
    certificate_pfx: bytes = field(repr=False)
    signed_in_as: str
    services: tuple[ServiceAvailability, ...]
    permissions: PermissionStatus
    app_object_id: str | None = None
    warnings: tuple[CheckEvent, ...] = ()
    created_app: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def availability(self, service: str) -> ServiceAvailability | None:
        """The entry of one service, if present."""
        for entry in self.services:
            if entry.service == service:
                return entry
        return None

    @property
    def available_services(self) -> tuple[ServiceName, ...]:
        """Services the tenant really has."""
        return tuple(s.service for s in self.services if s.selectable)
