"""What the identity platform's refusals mean: AADSTS codes and OAuth errors mapped to our
errors (``research/identity.md`` §6), each with its fix."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from vdc_tui.connect.errors import (
    DiagnosedProblem,
    InvalidInput,
    ServiceUnavailable,
    SignInError,
    VdcError,
    scrub,
)
from vdc_tui.connect.microsoft.clouds import Endpoints

if TYPE_CHECKING:
    from vdc_tui.connect.microsoft.identity.tokens import CertificateCredential

def _upload_certificate(thumbprint: str, *, lower: bool = False) -> str:
    """How to register a certificate on the app (every "not registered" reading says it)."""
    text = ("Upload the certificate's public part (.cer) to the app registration: "
            "Certificates & secrets > Certificates > Upload certificate "
            f"(thumbprint {thumbprint}).")
    return "u" + text[1:] if lower else text


_AADSTS = re.compile(r"AADSTS(\d+)")
_THUMBPRINT = re.compile(r"Thumbprint of key used by client:\s*'([0-9A-Fa-f]+)'")
#: MSAL's text for a failed OpenID discovery, with the HTTP status of the answer.
DISCOVERY_STATUS = re.compile(r"OIDC Discovery failed on .*? HTTP status: (\d{3})")
_CURRENT_TIME = re.compile(r"Current time:\s*([0-9T:.\- Z]+?)(?:,|\.\s|$)")

#: AADSTS codes of a passing failure of the identity platform (90033: "A transient error
#: has occurred. Please try again.", answered with HTTP 503 and ``Retry-After``).
TRANSIENT_AADSTS = frozenset({90033})
#: OAuth ``error`` values of a passing failure (RFC 6749 §4.1.2.1 ``temporarily_unavailable``
#: and ``server_error``).
TRANSIENT_ERRORS = frozenset({"temporarily_unavailable", "server_error"})

#: AADSTS codes of a Conditional Access (or similar) policy refusing the device-code flow.
BLOCKED_BY_POLICY = frozenset({53003, 530033, 50097})


@dataclass(frozen=True)
class AadError:
    """An error answer of the identity platform, reduced to safe facts."""

    error: str
    aadsts: int | None
    description: str  # first line, scrubbed
    raw_description: str = field(repr=False)
    correlation_id: str | None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> AadError:
        error = body.get("error")
        if isinstance(error, Mapping):
            # A Graph-shaped answer ({"error": {"code", "message"}}) from a proxy or a
            # confused endpoint: its code and message, never the object's Python text.
            body = {
                "error": str(error.get("code") or "unknown_error"),
                "error_description": str(error.get("message") or ""),
            }
        elif error is not None and not isinstance(error, str):
            body = {**body, "error": "unknown_error"}
        raw = str(body.get("error_description") or "")
        codes = body.get("error_codes")
        aadsts: int | None = None
        if isinstance(codes, list) and codes and isinstance(codes[0], int):
            aadsts = codes[0]
        else:
            match = _AADSTS.search(raw)
            aadsts = int(match.group(1)) if match else None
        first_line = raw.replace("\r\n", "\n").split("\n", 1)[0]
        correlation = body.get("correlation_id")
        return cls(
            error=scrub(str(body.get("error") or "unknown_error"), limit=100),
            aadsts=aadsts,
            description=scrub(first_line, limit=600),
            raw_description=raw,
            correlation_id=scrub(str(correlation), limit=100) if correlation else None,
        )

    @classmethod
    def from_text(cls, text: str) -> AadError | None:
        """From MSAL's ``ValueError`` text, which quotes the discovery answer's body."""
        start = text.find("{")
        while start >= 0:
            try:
                body, _ = json.JSONDecoder().raw_decode(text, start)
            except ValueError:
                body = None
            if isinstance(body, dict) and ("error" in body or "error_description" in body):
                return cls.from_body(body)
            start = text.find("{", start + 1)
        match = _AADSTS.search(text)
        if match:
            return cls.from_body({"error": "invalid_request", "error_description": text})
        return None

    def details(self, **extra: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.error, "description": self.description}
        if self.aadsts is not None:
            out["aadsts"] = self.aadsts
        if self.correlation_id:
            out["correlation_id"] = self.correlation_id
        out.update({k: v for k, v in extra.items() if v is not None})
        return out

    @property
    def label(self) -> str:
        return f"AADSTS{self.aadsts}" if self.aadsts is not None else self.error

    @property
    def transient(self) -> bool:
        """The platform says "try again": a passing failure, not a refusal."""
        return self.aadsts in TRANSIENT_AADSTS or self.error in TRANSIENT_ERRORS


def tenant_not_found(endpoints: Endpoints, tenant: str, err: AadError) -> DiagnosedProblem:
    return DiagnosedProblem(
        "tenant_not_found",
        f"Microsoft Entra has no tenant {scrub(tenant, limit=200)!r} in "
        f"{endpoints.cloud.label} ({err.label}).",
        "Check the tenant id or domain, and that the tenant lives in the chosen cloud "
        "(--cloud): the domain must be a verified domain of the tenant in that cloud.",
        err.details(tenant=scrub(tenant, limit=200)),
    )


def _parse_server_time(description: str) -> datetime | None:
    match = _CURRENT_TIME.search(description)
    if not match:
        return None
    text = match.group(1).strip().rstrip(".")
    text = text.replace(" ", "T").removesuffix("Z")
    if "." in text:  # Entra writes 7 fractional digits; Python parses at most 6
        head, _, fraction = text.partition(".")
        text = f"{head}.{fraction[:6]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def app_token_error(
    endpoints: Endpoints,
    err: AadError,
    *,
    tenant: str,
    client_id: str,
    credential: CertificateCredential,
    scope: str,
) -> VdcError:
    """Our error for a failed certificate sign-in, worded for the operator."""
    tenant_s = scrub(tenant, limit=200)
    app = scrub(client_id, limit=100)
    sha1 = credential.info.sha1
    code = err.aadsts
    if code == 90002 or err.error == "invalid_tenant":
        return tenant_not_found(endpoints, tenant, err)
    if code == 700016:
        return DiagnosedProblem(
            "app_not_found_in_tenant",
            f"No application with the Application (client) ID {app} was found in the "
            f"tenant {tenant_s}.",
            "Check the id: it must be the Application (client) ID from the app "
            "registration's Overview page, not its Object ID and not the id of an "
            f"Enterprise application; and the app must be registered in the tenant {tenant_s}"
            ", not in another one. A just-created app can take a few minutes to appear.",
            err.details(app_id=app, tenant=tenant_s, field="app_id"),
        )
    if code == 7000229:
        return DiagnosedProblem(
            "app_missing_service_principal",
            f"The application {app} has no service principal (Enterprise application) in "
            f"the tenant {tenant_s}.",
            "Grant admin consent to the app in this tenant (App registrations > API "
            "permissions > Grant admin consent), which creates it, or open "
            f"{endpoints.admin_consent_url(tenant, client_id)} as a Global Administrator.",
            err.details(app_id=app, tenant=tenant_s, field="app_id"),
        )
    if code == 700027:
        match = _THUMBPRINT.search(err.raw_description)
        used = match.group(1).upper() if match else sha1
        if "expired" in err.raw_description.lower():
            return DiagnosedProblem(
                "certificate_expired",
                f"Microsoft Entra says the certificate {used} registered on the app {app} "
                "has expired.",
                "Create a new certificate, upload it to the app registration (Certificates & "
                "secrets), and use its PFX here.",
                err.details(thumbprint=used, app_id=app, field="pfx_path"),
            )
        return DiagnosedProblem(
            "certificate_not_registered",
            f"The certificate {used} is not registered on the app {app}.",
            _upload_certificate(used),
            err.details(thumbprint=used, app_id=app, field="pfx_path"),
        )
    if code == 700024:
        server = _parse_server_time(err.raw_description)
        local = datetime.now(UTC)
        if server is not None:
            skew = (local - server).total_seconds()
            detail = (
                f" This computer says {local:%Y-%m-%d %H:%M:%S} UTC, Microsoft says "
                f"{server:%Y-%m-%d %H:%M:%S} UTC ({abs(skew) / 60:.0f} min "
                f"{'ahead' if skew > 0 else 'behind'})."
            )
        else:
            detail = ""
        return DiagnosedProblem(
            "clock_skew",
            "This computer's clock is off, so Microsoft Entra rejected the signed sign-in "
            "request as outside its valid time." + detail,
            "Set the clock right (turn on network time: `timedatectl set-ntp true`, or "
            "`w32tm /resync` on Windows) and try again.",
            err.details(
                local_time=local.replace(microsecond=0).isoformat(),
                server_time=server.isoformat() if server else None,
            ),
        )
    if code == 1002012 or err.error == "invalid_scope":
        return InvalidInput(
            "invalid_argument",
            f"Microsoft Entra refused the scope {scrub(scope, limit=200)!r} ({err.label}).",
            "App-only scopes must be a resource followed by /.default; check --graph-url "
            "and the cloud (--cloud).",
            err.details(scope=scrub(scope, limit=200)),
        )
    if code is None and err.error == "invalid_client":
        # A standard OAuth server (RFC 6749 §5.2, RFC 7523) answers a rejected certificate
        # assertion with a bare invalid_client and no AADSTS code: it does not know the key
        # (or the client) the assertion names (tests/peers, oidc-provider).
        return DiagnosedProblem(
            "certificate_not_registered",
            f"The identity platform rejected the app {app}'s sign-in with the certificate "
            f"{sha1} ({err.label}): the certificate is not registered on the app, or the "
            "app is not registered there.",
            "Check the Application (client) ID, and " + _upload_certificate(sha1, lower=True),
            err.details(thumbprint=sha1, app_id=app, field="pfx_path"),
        )
    if code == 50012:
        # The app exists but its signed assertion was not accepted: for a certificate
        # that Entra cannot match to the app, this is the honest reading.
        return DiagnosedProblem(
            "certificate_not_registered",
            f"The app {app} did not accept the certificate {sha1} ({err.label}).",
            _upload_certificate(sha1),
            err.details(thumbprint=sha1, app_id=app, field="pfx_path"),
        )
    return SignInError(
        "sign_in_declined",
        f"Microsoft Entra refused the app's sign-in ({err.label}): {err.description}",
        "Check the app registration and its certificate in the Microsoft Entra admin "
        "centre; the error code above explains the reason.",
        err.details(app_id=app, tenant=tenant_s),
    )


def device_flow_error(err: AadError) -> VdcError:
    """Our error for a device-code sign-in that ended without a token."""
    if err.aadsts in BLOCKED_BY_POLICY:
        return SignInError(
            "device_code_blocked_by_policy",
            f"A Conditional Access policy of the tenant blocks device-code sign-in ({err.label}).",
            "Ask the tenant's administrators to exclude this sign-in from the policy for the "
            "duration of the setup, or use manual mode with an app registration made in the "
            "Entra admin centre.",
            err.details(),
        )
    if err.error in ("expired_token", "code_expired", "bad_verification_code") or err.aadsts in (
        70019,
        70020,
    ):
        return expired_error(err.details())
    if err.error in ("authorization_declined", "access_denied") or err.aadsts == 65004:
        return SignInError(
            "sign_in_declined",
            "The sign-in was declined.",
            "Start again and approve the sign-in, with a Global Administrator account of the "
            "customer's tenant.",
            err.details(),
        )
    if err.aadsts in (50020, 50034):
        return DiagnosedProblem(
            "user_not_in_tenant",
            f"The account that signed in is not a user of the tenant ({err.label}).",
            "Sign in with a Global Administrator account of the customer's tenant.",
            err.details(),
        )
    return SignInError(
        "sign_in_declined",
        f"Microsoft Entra refused the sign-in ({err.label}): {err.description}",
        "Start again; if it keeps failing, the error code above explains the reason.",
        err.details(),
    )


def expired_error(details: dict[str, Any] | None = None) -> SignInError:
    return SignInError(
        "device_code_expired",
        "The sign-in code expired before the sign-in was completed.",
        "Ask for a new code and complete the sign-in before it runs out.",
        details or {},
    )


def transport_error(what: str, exc: BaseException) -> ServiceUnavailable:
    # Only the exception's type: its text may quote URLs with codes in them.
    return ServiceUnavailable(
        f"{what} failed: the identity platform could not be reached or answered with an "
        f"error ({type(exc).__name__}).",
        details={"exception": type(exc).__name__},
    )


__all__ = [
    "BLOCKED_BY_POLICY",
    "DISCOVERY_STATUS",
    "TRANSIENT_AADSTS",
    "TRANSIENT_ERRORS",
    "AadError",
    "app_token_error",
    "device_flow_error",
    "expired_error",
    "tenant_not_found",
    "transport_error",
]
