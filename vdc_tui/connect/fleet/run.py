"""Checking every saved connection at once, and remembering the last answer per tenant.

- A bounded number of tenants is checked at a time (``concurrency``); each has its own
  deadline, so one slow or dead tenant never holds the others.
- One :class:`~.identity.IdentityClient` (one MSAL ``http_client``, one HTTPS pool) and one
  ``httpx.AsyncClient`` serve every tenant: 500 tenants do not mean 500 TLS handshakes per
  call. MSAL runs in threads, so the loop gets a thread pool sized for the concurrency.
- A token request answered 429/503 with ``Retry-After`` is sent again after that wait by
  :class:`PatientMsalHttp` (in the worker thread of that tenant alone); Graph calls honour
  it in :class:`~.graph.GraphClient`.
- The last result of each tenant is kept with its time in the tenant's folder
  (``health.json``, :class:`~.health.HealthCache`, in ``health.py`` so that the dashboard
  reads it without importing the network stack), so the dashboard opens with it at once
  and says how old it is.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import logging
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from vdc_tui.connect.errors import InvalidInput, scrub
from vdc_tui.connect.fleet.check import HealthChecker, KeyReader
from vdc_tui.connect.fleet.health import (
    BROKEN,
    HEALTHY,
    WARNING,
    FleetProgress,
    HealthCache,
    TenantHealth,
    unreachable_health,
)
from vdc_tui.connect.microsoft.clouds import Endpoints
from vdc_tui.connect.microsoft.http import make_threaded_async_client, ssl_context
from vdc_tui.connect.store.fsutil import atomic_write
from vdc_tui.connect.store.profiles import ProfileEntry, ProfileStore

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 32
MAX_CONCURRENCY = 256
#: Seconds one tenant may take before it is reported unreachable.
DEFAULT_DEADLINE = 60.0
#: Public client id used only to build the identity client (app-only sign-ins ignore it).
_UNUSED_PUBLIC_CLIENT = "14d82eec-204b-4c2f-b7e8-296a70dab67e"

#: Exit codes of ``connections check`` (design.md).
EXIT_OK, EXIT_BROKEN, EXIT_UNREACHABLE = 0, 3, 4


# --- the run --------------------------------------------------------------------------


ProgressSink = Callable[[FleetProgress], None]

@dataclass(frozen=True)
class _Pool:
    executor: concurrent.futures.ThreadPoolExecutor
    workers: int
    prefix: str  # its threads' names: f"{prefix}_{n}"


_executors: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Pool] = (
    weakref.WeakKeyDictionary())
#: Thread-name prefixes of the pools :func:`abandon_threads` let go (see
#: :func:`abandoned_work`); each pool gets its own.
_abandoned: list[str] = []
_pools = itertools.count(1)


def ensure_threads(workers: int) -> None:
    """Give the running loop a default thread pool of at least ``workers`` threads.

    MSAL is synchronous and runs in ``asyncio.to_thread``; Python's default pool has
    ``min(32, cpus + 4)`` threads, which would queue a fleet's sign-ins behind each other.
    """
    loop = asyncio.get_running_loop()
    current = _executors.get(loop)
    if current is not None and current.workers >= workers:
        return
    prefix = f"vdc-health-{next(_pools)}"
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=workers,
                                                     thread_name_prefix=prefix)
    loop.set_default_executor(executor)
    _executors[loop] = _Pool(executor, workers, prefix)


def abandon_threads() -> None:
    """Stop waiting for the pool :func:`ensure_threads` gave the running loop.

    A cancelled check has nothing left to do, but a thread blocked in a tenant's read
    (MSAL waits on a server that does not answer) would hold ``asyncio.run`` until its HTTP
    timeout. The loop gets a fresh pool, and the old one is shut down without waiting: its
    queued calls are dropped, and a blocked thread ends on its own when its read times out.
    """
    loop = asyncio.get_running_loop()
    old = _executors.pop(loop, None)
    if old is None:
        return
    loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(
        max_workers=4, thread_name_prefix="vdc-health-end"))
    old.executor.shutdown(wait=False, cancel_futures=True)
    _abandoned.append(old.prefix)


def abandoned_work() -> bool:
    """Whether a thread of an abandoned pool is still waiting on a tenant's answer.

    Python joins every worker thread at exit; the command line's entry point asks this
    before it ends, and does not wait for such a thread (nothing is left to do with it).
    """
    names = tuple(f"{prefix}_" for prefix in _abandoned)
    return bool(names) and any(t.name.startswith(names) and t.is_alive()
                               for t in threading.enumerate())


class FleetCheck:
    """Checks many saved connections concurrently and keeps each result.

    Args:
        store: The profiles (and where results are kept).
        endpoints: The cloud or emulator.
        concurrency: Tenants checked at the same time.
        deadline: Seconds one tenant may take before it is reported unreachable.
        read_key: Loads a tenant's key (default: ``store.read_key``).
        keep: Write each result to the cache (off in tests that compare runs).
        workers: Processes the tenants are spread over (``workers.py``; 1 = this one).
    """

    def __init__(
        self,
        store: ProfileStore,
        endpoints: Endpoints,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        deadline: float = DEFAULT_DEADLINE,
        read_key: KeyReader | None = None,
        keep: bool = True,
        timeout: float = 30.0,
        workers: int = 1,
    ) -> None:
        self.store = store
        self.endpoints = endpoints
        self.concurrency = max(1, min(MAX_CONCURRENCY, concurrency))
        self.deadline = deadline
        self.read_key = read_key or store.read_key
        # Workers read keys from the store themselves: a given reader keeps it in process.
        self.workers = max(1, workers) if read_key is None else 1
        self.cache = HealthCache(store)
        self.keep = keep
        #: Put kept results into the dashboard's index (summaries.py; off in workers).
        self.index = keep
        self.timeout = min(timeout, deadline)

    async def run(self, entries: Sequence[ProfileEntry],
                  on_progress: ProgressSink | None = None) -> list[TenantHealth]:
        """Check ``entries``; results in the order of ``entries``. Never raises for what a
        tenant answers; cancelling the call cancels every check still running."""
        sink = on_progress or (lambda _p: None)
        if self.workers > 1 and len(entries) > 1:  # before this process loads MSAL or threads
            from vdc_tui.connect.fleet.workers import spread

            spread_results = await spread(self, entries, self.workers, sink)
            await self._index(entries, spread_results)
            return spread_results
        from vdc_tui.connect.microsoft.identity import IdentityClient

        ensure_threads(min(4 * self.concurrency, 512))
        total = len(entries)
        done = 0
        # A slot per tenant checked at a time, each with its own small Graph client, handed
        # from one tenant to the next: its connection stays open (one TLS handshake per
        # slot, not per tenant), and httpcore, which looks at every connection of a pool on
        # each request (~50 µs per idle TLS connection), looks at one or two instead of a
        # whole fleet's (that scan alone cost ~10 ms of CPU per Graph request at 32 slots).
        # Its requests go out from worker threads on httpx's blocking stack, several times
        # cheaper in CPU than the async one, which ran on the loop every tenant waits on.
        context = ssl_context(self.endpoints)
        slots: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
        clients = [
            make_threaded_async_client(
                self.endpoints, timeout=self.timeout, context=context,
                limits=httpx.Limits(max_connections=2, max_keepalive_connections=2))
            for _ in range(max(1, min(self.concurrency, total)))
        ]
        for client in clients:
            slots.put_nowait(client)
        # MSAL's requests: a connection for each of a slot's token requests in flight, in
        # small pools of a few threads each (shards.py: one big pool's scan cost the most).
        from vdc_tui.connect.fleet.shards import ShardedMsalHttp

        identity = IdentityClient(
            self.endpoints, client_id=_UNUSED_PUBLIC_CLIENT, timeout=self.timeout,
            http_client=ShardedMsalHttp(self.endpoints, threads=2 * self.concurrency,
                                        timeout=self.timeout))
        checker = HealthChecker(self.endpoints, identity, clients[0], self.read_key)

        async def one(entry: ProfileEntry) -> TenantHealth:
            nonlocal done
            http = await slots.get()
            try:
                sink(FleetProgress(entry.tenant_id, None, done, total))
                try:
                    result = await asyncio.wait_for(checker.check(entry, http=http),
                                                    self.deadline)
                except TimeoutError:
                    result = unreachable_health(
                        entry, f"No complete answer within {self.deadline:g} s; the tenant "
                        "was not reachable in time.")
                except Exception as exc:  # a bug must not hide the other tenants
                    log.error("health check of %s failed", entry.tenant_id, exc_info=exc)
                    result = unreachable_health(
                        entry, f"The check failed unexpectedly ({type(exc).__name__}).")
            finally:
                slots.put_nowait(http)
            if self.keep:
                await asyncio.to_thread(self.cache.save, result)
            done += 1
            sink(FleetProgress(entry.tenant_id, result, done, total))
            return result

        cancelled = False
        try:
            results = list(await asyncio.gather(*(one(e) for e in entries)))
            await self._index(entries, results)
            return results
        except asyncio.CancelledError:
            cancelled = True
            abandon_threads()
            raise
        finally:
            for client in clients:
                await client.aclose()
            with contextlib.suppress(Exception):
                await identity.aclose(abandon=cancelled)


    async def _index(self, entries: Sequence[ProfileEntry],
                     results: list[TenantHealth]) -> None:
        if self.keep and self.index:
            from vdc_tui.connect.fleet.summaries import keep_in_index

            await asyncio.to_thread(keep_in_index, self.store, entries, results)


# --- what a run amounts to --------------------------------------------------------------


def worst_first(results: Iterable[TenantHealth]) -> list[TenantHealth]:
    """Unreachable and broken first, then warnings (fewest days left first), then healthy."""
    return sorted(results, key=lambda r: r.rank)


def exit_code(results: Sequence[TenantHealth]) -> int:
    """4 when a tenant could not be reached, else 3 when one is broken, else 0."""
    if any(r.unreachable for r in results):
        return EXIT_UNREACHABLE
    if any(r.health == BROKEN for r in results):
        return EXIT_BROKEN
    return EXIT_OK


def summary(results: Sequence[TenantHealth]) -> dict[str, Any]:
    """The ``connections check --json`` document (design.md's contract)."""
    counts = {h: sum(1 for r in results if r.health == h) for h in (HEALTHY, WARNING, BROKEN)}
    if any(r.unreachable for r in results):
        status = "unreachable"
    elif counts[BROKEN]:
        status = BROKEN
    elif counts[WARNING]:
        status = WARNING
    else:
        status = HEALTHY
    return {
        "status": status,
        "checked": len(results),
        "healthy": counts[HEALTHY],
        "warning": counts[WARNING],
        "broken": counts[BROKEN],
        "unreachable": sum(1 for r in results if r.unreachable),
        "connections": [r.to_json() for r in worst_first(results)],
    }


# --- OpenMetrics for node-exporter's textfile collector ---------------------------------

_HEALTH_VALUE = {HEALTHY: 0, WARNING: 1, BROKEN: 2}
#: ``vdc_tui_connection_health`` of a tenant this run could not reach: its health is not
#: known (a network outage, a proxy, ``--deadline``), so it is neither of the verdicts and
#: an alert on ``== 2`` (broken) does not fire for it; ``vdc_tui_connection_unreachable``
#: says why.
UNKNOWN_HEALTH_VALUE = -1
#: The ``health`` label of ``vdc_tui_connections`` that counts the unreachable tenants.
UNREACHABLE = "unreachable"


def metric_health(result: TenantHealth) -> int:
    """The value of ``vdc_tui_connection_health``: 0, 1, 2, or -1 when not reached."""
    return UNKNOWN_HEALTH_VALUE if result.unreachable else _HEALTH_VALUE[result.health]


def openmetrics_text(results: Sequence[TenantHealth], *, now: float | None = None) -> bytes:
    """The results as OpenMetrics text (ends with ``# EOF``)."""
    from prometheus_client import CollectorRegistry, Gauge
    from prometheus_client.openmetrics.exposition import generate_latest

    registry = CollectorRegistry(auto_describe=True)
    labels = ["tenant_id", "name"]
    health = Gauge("vdc_tui_connection_health",
                   "Health of a saved connection: 0 healthy, 1 warning, 2 broken, "
                   "-1 unknown (not reached in this run)",
                   labels, registry=registry)
    unreachable = Gauge("vdc_tui_connection_unreachable",
                        "1 when the tenant could not be reached at all", labels,
                        registry=registry)
    days = Gauge("vdc_tui_certificate_days_left",
                 "Whole days until the connection's certificate expires", labels,
                 registry=registry)
    missing = Gauge("vdc_tui_missing_permissions",
                    "Required application permissions absent from the app's tokens", labels,
                    registry=registry)
    checked = Gauge("vdc_tui_connection_checked_timestamp_seconds",
                    "When the connection was last checked (Unix time)", labels,
                    registry=registry)
    fleet = Gauge("vdc_tui_connections", "Saved connections by health", ["health"],
                  registry=registry)
    for result in results:
        values = (result.tenant_id, scrub(result.name or "", limit=200))
        health.labels(*values).set(metric_health(result))
        unreachable.labels(*values).set(1 if result.unreachable else 0)
        missing.labels(*values).set(len(result.missing))
        if result.days_left is not None:
            days.labels(*values).set(result.days_left)
        with contextlib.suppress(ValueError):
            from datetime import datetime

            checked.labels(*values).set(datetime.fromisoformat(result.checked_at).timestamp())
    for name in (HEALTHY, WARNING, BROKEN):
        fleet.labels(name).set(sum(1 for r in results
                                   if r.health == name and not r.unreachable))
    fleet.labels(UNREACHABLE).set(sum(1 for r in results if r.unreachable))
    return bytes(generate_latest(registry))  # type: ignore[no-untyped-call,unused-ignore]


def write_openmetrics(path: Path, results: Sequence[TenantHealth]) -> None:
    """Write the OpenMetrics file atomically (readable by the collector: mode 0644).

    Raises:
        InvalidInput: the file cannot be written there.
    """
    try:
        atomic_write(path, openmetrics_text(results), mode=0o644)
    except OSError as exc:
        raise InvalidInput(
            "invalid_argument",
            f"Cannot write the OpenMetrics file {scrub(str(path), limit=200)} "
            f"({scrub(exc.strerror or type(exc).__name__, limit=100)}).",
            "Give --openmetrics a path in a folder this user can write, such as "
            "node-exporter's textfile collector folder.",
            {"field": "openmetrics"},
        ) from None


__all__ = [
    "DEFAULT_CONCURRENCY",
    "EXIT_BROKEN",
    "EXIT_OK",
    "EXIT_UNREACHABLE",
    "FleetCheck",
    "FleetProgress",
    "HealthCache",
    "UNKNOWN_HEALTH_VALUE",
    "exit_code",
    "metric_health",
    "openmetrics_text",
    "summary",
    "worst_first",
    "write_openmetrics",
]
