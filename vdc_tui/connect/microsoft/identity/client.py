"""The identity client: MSAL's device-code and certificate sign-ins, each behind an async
method (see the package docstring for what MSAL does that shapes it).

Why one file of ~650 lines: :class:`IdentityClient` and :class:`AppSignIn` are one piece.
Every sign-in goes through the same MSAL construction (``_msal_app``), the same thread hop
with its watchdog (``_in_thread``), the same retry of passing failures on a fresh MSAL
application (``_retrying``) and the same AADSTS mapping; the helpers at the end read MSAL's
answers for both. Split by flow, each half would reach into the other's private methods.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import importlib.util
import json
import logging
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import msal
from msal.exceptions import MsalServiceError

from vdc_tui.connect.errors import Cancelled, ServiceUnavailable, VdcError, scrub
from vdc_tui.connect.microsoft.clouds import Endpoints
from vdc_tui.connect.microsoft.http import MsalHttpClient
from vdc_tui.connect.microsoft.identity.aadsts import (
    DISCOVERY_STATUS,
    AadError,
    app_token_error,
    device_flow_error,
    expired_error,
    tenant_not_found,
    transport_error,
)
from vdc_tui.connect.microsoft.identity.discovery_cache import SharedDiscoveryHttp
from vdc_tui.connect.microsoft.identity.tokens import (
    AppToken,
    CertificateCredential,
    DelegatedToken,
    DeviceFlowSession,
    admin_of,
    decode_jwt_claims,
)
from vdc_tui.connect.models import DeviceCode

_T = TypeVar("_T")

_log = logging.getLogger(__name__)

#: How often the async side looks at the cancel flag while MSAL polls in its thread.
_CANCEL_CHECK_SECONDS = 0.1

#: HTTP statuses of a passing failure of the identity platform (throttled, server error).
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Tries of one sign-in request (the device-code request, an app-only token) through
#: passing failures, as for Graph calls. A device-code wait retries for the code's lifetime.
SIGN_IN_ATTEMPTS = 6
#: Longest wait between two tries (a longer ``Retry-After`` is shortened to it).
RETRY_CAP_SECONDS = 10.0


@dataclass
class _Seen:
    """What the HTTP adapter saw of one MSAL call's last answer (MSAL keeps neither)."""

    status: int | None = None
    retry_after: float | None = None
    error: AadError | None = None


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

    def _msal_app(
        self,
        client_id: str,
        tenant: str,
        http: SharedDiscoveryHttp,
        credential: CertificateCredential | None = None,
    ) -> msal.ClientApplication:
        """An MSAL application for ``tenant``'s authority on the shared HTTP adapter: public
        without a credential, confidential with one. Building one fetches the authority's
        OpenID configuration (from the shared answers when it was fetched before)."""
        _absent_msal_extensions_settled()
        common: dict[str, Any] = {
            "authority": self.endpoints.authority(tenant),
            "http_client": http,
            "instance_discovery": self._instance_discovery,
            "app_name": "vdc-tui",
        }
        if credential is None:
            return msal.PublicClientApplication(client_id, **common)
        return msal.ConfidentialClientApplication(
            client_id,
            client_credential={
                "private_key": credential.private_key
                if credential.private_key is not None
                else credential.private_key_pem.decode("ascii"),
                # With the certificate and no SHA-1 thumbprint MSAL signs PS256 and sends
                # x5t#S256, the form Entra documents today.
                "public_certificate": credential.certificate_pem.decode("ascii"),
            },
            **common,
        )

    def _http_client(self) -> SharedDiscoveryHttp:
        if self._http is None:
            self._http = MsalHttpClient(self.endpoints, timeout=self._timeout)
        if self._shared is None or self._shared.http is not self._http:
            self._shared = SharedDiscoveryHttp(self._http)
        return self._shared

    async def _in_thread(
        self, what: str, call: Callable[[], _T], tenant: str, seen: _Seen | None = None
    ) -> _T:
        """Run a blocking MSAL call in a thread and translate its exceptions.

        ``seen`` receives the status and ``Retry-After`` of the call's last answer.
        """
        if seen is not None:
            self._http_client()  # the client to watch exists before the call builds its app
        http = self._http

        def watched() -> _T:
            if seen is None or http is None:
                return call()
            http.watch()
            try:
                return call()
            finally:
                from vdc_tui.connect.microsoft.graph import parse_retry_after

                response = http.seen()
                if response is not None:
                    seen.status = response.status_code
                    seen.retry_after = parse_retry_after(response.headers)
                    if response.status_code >= 400:
                        seen.error = _error_of(response)

        try:
            return await asyncio.to_thread(watched)
        except VdcError:
            raise
        except httpx.HTTPError as exc:
            error = transport_error(what, exc)
            if isinstance(exc, httpx.TransportError):
                error.details["transient"] = True
            raise error from None
        except MsalServiceError as exc:
            raise transport_error(what, exc) from None
        except ValueError as exc:
            # MSAL raises ValueError when discovery of the authority answers 4xx (an
            # unknown tenant) and when an answer is not JSON.
            # MSAL re-raises discovery failures with a generic text; the server's answer is
            # in the exception it was handling.
            text = "\n".join(str(e) for e in _exception_chain(exc))
            err = AadError.from_text(text)
            if err is not None and (err.aadsts in (90002, 900023) or err.error == "invalid_tenant"):
                raise tenant_not_found(self.endpoints, tenant, err) from None
            status = DISCOVERY_STATUS.search(text)
            if status and status.group(1) in ("400", "404"):
                # A provider that does not speak AADSTS: no configuration for that tenant.
                raise tenant_not_found(
                    self.endpoints,
                    tenant,
                    err or AadError.from_body({"error": f"http_{status.group(1)}"}),
                ) from None
            raise transport_error(what, exc) from None
        except (AttributeError, KeyError, TypeError, IndexError) as exc:
            # MSAL parses the server's answers without checking their shape: a JSON list,
            # or an object missing a field, surfaces as one of these. Only the type is
            # kept (the text could quote the answer); the log has the traceback.
            _log.warning("%s: malformed answer from the identity platform", what, exc_info=exc)
            raise transport_error(what, exc) from None

    async def _retrying(
        self,
        what: str,
        attempt: Callable[[_Seen], Awaitable[dict[str, Any]]],
        *,
        attempts: int = SIGN_IN_ATTEMPTS,
        until: float | None = None,
        session: DeviceFlowSession | None = None,
        fresh: Callable[[], Awaitable[None]] | None = None,
    ) -> dict[str, Any]:
        """An MSAL answer, tried again through passing failures of the identity platform.

        Passing: HTTP 429/5xx, ``temporarily_unavailable`` (AADSTS90033), a timeout or a
        dropped connection. The wait is the answer's ``Retry-After`` or a growing backoff,
        at most :data:`RETRY_CAP_SECONDS`; ``fresh`` runs before each new try (a new MSAL
        object: MSAL replays a 429/5xx from its cache for a while). A refusal or an error
        answer that is not passing is returned (or raised) at once.

        Args:
            what: What is being done ("Asking for a sign-in code"), for messages.
            attempt: One try; fills the :class:`_Seen` it is given.
            attempts: Most tries.
            until: Epoch time after which no new try starts (a device code's expiry).
            session: A device-code sign-in whose cancel ends the waits at once.
            fresh: Runs before each new try.

        Raises:
            ServiceUnavailable: still failing after the last try, saying how many tries
                were sent, over how long, and what the last one met.
            Cancelled: ``session`` was cancelled during a wait.
        """
        started = time.monotonic()
        tries = 0
        while True:
            tries += 1
            seen = _Seen()
            try:
                result = await attempt(seen)
            except ServiceUnavailable as exc:
                if not (exc.details.get("transient") or seen.status in TRANSIENT_STATUSES):
                    raise
                happened = self._what_happened(str(exc.details.get("exception") or ""), seen)
            else:
                err = AadError.from_body(result) if result.get("error") else None
                if err is None or not (err.transient or seen.status in TRANSIENT_STATUSES):
                    return result
                happened = (f"HTTP {seen.status} " if seen.status else "") + err.label
            wait = seen.retry_after if seen.retry_after is not None else min(
                RETRY_CAP_SECONDS, 0.5 * 2.0 ** (tries - 1)
            )
            wait = min(wait, RETRY_CAP_SECONDS)
            if tries >= attempts or (until is not None and time.time() + wait >= until):
                elapsed = time.monotonic() - started
                raise ServiceUnavailable(
                    f"{what} failed: the identity platform kept failing "
                    f"({_tries(tries)} in {elapsed:.0f} s; the last one: {happened}).",
                    "Microsoft Entra is having trouble; try again in a few minutes, and see "
                    "the Microsoft 365 service health page. `vdc-tui doctor` tests the "
                    "connection to the cloud's endpoints.",
                    {"tries": tries, "last": happened, "seconds": round(elapsed, 1)},
                )
            _log.info("%s: %s; trying again in %.1f s", what, happened, wait)
            await _pause(wait, session)
            if fresh is not None:
                await fresh()

    def _what_happened(self, exception: str, seen: _Seen) -> str:
        """A passing failure in words: what the request met."""
        if "Timeout" in exception:
            return f"no answer within {self._timeout:.0f} s ({exception})"
        if exception.startswith("Connect"):
            return f"the connection could not be made ({exception})"
        if exception in ("RemoteProtocolError", "ReadError", "WriteError"):
            return f"the connection dropped without an answer ({exception})"
        if seen.status is not None and seen.error is not None:
            return f"HTTP {seen.status} {seen.error.label}"
        if seen.status is not None:
            return f"HTTP {seen.status} ({exception or 'no usable answer'})"
        return exception or "no usable answer"

    async def _fresh_public_client(self) -> None:
        """A new public client (MSAL replays a 429/5xx of the old one from its cache)."""
        self._pca = None
        await self.prepare()

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
                app = self._msal_app(self.client_id, self.tenant, http)
                assert isinstance(app, msal.PublicClientApplication)
                return app

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
            self._msal_app(self.client_id, tenant_id, http)

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
        what = "Asking for a sign-in code"

        async def attempt(seen: _Seen) -> dict[str, Any]:
            pca = self._pca
            assert pca is not None
            flow: dict[str, Any] = await self._in_thread(
                what, lambda: pca.initiate_device_flow(scopes=list(scopes)), self.tenant, seen
            )
            return flow

        try:
            flow = await self._retrying(what, attempt, fresh=self._fresh_public_client)
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
            raise device_flow_error(AadError.from_body(flow))
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
        if self._pca is None:
            raise RuntimeError("start_device_flow() must come before wait_for_sign_in()")
        what = "Waiting for the sign-in"

        async def attempt(seen: _Seen) -> dict[str, Any]:
            pca = self._pca
            assert pca is not None

            def poll() -> dict[str, Any]:
                result: dict[str, Any] = pca.acquire_token_by_device_flow(
                    session._flow, exit_condition=session._should_stop
                )
                return result

            task = asyncio.ensure_future(self._in_thread(what, poll, self.tenant, seen))
            try:
                while not task.done():
                    await asyncio.wait({task}, timeout=_CANCEL_CHECK_SECONDS)
                    if session.cancelled:
                        # The thread notices the flag within a second and ends on its own.
                        task.add_done_callback(_consume)
                        raise Cancelled()
                return task.result()
            except asyncio.CancelledError:
                session.cancel()
                task.add_done_callback(_consume)
                raise

        # A passing failure of a poll does not end the sign-in: the code is still valid,
        # so polling goes on (with a new public client) until the code expires.
        result = await self._retrying(
            what,
            attempt,
            attempts=1_000_000,
            until=float(session._flow.get("expires_at") or 0) or None,
            session=session,
            fresh=self._fresh_public_client,
        )
        if session.cancelled:
            raise Cancelled()
        token = _token_of(result, "Waiting for the sign-in")
        if token is not None:
            claims = decode_jwt_claims(token)
            admin = admin_of(claims, result)
            tenant_id = admin.tenant_id or _client_info_tenant(result)
            return DelegatedToken(
                access_token=token, claims=claims, admin=admin, tenant_id=tenant_id
            )
        err = AadError.from_body(result)
        if err.error in ("authorization_pending", "slow_down"):
            # MSAL stopped polling because the code's lifetime ran out.
            raise expired_error(err.details())
        raise device_flow_error(err)

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
        after the first call for a tenant each call sends only its token request. Callers
        that ask once for each of several resources use :meth:`app_sign_in` instead.

        Raises:
            DiagnosedProblem: ``tenant_not_found``, ``app_not_found_in_tenant``,
                ``app_missing_service_principal``, ``certificate_not_registered``,
                ``certificate_expired``, ``clock_skew``.
            InvalidInput: the scope was refused (``invalid_argument``).
            SignInError: any other refusal (``sign_in_declined`` with the AADSTS code).
            ServiceUnavailable: the identity platform failed or could not be reached.
        """
        return await AppSignIn(self, tenant_id, client_id, credential, reuse=False).token(scope)

    def app_sign_in(
        self, tenant_id: str, client_id: str, credential: CertificateCredential
    ) -> AppSignIn:
        """One app's sign-ins in one tenant, one token per resource, on a single MSAL
        application: built once, it signs its client assertion once (MSAL reuses it until
        it nears expiry) and parses the key once, where :meth:`app_token` does all of it
        again for every call. For reads that ask each resource once (a health check);
        never for retrying a refused request (MSAL would replay a 400 from its cache)."""
        return AppSignIn(self, tenant_id, client_id, credential, reuse=True)

    def _app_token_of(
        self,
        result: Mapping[str, Any],
        tenant_id: str,
        client_id: str,
        credential: CertificateCredential,
        scope: str,
    ) -> AppToken:
        token = _token_of(result, "Signing in as the app")
        if token is None:
            raise app_token_error(
                self.endpoints,
                AadError.from_body(result),
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

    def forget_delegated(self) -> int:
        """Drop every signed-in account (its access and refresh tokens) from the public
        client's MSAL cache: after the consent cleanup no delegated token is kept for later
        use. Returns how many accounts were dropped."""
        app = self._pca
        if app is None:
            return 0
        accounts = app.get_accounts()
        for account in accounts:
            app.remove_account(account)
        return len(accounts)

    async def aclose(self, *, abandon: bool = False) -> None:
        """Close the HTTP client (any wait still running ends with a transport error).

        Requests already sent (by calls that were cancelled) are let finish first, within
        the request timeout, so that no worker thread is left blocked on a closed pool.
        ``abandon``: close at once instead, for a run that is being cancelled and ends
        (a tenant that never answers would otherwise hold it for the whole timeout).
        """
        shared, self._shared = self._shared, None
        if self._http is not None:
            http, self._http = self._http, None
            if shared is not None and shared.http is http and not abandon:
                await asyncio.to_thread(shared.close_when_idle, self._timeout + 5.0)
            else:
                await asyncio.to_thread(http.close)
        self._pca = None


class AppSignIn:
    """App-only tokens of one app in one tenant (:meth:`IdentityClient.app_sign_in`).

    With ``reuse`` one MSAL confidential client serves every :meth:`token` call (built on
    the first, in its worker thread); without, each call builds its own.
    """

    def __init__(self, identity: IdentityClient, tenant_id: str, client_id: str,
                 credential: CertificateCredential, *, reuse: bool) -> None:
        self.identity = identity
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.credential = credential
        self._reuse = reuse
        self._app: msal.ConfidentialClientApplication | None = None
        self._lock = threading.Lock()

    def _application(self) -> msal.ConfidentialClientApplication:
        identity = self.identity
        with self._lock:
            if self._app is not None:
                return self._app
            app = identity._msal_app(self.client_id, self.tenant_id, identity._http_client(),
                                     self.credential)
            assert isinstance(app, msal.ConfidentialClientApplication)
            if self._reuse:
                self._app = app
            return app

    async def token(self, scope: str) -> AppToken:
        """An app-only token for ``scope``; raises what :meth:`IdentityClient.app_token`
        raises."""

        def acquire() -> dict[str, Any]:
            result: dict[str, Any] = self._application().acquire_token_for_client(
                scopes=[scope])
            return result

        async def forget() -> None:
            # A passing failure is tried again on a new MSAL application: the old one
            # would replay the 429/5xx from its cache for a while.
            with self._lock:
                self._app = None

        identity = self.identity
        what = "Signing in as the app"
        result = await identity._retrying(
            what, lambda seen: identity._in_thread(what, acquire, self.tenant_id, seen),
            fresh=forget)
        return identity._app_token_of(result, self.tenant_id, self.client_id,
                                      self.credential, scope)


@functools.cache
def _absent_msal_extensions_settled() -> None:
    """Tell Python once that the optional ``msal_extensions`` is not installed.

    Every MSAL application's constructor tries ``import msal_extensions`` (to warn about
    old versions). A failed import is not remembered: each try searches ``sys.path`` again
    under the import lock, which a fleet check's threads then queue for. Measured with a
    sampling profile of a 5,000-tenant check, those failed imports were about a tenth of
    the client's samples. ``None`` in ``sys.modules`` makes the import fail at once with
    ``ImportError`` (what MSAL expects when it is absent); when it is installed nothing
    changes.
    """
    if "msal_extensions" not in sys.modules and importlib.util.find_spec(
            "msal_extensions") is None:
        sys.modules["msal_extensions"] = None  # type: ignore[assignment]


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


def _error_of(response: httpx.Response) -> AadError | None:
    """The error answer in a response's body, when it is one (JSON with ``error``)."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    return AadError.from_body(body) if isinstance(body, dict) and body.get("error") else None


def _tries(n: int) -> str:
    return "1 try" if n == 1 else f"{n} tries"


async def _pause(seconds: float, session: DeviceFlowSession | None) -> None:
    """Sleep; a cancelled device-code sign-in ends it within ~0.1 s."""
    deadline = time.monotonic() + seconds
    while True:
        if session is not None and session.cancelled:
            raise Cancelled()
        left = deadline - time.monotonic()
        if left <= 0:
            return
        await asyncio.sleep(min(left, _CANCEL_CHECK_SECONDS))


def _consume(task: asyncio.Future[Any]) -> None:
    """Retrieve an abandoned task's outcome so asyncio does not log it as never retrieved."""
    if not task.cancelled():
        task.exception()


__all__ = ["AppSignIn", "IdentityClient"]
