"""Network checks: the proxy in use, name resolution and one HTTPS request per host (TLS,
reachability), and the clock against the server's ``Date``."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit, urlunsplit

from vdc_tui.connect.doctor.report import DoctorCheck, check
from vdc_tui.connect.errors import VdcError
from vdc_tui.connect.microsoft.clouds import Endpoints
from vdc_tui.connect.microsoft.http import make_async_client, ssl_context
from vdc_tui.connect.models import CheckStatus

#: Skew beyond which the clock line warns; beyond CLOCK_SIGN_IN_LIMIT it fails (Entra
#: rejects client assertions at ~5 minutes: AADSTS700024).
CLOCK_WARN_SECONDS = 60.0
CLOCK_SIGN_IN_LIMIT = 300.0

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
        return check(
            "proxy",
            "network",
            "Proxy",
            CheckStatus.PASS,
            "No proxy variables set: connections go direct.",
        )
    hosts = sorted({url_host(endpoints.authority_host), url_host(endpoints.graph_url)})
    routes = []
    for host in hosts:
        proxy = _proxy_for(host, env)
        routes.append(f"{host} via {redact_url(proxy)}" if proxy else f"{host} direct")
    return check(
        "proxy",
        "network",
        "Proxy",
        CheckStatus.PASS,
        f"Set: {', '.join(present)}; " + "; ".join(routes) + ".",
    )


def url_host(url: str) -> str:
    """The host name of ``url`` (the text itself when it has none)."""
    return urlsplit(url).hostname or url


def url_port(url: str) -> int:
    """The port of ``url`` (443 when it names none)."""
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
class Probe:
    checks: list[DoctorCheck]
    server_date: float | None  # the server's Date header as a POSIX time
    local_time: float | None  # our clock when the answer arrived


async def probe(
    name: str, url: str, endpoints: Endpoints, env: Mapping[str, str], timeout: float
) -> Probe:
    """DNS then one HTTPS request to ``url``: reachability, TLS, and the server's clock."""
    import httpx

    host, port = url_host(url), url_port(url)
    checks: list[DoctorCheck] = []

    def failed(kind: str, detail: str, fix: str) -> Probe:
        """The probe ends on a FAIL line for its DNS or HTTPS step."""
        title = "DNS" if kind == "dns" else "HTTPS"
        checks.append(check(f"{kind}:{host}", "network", f"{title} {name}", CheckStatus.FAIL,
                            detail, fix))
        return Probe(checks, None, None)

    proxy = _proxy_for(host, env)
    if proxy:
        # The proxy resolves the name; what we must resolve is the proxy itself.
        lookup_host, lookup_port = url_host(proxy), urlsplit(proxy).port or 80
        what = f"proxy {redact_url(proxy)} (for {host})"
    else:
        lookup_host, lookup_port, what = host, port, host
    try:
        addresses = await _resolve(lookup_host, lookup_port, timeout)
    except TimeoutError:
        return failed(
            "dns",
            f"Resolving {what} timed out after {timeout:g} s.",
            "Check the DNS servers of this machine (or the network); "
            "behind a proxy, set HTTPS_PROXY.",
        )
    except OSError as exc:
        return failed(
            "dns",
            f"Cannot resolve {what}: {exc.strerror or exc}.",
            "This machine cannot look up the name: check its network and DNS "
            "settings; behind a proxy, set HTTPS_PROXY.",
        )
    checks.append(
        check(
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
        return failed("https", exc.message, exc.remediation)
    started = time.monotonic()
    try:
        # Same TLS and proxy behaviour as the connect layer (loopback always direct).
        async with make_async_client(endpoints, timeout=timeout) as client:
            response = await client.get(url, headers={"Accept": "application/json"})
    except httpx.ConnectError as exc:
        cause = exc.__context__ or exc.__cause__
        if isinstance(cause, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY" in str(exc):
            return failed(
                "https",
                f"TLS verification of {host} failed: {exc}.",
                "A TLS-inspecting proxy or a private CA needs its CA certificate: "
                "pass it with --ca-bundle PEM.",
            )
        return failed(
            "https",
            f"Cannot connect to {host}:{port}: {exc or 'connection failed'}.",
            "Check that outbound HTTPS (port 443) is allowed by the firewall "
            "or set HTTPS_PROXY to the proxy this network requires.",
        )
    except httpx.TimeoutException:
        return failed(
            "https",
            f"No answer from {host}:{port} within {timeout:g} s.",
            "Check the firewall or proxy; a silently dropped connection often "
            "means outbound HTTPS is blocked.",
        )
    except httpx.HTTPError as exc:
        return failed(
            "https",
            f"Request to {host} failed: {type(exc).__name__}: {exc}.",
            "Check the network path to the host (proxy, firewall).",
        )
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
        check(
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
    return Probe(checks, server_date, arrived)


def clock_check(server_date: float | None, local_time: float | None, source: str) -> DoctorCheck:
    """Compare the local clock with a server's ``Date`` header."""
    if server_date is None or local_time is None:
        return check(
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
        return check(
            "clock",
            "clock",
            "Clock",
            CheckStatus.PASS,
            f"Local clock agrees with {source} (within {abs(skew):.0f} s).",
        )
    if abs(skew) > CLOCK_SIGN_IN_LIMIT:
        # Beyond what Entra accepts in a client assertion's nbf/exp (about 5 minutes,
        # research/identity.md): every certificate sign-in of this machine would fail, so
        # an onboarding cannot run. A failure, not a warning.
        return check(
            "clock",
            "clock",
            "Clock",
            CheckStatus.FAIL,
            detail + " Certificate sign-ins fail beyond about 5 minutes (AADSTS700024, "
            "clock_skew): onboarding, renewal and checks cannot sign in from here.",
            "Synchronise the clock (for example `timedatectl set-ntp true`, or w32tm), then "
            "run `vdc-tui doctor` again.",
        )
    return check(
        "clock",
        "clock",
        "Clock",
        CheckStatus.WARN,
        detail,
        "Synchronise the clock (for example `timedatectl set-ntp true`, or w32tm).",
    )


__all__ = ["CLOCK_SIGN_IN_LIMIT", "CLOCK_WARN_SECONDS", "clock_check", "probe", "proxy_check",
           "redact_url"]
