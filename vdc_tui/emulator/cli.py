"""``vdc-tui emulator``: run the emulator on its own until SIGINT, SIGTERM or SIGHUP (its
terminal or SSH session closed): each stops it cleanly, exit 0."""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import TextIO

from vdc_tui.connect.errors import InvalidInput
from vdc_tui.emulator.server import EmulatorServer, connection_json


def serve(port: int = 0, scenario: str | None = None, out: TextIO = sys.stdout) -> int:
    """Start the emulator, print its connection JSON as the first line, serve until signalled.

    Args:
        port: TCP port on 127.0.0.1 (0 = any free port; the real one is printed).
        scenario: Shipped scenario name or JSON file path (default ``demo``).
        out: Where the first line goes.

    Returns:
        The process exit code (0 after a signal).

    Raises:
        InvalidInput: the port cannot be bound.
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
            raise InvalidInput(
                "invalid_argument",
                f"The emulator cannot listen on 127.0.0.1:{port} "
                f"({exc.strerror or type(exc).__name__}).",
                "Choose another --port, or --port 0 for any free port.",
                {"field": "port"},
            ) from None
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
