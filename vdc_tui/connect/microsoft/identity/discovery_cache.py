"""Discovery answers shared by the MSAL applications of one identity client.

A fresh MSAL application fetches the tenant's OpenID configuration again before its token
request (MSAL keeps GET answers only in the application's own ``http_cache``). This adapter
caches successful GETs for :data:`DISCOVERY_TTL_SECONDS` and never a POST, so MSAL's
habit of caching HTTP 400 answers of a token request stays out of reach.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from vdc_tui.connect.microsoft.http import MsalHttpClient

#: Seconds a discovery answer is shared between the MSAL applications of one client. A run
#: lasts minutes; MSAL itself keeps a GET answer for 24 h within one application.
DISCOVERY_TTL_SECONDS = 3600.0


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


__all__ = ["DISCOVERY_TTL_SECONDS", "SharedDiscoveryHttp"]
