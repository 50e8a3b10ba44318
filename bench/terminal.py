"""A program running in a real pseudo-terminal, watched through a small terminal emulator.

The benchmark measures what an operator sees, so it does not ask the program when it is
ready: it reads the bytes the program writes to its terminal, feeds them to ``pyte`` (a
VT100-family emulator) and looks at the resulting screen. Every chunk read is time-stamped
on arrival, which gives both "when did this text appear" and "how many bytes per second did
the program write".
"""

from __future__ import annotations

import fcntl
import os
import resource
import select
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pyte

#: Keys the benchmark presses, as the bytes a terminal sends for them.
KEYS: dict[str, bytes] = {
    "enter": b"\r",
    "escape": b"\x1b",
    "tab": b"\t",
    "down": b"\x1b[B",
    "up": b"\x1b[A",
    "space": b" ",
    "ctrl+q": b"\x11",
    "ctrl+c": b"\x03",
}


class TerminalTimeout(Exception):
    """The screen did not show what was expected before the deadline."""


@dataclass(frozen=True)
class Chunk:
    """Bytes the program wrote, as one read from the terminal returned them."""

    at: float  # time.monotonic() when the read returned
    size: int


@dataclass(frozen=True)
class ExitStatus:
    """How the program ended."""

    returncode: int
    max_rss_bytes: int  # peak resident set size of the process (and children it waited for)


def bytes_between(chunks: Sequence[Chunk], start: float, end: float) -> int:
    """Bytes written from ``start`` (inclusive) to ``end`` (exclusive), monotonic seconds."""
    return sum(c.size for c in chunks if start <= c.at < end)


class PtyTerminal:
    """Run ``argv`` with its stdin, stdout and stderr on a fresh pseudo-terminal.

    Args:
        argv: The program and its arguments.
        cols: Terminal width.
        rows: Terminal height.
        env: Extra environment variables (added to a copy of ours; ``TERM`` and the size are
            set here).
        cwd: Working directory of the program.
        keep_bytes: Also keep the bytes themselves with their times (:meth:`recorded`;
            ``scripts/record_demo.py`` writes them as an asciicast).
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        cols: int = 100,
        rows: int = 30,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        keep_bytes: bool = False,
    ) -> None:
        self.argv = list(argv)
        self._keep_bytes = keep_bytes
        self._recorded: list[tuple[float, bytes]] = []
        self.cols = cols
        self.rows = rows
        self._extra_env = dict(env or {})
        self._cwd = cwd
        self._screen = pyte.Screen(cols, rows)
        self._stream = pyte.ByteStream(self._screen)
        self._changed = threading.Condition()
        self._chunks: list[Chunk] = []
        self._closed = False
        self._master = -1
        self._reader: threading.Thread | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.exit: ExitStatus | None = None

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> float:
        """Start the program; returns the monotonic time just before it was launched."""
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", self.rows, self.cols, 0, 0))
        env = dict(os.environ)
        env.update(
            {
                "TERM": "xterm-256color",
                "COLUMNS": str(self.cols),
                "LINES": str(self.rows),
                "COLORTERM": "truecolor",
            }
        )
        env.pop("NO_COLOR", None)
        env.update(self._extra_env)
        self._master = master
        self.started_at = time.monotonic()
        self._proc = subprocess.Popen(
            self.argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=self._cwd,
            start_new_session=True,
            # The pty must be the controlling terminal, as it is for a program started
            # from an SSH session: signals and window size follow it.
            preexec_fn=_take_controlling_terminal,
            close_fds=True,
        )
        os.close(slave)
        self._reader = threading.Thread(target=self._read_loop, name="pty-reader", daemon=True)
        self._reader.start()
        return self.started_at

    def _read_loop(self) -> None:
        while True:
            try:
                ready, _, _ = select.select([self._master], [], [], 0.2)
            except (OSError, ValueError):
                break
            if not ready:
                if self._closed:
                    break
                continue
            try:
                data = os.read(self._master, 65536)
            except OSError:  # EIO: the program closed its end of the terminal
                data = b""
            at = time.monotonic()
            with self._changed:
                if not data:
                    self._closed = True
                    self._changed.notify_all()
                    break
                self._chunks.append(Chunk(at, len(data)))
                if self._keep_bytes:
                    self._recorded.append((at, data))
                self._stream.feed(data)
                self._changed.notify_all()

    def close(self, timeout: float = 10.0) -> ExitStatus:
        """Wait for the program to end (killing it after ``timeout``); returns its status."""
        if self.exit is not None:
            return self.exit
        assert self._proc is not None
        pid = self._proc.pid
        deadline = time.monotonic() + timeout
        status = 0
        usage: resource.struct_rusage | None = None
        while True:
            wpid, status, usage = os.wait4(pid, os.WNOHANG)
            if wpid == pid:
                break
            if time.monotonic() > deadline:
                self._proc.kill()
                _, status, usage = os.wait4(pid, 0)
                break
            time.sleep(0.02)
        # The Popen object must not try to reap a pid we already reaped.
        self._proc.returncode = os.waitstatus_to_exitcode(status)
        self._closed = True
        if self._reader is not None:
            self._reader.join(timeout=2.0)
        try:
            os.close(self._master)
        except OSError:
            pass
        # ru_maxrss is in kilobytes on Linux.
        self.exit = ExitStatus(self._proc.returncode, int(usage.ru_maxrss) * 1024 if usage else 0)
        return self.exit

    def kill(self) -> None:
        """Stop the program at once (used when a measurement gives up)."""
        if self._proc is not None and self._proc.poll() is None and self.exit is None:
            self._proc.kill()
        self.close(timeout=5.0)

    def __enter__(self) -> PtyTerminal:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.exit is None:
            self.kill()

    @property
    def pid(self) -> int:
        """Process id of the program."""
        assert self._proc is not None
        return self._proc.pid

    # -- input ------------------------------------------------------------------------------

    def press(self, *keys: str) -> float:
        """Send keys (names from :data:`KEYS` or literal characters); returns the send time."""
        data = b"".join(KEYS.get(k, k.encode()) for k in keys)
        at = time.monotonic()
        os.write(self._master, data)
        return at

    # -- output -----------------------------------------------------------------------------

    def text(self) -> str:
        """The screen as plain text, one line per row."""
        with self._changed:
            return "\n".join(self._screen.display)

    def recorded(self) -> list[tuple[float, bytes]]:
        """Everything written so far, as (monotonic time, bytes), when ``keep_bytes``."""
        with self._changed:
            return list(self._recorded)

    def chunks(self) -> list[Chunk]:
        """Everything written so far, as time-stamped reads."""
        with self._changed:
            return list(self._chunks)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float, what: str) -> float:
        """Wait until ``predicate(screen text)`` holds; returns when the deciding bytes arrived.

        Raises:
            TerminalTimeout: not within ``timeout`` seconds, or the program ended first.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                screen = "\n".join(self._screen.display)
                if predicate(screen):
                    return self._chunks[-1].at if self._chunks else time.monotonic()
                remaining = deadline - time.monotonic()
                if self._closed or remaining <= 0:
                    why = "the program ended" if self._closed else f"{timeout:.0f} s passed"
                    raise TerminalTimeout(f"{what}: not on screen ({why}); last screen:\n{screen}")
                self._changed.wait(min(remaining, 0.5))

    def wait_for_text(self, *texts: str, timeout: float = 20.0) -> float:
        """Wait until every one of ``texts`` is on screen (case-insensitive)."""
        wanted = [t.lower() for t in texts]
        return self.wait_for(
            lambda screen: all(t in screen.lower() for t in wanted),
            timeout,
            " + ".join(repr(t) for t in texts),
        )

    def wait_quiet(self, quiet: float, timeout: float) -> float:
        """Wait until nothing has been written for ``quiet`` seconds; returns that moment."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._changed:
                last = self._chunks[-1].at if self._chunks else self.started_at
            now = time.monotonic()
            if now - last >= quiet:
                return now
            time.sleep(min(quiet - (now - last), 0.1) + 0.005)
        raise TerminalTimeout(f"the screen kept changing for {timeout:.0f} s")


def _take_controlling_terminal() -> None:
    # Runs in the child after setsid() and after stdin was pointed at the pty.
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
