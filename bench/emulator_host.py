"""The emulator in a process of its own, steered by the benchmark over stdin/stdout.

The wizard's memory and start-up must not include the emulator, so the emulator runs in
another process. ``vdc-tui emulator`` would serve, but the benchmark also needs to change
faults between runs, read the request log and approve device codes, so this small host
wraps :class:`vdc_tui.emulator.EmulatorServer` with a line protocol: one JSON command per
stdin line, one JSON answer per stdout line. The first stdout line is the same endpoint
object ``vdc-tui emulator`` prints.

Run by :class:`EmulatorProcess`; ``python -m bench.emulator_host [--scenario NAME]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .analysis import RequestRecord


@dataclass(frozen=True)
class _Timing:
    method: str
    path: str
    status: int
    start: float
    end: float


class _RequestTimer:
    """Outermost ASGI layer: when each request arrived and when its answer was complete.

    The emulator's own log has one time per request (the answer); round trips need both
    ends, so the host wraps the emulator's application (including its fault layer, so the
    added latency is inside the measured span, as it would be on a real network).
    """

    def __init__(self, app: Any, sink: list[_Timing], lock: threading.Lock) -> None:
        self._app = app
        self._sink = sink
        self._lock = lock

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        start = time.time()
        status: list[int] = []

        async def send_wrapper(message: Any) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            await send(message)

        try:
            await self._app(scope, receive, send_wrapper)
        finally:
            timing = _Timing(
                scope["method"], scope["path"], status[0] if status else 0, start, time.time()
            )
            with self._lock:
                self._sink.append(timing)


def _timed_server_class() -> type[Any]:
    from vdc_tui.emulator import EmulatorServer

    class TimedEmulatorServer(EmulatorServer):
        """The emulator with both ends of every request recorded in :attr:`timings`."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.timings: list[_Timing] = []
            self.timings_lock = threading.Lock()

        def _build_app(self) -> Any:
            return _RequestTimer(super()._build_app(), self.timings, self.timings_lock)

    return TimedEmulatorServer


def _log_entries(emu: Any, since: int) -> list[dict[str, Any]]:
    """Requests from index ``since``, with wall-clock arrival and answer times."""
    with emu.timings_lock:
        entries = list(emu.timings[since:])
    return [dataclasses.asdict(entry) for entry in entries]


def _set_faults(emu: Any, changes: dict[str, Any]) -> dict[str, Any]:
    faults = emu.faults
    for name, value in changes.items():
        if not hasattr(faults, name):
            raise KeyError(f"the emulator has no fault named {name!r}")
        setattr(faults, name, value)
    if dataclasses.is_dataclass(faults):
        return {f.name: getattr(faults, f.name) for f in dataclasses.fields(faults)}
    return dict(changes)


def _pending_codes(emu: Any) -> list[str]:
    """User codes of device flows that are still waiting (newest last)."""
    return [str(code) for code in reversed(emu.pending_user_codes())]


def _global_admin(scenario: Any) -> str:
    """UPN of the scenario's first Global Administrator (who signs in for the customer)."""
    for tenant in scenario.tenants:
        for user in tenant.users:
            if "Global Administrator" in user.roles:
                return str(user.upn)
    raise LookupError("the scenario has no Global Administrator")


def _manual_app(scenario: Any) -> dict[str, Any]:
    """A ready app registration of the scenario with its PFX (what manual mode needs)."""
    base = Path(scenario.base_dir or Path.cwd())
    for tenant in scenario.tenants:
        granted = {sp.app_id for sp in tenant.service_principals if sp.grants}
        for app in tenant.applications:
            pfx = next((c for c in app.certificates if c.pfx and c.registered), None)
            if pfx is not None and app.app_id in granted:
                return {
                    "admin_email": _global_admin(scenario),
                    "app_id": app.app_id,
                    "pfx_path": str(base / pfx.pfx),
                    "password": pfx.password,
                }
    raise LookupError("the scenario has no ready app registration with a PFX")


def _lag_end(emu: Any, since: float) -> float | None:
    """When the last object created after ``since`` becomes visible (the emulator's clock)."""
    state = emu.state
    with state.lock:
        objects: list[Any] = [
            *state.applications.values(),
            *state.service_principals.values(),
            *state.app_role_assignments.values(),
            *state.role_assignments.values(),
        ]
        objects.extend(k for a in state.applications.values() for k in a.key_credentials)
        times = [float(o.visible_at) for o in objects]
    later = [t for t in times if t > since]
    return max(later) if later else None


def serve(scenario_name: str) -> int:
    """Start the emulator and answer commands until ``quit`` or end of input."""
    from vdc_tui.emulator import load_scenario

    scenario = load_scenario(scenario_name)
    with _timed_server_class()(scenario, port=0) as emu:
        first = {
            "authority_host": emu.authority_host,
            "graph_url": emu.graph_url,
            "ca_bundle": str(emu.ca_bundle),
            "device_login_url": emu.device_login_url,
        }
        print(json.dumps(first), flush=True)
        for line in sys.stdin:
            if not line.strip():
                continue
            command = json.loads(line)
            op = command.get("op")
            answer: dict[str, Any] = {"ok": True}
            try:
                if op == "faults":
                    answer["faults"] = _set_faults(emu, command.get("set", {}))
                elif op == "mark":
                    with emu.timings_lock:
                        answer["mark"] = len(emu.timings)
                elif op == "log":
                    answer["entries"] = _log_entries(emu, int(command.get("since", 0)))
                elif op == "codes":
                    answer["codes"] = _pending_codes(emu)
                elif op == "approve":
                    emu.approve_device_code(command["user_code"], command["upn"])
                elif op == "admin":
                    answer["upn"] = _global_admin(scenario)
                elif op == "manual_app":
                    answer.update(_manual_app(scenario))
                elif op == "lag_end":
                    answer["lag_end"] = _lag_end(emu, float(command.get("since", 0.0)))
                elif op == "clock":
                    pass
                elif op == "quit":
                    print(json.dumps(answer), flush=True)
                    break
                else:
                    raise ValueError(f"unknown command {op!r}")
            except Exception as exc:  # reported to the benchmark, which stops
                answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            # Every answer carries both clocks so the benchmark can map the log's wall-clock
            # times onto its own monotonic clock.
            answer["wall"] = time.time()
            answer["mono"] = time.monotonic()
            print(json.dumps(answer, default=str), flush=True)
    return 0


class EmulatorHostError(Exception):
    """The emulator host failed to start or answered a command with an error."""


class EmulatorProcess:
    """The benchmark's handle on an emulator host process."""

    def __init__(self, python: str, *, scenario: str = "demo", cwd: str | None = None) -> None:
        self._proc = subprocess.Popen(
            [python, "-m", "bench.emulator_host", "--scenario", scenario],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
        )
        first = self._read_line()
        self.endpoints: dict[str, str] = json.loads(first)

    def _read_line(self) -> str:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            err = self._proc.stderr.read() if self._proc.stderr else ""
            raise EmulatorHostError(f"the emulator host stopped: {err.strip()[-2000:]}")
        return line

    def command(self, op: str, **args: Any) -> dict[str, Any]:
        """Send one command and return its answer."""
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self._proc.stdin.flush()
        answer: dict[str, Any] = json.loads(self._read_line())
        if not answer.get("ok"):
            raise EmulatorHostError(f"{op}: {answer.get('error')}")
        return answer

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        """Change the emulator's faults (names as in ``emu.faults``)."""
        result: dict[str, Any] = self.command("faults", set=faults)["faults"]
        return result

    def mark(self) -> int:
        """The current length of the request log (to read only what follows)."""
        return int(self.command("mark")["mark"])

    def log(self, since: int = 0) -> list[RequestRecord]:
        """Requests since ``since``, with times on this process's monotonic clock."""
        answer = self.command("log", since=since)
        offset = float(answer["mono"]) - float(answer["wall"])
        return [
            RequestRecord(
                e["method"], e["path"], int(e["status"]), e["start"] + offset, e["end"] + offset
            )
            for e in answer["entries"]
        ]

    def pending_codes(self) -> list[str]:
        """User codes waiting for a sign-in."""
        return [str(c) for c in self.command("codes")["codes"]]

    def approve(self, user_code: str, upn: str) -> None:
        """Sign in with ``user_code`` as ``upn`` (what the customer does in a browser)."""
        self.command("approve", user_code=user_code, upn=upn)

    def close(self) -> None:
        """Stop the emulator host."""
        if self._proc.poll() is None:
            try:
                self.command("quit")
            except (EmulatorHostError, OSError, ValueError):
                pass
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        for stream in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.emulator_host``."""
    parser = argparse.ArgumentParser(prog="python -m bench.emulator_host")
    parser.add_argument("--scenario", default="demo")
    args = parser.parse_args(argv)
    return serve(args.scenario)


if __name__ == "__main__":
    raise SystemExit(main())
