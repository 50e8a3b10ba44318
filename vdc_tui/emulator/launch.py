"""Starting the emulator on a preferred port, as demo mode does."""

from __future__ import annotations

from .scenario import Scenario
from .server import EmulatorServer


def start_preferring_port(scenario: Scenario, port: int) -> EmulatorServer:
    """Start an emulator on ``port``, or on any free port when that one is taken.

    Demo mode asks for a fixed port so scripts and recordings see the same sign-in address
    every run; a second demo on the same machine must still work, only with another
    address. Compare ``emu.port`` with ``port`` to tell the operator. ``port`` 0 means any
    free port from the start.
    """
    emulator = EmulatorServer(scenario, port=port)
    try:
        return emulator.start()
    except OSError:
        emulator.stop()  # removes the state folder it made
        if not port:
            raise
        return EmulatorServer(scenario, port=0).start()
