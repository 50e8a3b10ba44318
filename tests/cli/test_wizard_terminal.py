"""The wizard refuses to start without a terminal, as the dashboard does: a real process
with its streams redirected writes no escape code into the file and exits 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

VDC_TUI = str(Path(sys.executable).parent / "vdc-tui")


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VDC_TUI_")}
    env.update(VDC_TUI_HOME=str(tmp_path / "home"), VDC_TUI_KEYRING="off",
               TERM="xterm-256color")
    return env


@pytest.mark.parametrize("argv", [[], ["--demo"]])
def test_the_wizard_with_every_stream_redirected_exits_2_without_escape_codes(
        argv: list[str], tmp_path: Path) -> None:
    out = tmp_path / "wizard.out"
    with out.open("wb") as sink:
        proc = subprocess.run([VDC_TUI, *argv], stdin=subprocess.DEVNULL, stdout=sink,
                              stderr=subprocess.STDOUT, env=_env(tmp_path), timeout=60)
    written = out.read_bytes()
    assert proc.returncode == 2
    assert b"\x1b" not in written
    assert b"needs a terminal" in written and b"[invalid_argument]" in written
    assert not (tmp_path / "home" / "demo").exists() or not any(
        (tmp_path / "home" / "demo").rglob("profile*.json"))


def test_the_wizard_on_a_terminal_but_stdout_in_a_file_is_refused(tmp_path: Path) -> None:
    master, slave = os.openpty()
    out = tmp_path / "wizard.out"
    try:
        with out.open("wb") as sink:
            proc = subprocess.run([VDC_TUI, "--demo"], stdin=slave, stdout=sink, stderr=slave,
                                  env=_env(tmp_path), timeout=60)
        os.set_blocking(master, False)
        try:
            on_terminal = os.read(master, 65536)
        except BlockingIOError:
            on_terminal = b""
    finally:
        os.close(slave)
        os.close(master)
    assert proc.returncode == 2
    assert out.read_bytes() == b""
    # The error is said on the terminal, as a line, not drawn as a screen.
    assert b"needs a terminal" in on_terminal
    assert b"\x1b[?1049h" not in on_terminal  # no alternate screen was entered


def test_the_refusal_says_what_to_use_in_a_script(tmp_path: Path) -> None:
    proc = subprocess.run([VDC_TUI], stdin=subprocess.DEVNULL, capture_output=True,
                          env=_env(tmp_path), timeout=60, text=True)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("error: `vdc-tui` without a command starts the wizard")
    assert "fix: Run it in a terminal; in scripts use `vdc-tui connect auto --json`" in proc.stderr
