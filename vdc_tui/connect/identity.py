"""Sign-in with MSAL: the admin's device code, and the app's certificate.

MSAL is synchronous; every call runs in a worker thread behind an async method. Things
MSAL does that shape this module (``research/identity.md`` §4):

- MSAL is given :class:`~vdc_tui.connect.http.MsalHttpClient` as ``http_client`` (our TLS,
  forms encoded like ``requests``), and ``instance_discovery=False`` for any authority host
  that is not Microsoft's, or it would ask Microsoft's global discovery endpoint first.
- Building a ``PublicClientApplication`` fetches the authority's OpenID configuration;
  :meth:`IdentityClient.prepare` does it early so that asking for a device code costs one
  request. One public client is kept for the whole run.
- A ``ConfidentialClientApplication`` caches HTTP 400 answers for 60 s, so a retry on the
  same object would replay the old failure without asking. Every :meth:`app_token` call
  builds a fresh one.
- A fresh application would also fetch the tenant's OpenID configuration again before its
  token request (MSAL keeps GET answers only in the application's own ``http_cache``). All
  the applications of one :class:`IdentityClient` share discovery answers through
  :class:`SharedDiscoveryHttp` instead, which caches successful GETs and never a POST, so
  the 400 trap above stays out of reach; :meth:`IdentityClient.prepare_tenant` fetches a
  tenant's configuration ahead of time, off the critical path.
- The device-flow wait returns the last ``authorization_pending`` answer both when the
  code expires and when it is cancelled; we keep our own cancel flag to tell them apart.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import msal
from msal.exceptions import MsalServiceError

from .clouds import Endpoints
from .errors import (
    Cancelled,
    DiagnosedProblem,
    InvalidInput,
    ServiceUnavailable,
    SignInError,
    VdcError,
    scrub,
)
from .http import MsalHttpClient
from .models import CertificateInfo, DeviceCode, SignedInAdmin

_T = TypeVar("_T")

_log = logging.getLogger(__name__)

#: Seconds a discovery answer is shared between the MSAL applications of one client. A run
#: lasts minutes; MSAL itself keeps a GET answer for 24 h within one application.
DISCOVERY_TTL_SECONDS = 3600.0

_AADSTS = re.compile(r"AADSTS(\d+)")
_THUMBPRINT = re.compile(r"Thumbprint of key used by client:\s*'([0-9A-Fa-f]+)'")
_DISCOVERY_STATUS = re.compile(r"OIDC Discovery failed on .*? HTTP status: (\d{3})")
_CURRENT_TIME = re.compile(r"Current time:\s*([0-9T:.\- Z]+?)(?:,|\.\s|$)")

#: AADSTS codes of a Conditional Access (or similar) policy refusing the device-code flow.
BLOCKED_BY_POLICY = frozenset({53003, 530033, 50097})
#: How often the async side looks at the cancel flag while MSAL polls in its thread.
_CANCEL_CHECK_SECONDS = 0.1


@dataclass(frozen=True)
class CertificateCredential:
    """What MSAL signs its client assertions with.

    Attributes:
        private_key_pem: The RSA private key, PKCS#8 PEM, unencrypted (secret).
        certificate_pem: The matching certificate, PEM.
        info: Public facts of the certificate (thumbprints for messages).
    """

    private_key_pem: bytes = field(repr=False)
    certificate_pem: bytes
    info: CertificateInfo
    #: The same key already loaded (a ``cryptography`` RSA key), when the caller has it:
    #: MSAL then signs with it instead of parsing and re-validating the PEM on every
    #: token request (~50 ms of CPU each; a fleet check makes three per tenant).
    private_key: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class DelegatedToken:
    """The signed-in admin's delegated token for Microsoft Graph.

    Attributes:
        access_token: The bearer token (secret).
        claims: Its claims, decoded without verification (hints only).
        admin: Who signed in.
        tenant_id: The tenant the admin signed in to.
    """

    access_token: str = field(repr=False)
    claims: dict[str, Any] = field(repr=False)
    admin: SignedInAdmin
    tenant_id: str


@dataclass(frozen=True)
class AppToken:
    """An app-only token.

    Attributes:
        access_token: The bearer token (secret).
        claims: Its claims, decoded without verification.
        roles: Application permissions it carries (``roles`` claim; empty when none).
        audience: The ``aud`` claim (the resource the token is for).
    """

    access_token: str = field(repr=False)
    claims: dict[str, Any] = field(repr=False)
    roles: tuple[str, ...]
    audience: str


class DeviceFlowSession:
    """One device code being signed in with; ``code`` is what the operator is shown."""

    def __init__(self, flow: dict[str, Any], code: DeviceCode) -> None:
        self.code = code
        self._flow = flow
        self._cancelled = threading.Event()

    def __repr__(self) -> str:
        # The flow holds the device code, which is a bearer secret until it expires.
        return f"DeviceFlowSession(user_code={self.code.user_code!r})"

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._cancelled.is_set()

    def cancel(self) -> None:
        """Stop waiting: :meth:`IdentityClient.wait_for_sign_in` raises ``Cancelled`` promptly.

        Safe to call from any thread, more than once, and before the wait started.
        """
        self._cancelled.set()
        # MSAL's documented way to end its polling loop within a second.
        self._flow["expires_at"] = 0

    def _should_stop(self, flow: Mapping[str, Any]) -> bool:
        return self._cancelled.is_set() or float(flow.get("expires_at", 0)) < time.time()


def decode_jwt_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, decoded without checking the signature (for hints only).

    Returns an empty dict when ``token`` is not a decodable JWT.
    """
    parts = token.split(".")
    if len(parts) < 2:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        return {}
    return claims if isinstance(claims, dict) else {}


# --- mapping identity-platform errors to ours -------------------------------------------


@dataclass(frozen=True)
class _AadError:
    """An error answer of the identity platform, reduced to safe facts."""

    error: str
    aadsts: int | None
    description: str  # first line, scrubbed
    raw_description: str = field(repr=False)
    correlation_id: str | None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> _AadError:
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
    def from_text(cls, text: str) -> _AadError | None:
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


def _tenant_not_found(endpoints: Endpoints, tenant: str, err: _AadError) -> DiagnosedProblem:
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


def _app_token_error(
    endpoints: Endpoints,
    err: _AadError,
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
        return _tenant_not_found(endpoints, tenant, err)
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
            "Upload the certificate's public part (.cer) to the app registration: "
            f"Certificates & secrets > Certificates > Upload certificate (thumbprint {used}).",
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
            "Check the Application (client) ID, and upload the certificate's public part "
            "(.cer) to the app registration: Certificates & secrets > Certificates > "
            f"Upload certificate (thumbprint {sha1}).",
            err.details(thumbprint=sha1, app_id=app, field="pfx_path"),
        )
    if code == 50012 or (code is None and err.error == "invalid_client"):
        # The app exists but its signed assertion was not accepted: for a certificate
        # that Entra cannot match to the app, this is the honest reading.
        return DiagnosedProblem(
            "certificate_not_registered",
            f"The app {app} did not accept the certificate {sha1} ({err.label}).",
            "Upload the certificate's public part (.cer) to the app registration: "
            f"Certificates & secrets > Certificates > Upload certificate (thumbprint {sha1}).",
            err.details(thumbprint=sha1, app_id=app, field="pfx_path"),
        )
    return SignInError(
        "sign_in_declined",
        f"Microsoft Entra refused the app's sign-in ({err.label}): {err.description}",
        "Check the app registration and its certificate in the Microsoft Entra admin "
        "centre; the error code above explains the reason.",
        err.details(app_id=app, tenant=tenant_s),
    )


def _device_flow_error(err: _AadError) -> VdcError:
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
        return _expired(err.details())
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


def _expired(details: dict[str, Any] | None = None) -> SignInError:
    return SignInError(
        "device_code_expired",
        "The sign-in code expired before the sign-in was completed.",
        "Ask for a new code and complete the sign-in before it runs out.",
        details or {},
    )


def _transport_error(what: str, exc: BaseException) -> ServiceUnavailable:
    # Only the exception's type: its text may quote URLs with codes in them.
    return ServiceUnavailable(
        f"{what} failed: the identity platform could not be reached or answered with an "
        f"error ({type(exc).__name__}).",
        details={"exception": type(exc).__name__},
    )


def _admin_of(claims: Mapping[str, Any], result: Mapping[str, Any]) -> SignedInAdmin:
    id_claims = result.get("id_token_claims")
    merged: dict[str, Any] = dict(id_claims) if isinstance(id_claims, Mapping) else {}
    merged.update(claims)
    upn = merged.get("upn") or merged.get("preferred_username") or merged.get("email") or ""
    wids = merged.get("wids")
    return SignedInAdmin(
        upn=str(upn),
        object_id=str(merged.get("oid") or ""),
        tenant_id=str(merged.get("tid") or ""),
        display_name=str(merged["name"]) if merged.get("name") else None,
        role_template_ids=tuple(str(w) for w in wids) if isinstance(wids, list) else (),
    )


# --- discovery shared between MSAL applications -------------------------------------------


@dataclass(frozen=True)
class _StoredAnswer:
    """A GET answer kept for reuse: what MSAL reads of a response (all public data)."""

    status_code: int
    text: str
    headers: dict[str, str]


class SharedDiscoveryHttp:
    """The ``http_client`` every MSAL application of one :class:`IdentityClient` gets.

    GET answers with a 2xx status (the OpenID configuration, instance discovery: public
    documents) are fetched once and handed to every later application for
    :data:`DISCOVERY_TTL_SECONDS`; concurrent first requests for one URL wait for a single
    fetch. POSTs are never stored here: MSAL's own per-application cache replays an HTTP
    400 from the token endpoint for 60 s, and a fresh application per retry must still
    reach the server (research/identity.md §4).

    Args:
        http: The adapter that really sends requests.
        ttl: Seconds a stored answer is reused.
        clock: Monotonic clock (tests move it).
    """

    def __init__(
        self,
        http: MsalHttpClient,
        *,
        ttl: float = DISCOVERY_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.http = http
        self._ttl = ttl
        self._clock = clock
        self._answers: dict[str, tuple[float, _StoredAnswer]] = {}
        self._fetching: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._in_flight = 0
        self._idle = threading.Condition()

    def _begin(self) -> None:
        with self._idle:
            self._in_flight += 1

    def _end(self) -> None:
        with self._idle:
            self._in_flight -= 1
            self._idle.notify_all()

    @staticmethod
    def _key(url: str, params: Mapping[str, Any] | None) -> str:
        return url + "?" + "&".join(f"{k}={v}" for k, v in sorted((params or {}).items()))

    def get(
        self,
        url: str,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> httpx.Response | _StoredAnswer:
        """A stored answer for ``url``, or a real GET (stored when it succeeds)."""
        key = self._key(url, params)
        with self._lock:
            fetching = self._fetching.setdefault(key, threading.Lock())
        # Held across the request on purpose: three parallel token requests for one tenant
        # send one discovery request, and the other two use its answer.
        with fetching:
            with self._lock:
                stored = self._answers.get(key)
            if stored is not None and stored[0] > self._clock():
                return stored[1]
            self._begin()
            try:
                response = self.http.get(url, params=params, headers=headers, **kwargs)
            finally:
                self._end()
            if 200 <= response.status_code < 300:
                answer = _StoredAnswer(response.status_code, response.text, dict(response.headers))
                with self._lock:
                    self._answers[key] = (self._clock() + self._ttl, answer)
            return response

    def post(
        self,
        url: str,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | str | bytes | None = None,
        headers: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Always sent: token and device-code answers are never shared."""
        self._begin()
        try:
            return self.http.post(url, params=params, data=data, headers=headers, **kwargs)
        finally:
            self._end()

    def close(self) -> None:
        """Close the underlying adapter."""
        self.http.close()

    def close_when_idle(self, timeout: float) -> None:
        """Close once no request is in flight (or after ``timeout`` seconds).

        A request of a cancelled call keeps running in its worker thread. Closing the
        connection pool under it does not wake a thread blocked reading the socket; the
        thread would then wait for the server to drop the idle connection (tens of seconds),
        and the interpreter waits for that thread at exit.
        """
        with self._idle:
            self._idle.wait_for(lambda: self._in_flight == 0, timeout=timeout)
        self.http.close()


# --- the client -------------------------------------------------------------------------


class IdentityClient:
    """Device-code sign-in for the admin and certificate sign-in for the app, over MSAL.

    Args:
        endpoints: The cloud or emulator to sign in at.
        client_id: The public client used for the device-code sign-in.
        tenant: Authority tenant of the device-code sign-in (``organizations``, an id or
            a domain).
        timeout: Seconds for each HTTP request MSAL makes.
        http_client: The MSAL HTTP adapter to use (tests pass one with a scripted
            transport); one is made from ``endpoints`` otherwise.
    """

    def __init__(
        self,
        endpoints: Endpoints,
        *,
        client_id: str,
        tenant: str = "organizations",
        timeout: float = 30.0,
        http_client: MsalHttpClient | None = None,
    ) -> None:
        self.endpoints = endpoints
        self.client_id = client_id
        self.tenant = tenant
        self._timeout = timeout
        self._http: MsalHttpClient | None = http_client
        self._shared: SharedDiscoveryHttp | None = None
        self._pca: msal.PublicClientApplication | None = None
        self._prepare_lock = asyncio.Lock()

    @property
    def _instance_discovery(self) -> bool | None:
        # None = MSAL's default (discover) for Microsoft hosts; never for others.
        return None if self.endpoints.authority_is_microsoft else False

    def _http_client(self) -> SharedDiscoveryHttp:
        if self._http is None:
            self._http = MsalHttpClient(self.endpoints, timeout=self._timeout)
        if self._shared is None or self._shared.http is not self._http:
            self._shared = SharedDiscoveryHttp(self._http)
        return self._shared

    async def _in_thread(self, what: str, call: Callable[[], _T], tenant: str) -> _T:
        """Run a blocking MSAL call in a thread and translate its exceptions."""
        try:
            return await asyncio.to_thread(call)
        except VdcError:
            raise
        except httpx.HTTPError as exc:
            raise _transport_error(what, exc) from None
        except MsalServiceError as exc:
            raise _transport_error(what, exc) from None
        except ValueError as exc:
            # MSAL raises ValueError when discovery of the authority answers 4xx (an
            # unknown tenant) and when an answer is not JSON.
            # MSAL re-raises discovery failures with a generic text; the server's answer is
            # in the exception it was handling.
            text = "\n".join(str(e) for e in _exception_chain(exc))
            err = _AadError.from_text(text)
            if err is not None and (err.aadsts in (90002, 900023) or err.error == "invalid_tenant"):
                raise _tenant_not_found(self.endpoints, tenant, err) from None
            status = _DISCOVERY_STATUS.search(text)
            if status and status.group(1) in ("400", "404"):
                # A provider that does not speak AADSTS: no configuration for that tenant.
                raise _tenant_not_found(
                    self.endpoints,
                    tenant,
                    err or _AadError.from_body({"error": f"http_{status.group(1)}"}),
                ) from None
            raise _transport_error(what, exc) from None
        except (AttributeError, KeyError, TypeError, IndexError) as exc:
            # MSAL parses the server's answers without checking their shape: a JSON list,
            # or an object missing a field, surfaces as one of these. Only the type is
            # kept (the text could quote the answer); the log has the traceback.
            _log.warning("%s: malformed answer from the identity platform", what, exc_info=exc)
            raise _transport_error(what, exc) from None

    async def prepare(self) -> None:
        """Build the public client (it fetches the authority's OpenID configuration).

        Safe to call more than once; a failure leaves nothing behind, so a later call
        tries again.

        Raises:
            DiagnosedProblem: ``tenant_not_found`` when the client's tenant is unknown.
            ServiceUnavailable: the identity platform could not be reached.
        """
        async with self._prepare_lock:
            if self._pca is not None:
                return
            http = self._http_client()

            def build() -> msal.PublicClientApplication:
                return msal.PublicClientApplication(
                    self.client_id,
                    authority=self.endpoints.authority(self.tenant),
                    http_client=http,
                    instance_discovery=self._instance_discovery,
                    app_name="vdc-tui",
                )

            self._pca = await self._in_thread("Preparing the sign-in", build, self.tenant)

    async def prepare_tenant(self, tenant_id: str) -> None:
        """Fetch a tenant's OpenID configuration now, so a later :meth:`app_token` for it
        sends only its token request.

        Best effort: a failure is not raised here (the token request that needs the
        configuration reports it with its own error).
        """
        http = self._http_client()

        def build() -> None:
            # A throwaway public client runs exactly MSAL's own discovery for the authority,
            # into the shared answers; it needs no credential.
            msal.PublicClientApplication(
                self.client_id,
                authority=self.endpoints.authority(tenant_id),
                http_client=http,
                instance_discovery=self._instance_discovery,
                app_name="vdc-tui",
            )

        try:
            await self._in_thread("Preparing the app's sign-in", build, tenant_id)
        except VdcError:
            return

    async def start_device_flow(self, scopes: Sequence[str]) -> DeviceFlowSession:
        """Ask for a device code for ``scopes`` (full URIs; MSAL adds openid/profile).

        Raises:
            SignInError: the platform refused (``device_code_blocked_by_policy``, …).
            ServiceUnavailable: it could not be reached.
        """
        await self.prepare()
        pca = self._pca
        assert pca is not None
        try:
            flow: dict[str, Any] = await self._in_thread(
                "Asking for a sign-in code",
                lambda: pca.initiate_device_flow(scopes=list(scopes)),
                self.tenant,
            )
        except ServiceUnavailable:
            # MSAL remembers a 5xx/429 on this object for up to a minute: start afresh.
            self._pca = None
            raise
        if "user_code" not in flow:
            if not flow.get("error"):
                raise ServiceUnavailable(
                    "Asking for a sign-in code failed: the identity platform answered without "
                    "a code or an error.",
                    details={"exception": "MalformedDeviceCodeResponse"},
                )
            raise _device_flow_error(_AadError.from_body(flow))
        expires_in = int(flow.get("expires_in") or 900)
        expires_at = float(flow.get("expires_at") or time.time() + expires_in)
        code = DeviceCode(
            user_code=scrub(str(flow["user_code"]), limit=64),
            verification_uri=scrub(
                str(flow.get("verification_uri") or self.endpoints.cloud.device_login_url),
                limit=500,
            ),
            expires_at=datetime.fromtimestamp(expires_at, UTC),
            expires_in=expires_in,
            interval=int(flow.get("interval") or 5),
            message=scrub(str(flow.get("message") or ""), limit=1000),
        )
        return DeviceFlowSession(flow, code)

    async def wait_for_sign_in(self, session: DeviceFlowSession) -> DelegatedToken:
        """Wait until the code is used to sign in.

        Raises:
            Cancelled: ``session.cancel()`` was called (raised within ~0.1 s of it).
            SignInError: ``sign_in_declined``, ``device_code_expired``,
                ``device_code_blocked_by_policy``.
            DiagnosedProblem: ``user_not_in_tenant``.
            ServiceUnavailable: the identity platform failed or could not be reached.
        """
        if session.cancelled:
            raise Cancelled()
        pca = self._pca
        if pca is None:
            raise RuntimeError("start_device_flow() must come before wait_for_sign_in()")

        def poll() -> dict[str, Any]:
            result: dict[str, Any] = pca.acquire_token_by_device_flow(
                session._flow, exit_condition=session._should_stop
            )
            return result

        task = asyncio.ensure_future(self._in_thread("Waiting for the sign-in", poll, self.tenant))
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=_CANCEL_CHECK_SECONDS)
                if session.cancelled:
                    # The thread notices the flag within a second and ends on its own.
                    task.add_done_callback(_consume)
                    raise Cancelled()
            result = task.result()
        except asyncio.CancelledError:
            session.cancel()
            task.add_done_callback(_consume)
            raise
        if session.cancelled:
            raise Cancelled()
        token = _token_of(result, "Waiting for the sign-in")
        if token is not None:
            claims = decode_jwt_claims(token)
            admin = _admin_of(claims, result)
            tenant_id = admin.tenant_id or _client_info_tenant(result)
            return DelegatedToken(
                access_token=token, claims=claims, admin=admin, tenant_id=tenant_id
            )
        err = _AadError.from_body(result)
        if err.error in ("authorization_pending", "slow_down"):
            # MSAL stopped polling because the code's lifetime ran out.
            raise _expired(err.details())
        raise _device_flow_error(err)

    async def app_token(
        self,
        tenant_id: str,
        client_id: str,
        credential: CertificateCredential,
        scope: str,
    ) -> AppToken:
        """An app-only token for ``scope`` (``https://graph.microsoft.com/.default``).

        A fresh confidential client is built for every call: MSAL would answer a retry
        within 60 s of an HTTP 400 from its cache, which defeats waiting for replication.
        The clients share the tenant's discovery answer (:class:`SharedDiscoveryHttp`), so
        after the first call for a tenant each call sends only its token request.

        Raises:
            DiagnosedProblem: ``tenant_not_found``, ``app_not_found_in_tenant``,
                ``app_missing_service_principal``, ``certificate_not_registered``,
                ``certificate_expired``, ``clock_skew``.
            InvalidInput: the scope was refused (``invalid_argument``).
            SignInError: any other refusal (``sign_in_declined`` with the AADSTS code).
            ServiceUnavailable: the identity platform failed or could not be reached.
        """
        http = self._http_client()

        def acquire() -> dict[str, Any]:
            app = msal.ConfidentialClientApplication(
                client_id,
                client_credential={
                    "private_key": credential.private_key
                    if credential.private_key is not None
                    else credential.private_key_pem.decode("ascii"),
                    # With the certificate and no SHA-1 thumbprint MSAL signs PS256 and
                    # sends x5t#S256, the form Entra documents today.
                    "public_certificate": credential.certificate_pem.decode("ascii"),
                },
                authority=self.endpoints.authority(tenant_id),
                http_client=http,
                instance_discovery=self._instance_discovery,
                app_name="vdc-tui",
            )
            result: dict[str, Any] = app.acquire_token_for_client(scopes=[scope])
            return result

        result = await self._in_thread("Signing in as the app", acquire, tenant_id)
        token = _token_of(result, "Signing in as the app")
        if token is None:
            raise _app_token_error(
                self.endpoints,
                _AadError.from_body(result),
                tenant=tenant_id,
                client_id=client_id,
                credential=credential,
                scope=scope,
            )
        claims = decode_jwt_claims(token)
        roles = claims.get("roles")
        return AppToken(
            access_token=token,
            claims=claims,
            roles=tuple(str(r) for r in roles) if isinstance(roles, list) else (),
            audience=str(claims.get("aud") or ""),
        )

    async def aclose(self) -> None:
        """Close the HTTP client (any wait still running ends with a transport error).

        Requests already sent (by calls that were cancelled) are let finish first, within
        the request timeout, so that no worker thread is left blocked on a closed pool.
        """
        shared, self._shared = self._shared, None
        if self._http is not None:
            http, self._http = self._http, None
            if shared is not None and shared.http is http:
                await asyncio.to_thread(shared.close_when_idle, self._timeout + 5.0)
            else:
                await asyncio.to_thread(http.close)
        self._pca = None


def _token_of(result: Mapping[str, Any], what: str) -> str | None:
    """The access token of a token answer; ``None`` for an error answer.

    Raises:
        ServiceUnavailable: the answer is neither (no token and no error, or a token that
            is not a string): a broken server or a proxy's page, not a refusal to explain.
    """
    token = result.get("access_token")
    if isinstance(token, str) and token:
        return token
    if token is None and result.get("error"):
        return None
    raise ServiceUnavailable(
        f"{what} failed: the identity platform answered without a token or an error.",
        details={"exception": "MalformedTokenResponse"},
    )


def _client_info_tenant(result: Mapping[str, Any]) -> str:
    info = result.get("client_info")
    if not isinstance(info, str):
        return ""
    try:
        decoded = json.loads(base64.urlsafe_b64decode(info + "=" * (-len(info) % 4)))
    except (ValueError, binascii.Error):
        return ""
    return str(decoded.get("utid") or "") if isinstance(decoded, dict) else ""


def _exception_chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 8:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _consume(task: asyncio.Future[Any]) -> None:
    """Retrieve an abandoned task's outcome so asyncio does not log it as never retrieved."""
    if not task.cancelled():
        task.exception()
