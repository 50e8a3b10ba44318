"""A dropped session (a real hang-up of the terminal, or SIGHUP) with the output redirected
to a file: the run stops cleanly, says so once, and writes nothing after it has ended."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

VDC_TUI = str(Path(sys.executable).parent / "vdc-tui")


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VDC_TUI_")}
    env.update(VDC_TUI_HOME=str(tmp_path / "home"), VDC_TUI_KEYRING="off", TERM="xterm")
    return env


class _HungUpTerminal:
    """A program whose stdin and stderr are a pseudo-terminal it has as its controlling
    terminal, and whose stdout is a file; :meth:`hang_up` closes the terminal as a dropped
    SSH session does (the kernel sends SIGHUP)."""

    def __init__(self, argv: list[str], env: dict[str, str], out: Path) -> None:
        import fcntl
        import termios

        self.master, slave = os.openpty()

        def controlling() -> None:
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        with out.open("wb") as sink:
            self.proc = subprocess.Popen(argv, stdin=slave, stdout=sink, stderr=slave,
                                         env=env, preexec_fn=controlling, close_fds=True)
        os.close(slave)
        self.screen = bytearray()
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        # select with a timeout, never a blocking read: a read in progress would keep the
        # terminal open after hang_up closes it, and the kernel would not hang it up.
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            self.screen.extend(data)

    def wait_for(self, text: bytes, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.screen:
            assert self.proc.poll() is None, bytes(self.screen[-2000:])
            assert time.monotonic() < deadline, bytes(self.screen[-2000:])
            time.sleep(0.05)

    def hang_up(self) -> None:
        self._stop.set()
        self._reader.join()
        os.close(self.master)


def test_connect_auto_with_stdout_in_a_file_stops_on_a_hang_up(tmp_path: Path) -> None:
    out = tmp_path / "connect.json"
    term = _HungUpTerminal([VDC_TUI, "connect", "auto", "--demo", "--demo-port", "0",
                            "--demo-approve-after", "off", "--json"], _env(tmp_path), out)
    try:
        term.wait_for(b"enters the code")
        term.hang_up()
        assert term.proc.wait(timeout=30) == 130
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
            term.proc.wait(timeout=10)
    written = out.read_bytes()
    document = json.loads(written)  # one JSON object, nothing after it
    assert document["error"]["code"] == "cancelled"
    assert "SIGHUP" in document["error"]["message"]
    time.sleep(0.5)  # the process has ended; nothing of it is left to write
    assert out.read_bytes() == written


def test_the_standalone_emulator_stops_cleanly_on_sighup(tmp_path: Path) -> None:
    out = tmp_path / "emulator.json"
    with out.open("wb") as sink:
        proc = subprocess.Popen([VDC_TUI, "emulator"], stdin=subprocess.DEVNULL, stdout=sink,
                                stderr=subprocess.STDOUT, env=_env(tmp_path))
    try:
        deadline = time.monotonic() + 60
        while not out.read_bytes().endswith(b"\n"):
            assert proc.poll() is None and time.monotonic() < deadline, out.read_bytes()
            time.sleep(0.05)
        facts = json.loads(out.read_bytes())
        proc.send_signal(signal.SIGHUP)
        assert proc.wait(timeout=30) == 0  # a clean stop, not death by the signal (-1)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    lines = out.read_bytes().splitlines()
    assert len(lines) == 1 and json.loads(lines[0]) == facts
    port = int(facts["authority_host"].rsplit(":", 1)[1].split("/")[0])
    import socket

    with socket.socket() as probe:  # the port is free again
        probe.bind(("127.0.0.1", port))
