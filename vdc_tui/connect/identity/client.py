"""The identity client: MSAL's device-code and certificate sign-ins, each behind an async
method (see the package docstring for what MSAL does that shapes it)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import msal
from msal.exceptions import MsalServiceError

from ..clouds import Endpoints
from ..errors import Cancelled, ServiceUnavailable, VdcError, scrub
from ..http import MsalHttpClient
from ..models import DeviceCode
from .aadsts import (
    DISCOVERY_STATUS,
    AadError,
    app_token_error,
    device_flow_error,
    expired_error,
    tenant_not_found,
    transport_error,
)
from .discovery_cache import SharedDiscoveryHttp
from .tokens import (
    AppToken,
    CertificateCredential,
    DelegatedToken,
    DeviceFlowSession,
    admin_of,
    decode_jwt_claims,
)

_T = TypeVar("_T")

_log = logging.getLogger(__name__)

#: How often the async side looks at the cancel flag while MSAL polls in its thread.
_CANCEL_CHECK_SECONDS = 0.1


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

    async def _in_thread(self, what: str, call: Callable[[], _T], tenant: str) -> _T:
        """Run a blocking MSAL call in a thread and translate its exceptions."""
        try:
            return await asyncio.to_thread(call)
        except VdcError:
            raise
        except httpx.HTTPError as exc:
            raise transport_error(what, exc) from None
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

        identity = self.identity
        result = await identity._in_thread("Signing in as the app", acquire, self.tenant_id)
        return identity._app_token_of(result, self.tenant_id, self.client_id,
                                      self.credential, scope)


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


__all__ = ["AppSignIn", "IdentityClient"]
