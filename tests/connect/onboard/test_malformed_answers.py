"""Automatic mode against a Graph whose answers are broken: a typed failure, rolled back.

A created object without its ``id`` (an empty ``{}``), a proxy's HTML page or JSON cut
off in the middle must not end the run with a Python exception: the step fails with
``provisioning_failed`` or ``service_unavailable`` (exit 4) and what the run made is
deleted again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vdc_tui.cli.main import main
from vdc_tui.emulator import EmulatorServer


def run_auto(
    emu: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, Any], str]:
    code = main(["connect", "auto", "--json", "--authority-host", emu.authority_host,
                 "--graph-url", emu.graph_url, "--ca-bundle", str(emu.ca_bundle)])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


@pytest.mark.parametrize(("kind", "error_code"), [
    ("empty_object", "provisioning_failed"),
    ("html", "service_unavailable"),
    ("truncated", "service_unavailable"),
])
def test_a_broken_answer_to_creating_the_principal_rolls_the_app_back(
    start_emulator: Callable[..., EmulatorServer], capsys: pytest.CaptureFixture[str],
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, error_code: str,
) -> None:
    monkeypatch.setenv("VDC_TUI_HOME", str(tmp_path / "home"))
    emu = start_emulator("demo", auto_approve_after=0, device_code_interval=1,
                         garbage_every=1, garbage_path="/v1.0/servicePrincipals",
                         garbage_kind=kind)
    before = set(emu.state.applications)
    code, document, err = run_auto(emu, capsys)
    assert code == 4, err
    assert document["error"]["code"] == error_code
    assert "Traceback" not in err
    assert "Rolled back" in err
    with emu.state.lock:
        assert set(emu.state.applications) == before
    assert not list((tmp_path / "home").rglob("profile.json"))
