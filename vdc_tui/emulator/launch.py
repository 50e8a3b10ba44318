"""Starting the emulator on a preferred port, as demo mode does."""

from __future__ import annotations

from vdc_tui.emulator.scenario import Scenario
from vdc_tui.emulator.server import EmulatorServer


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


def start_for_demo(
    scenario: Scenario,
    port: int,
    *,
    approve_after: float | None,
    poll_interval: int | None = None,
) -> EmulatorServer:
    """Start the demo emulator (:func:`start_preferring_port`) with its approval knob set.

    The one knob for the wizard's and the headless commands' demo: the emulator approves a
    device code by itself ``approve_after`` seconds after it is issued (as the scenario's
    Global Administrator); ``None`` keeps the scenario's setting (the demo scenario leaves
    approval to the device-login page). ``poll_interval`` shortens the device-code polling
    interval (a script is waiting, not a person).
    """
    emulator = start_preferring_port(scenario, port)
    if approve_after is not None:
        emulator.faults.auto_approve_after = approve_after
    if poll_interval is not None:
        emulator.faults.device_code_interval = poll_interval
    return emulator

