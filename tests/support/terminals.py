"""A program in a real pseudo-terminal that is its controlling terminal (keys in, bytes
out, hang-up), for tests of the wizard and the dashboard as real processes."""

from __future__ import annotations

import os
import subprocess
import time


class Terminal:
    """The wizard in a real pseudo-terminal it has as its controlling terminal."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        import fcntl
        import termios
        import threading

        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, b"\x1e\x00\x64\x00\x00\x00\x00\x00")  # 30x100

        def controlling() -> None:
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(argv, env={**env, "TERM": "xterm-256color"}, stdin=slave,
                                     stdout=slave, stderr=slave, preexec_fn=controlling,
                                     close_fds=True)
        os.close(slave)
        self.output = bytearray()
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            self.output.extend(data)

    def wait_for(self, text: bytes, timeout: float = 30.0) -> None:
        """Wait until ``text`` has been written to the terminal."""
        deadline = time.monotonic() + timeout
        while text not in self.output:
            assert time.monotonic() < deadline, bytes(self.output[-2000:])
            time.sleep(0.05)

    def press(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def hang_up(self) -> None:
        """Close the terminal, as a dropped SSH session does: the kernel sends SIGHUP."""
        os.close(self.master)
