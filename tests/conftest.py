"""Fixtures shared by the whole suite: emulators over real HTTPS on 127.0.0.1.

- ``start_emulator(scenario_or_name="demo", *, clock=None, state_dir=None, **faults)``
  starts an :class:`EmulatorServer` (stopped at teardown). ``emulator`` is the same factory.
- ``demo_emulator``: one demo emulator for the whole session. Read-only use only: a test that
  changes state or faults must start its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from vdc_tui.emulator import EmulatorServer, Scenario

StartEmulator = Callable[..., EmulatorServer]


@pytest.fixture
def start_emulator() -> Iterator[StartEmulator]:
    """Factory: ``start_emulator("demo", replication_delay=5) -> EmulatorServer``."""
    started: list[EmulatorServer] = []

    def start(scenario: Scenario | str | Path | dict[str, Any] = "demo", *,
              clock: Callable[[], float] | None = None, state_dir: Path | None = None,
              **faults: Any) -> EmulatorServer:
        emu = EmulatorServer(scenario, clock=clock, state_dir=state_dir, faults=faults or None)
        started.append(emu)
        return emu.start()

    yield start
    for emu in started:
        emu.stop()


@pytest.fixture
def emulator(start_emulator: StartEmulator) -> StartEmulator:
    """The same factory as ``start_emulator``."""
    return start_emulator


@pytest.fixture(scope="session")
def demo_emulator() -> Iterator[EmulatorServer]:
    """The demo scenario, shared by the session (do not change its state or faults)."""
    with EmulatorServer("demo") as emu:
        yield emu
