"""One worker process of a spread fleet check (``python -m vdc_tui.connect.fleet.worker``).

:func:`~.workers.spread` starts it with one JSON request on stdin (the profiles to check,
the endpoints, the limits, the store passphrase when the parent has one) and reads one JSON
event per line on stdout: ``{"start": TENANT}``, ``{"result": HEALTH}``, ``{"end": true}``.
Here its own :class:`~.run.FleetCheck` runs them (its own threads, pools and MSAL).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vdc_tui.connect.errors import scrub
from vdc_tui.connect.fleet.health import FleetProgress
from vdc_tui.connect.fleet.run import FleetCheck
from vdc_tui.connect.store.profile import Profile
from vdc_tui.connect.store.profiles import ProfileEntry


def _work(request: dict[str, Any], out: Callable[[dict[str, Any]], None]) -> None:
    from vdc_tui.connect.microsoft.clouds import resolve_endpoints
    from vdc_tui.connect.store.keystore import Passphrase, PassphraseProvider
    from vdc_tui.connect.store.profiles import ProfileStore

    given = request.get("passphrase")
    provider = PassphraseProvider(fixed=Passphrase(**given)) if given else PassphraseProvider()
    store = ProfileStore(Path(request["home"]), passphrase=provider)
    where = request["endpoints"]
    endpoints = resolve_endpoints(where["cloud"], authority_host=where["authority_host"],
                                  graph_url=where["graph_url"], ca_bundle=where["ca_bundle"])
    entries = [ProfileEntry(e["tenant_id"], Path(e["path"]),
                            Profile.from_json(e["profile"]) if e["profile"] is not None else None,
                            e["error"])
               for e in request["entries"]]
    fleet = FleetCheck(store, endpoints, concurrency=int(request["concurrency"]),
                       deadline=float(request["deadline"]), keep=bool(request["keep"]),
                       timeout=float(request["timeout"]))
    fleet.index = False  # the parent keeps the merged results in the index, once

    def progress(event: FleetProgress) -> None:
        if event.result is None:
            out({"start": event.tenant_id})
        else:
            out({"result": event.result.to_json()})

    asyncio.run(fleet.run(entries, progress))
    out({"end": True})


def main() -> int:
    """``python -m vdc_tui.connect.fleet.worker``: one worker of :func:`~.workers.spread`."""
    # The parent decides what a Ctrl+C or a hang-up means (it stops its workers).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    stdout = sys.stdout.buffer

    def out(event: dict[str, Any]) -> None:
        stdout.write(json.dumps(event, ensure_ascii=False).encode("utf-8") + b"\n")
        stdout.flush()

    try:
        request = json.loads(sys.stdin.buffer.read())
        _work(request, out)
    except BrokenPipeError:  # the parent is gone: nobody to tell
        return 1
    except Exception as exc:  # noqa: BLE001 - said to the parent, which names the worker
        sys.stderr.write(f"vdc-tui check worker: {scrub(type(exc).__name__, limit=80)}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
