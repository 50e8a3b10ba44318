"""A TEST DOUBLE of the connection service, for snapshot tests of the wizard's states.

It implements the facade's methods with scripted outcomes and returns real ``models``
objects, so screens cannot tell it from the real service. Error states (declined sign-in,
Conditional Access, a wrong PFX password) are easier to provoke here than on the emulator;
the end-to-end tests (``test_emulator_e2e.py``) use the real service on the emulator.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vdc_tui.connect.errors import Cancelled, VdcError
from vdc_tui.connect.microsoft.clouds import resolve_endpoints
from vdc_tui.connect.microsoft.identity import DelegatedToken
from vdc_tui.connect.models import (
    Availability,
    CertificateInfo,
    CheckEvent,
    CheckStatus,
    ConnectionResult,
    DeviceCode,
    PermissionStatus,
    ProgressCallback,
    ServiceAvailability,
    SignedInAdmin,
    TenantInfo,
    ignore_progress,
)
from vdc_tui.connect.onboard.manual import ManualInput
from vdc_tui.connect.service import ConnectionService, ConnectSettings

#: The frozen "now" of snapshot tests.
FROZEN_NOW = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)

TENANT_ID = "8f3b6a52-0c1d-4e5f-9a7b-2c4d6e8f0a1b"
APP_ID = "3c9a4d0e-5b6f-4a7b-8c9d-0e1f2a3b4c5d"


def frozen_clock() -> datetime:
    """A clock that always says :data:`FROZEN_NOW`."""
    return FROZEN_NOW


def device_code(user_code: str = "CWE5QHLNM", lifetime: int = 900) -> DeviceCode:
    """A device code issued at :data:`FROZEN_NOW`."""
    return DeviceCode(
        user_code=user_code,
        verification_uri="https://microsoft.com/devicelogin",
        expires_at=FROZEN_NOW + timedelta(seconds=lifetime),
        expires_in=lifetime,
        interval=5,
        message=f"To sign in, open https://microsoft.com/devicelogin and enter {user_code}.",
    )


def connection_result(
    *,
    mode: str = "automatic",
    tenant_name: str = "Contoso Ltd",
    teams: Availability = Availability.AVAILABLE,
    sharepoint: Availability = Availability.NOT_LICENSED,
) -> ConnectionResult:
    """A verified connection as the real service would return it."""
    return ConnectionResult(
        mode="automatic" if mode == "automatic" else "manual",
        tenant=TenantInfo(TENANT_ID, tenant_name, "contoso.com"),
        app_id=APP_ID,
        certificate=CertificateInfo(
            subject="CN=Veeam Data Cloud for Microsoft 365",
            sha1="A1B2C3D4E5F60718293A4B5C6D7E8F9012345678",
            sha256="00" * 32,
            not_before=FROZEN_NOW - timedelta(days=1),
            not_after=FROZEN_NOW + timedelta(days=730),
            key_size=2048,
        ),
        certificate_pfx=b"not-a-real-pfx",
        signed_in_as="megan@contoso.com" if mode == "automatic" else "it@contoso.com",
        services=(
            ServiceAvailability("exchange", Availability.AVAILABLE, "EXCHANGE_S_ENTERPRISE"),
            ServiceAvailability("sharepoint", sharepoint,
                                "no SharePoint plan in any subscription"
                                if sharepoint is Availability.NOT_LICENSED
                                else "SHAREPOINTENTERPRISE"),
            ServiceAvailability("teams", teams,
                                "TEAMS1" if teams is Availability.AVAILABLE
                                else "subscribedSkus answered 503"),
        ),
        permissions=PermissionStatus(granted=("Microsoft Graph: Directory.Read.All",) * 3),
        app_object_id="0b5e1a2c-3d4e-4f50-8a6b-7c8d9e0f1a2b",
        created_app=mode == "automatic",
    )


class FakeSession:
    """Stands in for ``identity.DeviceFlowSession``."""

    def __init__(self, code: DeviceCode) -> None:
        self.code = code
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class FakeConnectionService(ConnectionService):
    """The facade with scripted answers (a test double).

    Attributes:
        sign_in_error: Raised by ``wait_for_sign_in`` (after ``sign_in_delay``).
        approve: Set it to let ``wait_for_sign_in`` return (the admin signed in).
        provision_events: Events ``provision`` reports, in order.
        provision_error: Raised by ``provision`` after its events.
        provision_block: When set, ``provision`` waits on it before finishing.
        manual_events / manual_error: The same for ``validate_manual``.
        saved: ``(result, selected)`` of each ``save_profile`` call.
    """

    home: Path = Path("profiles")
    user_codes: list[str] = field(default_factory=lambda: ["CWE5QHLNM", "HJK7MWX2P"])
    sign_in_error: VdcError | None = None
    approve: asyncio.Event | None = None
    provision_events: list[CheckEvent] = field(default_factory=list)
    provision_error: VdcError | None = None
    provision_block: asyncio.Event | None = None
    manual_events: list[CheckEvent] = field(default_factory=list)
    manual_error: VdcError | None = None
    result: ConnectionResult = field(default_factory=connection_result)
    sessions: list[FakeSession] = field(default_factory=list)
    manual_inputs: list[ManualInput] = field(default_factory=list)
    saved: list[tuple[ConnectionResult, tuple[str, ...]]] = field(default_factory=list)
    rolled_back: bool = False

    def __post_init__(self) -> None:
        super().__init__(ConnectSettings(endpoints=resolve_endpoints(), home=self.home))

    async def prepare(self) -> None:
        """Nothing to warm up."""

    async def start_device_code(self) -> FakeSession:  # type: ignore[override]
        code = self.user_codes[min(len(self.sessions), len(self.user_codes) - 1)]
        session = FakeSession(device_code(code))
        self.sessions.append(session)
        return session

    async def wait_for_sign_in(self, session: FakeSession) -> DelegatedToken:  # type: ignore[override]
        if self.sign_in_error is not None:
            raise self.sign_in_error
        approve = self.approve or asyncio.Event()
        while not approve.is_set():
            if session.cancelled:
                raise Cancelled()
            await asyncio.sleep(0.01)
        admin = SignedInAdmin("megan@contoso.com", "a1", TENANT_ID, "Megan Bowen")
        return DelegatedToken(access_token="fake", claims={}, admin=admin, tenant_id=TENANT_ID)

    async def provision(
        self,
        token: DelegatedToken,
        on_progress: ProgressCallback = ignore_progress,
        services: Sequence[str] | None = None,
    ) -> ConnectionResult:
        try:
            for event in self.provision_events:
                on_progress(event)
            if self.provision_block is not None:
                await self.provision_block.wait()
        except asyncio.CancelledError:
            self.rolled_back = True
            raise
        if self.provision_error is not None:
            raise self.provision_error
        return self.result

    async def validate_manual(
        self, manual: ManualInput, on_progress: ProgressCallback = ignore_progress
    ) -> ConnectionResult:
        self.manual_inputs.append(manual)
        for event in self.manual_events:
            on_progress(event)
        if self.manual_error is not None:
            raise self.manual_error
        return self.result

    def save_profile(self, result: ConnectionResult, selected: Sequence[str]) -> Path:
        self.saved.append((result, tuple(selected)))
        return self.home / "connections" / result.tenant.id / "profile.json"

    async def aclose(self) -> None:
        """Nothing to close."""


def events(*rows: tuple[str, str, CheckStatus, str]) -> list[CheckEvent]:
    """Checklist events from ``(step, title, status, detail)`` rows."""
    return [CheckEvent(step, title, status, detail) for step, title, status, detail in rows]
