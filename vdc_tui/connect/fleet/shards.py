"""MSAL's HTTP adapter split into small pools, one per group of worker threads.

httpcore looks at every connection of a pool on each request and on each answer closed
(``_assign_requests_to_connections``). One pool shared by a fleet check's token requests
holds a connection per request in flight (64 at 32 tenants at a time), so every token
request paid for a scan of all of them: measured with a CPU-time profile of every thread
on 300 tenants, that scan was the largest single cost of the check (about a sixth of the
client's CPU). Here each thread keeps to one small pool (its *shard*), chosen when the
thread first sends: a scan looks at a handful of connections, and a thread's next request
finds its own warm connection.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from vdc_tui.connect.microsoft.clouds import Endpoints
from vdc_tui.connect.microsoft.http import MsalHttpClient

#: Longest ``Retry-After`` a token request waits for, and how often it tries.
TOKEN_RETRY_CAP = 30.0
TOKEN_ATTEMPTS = 4


class PatientMsalHttp(MsalHttpClient):
    """MSAL's ``http_client`` that waits out a token endpoint's 429/503 ``Retry-After``.

    The wait happens in the worker thread of the tenant that was throttled; other tenants'
    requests go on. Waits are capped (:data:`TOKEN_RETRY_CAP`) and tries counted
    (:data:`TOKEN_ATTEMPTS`); the last answer is handed to MSAL as it came.
    """

    def __init__(self, endpoints: Endpoints, *, timeout: float = 30.0,
                 sleep: Callable[[float], None] = time.sleep,
                 transport: httpx.BaseTransport | None = None,
                 limits: httpx.Limits | None = None) -> None:
        super().__init__(endpoints, timeout=timeout, transport=transport, limits=limits)
        self._sleep = sleep

    def post(self, url: str, params: Mapping[str, Any] | None = None,
             data: Mapping[str, Any] | str | bytes | None = None,
             headers: Mapping[str, Any] | None = None, **kwargs: Any) -> httpx.Response:
        from vdc_tui.connect.microsoft.graph import parse_retry_after

        for attempt in range(TOKEN_ATTEMPTS):
            response = super().post(url, params=params, data=data, headers=headers, **kwargs)
            if response.status_code not in (429, 503) or attempt + 1 == TOKEN_ATTEMPTS:
                return response
            wait = parse_retry_after(response.headers)
            self._sleep(min(TOKEN_RETRY_CAP, wait if wait is not None else 2.0 ** attempt))
        raise AssertionError("unreachable")  # pragma: no cover


#: Threads that share one small pool, and connections that pool keeps.
THREADS_PER_SHARD = 4
CONNECTIONS_PER_SHARD = 4


class ShardedMsalHttp(PatientMsalHttp):
    """A :class:`PatientMsalHttp` whose requests go through one of several small pools,
    the same one for every request of a thread (so its ``watch``/``seen`` stay its own).

    Args:
        endpoints: The cloud or emulator.
        threads: Worker threads that will send (the pools are sized for them).
        timeout: Seconds per request.
    """

    def __init__(self, endpoints: Endpoints, *, threads: int, timeout: float = 30.0) -> None:
        # This object's own pool stays unused (no connection is ever opened on it).
        super().__init__(endpoints, timeout=timeout,
                         limits=httpx.Limits(max_connections=1, max_keepalive_connections=1))
        count = max(1, -(-threads // THREADS_PER_SHARD))
        limits = httpx.Limits(max_connections=CONNECTIONS_PER_SHARD,
                              max_keepalive_connections=CONNECTIONS_PER_SHARD)
        self.shards = [PatientMsalHttp(endpoints, timeout=timeout, limits=limits)
                       for _ in range(count)]
        self._next = itertools.count()
        self._mine = threading.local()

    def shard(self) -> PatientMsalHttp:
        """The pool of the calling thread (given out in turn to new threads)."""
        found: PatientMsalHttp | None = getattr(self._mine, "shard", None)
        if found is None:
            found = self.shards[next(self._next) % len(self.shards)]
            self._mine.shard = found
        return found

    def post(self, url: str, params: Mapping[str, Any] | None = None,
             data: Mapping[str, Any] | str | bytes | None = None,
             headers: Mapping[str, Any] | None = None, **kwargs: Any) -> httpx.Response:
        return self.shard().post(url, params=params, data=data, headers=headers, **kwargs)

    def get(self, url: str, params: Mapping[str, Any] | None = None,
            headers: Mapping[str, Any] | None = None, **kwargs: Any) -> httpx.Response:
        return self.shard().get(url, params=params, headers=headers, **kwargs)

    def watch(self) -> None:
        self.shard().watch()

    def seen(self) -> httpx.Response | None:
        return self.shard().seen()

    def close(self) -> None:
        super().close()
        for shard in self.shards:
            shard.close()


__all__ = ["ShardedMsalHttp"]
