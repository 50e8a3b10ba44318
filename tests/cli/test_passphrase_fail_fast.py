"""Fail fast: a command that will write or read a saved key settles the store passphrase
before anyone is asked to sign in. Real ``vdc-tui`` processes without a terminal and
without any passphrase source; the emulator's request log shows no device code asked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from support.commands import Outcome
from support.lifecycle import TENANT, endpoint_args, scenario

from vdc_tui.emulator import EmulatorServer

VDC_TUI = str(Path(sys.executable).parent / "vdc-tui")
StartEmulator = Callable[..., EmulatorServer]


def _without_passphrase(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("VDC_TUI_KEY_PASSPHRASE_FILE", None)
    env["VDC_TUI_KEYRING"] = "off"
    env["VDC_TUI_HOME"] = str(home)
    return env


def _vdc(home: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VDC_TUI, *argv], env=_without_passphrase(home),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=120, check=False)


def _device_codes(emu: EmulatorServer) -> list[Any]:
    return [r for r in emu.request_log if r.path.endswith("/oauth2/v2.0/devicecode")]


def _error(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(done.stdout)
    error: dict[str, Any] = document["error"]
    return error


def test_connect_auto_without_a_passphrase_exits_2_before_any_device_code(
        start_emulator: StartEmulator, tmp_path: Path) -> None:
    emu = start_emulator(scenario(), auto_approve_after=0)
    done = _vdc(tmp_path / "home", "connect", "auto", "--json", *endpoint_args(emu))
    assert done.returncode == 2, done.stderr
    error = _error(done)
    assert error["code"] == "key_passphrase_required"
    assert "--key-passphrase-env" in error["remediation"]
    assert _device_codes(emu) == []
    assert "enter the code" not in done.stderr.lower()
    assert not [a for a in emu.state.applications.values()
                if "vdc-tui:managed" in (a.props.get("tags") or [])]


def test_repair_without_a_passphrase_exits_2_before_any_device_code(
        run: Callable[..., Outcome], start_emulator: StartEmulator, home: Path) -> None:
    emu = start_emulator(scenario(), auto_approve_after=0)
    assert run("connect", "auto", "--json", *endpoint_args(emu)).code == 0
    before = len(_device_codes(emu))
    done = _vdc(home, "connections", "repair", TENANT, "--json", *endpoint_args(emu))
    assert done.returncode == 2, done.stderr
    assert _error(done)["code"] == "key_passphrase_required"
    assert len(_device_codes(emu)) == before


def test_a_wrong_passphrase_is_said_before_any_device_code(
        run: Callable[..., Outcome], start_emulator: StartEmulator, home: Path) -> None:
    emu = start_emulator(scenario(), auto_approve_after=0)
    assert run("connect", "auto", "--json", *endpoint_args(emu)).code == 0
    before = len(_device_codes(emu))
    env = _without_passphrase(home)
    env["WRONG_PHRASE"] = "not the store passphrase"
    done = subprocess.run([VDC_TUI, "connect", "auto", "--json", "--key-passphrase-env",
                           "WRONG_PHRASE", *endpoint_args(emu)], env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert _error(done)["code"] == "key_passphrase_wrong"
    assert len(_device_codes(emu)) == before
