"""Real Microsoft Graph answers, recorded by other projects' test suites, and an httpx
transport that answers from them.

``graph-v1.json`` lives beside the checkout in ``shared/reference/recordings/`` (found the
way the conformance tests find Graph's CSDL: ``$VDC_TUI_SHARED`` or ``../shared``); it is
not in the repository, and nothing of the package reads it. ``_source`` in it names the
origin and licence of every exchange.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
RECORDINGS_RELATIVE = Path("reference") / "recordings" / "graph-v1.json"
GRAPH_V1 = "https://graph.microsoft.com/v1.0"
#: The tenant of the azure-cli and PowerShell recordings (AzureSDKTeam).
RECORDED_TENANT = "54826b22-38d6-4fb2-bad9-b7b93a3e9c5a"


class RecordingsMissing(RuntimeError):
    """The recordings are not where CI lays ``shared/`` (beside the checkout)."""


def recordings_path() -> Path:
    """Where ``graph-v1.json`` is.

    Raises:
        RecordingsMissing: with one line naming the paths tried.
    """
    env = os.environ.get("VDC_TUI_SHARED")
    roots = ([Path(env)] if env else []) + [REPO_ROOT.parent / "shared", REPO_ROOT / "shared"]
    tried = [root / RECORDINGS_RELATIVE for root in roots]
    for candidate in tried:
        if candidate.is_file():
            return candidate
    raise RecordingsMissing("Graph recordings (shared/reference/recordings/graph-v1.json) are "
                            "missing; looked at: " + ", ".join(str(p) for p in tried))


@dataclass(frozen=True)
class Exchange:
    """One recorded request and its answer."""

    index: int
    source: str
    call: str
    method: str
    uri: str
    request_body: Any
    status: int
    headers: dict[str, str]
    body: Any
    fixture: bool

    @property
    def target(self) -> str:
        """Path and query after ``/v1.0``, percent-decoded."""
        return unquote(self.uri.removeprefix(GRAPH_V1))

    @property
    def path(self) -> str:
        """The path after ``/v1.0``, no query."""
        return self.target.split("?", 1)[0]

    def response(self, request: httpx.Request) -> httpx.Response:
        """The recorded answer, as httpx would have received it."""
        content = b"" if self.body is None else json.dumps(self.body).encode("utf-8")
        headers = dict(self.headers)
        if self.body is not None and "content-type" not in headers:
            headers["content-type"] = "application/json"  # fixtures recorded no headers
        return httpx.Response(self.status, headers=headers, content=content, request=request)


@cache
def exchanges() -> tuple[Exchange, ...]:
    """Every recorded exchange, in file order."""
    data = json.loads(recordings_path().read_text("utf-8"))
    out = []
    for i, raw in enumerate(data["exchanges"]):
        out.append(Exchange(
            i, raw["source"], raw["call"], raw["method"], raw["uri"], raw.get("request_body"),
            raw["status"],
            {k.lower(): v for k, v in (raw.get("response_headers") or {}).items()},
            raw.get("response_body"), "fixture" in raw["call"].lower()))
    return tuple(out)


def exchange(call_starts: str, *, status: int | None = None, nth: int = 0) -> Exchange:
    """The ``nth`` exchange whose ``call`` starts with ``call_starts`` (and has ``status``)."""
    found = [e for e in exchanges() if e.call.startswith(call_starts)
             and (status is None or e.status == status)]
    assert len(found) > nth, f"no recorded exchange {call_starts!r} (status {status})"
    return found[nth]


class Replay:
    """An httpx transport answering from recorded exchanges.

    A request is answered by the first not yet used exchange with its method and its
    path and query (percent-decoded); ``by_path`` also lets an exchange answer a request
    whose query differs (the recorded call read more than the client asks for).
    Anything else is a 599 the test sees (``unmatched`` lists it).
    """

    def __init__(self, *items: Exchange, by_path: bool = False) -> None:
        self.items = list(items)
        self.by_path = by_path
        self.requests: list[httpx.Request] = []
        self.unmatched: list[str] = []
        self.transport = httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        target = unquote(str(request.url).removeprefix(GRAPH_V1))
        path = target.split("?", 1)[0]
        for item in self.items:
            if item.method != request.method:
                continue
            if item.target == target or (self.by_path and item.path == path):
                self.items.remove(item)
                return item.response(request)
        self.unmatched.append(f"{request.method} {target}")
        return httpx.Response(599, json={"error": {"code": "NotRecorded", "message": target}},
                              request=request)

    def client(self) -> httpx.AsyncClient:
        """An httpx client over this transport."""
        return httpx.AsyncClient(transport=self.transport)
