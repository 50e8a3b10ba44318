"""The wizard outliving its terminal: a dropped SSH session, a closed tmux pane.

When the terminal goes away the kernel sends SIGHUP, reads of it fail and writes to it fail.
Textual would then stop (its input thread panics the app; its output thread dies and the
next frames block the event loop), with no chance to roll back what the run created.

- :class:`HangupSafeDriver` is Textual's Linux driver with output that drops what it
  cannot write, and input that ends quietly when the terminal is gone.
- :func:`detach_terminal` points stdin, stdout and stderr away from the dead terminal (a
  pipe nobody writes to, and ``/dev/null``), so nothing blocks or spins on it.

The app (:class:`~vdc_tui.app.VdcApp`) treats SIGHUP and SIGTERM like a confirmed quit:
it cancels the work, lets the service layer roll back (within
:data:`~vdc_tui.connect.provision.rollback.ROLLBACK_BOUND_SECONDS`), logs the outcome
(``--log``) and exits 130.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import IO, Any

from textual.drivers.linux_driver import LinuxDriver

_log = logging.getLogger("vdc_tui.hangup")

#: Kept open so that the pipe standing in for stdin never reports end of file.
_stdin_writer: list[int] = []


class _SafeOutput:
    """A text stream that stops writing, silently, once its terminal is gone."""

    def __init__(self, file: IO[str]) -> None:
        self._file = file
        self.gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                return self._file.write(text)
            except (OSError, ValueError):
                self.gone = True
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self._file.flush()
            except (OSError, ValueError):
                self.gone = True

    def fileno(self) -> int:
        return self._file.fileno()

    def isatty(self) -> bool:
        return not self.gone and self._file.isatty()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


class HangupSafeDriver(LinuxDriver):
    """Textual's Linux driver, for a terminal that may disappear (see the module)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self._file is not None:
            self._file = _SafeOutput(self._file)  # type: ignore[assignment]

    def run_input_thread(self) -> None:
        try:
            super().run_input_thread()
        except OSError as exc:
            # The terminal hung up (EIO): SIGHUP follows, and the app stops on it.
            _log.info("terminal input ended (%s)", type(exc).__name__)


def detach_terminal() -> None:
    """Point stdin at a silent pipe and stdout/stderr at ``/dev/null`` (after SIGHUP)."""
    try:
        read_end, write_end = os.pipe()
        _stdin_writer.append(write_end)
        os.dup2(read_end, 0)
        os.close(read_end)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        os.close(null)
    except OSError as exc:
        _log.warning("could not detach from the terminal (%s)", type(exc).__name__)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


__all__ = ["HangupSafeDriver", "detach_terminal"]
