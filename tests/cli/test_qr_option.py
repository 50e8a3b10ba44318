"""``--qr``: the device code's QR code in Unicode half blocks (default), in ASCII only, or
not at all."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import qrcode
from qrcode.constants import ERROR_CORRECT_L

from vdc_tui.cli.output import Reporter, qr_ascii_lines
from vdc_tui.connect.models import DeviceCode

URL = "https://microsoft.com/devicelogin"
VDC_TUI = str(Path(sys.executable).parent / "vdc-tui")


def _modules(lines: list[str]) -> list[list[bool]]:
    """Read an ASCII QR code back: two characters per module, ``##`` dark."""
    width = max(len(line) for line in lines)
    return [[line.ljust(width)[x:x + 2] == "##" for x in range(0, width, 2)]
            for line in lines]


def _reference(data: str, border: int) -> list[list[bool]]:
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_L, border=border)
    code.add_data(data)
    code.make(fit=True)
    matrix: list[list[bool]] = code.get_matrix()
    return matrix


def test_the_ascii_qr_code_is_ascii_and_reads_back_as_the_code_of_the_address() -> None:
    lines = qr_ascii_lines(URL)
    assert all(line.isascii() and set(line) <= {"#", " "} for line in lines)
    reference = _reference(URL, border=4)
    width = len(reference[0])
    read = [row + [False] * (width - len(row)) for row in _modules(lines)]
    assert read == reference


def _shown(qr: str) -> str:
    err = io.StringIO()
    code = DeviceCode("CWE5QHLNM", URL, datetime.now(UTC) + timedelta(minutes=15), 900, 5, "")
    Reporter(json_mode=False, err=err, qr=qr).device_code(code)
    return err.getvalue()


def test_each_style_draws_what_it_says() -> None:
    assert "▀" in _shown("unicode") or "▄" in _shown("unicode")
    ascii_text = _shown("ascii")
    assert ascii_text.isascii() and "##" in ascii_text
    off = _shown("off")
    assert "##" not in off and "█" not in off and "CWE5QHLNM" in off and URL in off


def test_connect_auto_prints_an_ascii_qr_code_on_stderr(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VDC_TUI_")}
    env.update(VDC_TUI_HOME=str(tmp_path), VDC_TUI_KEYRING="off")
    done = subprocess.run([VDC_TUI, "connect", "auto", "--demo", "--demo-port", "0",
                           "--qr", "ascii", "--json"], capture_output=True, text=True,
                          env=env, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    block = done.stderr.split("approves this code by itself")[1].split("[pass]")[0]
    assert block.isascii() and block.count("##") > 100


@pytest.mark.parametrize("argv", [["connect", "auto", "--qr", "braille"],
                                  ["connections", "repair", "contoso.com", "--qr", "big"]])
def test_an_unknown_qr_style_is_a_usage_error(argv: list[str],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from vdc_tui.cli.main import main

    assert main(argv) == 2
    assert "argument --qr: invalid choice" in capsys.readouterr().err
