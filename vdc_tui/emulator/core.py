"""What every part of the emulator shares: state, faults, clock, keys, and response shapes."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from vdc_tui.emulator.faults import Clock, FaultCounters, Faults
from vdc_tui.emulator.pki import EmulatorPki, b64url
from vdc_tui.emulator.scenario import Scenario
from vdc_tui.emulator.state import Directory


class RequestRecord(tuple[str, str, int]):
    """One line of ``emu.request_log``: ``(method, path, status)`` plus ``.timestamp``.

    It unpacks as the 3-tuple of architecture.md; the emulator-clock time of the answer is
    an attribute so that code written against the 3-tuple keeps working.
    """

    timestamp: float

    def __new__(cls, method: str, path: str, status: int, timestamp: float) -> RequestRecord:
        record = super().__new__(cls, (method, path, status))
        record.timestamp = timestamp
        return record

    @property
    def method(self) -> str:
        """HTTP method."""
        return self[0]

    @property
    def path(self) -> str:
        """Request path (no query)."""
        return self[1]

    @property
    def status(self) -> int:
        """Answer status; 0 when the connection was dropped on purpose."""
        return self[2]


@dataclass
class GraphResult:
    """An answer of the Graph part (also used inside ``$batch``)."""

    status: int
    body: Any = None
    headers: dict[str, str] | None = None


class EmulatorCore:
    """Shared state of one emulator instance."""

    def __init__(self, scenario: Scenario, *, faults: Faults, state_dir: Path,
                 clock: Callable[[], float] | None, pki: EmulatorPki) -> None:
        self.scenario = scenario
        self.faults = faults
        self.clock = Clock(faults, clock)
        self.pki = pki
        self.counters = FaultCounters()
        self.request_log: list[RequestRecord] = []
        self.log_lock = threading.Lock()
        self.host = "https://127.0.0.1"
        self.directory = Directory(scenario, now=self.clock.now(), state_dir=state_dir)
        self.batch_count = 0

    def now(self) -> float:
        """The emulator's current time (epoch seconds)."""
        return self.clock.now()

    @property
    def graph_url(self) -> str:
        """Root of the emulated Graph (same host as the authority)."""
        return self.host

    def replication_visible_at(self) -> float:
        """``visible_at`` for an object created now."""
        return self.now() + max(0.0, float(self.faults.replication_delay))

    def log(self, method: str, path: str, status: int) -> None:
        """Append one request to the log."""
        with self.log_lock:
            self.request_log.append(RequestRecord(method, path, status, self.now()))

    # -- tokens ----------------------------------------------------------------------------
    def sign(self, claims: dict[str, Any]) -> str:
        """A JWT signed with the emulator's token key."""
        from vdc_tui.emulator.jws import sign_rs256

        return sign_rs256(claims, self.pki.token_key, kid=self.pki.token_kid)

    # -- response shapes -------------------------------------------------------------------
    def entra_error(self, request: Request, status: int, error: str, code: int | None,
                    text: str, **extra: Any) -> JSONResponse:
        """An identity-platform error in Entra's shape (research/identity.md §1)."""
        now = dt.datetime.fromtimestamp(self.now(), dt.UTC)
        stamp = now.strftime("%Y-%m-%d %H:%M:%SZ")
        trace = str(uuid.uuid4())
        correlation = request.headers.get("client-request-id") or str(uuid.uuid4())
        prefix = f"AADSTS{code}: " if code is not None else ""
        body: dict[str, Any] = {
            "error": error,
            "error_description": f"{prefix}{text}\r\nTrace ID: {trace}\r\n"
            f"Correlation ID: {correlation}\r\nTimestamp: {stamp}",
            "error_codes": [code] if code is not None else [],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
        }
        if code is not None:
            body["error_uri"] = f"{self.host}/error?code={code}"
        body.update(extra)
        return JSONResponse(body, status_code=status)

    def graph_error(self, status: int, code: str, message: str, *,
                    client_request_id: str | None = None,
                    details: list[dict[str, Any]] | None = None,
                    headers: dict[str, str] | None = None) -> GraphResult:
        """A Graph error in its documented shape (research/identity.md §5)."""
        request_id = str(uuid.uuid4())
        error: dict[str, Any] = {
            "code": code,
            "message": message,
            "innerError": {
                "date": dt.datetime.fromtimestamp(self.now(), dt.UTC).strftime(
                    "%Y-%m-%dT%H:%M:%S"),
                "request-id": request_id,
                "client-request-id": client_request_id or request_id,
            },
        }
        if details:
            error["details"] = details
        out_headers = {"request-id": request_id, "client-request-id":
                       client_request_id or request_id}
        out_headers.update(headers or {})
        return GraphResult(status, {"error": error}, out_headers)


def client_info(oid: str, tid: str) -> str:
    """MSAL's ``client_info``: base64url JSON of uid and utid."""
    return b64url(json.dumps({"uid": oid, "utid": tid}).encode())
