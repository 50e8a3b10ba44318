"""A fleet check spread over worker processes, one per core, with one merged result.

One Python process checks tenants on one core at most: its CPU (HTTPS requests through
httpx, MSAL, opening each key) sets the pace of a large fleet long before the network does
(about 19 ms of CPU per tenant on a slow 2-core machine, so 5,000 tenants need ~95 s of one
core). :func:`spread` hands the tenants out in interleaved shares (tenant ``i`` to share
``i % n``; a fleet larger than ``n`` × :data:`MAX_TENANTS_PER_WORKER` gets more shares,
checked by fresh workers in turn, ``n`` at a time, so a worker's memory stays bounded),
and each worker is ``python -m vdc_tui.connect.fleet.worker``: a process of
its own with its own :class:`~.run.FleetCheck` (its own thread pool, HTTPS pools and MSAL
client), ``concurrency / n`` tenants at a time, so the whole run still has ``concurrency``
tenants in flight.

The protocol is one JSON request on the worker's stdin (the profiles to check, the
endpoints, the store passphrase once resolved by the parent, so a typed one is asked once
and never put in an argument or the environment) and one JSON line per event on its stdout
(``start``, ``result`` with the tenant's :meth:`~.health.TenantHealth.to_json`, ``end``).
Workers keep each result (``health.json``) themselves, as one process does. The parent
rebuilds each result and returns them in the order of the entries, so the JSON document,
the OpenMetrics file and the exit code are those of a run in one process.

A worker that ends before its ``end`` line (killed, crashed) is named: each tenant it had
not finished gets an *unreachable* result saying which worker ended and how (so the run
exits 4 and the other workers' results stand); nothing waits for it. Cancelling the run
stops every worker (``SIGTERM``). ``VDC_TUI_CHECK_WORKERS`` sets the number of workers
(``1``: everything in this process).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from vdc_tui.connect.fleet.health import TenantHealth, unreachable_health
from vdc_tui.connect.store.profiles import ProfileEntry, ProfileStore

if TYPE_CHECKING:
    from vdc_tui.connect.fleet.health import FleetProgress
    from vdc_tui.connect.microsoft.clouds import Endpoints

log = logging.getLogger(__name__)


class CheckSettings(Protocol):
    """What :func:`spread` hands on to its workers of the check that spreads
    (:class:`~.run.FleetCheck`)."""

    store: ProfileStore
    endpoints: Endpoints
    concurrency: int
    deadline: float
    timeout: float
    keep: bool

WORKERS_ENV = "VDC_TUI_CHECK_WORKERS"
#: A worker's start costs about half a second of CPU (its imports); below this many tenants
#: per worker, one process is as quick.
MIN_TENANTS_PER_WORKER = 150
#: Tenants one worker process checks before a fresh one takes over (see :func:`spread`).
MAX_TENANTS_PER_WORKER = 1000
#: Longest line a worker may write (one tenant's result is a few kB).
_LINE_LIMIT = 1 << 20
#: Seconds a stopped worker gets to end after SIGTERM before it is killed.
_STOP_GRACE = 5.0


def cores() -> int:
    """Cores this process may run on."""
    with contextlib.suppress(AttributeError, OSError):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def default_workers(tenants: int, environ: dict[str, str] | None = None) -> int:
    """How many processes check ``tenants`` tenants: one per core once each has
    :data:`MIN_TENANTS_PER_WORKER`, or :data:`WORKERS_ENV` when set (at least 1)."""
    env = os.environ if environ is None else environ
    text = env.get(WORKERS_ENV, "").strip()
    if text:
        with contextlib.suppress(ValueError):
            return max(1, min(int(text), max(1, tenants), 64))
    return max(1, min(cores(), tenants // MIN_TENANTS_PER_WORKER))


# --- the parent's side ---------------------------------------------------------------


def _entry_json(entry: ProfileEntry) -> dict[str, Any]:
    return {"tenant_id": entry.tenant_id, "path": os.fspath(entry.path),
            "profile": entry.profile.to_json() if entry.profile is not None else None,
            "error": entry.error}


def _endpoints_json(endpoints: Endpoints) -> dict[str, Any]:
    return {"cloud": endpoints.cloud.name, "authority_host": endpoints.authority_host,
            "graph_url": endpoints.graph_url,
            "ca_bundle": os.fspath(endpoints.ca_bundle) if endpoints.ca_bundle else None}


def _ended(returncode: int | None) -> str:
    if returncode is None:
        return "stopped answering"
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-returncode).name}"
        return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


async def spread(fleet: CheckSettings, entries: Sequence[ProfileEntry], workers: int,
                 sink: Callable[[FleetProgress], None]) -> list[TenantHealth]:
    """Check ``entries`` in ``workers`` processes; results in the order of ``entries``.

    Never raises for what a tenant answers or for a worker that dies (its unfinished
    tenants are reported unreachable, naming it); cancelling stops every worker.
    """
    from vdc_tui.connect.fleet.health import FleetProgress

    total = len(entries)
    count = max(1, min(workers, total))
    # At most MAX_TENANTS_PER_WORKER per process: a worker keeps a little of each tenant
    # it checked until it ends (its results, MSAL's discovery answers), so a large fleet
    # is checked by fresh workers in turn, ``count`` at a time.
    parts = max(count, -(-total // MAX_TENANTS_PER_WORKER))
    shares = [list(entries[i::parts]) for i in range(parts)]
    running = asyncio.Semaphore(count)
    per_worker = max(1, -(-fleet.concurrency // count))
    phrase = None
    with contextlib.suppress(Exception):  # no source: each worker says so per tenant
        phrase = fleet.store.passphrase.resolve(fleet.store.root)
    results: dict[str, TenantHealth] = {}
    done = 0

    def note(event: dict[str, Any]) -> None:
        nonlocal done
        if "result" in event:
            result = TenantHealth.from_json(event["result"])
            if result.tenant_id in results:
                return
            results[result.tenant_id] = result
            done += 1
            sink(FleetProgress(result.tenant_id, result, done, total))
        elif "start" in event:
            sink(FleetProgress(str(event["start"]), None, done, total))

    async def one(share: list[ProfileEntry]) -> None:
        async with running:
            await check_share(share)

    async def check_share(share: list[ProfileEntry]) -> None:
        request = {
            "home": os.fspath(fleet.store.root), "endpoints": _endpoints_json(fleet.endpoints),
            "concurrency": per_worker, "deadline": fleet.deadline, "timeout": fleet.timeout,
            "keep": fleet.keep, "entries": [_entry_json(e) for e in share],
            "passphrase": None if phrase is None else {
                "secret": phrase.secret, "source": phrase.source, "origin": phrase.origin},
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "vdc_tui.connect.fleet.worker",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            limit=_LINE_LIMIT, env=_worker_env())
        assert proc.stdin is not None and proc.stdout is not None
        started.append(proc)
        finished = False
        try:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                proc.stdin.write(json.dumps(request).encode("utf-8"))
                await proc.stdin.drain()
                proc.stdin.close()
            while True:
                line = await proc.stdout.readline()
                if not line:
                    break
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if event.get("end"):
                    finished = True
                    continue
                try:
                    note(event)
                except ValueError as exc:
                    log.error("worker %s sent a result that is not one: %s", proc.pid, exc)
            returncode = await proc.wait()
        except BaseException:  # cancelled (or a bug): no worker outlives the run
            await _stop(proc)
            raise
        if finished and returncode == 0:
            return
        how = _ended(returncode)
        log.error("check worker %s %s before it finished", proc.pid, how)
        for entry in share:
            if entry.tenant_id not in results:
                note({"result": unreachable_health(
                    entry, f"The worker process checking it (pid {proc.pid}) {how} before "
                    "its check finished.").to_json()})

    started: list[asyncio.subprocess.Process] = []
    try:
        await asyncio.gather(*(one(share) for share in shares))
    except BaseException:
        await asyncio.gather(*(_stop(p) for p in started if p.returncode is None),
                             return_exceptions=True)
        raise
    return [results[e.tenant_id] for e in entries]


def _worker_env() -> dict[str, str]:
    """The worker's environment: this one's, with glibc's malloc held to two arenas
    unless the operator chose otherwise. A worker runs hundreds of threads, and glibc gives
    threads arenas of their own (up to 8 per core), each keeping freed memory resident: with
    the default, two workers of a 5,000-tenant check held ~100 MiB more between them."""
    env = dict(os.environ)
    env.setdefault("MALLOC_ARENA_MAX", "2")
    return env


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM, a short grace, then SIGKILL (the run is being cancelled)."""
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        await asyncio.wait_for(asyncio.shield(proc.wait()), _STOP_GRACE)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()


__all__ = ["MAX_TENANTS_PER_WORKER", "MIN_TENANTS_PER_WORKER", "WORKERS_ENV", "cores",
           "default_workers", "spread"]
