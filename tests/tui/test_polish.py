"""Start-up, the demo's fixed port, home-relative paths, help and a quit that races the work."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from support.fakes import FakeConnectionService
from textual.widgets import Static

from vdc_tui.app import VdcApp, make_app
from vdc_tui.cli.main import main
from vdc_tui.connect.service import ConnectSettings
from vdc_tui.screens.provisioning import TOO_LATE_TO_UNDO
from vdc_tui.settings import AppSettings
from vdc_tui.widgets.text import abbreviate_home, home_relative

from .conftest import (
    ask_to_quit_once_the_app_is_created,
    hold_provisioning_after_the_app,
    screen_name,
    wait_until,
)

Wizard = Callable[..., VdcApp]

#: Modules the first frame must not wait for (imported later, in the background or on use).
HEAVY_MODULES = (
    "msal", "httpx", "cryptography", "qrcode", "uvicorn",
    "vdc_tui.connect.microsoft.identity", "vdc_tui.emulator",
    "vdc_tui.screens.device_code", "vdc_tui.screens.manual", "vdc_tui.screens.picker",
    "vdc_tui.screens.provisioning", "vdc_tui.screens.services", "vdc_tui.screens.summary",
    "vdc_tui.screens.dialogs",
)


def test_launching_the_wizard_imports_only_what_the_mode_screen_needs() -> None:
    code = (
        "import json, sys\n"
        "import vdc_tui.cli.main, vdc_tui.app, vdc_tui.screens.mode\n"
        f"print(json.dumps([m for m in {list(HEAVY_MODULES)!r} if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert json.loads(out.stdout) == []


def test_home_paths_are_written_with_a_tilde(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    home = tmp_path / "operator"
    monkeypatch.setenv("HOME", str(home))
    assert home_relative(home / "Downloads" / "app.pfx") == "~/Downloads/app.pfx"
    assert home_relative(f"{home}-other/app.pfx") == f"{home}-other/app.pfx"
    assert home_relative(tmp_path / "app.pfx") == str(tmp_path / "app.pfx")
    assert abbreviate_home(f"The password does not open {home}/a.pfx.") == (
        "The password does not open ~/a.pfx.")
    assert abbreviate_home(f"{home}x/a.pfx") == f"{home}x/a.pfx"


async def test_summary_shows_the_profile_folder_under_home_as_tilde(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    service = FakeConnectionService(home=tmp_path / ".local" / "vdc-tui")
    service.approve = asyncio.Event()
    service.approve.set()
    app = make_app(AppSettings(), service=service)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("a")
        await wait_until(pilot, lambda: screen_name(app) == "ConnectedDialog")
        await pilot.press("enter", "n")
        await wait_until(pilot, lambda: screen_name(app) == "SummaryScreen")
        values = [str(s.render()) for s in app.screen.query(".summary-value").results(Static)]
    assert f"~/.local/vdc-tui/connections/{service.result.tenant.id}" in values
    assert not any(str(tmp_path) in value for value in values)


async def test_help_lists_the_steps_keys_first_and_merges_keys_of_one_action(
    wizard: Wizard,
) -> None:
    app = wizard()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: screen_name(app) == "HelpScreen")
        rows = app.screen.key_rows()  # type: ignore[attr-defined]
    assert [(keys, description) for keys, description, _tip in rows] == [
        ("a", "Automatic"), ("m", "Manual"), ("^q", "Quit"), ("F1 / ?", "Help")]


async def test_quit_question_open_when_provisioning_finishes_keeps_its_answer(
    wizard: Wizard, fake_service: FakeConnectionService
) -> None:
    """The work ends while "Quit?" is open: the dialog stays, says that nothing is undone now,
    and "Stay" (n) then goes on to the services instead of landing on the next screen."""
    hold_provisioning_after_the_app(fake_service)
    app = wizard()
    async with app.run_test(size=(80, 24)) as pilot:
        await ask_to_quit_once_the_app_is_created(pilot, app)
        assert fake_service.provision_block is not None
        fake_service.provision_block.set()
        await wait_until(pilot, lambda: "nothing is deleted now" in str(
            app.screen.query_one(".dialog-body", Static).render()))
        assert screen_name(app) == "ConfirmDialog"
        await pilot.press("n")
        await wait_until(pilot, lambda: screen_name(app) == "ConnectedDialog")
    assert TOO_LATE_TO_UNDO.startswith("The connection has just been verified")
    assert not fake_service.rolled_back


def _busy_port() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    return sock


async def test_demo_falls_back_to_a_free_port_and_says_so(tmp_path: Path) -> None:
    with _busy_port() as taken:
        busy = taken.getsockname()[1]
        app = make_app(AppSettings(demo=True, demo_port=busy, demo_approve_after=None,
                                   connect=ConnectSettings(home=tmp_path)))
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_until(pilot, lambda: "https://" in app.demo_status, 30)
            port = app.emulator.port
            status = app.demo_status
    assert port != busy
    assert f"port {busy} busy" in status
    assert f"https://127.0.0.1:{port}/devicelogin" in status


async def test_demo_uses_the_port_it_is_given(tmp_path: Path) -> None:
    with _busy_port() as probe:
        free = probe.getsockname()[1]  # closed again below, then asked for by the demo
    app = make_app(AppSettings(demo=True, demo_port=free, demo_approve_after=None,
                               connect=ConnectSettings(home=tmp_path)))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: "https://" in app.demo_status, 30)
        status = app.demo_status
    assert status == f"built-in emulator · sign-in page https://127.0.0.1:{free}/devicelogin"


@pytest.mark.parametrize("argv", [
    ["--demo-port", "47443"],                 # only with --demo
    ["--demo", "--demo-port", "70000"],       # not a port
    ["--demo", "--demo-port", "https"],       # not a number
])
def test_bad_demo_port_is_an_invalid_invocation(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("VDC_TUI_HOME", str(tmp_path))
    assert main(argv) == 2
    assert "--demo-port" in capsys.readouterr().err


def test_no_machine_path_in_the_committed_screenshots() -> None:
    shots = Path(__file__).parents[2] / "screenshots"
    home = os.path.expanduser("~")
    for svg in sorted(shots.glob("*.svg")):
        text = svg.read_text(encoding="utf-8")
        assert home not in text and "/tmp/" not in text and "/work/" not in text, svg.name
