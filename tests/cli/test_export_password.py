"""``connections export``'s generated password: on a terminal only, never on redirected
output (a log would keep it). Real processes: one in a pseudo-terminal, others with stdout
sent to a file or a pipe, in both output modes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import pkcs12
from support.factories import TENANT, make_result
from support.terminals import Terminal

from vdc_tui.connect.store.profiles import ProfileStore

VDC_TUI = str(Path(sys.executable).parent / "vdc-tui")


@pytest.fixture
def saved(home: Path) -> dict[str, str]:
    ProfileStore(home).save(make_result(), ["exchange"], plan="flex", cloud="global")
    return {**os.environ, "VDC_TUI_HOME": str(home), "NO_COLOR": "1"}


def test_at_a_terminal_the_generated_password_is_shown_once_and_opens_the_pfx(
        saved: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "a.pfx"
    term = Terminal([VDC_TUI, "connections", "export", TENANT, "--pfx", str(out),
                     "--generate-password"], saved)
    try:
        term.wait_for(b"Certificate expires:")
        assert term.proc.wait(timeout=30) == 0
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
            term.proc.wait(timeout=30)
    text = bytes(term.output).decode()
    [line] = [x for x in text.splitlines() if x.strip().startswith("PFX password:")]
    password = line.split(":", 1)[1].strip()
    assert pkcs12.load_pkcs12(out.read_bytes(), password.encode()).key


@pytest.mark.parametrize("extra", [[], ["--generate-password"], ["--json"],
                                   ["--json", "--show-password"]],
                         ids=["text", "text-explicit", "json", "json-show-password"])
def test_redirected_stdout_never_gets_a_generated_password(
        saved: dict[str, str], tmp_path: Path, extra: list[str]) -> None:
    out = tmp_path / "b.pfx"
    log = tmp_path / "captured.log"
    with log.open("w") as stdout:
        done = subprocess.run([VDC_TUI, "connections", "export", TENANT, "--pfx", str(out),
                               *extra], env=saved, stdout=stdout, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    captured = log.read_text()
    assert not out.exists()  # refused before anything was written
    assert "password_needs_terminal" in captured + done.stderr
    assert "PFX password:" not in captured + done.stderr
    if "--json" in extra:
        document = json.loads(captured)
        assert document["error"]["code"] == "password_needs_terminal"
        assert "pfx_password" not in document


def test_a_password_given_by_the_script_still_works_without_a_terminal(
        saved: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "c.pfx"
    done = subprocess.run([VDC_TUI, "connections", "export", TENANT, "--pfx", str(out),
                           "--pfx-password-env", "EXPORT_PW", "--json"],
                          env={**saved, "EXPORT_PW": "a script's own export password"},
                          capture_output=True, stdin=subprocess.DEVNULL, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["password_generated"] is False
    assert pkcs12.load_pkcs12(out.read_bytes(), b"a script's own export password").key
