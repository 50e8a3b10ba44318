"""``connections check`` judges the key as Entra enforces it: the ``endDateTime`` of the
app's key credential of the saved certificate counts, not only the certificate's notAfter."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from support.commands import Outcome
from support.lifecycle import TENANT, endpoint_args, managed_app, scenario

from vdc_tui.emulator import EmulatorServer

from .test_renew import connect

Run = Callable[..., Outcome]
StartEmulator = Callable[..., EmulatorServer]


@pytest.fixture
def emu(start_emulator: StartEmulator) -> EmulatorServer:
    return start_emulator(scenario(), auto_approve_after=0)


def checked(run: Run, emu: EmulatorServer) -> dict[str, Any]:
    outcome = run("connections", "check", TENANT, "--json", *endpoint_args(emu))
    connection: dict[str, Any] = outcome.json()["connections"][0]
    return connection


def named(connection: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in connection["checks"] if c["name"] == name)


def test_a_key_credential_ending_before_the_certificate_warns_with_its_date(
        run: Run, emu: EmulatorServer, home: Path) -> None:
    connect(run, emu)
    ends = time.time() + 10 * 86400
    with emu.state.lock:
        managed_app(emu).key_credentials[0].end = ends
    connection = checked(run, emu)
    certificate = named(connection, "certificate")
    assert connection["health"] == "warning"
    assert certificate["status"] == "warning"
    assert certificate["code"] == "certificate_expiring"
    assert f"vdc-tui connections renew {TENANT}" in certificate["remediation"]
    assert connection["certificate"]["days_left"] in (9, 10)
    day = datetime.fromtimestamp(ends, UTC).strftime("%Y-%m-%d")
    assert connection["certificate"]["not_after"].startswith(day)
    assert "key credential on the app ends" in certificate["detail"]


def test_a_key_credential_that_ended_is_broken_and_repair_is_the_fix(
        run: Run, emu: EmulatorServer, home: Path) -> None:
    connect(run, emu)
    with emu.state.lock:
        managed_app(emu).key_credentials[0].end = time.time() - 60
    connection = checked(run, emu)
    assert connection["health"] == "broken"
    failed = [c for c in connection["checks"] if c["status"] == "broken"]
    assert failed and f"vdc-tui connections repair {TENANT}" in failed[0]["remediation"]


def test_a_key_credential_ending_with_the_certificate_is_judged_by_the_certificate(
        run: Run, emu: EmulatorServer, home: Path) -> None:
    connect(run, emu)
    certificate = named(checked(run, emu), "certificate")
    assert certificate["status"] == "ok"
    assert "key credential" not in certificate["detail"]
