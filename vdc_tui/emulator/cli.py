"""``vdc-tui emulator``: run the emulator on its own until SIGINT, SIGTERM or SIGHUP (its
terminal or SSH session closed): each stops it cleanly, exit 0."""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import TextIO

from vdc_tui.emulator.server import EmulatorServer, connection_json


class PortUnavailable(Exception):
    """The emulator cannot listen on the port it was given (taken, or reserved)."""

    def __init__(self, port: int, reason: str) -> None:
        super().__init__(f"127.0.0.1:{port} ({reason})")
        self.port = port
        self.reason = reason


def serve(port: int = 0, scenario: str | None = None, out: TextIO = sys.stdout) -> int:
    """Start the emulator, print its connection JSON as the first line, serve until signalled.

    Args:
        port: TCP port on 127.0.0.1 (0 = any free port; the real one is printed).
        scenario: Shipped scenario name or JSON file path (default ``demo``).
        out: Where the first line goes.

    Returns:
        The process exit code (0 after a signal).

    Raises:
        PortUnavailable: the port cannot be bound.
    """
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    stops = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, on_signal) for sig in stops}
    try:
        emu = EmulatorServer(scenario or "demo", port=port)
        try:
            emu.start()
        except OSError as exc:  # the port is taken, or reserved for the superuser
            emu.stop()
            raise PortUnavailable(port, exc.strerror or type(exc).__name__) from None
        with emu:
            out.write(connection_json(emu) + "\n")
            out.flush()
            while not stop.wait(0.5):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    sys.exit(serve(int(sys.argv[1]) if len(sys.argv) > 1 else 0,
                   sys.argv[2] if len(sys.argv) > 2 else None))
