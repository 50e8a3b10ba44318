"""TLS settings and HTTP clients for the identity platform and Microsoft Graph.

TLS is always verified: against the system trust store by default, or against exactly the
CA bundle the operator gave (``--ca-bundle``, or the emulator's CA). CA environment
variables (``REQUESTS_CA_BUNDLE``, ``SSL_CERT_FILE``) never replace an explicit bundle: the
clients get a ready :class:`ssl.SSLContext`, which httpx uses as it is. Proxy variables are
honoured, except for loopback addresses (the emulator), which are always reached directly.

:class:`MsalHttpClient` is what MSAL gets as ``http_client``: it sends forms the way
``requests`` would (see the class), over an ``httpx.Client`` with our TLS context.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Mapping
from typing import Any

import httpx

from vdc_tui.connect.errors import InvalidInput
from vdc_tui.connect.microsoft.clouds import Endpoints

#: Loopback hosts never go through a proxy: the emulator lives there.
_DIRECT_HOSTS: dict[str, httpx.BaseTransport | None] = {
    "all://127.0.0.1": None,
    "all://localhost": None,
    "all://[::1]": None,
}


#: The largest answer read from the identity platform or Graph. Real answers are a few
#: kilobytes (a page of 999 objects: a few megabytes); a bigger one is a broken or hostile
#: server, and reading it whole would exhaust memory.
MAX_RESPONSE_BYTES = 32 * 1024 * 1024

#: Headers that describe the wire form of a body, not the decoded bytes we keep.
_WIRE_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class ResponseTooLarge(httpx.HTTPError):
    """An answer was larger than :data:`MAX_RESPONSE_BYTES` (a transport-level failure)."""


def _read_response(response: httpx.Response, chunks: list[bytes]) -> httpx.Response:
    """A complete response holding the decoded body ``chunks``."""
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _WIRE_HEADERS]
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=b"".join(chunks),
        request=response.request,
        extensions=response.extensions,
    )


def read_bounded(response: httpx.Response, limit: int = MAX_RESPONSE_BYTES) -> httpx.Response:
    """Read a streamed response's body, at most ``limit`` bytes, and close it.

    Raises:
        ResponseTooLarge: the body is larger.
    """
    try:
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise ResponseTooLarge(f"the answer is larger than {limit} bytes")
            chunks.append(chunk)
    finally:
        response.close()
    return _read_response(response, chunks)


async def aread_bounded(
    response: httpx.Response, limit: int = MAX_RESPONSE_BYTES
) -> httpx.Response:
    """:func:`read_bounded` for an ``httpx.AsyncClient`` response."""
    try:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise ResponseTooLarge(f"the answer is larger than {limit} bytes")
            chunks.append(chunk)
    finally:
        await response.aclose()
    return _read_response(response, chunks)


def ssl_context(endpoints: Endpoints) -> ssl.SSLContext:
    """A verifying TLS context: the system trust store, or only ``endpoints.ca_bundle``.

    Raises:
        InvalidInput: the CA bundle cannot be read or holds no certificate.
    """
    if endpoints.ca_bundle is not None:
        try:
            return ssl.create_default_context(cafile=str(endpoints.ca_bundle))
        except (OSError, ssl.SSLError) as exc:
            raise InvalidInput(
                "invalid_argument",
                f"The CA bundle {str(endpoints.ca_bundle)!r} cannot be used "
                f"({type(exc).__name__}).",
                "Give the path of a PEM file with the CA certificates to trust.",
                {"field": "ca_bundle"},
            ) from None
    context = ssl.create_default_context()
    if context.cert_store_stats().get("x509_ca", 0) == 0:
        # Some Python builds (python.org on macOS) ship without a usable system store;
        # certifi (an httpx dependency) is the trust store they are meant to use.
        import certifi

        context.load_verify_locations(cafile=certifi.where())
    return context


def make_async_client(
    endpoints: Endpoints, *, timeout: float = 30.0, limits: httpx.Limits | None = None,
    context: ssl.SSLContext | None = None,
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` with verified TLS, timeouts and proxy support.

    ``limits``: the connection pool's size (a fleet check keeps one connection per tenant
    being checked alive, instead of new TLS handshakes). ``context``: a TLS context made
    by :func:`ssl_context` for the same endpoints, shared by several clients (reading the
    trust store once).
    """
    return httpx.AsyncClient(
        verify=context if context is not None else ssl_context(endpoints),
        timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
        trust_env=True,
        follow_redirects=False,
        mounts=dict(_async_direct_hosts()),
        limits=limits or httpx.Limits(max_connections=100, max_keepalive_connections=20),
    )


class _ThreadedTransport(httpx.AsyncBaseTransport):
    """Sends an async client's requests with a blocking ``httpx.Client`` in a worker thread.

    httpx's async stack (httpcore over anyio) spends several times the CPU of the blocking
    one per request; a fleet check makes hundreds of Graph requests with the event loop's
    CPU as the limit. The body is read in the thread (raw, at most ``limit`` bytes; the
    async client decodes it) so that the loop only sees a finished answer.
    """

    def __init__(self, client: httpx.Client, limit: int = MAX_RESPONSE_BYTES) -> None:
        self._client = client
        self._limit = limit

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()  # the body as bytes, which the blocking client can send
        return await asyncio.to_thread(self._send, request)

    def _send(self, request: httpx.Request) -> httpx.Response:
        response = self._client.send(request, stream=True)
        if response.is_stream_consumed:
            # An in-process transport (tests) answered with its body already decoded.
            if len(response.content) > self._limit:
                raise ResponseTooLarge(f"the answer is larger than {self._limit} bytes")
            return _read_response(response, [response.content])
        try:
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_raw():
                size += len(chunk)
                if size > self._limit:
                    raise ResponseTooLarge(f"the answer is larger than {self._limit} bytes")
                chunks.append(chunk)
        finally:
            response.close()
        extensions = {k: v for k, v in response.extensions.items()
                      if k in ("http_version", "reason_phrase")}
        return httpx.Response(response.status_code, headers=response.headers.raw,
                              stream=httpx.ByteStream(b"".join(chunks)),
                              extensions=extensions)

    async def aclose(self) -> None:
        await asyncio.to_thread(self._client.close)


def make_threaded_async_client(
    endpoints: Endpoints, *, timeout: float = 30.0, limits: httpx.Limits | None = None,
    context: ssl.SSLContext | None = None, transport: httpx.BaseTransport | None = None,
) -> httpx.AsyncClient:
    """:func:`make_async_client`'s equal (same TLS, timeouts, proxies, loopback direct)
    whose requests go out through a blocking client in worker threads
    (:class:`_ThreadedTransport`): for many small requests where the event loop's CPU is
    the limit (a fleet check). ``transport``: tests script the server with one.
    """
    if transport is not None:
        inner = httpx.Client(transport=transport, timeout=timeout)
    else:
        inner = httpx.Client(
            verify=context if context is not None else ssl_context(endpoints),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
            trust_env=True,
            follow_redirects=False,
            mounts=dict(_DIRECT_HOSTS),
            limits=limits or httpx.Limits(max_connections=100, max_keepalive_connections=20),
        )
    return httpx.AsyncClient(
        transport=_ThreadedTransport(inner),
        timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
        trust_env=False,  # the inner client applies the proxy settings
        follow_redirects=False,
    )


def _async_direct_hosts() -> dict[str, httpx.AsyncBaseTransport | None]:
    return {pattern: None for pattern in _DIRECT_HOSTS}


def form_fields(data: Mapping[str, Any]) -> dict[str, str]:
    """Form fields as ``requests`` would send them: ``None`` dropped, bytes decoded.

    MSAL puts the signed client assertion into the form as ``bytes``; httpx would send
    such a value as the text ``b'eyJ…'`` and every certificate sign-in would fail.
    """
    fields: dict[str, str] = {}
    for key, value in data.items():
        if value is None:
            continue
        if isinstance(value, bytes | bytearray):
            fields[str(key)] = bytes(value).decode("utf-8")
        else:
            fields[str(key)] = str(value)
    return fields


def _plain(mapping: Mapping[str, Any] | None) -> dict[str, str] | None:
    if mapping is None:
        return None
    return {
        str(k): v.decode() if isinstance(v, bytes) else str(v)
        for k, v in mapping.items()
        if v is not None
    }


class MsalHttpClient:
    """The ``http_client`` MSAL is given: an adapter over an ``httpx.Client``.

    MSAL calls ``post``/``get`` with ``requests``-style arguments and reads
    ``status_code``, ``text`` and ``headers`` of the answer, which an ``httpx.Response``
    has. Form values are cleaned by :func:`form_fields`. The client is safe to use from
    the worker threads MSAL runs in (httpx's connection pool is thread-safe).
    """

    def __init__(
        self,
        endpoints: Endpoints,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        limits: httpx.Limits | None = None,
    ) -> None:
        self._timeout = timeout
        self._seen = threading.local()
        if transport is not None:
            # Tests script the identity platform with an in-process transport.
            self._client = httpx.Client(transport=transport, timeout=timeout)
            return
        self._client = httpx.Client(
            verify=ssl_context(endpoints),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
            trust_env=True,
            follow_redirects=False,
            mounts=dict(_DIRECT_HOSTS),
            limits=limits or httpx.Limits(max_connections=100, max_keepalive_connections=20),
        )

    def post(
        self,
        url: str,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | str | bytes | None = None,
        headers: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """POST a form (or a raw body) the way MSAL expects."""
        timeout = kwargs.get("timeout", self._timeout)
        if isinstance(data, Mapping):
            request = self._client.build_request(
                "POST",
                url,
                params=_plain(params),
                data=form_fields(data),
                headers=_plain(headers),
                timeout=timeout,
            )
        else:
            content = data.encode() if isinstance(data, str) else data
            request = self._client.build_request(
                "POST", url, params=_plain(params), content=content, headers=_plain(headers),
                timeout=timeout,
            )
        return self._note(read_bounded(self._client.send(request, stream=True)))

    def get(
        self,
        url: str,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """GET (MSAL uses it for discovery documents)."""
        timeout = kwargs.get("timeout", self._timeout)
        request = self._client.build_request(
            "GET", url, params=_plain(params), headers=_plain(headers), timeout=timeout
        )
        return self._note(read_bounded(self._client.send(request, stream=True)))

    def watch(self) -> None:
        """Start noting, for this thread, the last answer's status and ``Retry-After``
        (MSAL keeps neither; the identity client's retries need both)."""
        self._seen.response = None

    def seen(self) -> httpx.Response | None:
        """This thread's last answer since :meth:`watch` (its status, headers and body)."""
        response: httpx.Response | None = getattr(self._seen, "response", None)
        return response

    def _note(self, response: httpx.Response) -> httpx.Response:
        self._seen.response = response
        return response

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()
