"""The HTTPS server: fault injection around the identity and Graph parts, on its own thread.

``EmulatorServer`` is the Python API of architecture.md ("The emulator's Python API").
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vdc_tui.emulator.authority import Authority
from vdc_tui.emulator.core import EmulatorCore, RequestRecord
from vdc_tui.emulator.faults import Faults
from vdc_tui.emulator.pki import emulator_pki
from vdc_tui.emulator.scenario import Scenario, load_scenario
from vdc_tui.emulator.state import Directory


class FaultMiddleware:
    """Outermost ASGI layer: latency, drops, stalls, 503, 429, the ``Date`` header, the log."""

    def __init__(self, app: ASGIApp, core: EmulatorCore, stopping: Callable[[], asyncio.Event]
                 ) -> None:
        self.app = app
        self.core = core
        self.stopping = stopping

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        core, faults = self.core, self.core.faults
        method, path = scope["method"], scope["path"]
        counters = core.counters
        # Entra carries out a request it has received even if the client hangs up while it
        # works (a cancelled create still creates). Read the body before any wait, so that
        # latency and stalls are server-side processing time, not a lost request.
        receive = await _buffered(receive)
        signin = await self._signin_fault(path, receive)
        if signin == "drop":
            core.log(method, path, 0)
            await _drop(send)
            return
        if signin == "stall":
            await self._wait(faults.stall_seconds)
        if faults.latency > 0 and _matches(faults.latency_path, path):
            await self._wait(faults.latency)
        if counters.hit("drop", faults.drop_every, faults.drop_path, path):
            core.log(method, path, 0)
            await _drop(send)
            return
        if counters.hit("stall", faults.stall_every, faults.stall_path, path):
            await self._wait(faults.stall_seconds)
        status_box: list[int] = []
        canned: Response | None = None
        if signin == "unavailable":
            canned = self._error(scope, 503, "ServiceNotAvailable", "")
        elif counters.hit("unavailable", faults.unavailable_every, faults.unavailable_path,
                          path):
            canned = self._error(scope, 503, "ServiceNotAvailable",
                                 "The service is temporarily unavailable. Please retry after a "
                                 "few seconds.")
        elif path != "/v1.0/$batch" and counters.hit(
                "throttle", faults.throttle_every, faults.throttle_path, path):
            canned = self._error(scope, 429, "TooManyRequests", "Too many requests.")
        elif counters.hit("garbage", faults.garbage_every, faults.garbage_path, path):
            canned = _garbage(faults.garbage_kind)

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_box.append(message["status"])
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
                headers.append((b"date", email.utils.formatdate(core.now(), usegmt=True).encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            if canned is not None:
                await canned(scope, receive, send_wrapper)
            else:
                await self.app(scope, receive, send_wrapper)
        finally:
            core.log(method, path, status_box[0] if status_box else 0)

    def _error(self, scope: Scope, status: int, code: str, message: str) -> Response:
        """A 429 or 503 with ``Retry-After`` (identity.md §5 "Throttling"), in the shape of
        the part asked: Graph's error (echoing ``client-request-id``), or Entra's transient
        error (``temporarily_unavailable``, AADSTS90033, trace and correlation ids, the
        emulator's clock; identity.md §1 "Entra error JSON")."""
        headers = {"Retry-After": str(self.core.faults.retry_after)}
        request = Request(scope)
        if scope["path"].startswith("/v1.0/"):
            result = self.core.graph_error(
                status, code, message, headers=headers,
                client_request_id=request.headers.get("client-request-id"))
            return JSONResponse(result.body, status_code=status, headers=result.headers)
        response = self.core.entra_error(request, status, "temporarily_unavailable", 90033,
                                         "A transient error has occurred. Please try again.")
        response.headers.update(headers)
        return response

    async def _signin_fault(self, path: str, receive: Receive) -> str:
        """The ``signin_fault`` this request gets (``""`` for none); see SCENARIOS.md."""
        faults = self.core.faults
        if not faults.signin_fault or _signin_target(path, await _peek(receive)) != (
                faults.signin_fault_on):
            return ""
        if not self.core.counters.first(f"signin:{faults.signin_fault_on}:{faults.signin_round}",
                                        faults.signin_fault_count):
            return ""
        return faults.signin_fault

    async def _wait(self, seconds: float) -> None:
        """Sleep, but wake up when the server stops (so stalls never hang a test run)."""
        try:
            await asyncio.wait_for(self.stopping().wait(), timeout=seconds)
        except TimeoutError:
            pass


def _garbage(kind: str) -> Response:
    """A broken 200 answer (the ``garbage_*`` fault); see :data:`faults.GARBAGE_KINDS`."""
    json_type = "application/json"
    if kind == "html":
        # What a captive portal or a TLS-inspecting proxy's login page looks like.
        return Response("<!DOCTYPE html><html><head><title>Sign in to the proxy</title>"
                        "</head><body>\x1b]0;owned\x07Please sign in.</body></html>",
                        media_type="text/html")
    if kind == "truncated":
        return Response('{"value": [{"id": "0b2d7e3c-8a41-4f6e', media_type=json_type)
    if kind == "empty_object":
        return Response("{}", media_type=json_type)
    if kind == "list":
        return Response("[1, 2, 3]", media_type=json_type)
    if kind == "text":
        return Response('"ok"', media_type=json_type)
    # "huge": more than a client should ever read (vdc-tui stops at 32 MiB).
    filler = "x" * (1024 * 1024)
    return Response('{"value": ["' + '","'.join([filler] * 40) + '"]}', media_type=json_type)


def _signin_target(path: str, body: bytes) -> str:
    """Which sign-in request this is (a ``signin_fault_on`` value), or ``""``."""
    if path.endswith("/oauth2/v2.0/devicecode"):
        return "devicecode"
    if not path.endswith("/oauth2/v2.0/token"):
        return ""
    from urllib.parse import parse_qs

    grant = parse_qs(body.decode("utf-8", "replace")).get("grant_type", [""])[0]
    if grant == "urn:ietf:params:oauth:grant-type:device_code":
        return "device_poll"
    if grant == "client_credentials":
        return "app_token"
    return ""


async def _peek(receive: Receive) -> bytes:
    """The buffered request body (``receive`` comes from :func:`_buffered`)."""
    return getattr(receive, "body", b"")


async def _buffered(receive: Receive) -> Receive:
    """Read the whole request body now; the returned ``receive`` replays it first."""
    chunks: list[bytes] = []
    first: Message | None = None
    while True:
        message = await receive()
        if message["type"] != "http.request":
            first = message  # the client left before its body was complete
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            first = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            break
    replay = [first]

    async def replayed() -> Message:
        if replay:
            return replay.pop()
        return await receive()

    replayed.body = first.get("body", b"") if first else b""  # type: ignore[attr-defined]
    return replayed


def _matches(pattern: str, path: str) -> bool:
    import fnmatch

    return fnmatch.fnmatchcase(path, pattern)


async def _drop(send: Send) -> None:
    """Close the connection without an answer.

    ASGI has no "hang up" message; uvicorn's ``send`` is a bound method of its request
    cycle, whose transport we abort. Without one, start an answer and break it off.
    """
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is not None:
        transport.abort()
        if cycle is not None and hasattr(cycle, "disconnected"):
            cycle.disconnected = True  # so uvicorn does not try to answer 500 on it
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"1000")]})
    await send({"type": "http.response.body", "body": b"{", "more_body": True})
    raise ConnectionAbortedError("dropped on purpose")


class EmulatorServer:
    """An HTTPS emulator of Entra ID + the Graph subset on 127.0.0.1.

    Use as a context manager (or call :meth:`start` / :meth:`stop`)::

        with EmulatorServer(load_scenario("demo"), port=0) as emu:
            emu.authority_host, emu.graph_url, emu.ca_bundle, emu.device_login_url

    Args:
        scenario: A :class:`Scenario`, a shipped name, a path, or a dict.
        port: TCP port; 0 picks a free one (read it back from :attr:`port`).
        state_dir: Folder for the CA PEM and generated certificates; default a temporary
            folder removed at :meth:`stop`.
        clock: Base clock (epoch seconds); tests pass a :class:`FakeClock`.
        faults: Initial faults (override the scenario's); more can be set on :attr:`faults`.
    """

    def __init__(self, scenario: Scenario | str | Path | dict[str, Any] = "demo", *,
                 port: int = 0, state_dir: str | Path | None = None,
                 clock: Callable[[], float] | None = None,
                 faults: Faults | dict[str, Any] | None = None) -> None:
        self.scenario = load_scenario(scenario)
        merged = Faults.from_dict(dict(self.scenario.faults))
        if isinstance(faults, Faults):
            merged = faults
        elif faults:
            merged.update(**faults)
        self._own_dir = state_dir is None
        self._state_dir = Path(tempfile.mkdtemp(prefix="vdc-emu-")) if state_dir is None \
            else Path(state_dir)
        self._state_dir.mkdir(parents=True, exist_ok=True)
        self._pki = emulator_pki()
        self._core = EmulatorCore(self.scenario, faults=merged, state_dir=self._state_dir,
                                  clock=clock, pki=self._pki)
        self._authority = Authority(self._core)
        self._requested_port = port
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._server: uvicorn.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._startup_error: BaseException | None = None
        self.ca_bundle = self._state_dir / "emulator-ca.pem"
        self.ca_bundle.write_bytes(self._pki.ca_pem)

    # -- public attributes -----------------------------------------------------------------
    @property
    def port(self) -> int:
        """The TCP port actually bound."""
        if self._port is None:
            raise RuntimeError("the emulator is not started")
        return self._port

    @property
    def authority_host(self) -> str:
        """Scheme, host and port of the identity platform (``--authority-host``)."""
        return f"https://127.0.0.1:{self.port}"

    @property
    def graph_url(self) -> str:
        """Graph root (``--graph-url``); calls go to ``{graph_url}/v1.0/…``."""
        return self.authority_host

    @property
    def device_login_url(self) -> str:
        """The page where a person types a device code."""
        return f"{self.authority_host}/devicelogin"

    @property
    def state(self) -> Directory:
        """The directory (tenants, apps, principals, assignments, device codes)."""
        return self._core.directory

    def fault_hits(self, kind: str) -> int:
        """How many requests the ``kind`` fault (``stall``, ``drop``, ``throttle``, …) has
        matched so far (a stalled request counts when it arrives, not when it ends)."""
        with self._core.counters.lock:
            return self._core.counters.counts.get(kind, 0)

    @property
    def faults(self) -> Faults:
        """Mutable fault settings; changes apply to the next request."""
        return self._core.faults

    @property
    def request_log(self) -> list[RequestRecord]:
        """Every request: ``(method, path, status)`` with ``.timestamp``."""
        return self._core.request_log

    @property
    def state_dir(self) -> Path:
        """Where the CA PEM and generated certificates are."""
        return self._state_dir

    def now(self) -> float:
        """The emulator's clock (epoch seconds, including ``faults.clock_offset``)."""
        return self._core.now()

    def connection_info(self) -> dict[str, str]:
        """What ``vdc-tui emulator`` prints first (one JSON object)."""
        return {"authority_host": self.authority_host, "graph_url": self.graph_url,
                "ca_bundle": str(self.ca_bundle), "device_login_url": self.device_login_url}

    def certificate_path(self, name: str) -> Path:
        """The PFX of a certificate the scenario generated (``"generate": name``)."""
        try:
            return self._core.directory.generated_certificates[name]
        except KeyError:
            raise KeyError(f"the scenario generated no certificate named {name!r}") from None

    # -- device-code test hooks ------------------------------------------------------------
    def approve_device_code(self, user_code: str, upn: str) -> None:
        """Approve a pending code as ``upn`` (what the device-login page does).

        Raises:
            ValueError: unknown, used or expired code, or a user outside the code's tenant.
        """
        self._authority.complete_flow(user_code, upn, approve=True)

    def decline_device_code(self, user_code: str) -> None:
        """Decline a pending code (the person pressed Cancel)."""
        self._authority.complete_flow(user_code, None, approve=False)

    def expire_device_code(self, user_code: str) -> None:
        """Make a code expire now."""
        flow = self._authority.find_flow(user_code)
        if flow is None:
            raise ValueError("unknown user code")
        with self._core.directory.lock:
            flow.expires_at = self._core.now()

    def pending_user_codes(self) -> list[str]:
        """User codes waiting for a person, newest first."""
        now = self._core.now()
        flows = [f for f in self._core.directory.device_flows.values()
                 if f.status == "pending" and f.expires_at > now]
        return [f.user_code for f in sorted(flows, key=lambda f: f.created, reverse=True)]

    # -- lifecycle -------------------------------------------------------------------------
    def _build_app(self) -> ASGIApp:
        from vdc_tui.emulator.graph import GraphApi

        graph = GraphApi(self._core)

        async def not_found(request: Request) -> Response:
            return JSONResponse({"error": "not_found", "error_description":
                                 f"No emulated endpoint at {request.url.path}."}, 404)

        routes = [
            Route("/v1.0/{rest:path}", graph.handle,
                  methods=["GET", "POST", "PATCH", "PUT", "DELETE"]),
            *self._authority.routes(),
            Route("/{rest:path}", not_found, methods=["GET", "POST", "PATCH", "PUT", "DELETE"]),
        ]
        app = Starlette(routes=routes)

        def stopping() -> asyncio.Event:
            assert self._stop_event is not None
            return self._stop_event

        return FaultMiddleware(app, self._core, stopping)

    def start(self) -> EmulatorServer:
        """Bind, start serving on a thread, and return once requests are answered."""
        if self._thread is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            # Loopback only, whatever the port: the emulator accepts any sign-in.
            sock.bind(("127.0.0.1", self._requested_port))
            sock.listen(128)
        except OSError:
            sock.close()
            raise
        self._port = sock.getsockname()[1]
        self._core.host = self.authority_host
        config = uvicorn.Config(
            self._build_app(), log_level="critical", access_log=False, lifespan="off",
            http="h11", loop="asyncio", ws="none", date_header=False, server_header=False,
            proxy_headers=False, timeout_graceful_shutdown=1, timeout_keep_alive=30,
        )
        config.load()
        config.ssl = self._pki.server_ssl_context()  # uvicorn only knows key files; use ours
        self._server = uvicorn.Server(config)
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            self._stop_event = asyncio.Event()
            try:
                assert self._server is not None
                task = loop.create_task(self._server.serve(sockets=[sock]))
                loop.call_soon(ready.set)
                loop.run_until_complete(task)
            except BaseException as exc:  # surfaced by start()
                self._startup_error = exc
            finally:
                ready.set()
                sock.close()
                loop.close()

        self._thread = threading.Thread(target=run, name=f"vdc-emulator-{self._port}",
                                        daemon=True)
        self._thread.start()
        ready.wait(10)
        deadline = time.monotonic() + 10
        while not self._server.started and time.monotonic() < deadline:
            if self._startup_error is not None or not self._thread.is_alive():
                raise RuntimeError(f"emulator failed to start: {self._startup_error!r}")
            time.sleep(0.002)
        if not self._server.started:
            raise RuntimeError("emulator did not start within 10 s")
        return self

    def stop(self) -> None:
        """Stop serving and remove the temporary state folder (when it made one)."""
        if self._thread is not None and self._server is not None:
            self._server.should_exit = True
            loop, event = self._loop, self._stop_event
            if loop is not None and event is not None and not loop.is_closed():
                try:
                    loop.call_soon_threadsafe(event.set)
                except RuntimeError:
                    pass  # the loop closed in between
            self._thread.join(timeout=10)
            self._thread = None
        if self._own_dir:
            shutil.rmtree(self._state_dir, ignore_errors=True)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.authority_host if self._port is not None else "not started"
        return f"EmulatorServer({self.scenario.name!r}, {where})"


def connection_json(emu: EmulatorServer) -> str:
    """The first stdout line of ``vdc-tui emulator``."""
    return json.dumps(emu.connection_info())
