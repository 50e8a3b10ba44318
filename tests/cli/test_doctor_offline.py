"""``vdc-tui doctor`` on a machine that cannot reach anything."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.commands import Outcome

from vdc_tui.cli.doctor_cmd import doctor_exit_code
from vdc_tui.connect.doctor import DoctorCheck, clock_check, redact_url, run_doctor
from vdc_tui.connect.microsoft.clouds import resolve_endpoints
from vdc_tui.connect.models import CheckStatus

Run = Callable[..., Outcome]


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port where nothing listens (bound, never listening, so no one takes it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def by_id(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["id"]: check for check in document["checks"]}


def test_unresolvable_and_closed_hosts_are_fail_lines_with_fixes(run: Run,
                                                                 closed_port: int) -> None:
    outcome = run("doctor", "--json", "--timeout", "3",
                  "--authority-host", "https://login.nonexistent.invalid",
                  "--graph-url", f"https://127.0.0.1:{closed_port}")
    assert outcome.code == 4
    document = outcome.json()
    assert document["status"] == "fail"
    checks = by_id(document)
    dns = checks["dns:login.nonexistent.invalid"]
    assert dns["status"] == "fail" and "DNS" in dns["fix"]
    assert "https:login.nonexistent.invalid" not in checks  # nothing to connect to
    https = checks["https:127.0.0.1"]
    assert https["status"] == "fail" and f"127.0.0.1:{closed_port}" in https["detail"]
    assert https["fix"]
    assert checks["clock"]["status"] == "warn"
    for key in ("terminal.size", "terminal.colours", "terminal.ssh", "terminal.clipboard",
                "terminal.osc52", "profiles", "proxy"):
        assert key in checks


def test_the_human_report_has_one_line_per_check_and_a_summary(run: Run,
                                                               closed_port: int) -> None:
    url = f"https://127.0.0.1:{closed_port}"
    outcome = run("doctor", "--authority-host", url, "--graph-url", url)
    assert outcome.code == 4
    assert "[fail] HTTPS sign-in (authority)" in outcome.out
    assert "fix: " in outcome.out
    assert outcome.out.count("[fail]") == 1
    assert "checks: 1 failed" in outcome.out


def test_a_name_lookup_that_hangs_is_cut_short(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    release = threading.Event()
    real = socket.getaddrinfo

    def hanging(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "slow-dns.example":
            release.wait(30)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", hanging)
    endpoints = resolve_endpoints(authority_host="https://slow-dns.example",
                                  graph_url="https://slow-dns.example")
    try:
        checks = asyncio.run(run_doctor(endpoints, tmp_path, timeout=0.3, env={}))
    finally:
        release.set()
    dns = next(c for c in checks if c.id == "dns:slow-dns.example")
    assert dns.status is CheckStatus.FAIL and "timed out" in dns.detail


def test_proxy_variables_are_reported_without_credentials(monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path,
                                                          closed_port: int) -> None:
    env = {"HTTPS_PROXY": f"http://operator:s3cret-pw@127.0.0.1:{closed_port}",
           "NO_PROXY": "internal.example"}
    endpoints = resolve_endpoints(authority_host="https://login.example.invalid",
                                  graph_url="https://login.example.invalid")
    monkeypatch.setenv("HTTPS_PROXY", env["HTTPS_PROXY"])  # httpx reads the real environment
    checks = asyncio.run(run_doctor(endpoints, tmp_path, timeout=3, env=env))
    text = " ".join(f"{c.detail} {c.fix}" for c in checks)
    assert "s3cret-pw" not in text and "operator" not in text
    proxy = next(c for c in checks if c.id == "proxy")
    assert "HTTPS_PROXY" in proxy.detail and "via http://***@127.0.0.1" in proxy.detail
    dns = next(c for c in checks if c.id == "dns:login.example.invalid")
    assert dns.status is CheckStatus.PASS and "proxy" in dns.detail  # the proxy resolves it
    https = next(c for c in checks if c.id == "https:login.example.invalid")
    assert https.status is CheckStatus.FAIL


def test_redacting_a_proxy_url_keeps_host_and_port() -> None:
    assert redact_url("http://u:p@proxy.corp:3128") == "http://***@proxy.corp:3128"
    assert redact_url("http://proxy.corp:3128") == "http://proxy.corp:3128"


def test_a_private_profile_folder_passes_and_an_open_one_warns(run: Run, home: Path,
                                                               closed_port: int) -> None:
    args = ("doctor", "--json", "--authority-host", f"https://127.0.0.1:{closed_port}")
    home.mkdir(mode=0o700)
    os.chmod(home, 0o700)
    assert by_id(run(*args).json())["profiles"]["status"] == "pass"
    os.chmod(home, 0o755)
    profiles = by_id(run(*args).json())["profiles"]
    assert profiles["status"] == "warn" and profiles["fix"].startswith("chmod 700")


def test_clock_skew_beyond_a_minute_warns_and_beyond_the_sign_in_limit_fails() -> None:
    assert clock_check(1000.0, 1030.0, "x").status is CheckStatus.PASS
    ahead = clock_check(1000.0, 1120.0, "the sign-in server")
    assert ahead.status is CheckStatus.WARN and "120 s ahead of" in ahead.detail
    assert clock_check(1000.0, 1300.0, "x").status is CheckStatus.WARN  # 300 s: still allowed
    far = clock_check(1000.0, 400.0, "x")
    assert far.status is CheckStatus.FAIL and "AADSTS700024" in far.detail
    assert doctor_exit_code([far]) == 3


def test_exit_code_is_4_for_network_failures_and_3_for_local_ones() -> None:
    def check(category: str, status: CheckStatus) -> DoctorCheck:
        return DoctorCheck("x", category, "X", status, "")

    assert doctor_exit_code([check("network", CheckStatus.WARN)]) == 0
    assert doctor_exit_code([check("profiles", CheckStatus.FAIL)]) == 3
    assert doctor_exit_code([check("profiles", CheckStatus.FAIL),
                             check("network", CheckStatus.FAIL)]) == 4
