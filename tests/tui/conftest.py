"""Fixtures of the wizard's tests: stable rendering, no real clipboard, no SSH variables."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.fakes import FakeConnectionService, events, frozen_clock
from textual.app import App
from textual.events import Key
from textual.keys import _character_to_key  # what pilot.press uses for one character
from textual.pilot import Pilot
from textual.widgets import Input

from vdc_tui.app import VdcApp, make_app
from vdc_tui.connect.microsoft.clouds import server_endpoints
from vdc_tui.connect.models import CheckStatus
from vdc_tui.connect.service import ConnectionService, ConnectSettings
from vdc_tui.settings import AppSettings
from vdc_tui.widgets import Checklist


@pytest.fixture(autouse=True)
def stable_terminal(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """No cursor blink, no animations, a local session, and a recording clipboard stub.

    Returns the texts the (stubbed) native clipboard received.
    """
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    for name in ("SSH_CONNECTION", "SSH_TTY", "SSH_CLIENT", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    copied: list[str] = []
    import pyperclip

    monkeypatch.setattr(pyperclip, "determine_clipboard", lambda: (copied.append, None))
    monkeypatch.setattr(pyperclip, "copy", copied.append)
    return copied


@pytest.fixture
def fake_service(tmp_path: Path) -> FakeConnectionService:
    """The scripted test double of the connection service, profiles under ``tmp_path``."""
    return FakeConnectionService(home=tmp_path / "home")


@pytest.fixture
def wizard(fake_service: FakeConnectionService) -> Callable[..., VdcApp]:
    """Factory of wizard apps on the fake service with a frozen clock."""

    def build(**settings: object) -> VdcApp:
        return make_app(AppSettings(**settings), service=fake_service,  # type: ignore[arg-type]
                        clock=frozen_clock)

    return build


async def wait_until(pilot: Pilot[Any], condition: Callable[[], bool],
                     timeout: float = 10.0) -> None:
    """Let the app run until ``condition`` holds (fails the test after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.02)


async def type_text(pilot: Pilot[Any], text: str, timeout: float = 10.0) -> None:
    """Type ``text`` key by key into the focused ``Input`` and wait until it holds it.

    The same key events as ``pilot.press``, without its idle wait after every key (at least
    40 ms each): a form of four fields typed with ``press`` takes seconds. Keys that move
    the focus (Enter, Tab) belong in ``pilot.press``, which waits for the move.
    """
    app = pilot.app
    field = app.focused
    assert isinstance(field, Input), f"typing needs a focused Input, not {field!r}"
    expected = field.value[: field.cursor_position] + text + field.value[field.cursor_position:]
    for character in text:
        key = Key(_character_to_key(character), character)
        key.set_sender(app)
        app.post_message(key)
    await wait_until(pilot, lambda: field.value == expected, timeout)


def screen_name(app: App[Any]) -> str:
    """The class name of the screen on top."""
    return type(app.screen).__name__


#: The root conftest's ``start_emulator`` factory (scenario name or object → server).
StartEmulatorLike = Callable[..., Any]


def wizard_on(emu: Any, home: Path, **connect: Any) -> VdcApp:
    """The wizard with the real connection service pointed at the emulator ``emu``."""
    settings = ConnectSettings(endpoints=server_endpoints(emu), home=home, **connect)
    return make_app(AppSettings(connect=settings), service=ConnectionService(settings))


async def show_first_code(pilot: Pilot[Any], service: FakeConnectionService) -> None:
    """Choose Automatic and let the device-code screen settle on the fake's first code."""
    await pilot.press("a")
    await wait_until(pilot, lambda: bool(service.sessions))
    await pilot.pause()


def hold_provisioning_after_the_app(service: FakeConnectionService) -> None:
    """Sign-in approved at once; provisioning reports the app registration created, then
    waits until ``service.provision_block`` is set."""
    service.approve = asyncio.Event()
    service.approve.set()
    service.provision_block = asyncio.Event()
    service.provision_events = events(
        ("application", "Create the app registration", CheckStatus.PASS, "app id 3c9a…"))


async def ask_to_quit_once_the_app_is_created(pilot: Pilot[Any], app: VdcApp) -> None:
    """Choose Automatic, wait for the created app on the checklist, press ^q and wait for
    the quit question (with :func:`hold_provisioning_after_the_app`)."""
    await pilot.press("a")
    await wait_until(pilot, lambda: screen_name(app) == "ProvisioningScreen")
    await wait_until(pilot, lambda: app.screen.query_one(Checklist).status_of("application")
                     is CheckStatus.PASS)
    await pilot.press("ctrl+q")
    await wait_until(pilot, lambda: screen_name(app) == "ConfirmDialog")
