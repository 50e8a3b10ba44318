"""``vdc-tui doctor``: can this machine do an onboarding?

Every check gives one line (pass / warn / fail) with what was found and, when it is not a
pass, how to fix it. The checks must work on a machine without any network and finish
quickly there: name resolution and HTTPS requests have short timeouts, and a name that
does not resolve is a ``fail`` line saying so rather than an exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import ssl
import stat
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .clouds import Endpoints
from .errors import VdcError, scrub
from .http import make_async_client, ssl_context
from .models import CheckStatus

#: Skew beyond which the clock line warns; Entra rejects client assertions at ~5 minutes.
CLOCK_WARN_SECONDS = 60.0
CLOCK_SIGN_IN_LIMIT = 300.0

#: Smallest terminal the wizard lays out well (below it screens stack and the QR hides).
MIN_COLUMNS, MIN_LINES = 80, 24

_PROXY_VARIABLES = (
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
)


@dataclass(frozen=True)
class DoctorCheck:
    """One line of the doctor's report.

    Attributes:
        id: Stable id (``proxy``, ``dns:<host>``, ``https:<host>``, ``clock``, ``terminal``…).
        category: ``network``, ``clock``, ``terminal`` or ``profiles`` (decides the exit code).
        title: What was checked.
        status: PASS, WARN or FAIL.
        detail: What was found (safe to print: no secrets, no control characters).
        fix: What to do on WARN or FAIL.
    """

    id: str
    category: str
    title: str
    status: CheckStatus
    detail: str
    fix: str = ""

    def to_json(self) -> dict[str, Any]:
        """The check as a JSON object."""
        return {
            "id": self.id,
            "category": self.category,
            "title": self.title,
            "status": str(self.status),
            "detail": self.detail,
            "fix": self.fix,
        }


def _check(
    id_: str, category: str, title: str, status: CheckStatus, detail: str, fix: str = ""
) -> DoctorCheck:
    # Details and fixes quote host names, paths and server text: never raw to a terminal.
    return DoctorCheck(id_, category, title, status, scrub(detail, limit=500),
                       scrub(fix, limit=500))


# -- proxy -------------------------------------------------------------------------------


def redact_url(url: str) -> str:
    """A proxy URL with any user name and password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _proxy_for(host: str, env: Mapping[str, str]) -> str | None:
    """The proxy an HTTPS request to ``host`` goes through, following the usual variables.

    Loopback hosts (the emulator) are always reached directly, as the connect layer does.
    """
    if host.lower() in ("127.0.0.1", "localhost", "::1"):
        return None
    proxies = {
        k.lower()[: -len("_proxy")]: v for k, v in env.items() if k.lower().endswith("_proxy") and v
    }
    no_proxy = proxies.pop("no", "")
    if no_proxy and _bypassed(host, no_proxy):
        return None
    return proxies.get("https") or proxies.get("all")


def _bypassed(host: str, no_proxy: str) -> bool:
    host = host.lower()
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        entry = entry.lstrip(".").split(":")[0]
        if host == entry or host.endswith("." + entry):
            return True
    return False


def proxy_check(endpoints: Endpoints, env: Mapping[str, str]) -> DoctorCheck:
    """Report the proxy variables in effect (credentials hidden)."""
    present = [name for name in _PROXY_VARIABLES if env.get(name)]
    if not present:
        return _check(
            "proxy",
            "network",
            "Proxy",
            CheckStatus.PASS,
            "No proxy variables set: connections go direct.",
        )
    hosts = sorted({_host(endpoints.authority_host), _host(endpoints.graph_url)})
    routes = []
    for host in hosts:
        proxy = _proxy_for(host, env)
        routes.append(f"{host} via {redact_url(proxy)}" if proxy else f"{host} direct")
    return _check(
        "proxy",
        "network",
        "Proxy",
        CheckStatus.PASS,
        f"Set: {', '.join(present)}; " + "; ".join(routes) + ".",
    )


# -- network -----------------------------------------------------------------------------


def _host(url: str) -> str:
    return urlsplit(url).hostname or url


def _port(url: str) -> int:
    return urlsplit(url).port or 443


async def _resolve(host: str, port: int, timeout: float) -> list[str]:
    """``getaddrinfo`` with a deadline.

    ``getaddrinfo`` cannot be interrupted, so it runs in a daemon thread that is simply
    abandoned on timeout (an executor thread would hold up the interpreter's exit).
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[list[str]] = loop.create_future()

    def deliver(result: list[str] | BaseException) -> None:
        if future.done():
            return
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)

    def work() -> None:
        outcome: list[str] | BaseException
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            outcome = sorted({str(info[4][0]) for info in infos})
        except OSError as exc:
            outcome = exc
        with contextlib.suppress(RuntimeError):  # the loop may be gone after a timeout
            loop.call_soon_threadsafe(deliver, outcome)

    threading.Thread(target=work, name=f"doctor-dns-{host}", daemon=True).start()
    return await asyncio.wait_for(future, timeout)


@dataclass(frozen=True)
class _Probe:
    checks: list[DoctorCheck]
    server_date: float | None  # the server's Date header as a POSIX time
    local_time: float | None  # our clock when the answer arrived


async def _probe(
    name: str, url: str, endpoints: Endpoints, env: Mapping[str, str], timeout: float
) -> _Probe:
    """DNS then one HTTPS request to ``url``: reachability, TLS, and the server's clock."""
    import httpx

    host, port = _host(url), _port(url)
    checks: list[DoctorCheck] = []
    proxy = _proxy_for(host, env)
    if proxy:
        # The proxy resolves the name; what we must resolve is the proxy itself.
        lookup_host, lookup_port = _host(proxy), urlsplit(proxy).port or 80
        what = f"proxy {redact_url(proxy)} (for {host})"
    else:
        lookup_host, lookup_port, what = host, port, host
    try:
        addresses = await _resolve(lookup_host, lookup_port, timeout)
    except TimeoutError:
        checks.append(
            _check(
                f"dns:{host}",
                "network",
                f"DNS {name}",
                CheckStatus.FAIL,
                f"Resolving {what} timed out after {timeout:g} s.",
                "Check the DNS servers of this machine (or the network); "
                "behind a proxy, set HTTPS_PROXY.",
            )
        )
        return _Probe(checks, None, None)
    except OSError as exc:
        checks.append(
            _check(
                f"dns:{host}",
                "network",
                f"DNS {name}",
                CheckStatus.FAIL,
                f"Cannot resolve {what}: {exc.strerror or exc}.",
                "This machine cannot look up the name: check its network and DNS "
                "settings; behind a proxy, set HTTPS_PROXY.",
            )
        )
        return _Probe(checks, None, None)
    checks.append(
        _check(
            f"dns:{host}",
            "network",
            f"DNS {name}",
            CheckStatus.PASS,
            f"{what} resolves to {', '.join(addresses[:4])}.",
        )
    )

    try:
        ssl_context(endpoints)  # a bad --ca-bundle is a fail line, not an exception
    except VdcError as exc:
        checks.append(
            _check(
                f"https:{host}",
                "network",
                f"HTTPS {name}",
                CheckStatus.FAIL,
                exc.message,
                exc.remediation,
            )
        )
        return _Probe(checks, None, None)
    started = time.monotonic()
    try:
        # Same TLS and proxy behaviour as the connect layer (loopback always direct).
        async with make_async_client(endpoints, timeout=timeout) as client:
            response = await client.get(url, headers={"Accept": "application/json"})
    except httpx.ConnectError as exc:
        cause = exc.__context__ or exc.__cause__
        if isinstance(cause, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY" in str(exc):
            checks.append(
                _check(
                    f"https:{host}",
                    "network",
                    f"HTTPS {name}",
                    CheckStatus.FAIL,
                    f"TLS verification of {host} failed: {exc}.",
                    "A TLS-inspecting proxy or a private CA needs its CA certificate: "
                    "pass it with --ca-bundle PEM.",
                )
            )
        else:
            checks.append(
                _check(
                    f"https:{host}",
                    "network",
                    f"HTTPS {name}",
                    CheckStatus.FAIL,
                    f"Cannot connect to {host}:{port}: {exc or 'connection failed'}.",
                    "Check that outbound HTTPS (port 443) is allowed by the firewall "
                    "or set HTTPS_PROXY to the proxy this network requires.",
                )
            )
        return _Probe(checks, None, None)
    except httpx.TimeoutException:
        checks.append(
            _check(
                f"https:{host}",
                "network",
                f"HTTPS {name}",
                CheckStatus.FAIL,
                f"No answer from {host}:{port} within {timeout:g} s.",
                "Check the firewall or proxy; a silently dropped connection often "
                "means outbound HTTPS is blocked.",
            )
        )
        return _Probe(checks, None, None)
    except httpx.HTTPError as exc:
        checks.append(
            _check(
                f"https:{host}",
                "network",
                f"HTTPS {name}",
                CheckStatus.FAIL,
                f"Request to {host} failed: {type(exc).__name__}: {exc}.",
                "Check the network path to the host (proxy, firewall).",
            )
        )
        return _Probe(checks, None, None)
    arrived = time.time()
    elapsed_ms = (time.monotonic() - started) * 1000
    tls = ""
    stream = response.extensions.get("network_stream")
    if stream is not None:
        ssl_object = stream.get_extra_info("ssl_object")
        if ssl_object is not None:
            tls = f", {ssl_object.version()}"
    route = " via proxy" if proxy else ""
    checks.append(
        _check(
            f"https:{host}",
            "network",
            f"HTTPS {name}",
            CheckStatus.PASS,
            f"{host} answered HTTP {response.status_code} in {elapsed_ms:.0f} ms"
            f"{route}; certificate verified{tls}.",
        )
    )
    server_date: float | None = None
    if "date" in response.headers:
        with contextlib.suppress(TypeError, ValueError, IndexError):
            server_date = parsedate_to_datetime(response.headers["date"]).timestamp()
    return _Probe(checks, server_date, arrived)


def clock_check(server_date: float | None, local_time: float | None, source: str) -> DoctorCheck:
    """Compare the local clock with a server's ``Date`` header."""
    if server_date is None or local_time is None:
        return _check(
            "clock",
            "clock",
            "Clock",
            CheckStatus.WARN,
            "Not compared: no server answered with a Date header.",
            "Fix the network first; keep the clock synchronised (NTP).",
        )
    skew = local_time - server_date
    # Date has one-second resolution, so up to ~1 s of difference is rounding.
    direction = "ahead of" if skew > 0 else "behind"
    detail = f"Local clock is {abs(skew):.0f} s {direction} {source}."
    if abs(skew) <= CLOCK_WARN_SECONDS:
        return _check(
            "clock",
            "clock",
            "Clock",
            CheckStatus.PASS,
            f"Local clock agrees with {source} (within {abs(skew):.0f} s).",
        )
    if abs(skew) > CLOCK_SIGN_IN_LIMIT:
        detail += " Certificate sign-ins fail beyond about 5 minutes (AADSTS700024)."
    return _check(
        "clock",
        "clock",
        "Clock",
        CheckStatus.WARN,
        detail,
        "Synchronise the clock (for example `timedatectl set-ntp true`, or w32tm).",
    )


# -- terminal ----------------------------------------------------------------------------


def terminal_checks(env: Mapping[str, str]) -> list[DoctorCheck]:
    """Size, colours, SSH, clipboard and OSC 52 facts of the terminal."""
    checks: list[DoctorCheck] = []
    size = shutil.get_terminal_size(fallback=(0, 0))
    if size.columns == 0 or size.lines == 0:
        checks.append(
            _check(
                "terminal.size",
                "terminal",
                "Terminal size",
                CheckStatus.WARN,
                "Not a terminal (output is redirected); size unknown.",
                "Run the wizard in an interactive terminal.",
            )
        )
    elif size.columns < MIN_COLUMNS or size.lines < MIN_LINES:
        checks.append(
            _check(
                "terminal.size",
                "terminal",
                "Terminal size",
                CheckStatus.WARN,
                f"{size.columns}×{size.lines}: smaller than "
                f"{MIN_COLUMNS}×{MIN_LINES}; "
                "the wizard stacks its panels and may hide the QR code.",
                "Enlarge the window or lower the font size.",
            )
        )
    else:
        checks.append(
            _check(
                "terminal.size",
                "terminal",
                "Terminal size",
                CheckStatus.PASS,
                f"{size.columns}×{size.lines}.",
            )
        )

    term = env.get("TERM", "")
    colorterm = env.get("COLORTERM", "").lower()
    if env.get("NO_COLOR"):
        checks.append(
            _check(
                "terminal.colours",
                "terminal",
                "Colours",
                CheckStatus.PASS,
                "NO_COLOR is set: the wizard runs in monochrome.",
            )
        )
    elif colorterm in ("truecolor", "24bit"):
        checks.append(
            _check(
                "terminal.colours",
                "terminal",
                "Colours",
                CheckStatus.PASS,
                f"24-bit colour (COLORTERM={colorterm}).",
            )
        )
    elif "256color" in term:
        checks.append(
            _check(
                "terminal.colours",
                "terminal",
                "Colours",
                CheckStatus.PASS,
                f"256 colours (TERM={term}).",
            )
        )
    elif term in ("", "dumb"):
        checks.append(
            _check(
                "terminal.colours",
                "terminal",
                "Colours",
                CheckStatus.WARN,
                f"TERM is {term or 'not set'}: no colours or cursor control.",
                "Set TERM (for example xterm-256color) or use a full terminal.",
            )
        )
    else:
        checks.append(
            _check(
                "terminal.colours",
                "terminal",
                "Colours",
                CheckStatus.PASS,
                f"16 colours (TERM={term}); themes are approximated.",
            )
        )

    ssh = bool(env.get("SSH_CONNECTION") or env.get("SSH_TTY") or env.get("SSH_CLIENT"))
    checks.append(
        _check(
            "terminal.ssh",
            "terminal",
            "SSH session",
            CheckStatus.PASS,
            "Yes: copying goes to your local terminal through OSC 52."
            if ssh
            else "No: a local session.",
        )
    )

    native = _native_clipboard()
    if native and not ssh:
        detail = "A native clipboard exists; the wizard also copies there."
    elif native:
        detail = "A clipboard tool exists on this host, but over SSH only OSC 52 reaches you."
    else:
        detail = "No native clipboard tool; the wizard copies with OSC 52 only."
    checks.append(
        _check("terminal.clipboard", "terminal", "Native clipboard", CheckStatus.PASS, detail)
    )

    if env.get("TMUX"):
        setting = _tmux_set_clipboard()
        if setting in ("on", "external"):
            checks.append(
                _check(
                    "terminal.osc52",
                    "terminal",
                    "OSC 52 copy",
                    CheckStatus.PASS,
                    f"Used for copying; tmux set-clipboard is {setting}.",
                )
            )
        else:
            checks.append(
                _check(
                    "terminal.osc52",
                    "terminal",
                    "OSC 52 copy",
                    CheckStatus.WARN,
                    f"Used for copying, but tmux set-clipboard is "
                    f"{setting or 'unknown'}: copies may not reach your clipboard.",
                    "Run `tmux set -g set-clipboard on` (and add it to ~/.tmux.conf).",
                )
            )
    else:
        checks.append(
            _check(
                "terminal.osc52",
                "terminal",
                "OSC 52 copy",
                CheckStatus.PASS,
                "Used for copying; terminals without OSC 52 support "
                "(e.g. macOS Terminal) ignore it: select the code on screen instead.",
            )
        )
    return checks


def _native_clipboard() -> bool:
    try:
        import pyperclip

        return bool(pyperclip.determine_clipboard()[0])
    except Exception:  # pyperclip probes the system; any failure means "none usable"
        return False


def _tmux_set_clipboard() -> str | None:
    try:
        done = subprocess.run(
            ["tmux", "show-options", "-gv", "set-clipboard"],
            capture_output=True,
            text=True,
            timeout=2,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    value = done.stdout.strip()
    return value or None


# -- profiles ----------------------------------------------------------------------------


def profile_folder_check(home: Path) -> DoctorCheck:
    """Whether the profile folder exists, is private (0700) and writable."""
    connections = home / "connections"
    if not home.exists():
        parent = next((p for p in home.parents if p.exists()), None)
        if parent is not None and not os.access(parent, os.W_OK | os.X_OK):
            return _check(
                "profiles",
                "profiles",
                "Profile folder",
                CheckStatus.FAIL,
                f"{home} does not exist and {parent} is not writable.",
                "Set VDC_TUI_HOME to a folder you can write.",
            )
        return _check(
            "profiles",
            "profiles",
            "Profile folder",
            CheckStatus.PASS,
            f"{home} will be created (0700) with the first profile.",
        )
    if not home.is_dir():
        return _check(
            "profiles",
            "profiles",
            "Profile folder",
            CheckStatus.FAIL,
            f"{home} exists but is not a folder.",
            "Move it away or set VDC_TUI_HOME to another folder.",
        )
    if not os.access(home, os.W_OK | os.X_OK):
        return _check(
            "profiles",
            "profiles",
            "Profile folder",
            CheckStatus.FAIL,
            f"{home} is not writable by this user.",
            "Fix its owner or permissions, or set VDC_TUI_HOME elsewhere.",
        )
    if os.name == "posix":
        too_open = [
            p
            for p in (home, connections, *_children(connections))
            if p.is_dir() and stat.S_IMODE(p.stat().st_mode) & 0o077
        ]
        if too_open:
            shown = ", ".join(f"{p} ({stat.S_IMODE(p.stat().st_mode):04o})" for p in too_open[:3])
            return _check(
                "profiles",
                "profiles",
                "Profile folder",
                CheckStatus.WARN,
                f"Readable by other users: {shown}; these folders hold private keys.",
                "chmod 700 " + " ".join(str(p) for p in too_open[:3]),
            )
    count = len(_children(connections))
    return _check(
        "profiles",
        "profiles",
        "Profile folder",
        CheckStatus.PASS,
        f"{home} is private (0700) and writable; {count} connection(s) saved.",
    )


def _children(folder: Path) -> list[Path]:
    try:
        return [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
    except OSError:
        return []


# -- all together ------------------------------------------------------------------------


async def run_doctor(
    endpoints: Endpoints,
    home: Path,
    *,
    timeout: float = 4.0,
    env: Mapping[str, str] | None = None,
) -> list[DoctorCheck]:
    """Run every check; never raises for a missing network (those are FAIL lines).

    Args:
        endpoints: The cloud (and overrides) whose hosts are probed.
        home: The profile folder to inspect.
        timeout: Seconds allowed for each name lookup and each HTTPS request.
        env: Environment to read (proxy, terminal variables); default ``os.environ``.
    """
    env = dict(os.environ if env is None else env)
    checks: list[DoctorCheck] = [
        _check(
            "cloud",
            "network",
            "Cloud",
            CheckStatus.PASS,
            f"{endpoints.cloud.label}: sign-in {endpoints.authority_host}, "
            f"Graph {endpoints.graph_url}"
            + (f", trusting {endpoints.ca_bundle}" if endpoints.ca_bundle else "")
            + (" (custom endpoints)" if endpoints.is_custom else "")
            + ".",
        ),
        proxy_check(endpoints, env),
    ]
    targets = [
        (
            "sign-in (authority)",
            f"{endpoints.authority_host}/organizations/v2.0/.well-known/openid-configuration",
        )
    ]
    if _host(endpoints.graph_url) != _host(endpoints.authority_host) or _port(
        endpoints.graph_url
    ) != _port(endpoints.authority_host):
        targets.append(("Microsoft Graph", f"{endpoints.graph_v1}/organization"))
    probes = await asyncio.gather(*(_probe(n, u, endpoints, env, timeout) for n, u in targets))
    for probe in probes:
        checks.extend(probe.checks)
    dated = next((p for p in probes if p.server_date is not None), None)
    checks.append(
        clock_check(
            dated.server_date if dated else None,
            dated.local_time if dated else None,
            "the sign-in server" if dated is probes[0] else "Microsoft Graph",
        )
    )
    checks.extend(terminal_checks(env))
    checks.append(profile_folder_check(home))
    from .keystore import key_storage_check

    checks.append(key_storage_check(home, env))
    return checks
