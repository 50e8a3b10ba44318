"""The wizard outliving its terminal: a dropped SSH session, a closed tmux pane.

When the terminal goes away the kernel hangs it up and sends the foreground processes
SIGHUP *and* SIGCONT. From then on a read of the terminal returns end of file at once and a
write fails (EIO). Left alone, Textual would stop without a rollback: its input thread spins
on end of file, its SIGCONT handler restarts application mode (a second input thread and a
second output thread on the dead terminal), and at exit it joins an input thread that may be
blocked in a read for good.

- :class:`HangupSafeDriver` is Textual's Linux driver with output that drops what it
  cannot write, no restart on SIGCONT once the terminal is gone, and
  :meth:`~HangupSafeDriver.stop_input`, which ends the input thread for good.
- :func:`detach_terminal` stops the input thread, then points stdin, stdout and stderr at
  ``/dev/null``, so nothing blocks or spins on the dead terminal.
- :func:`~vdc_tui.stuck_exit.exit_if_stuck` is the last resort: a daemon timer that ends
  the process if it is still alive well after the rollback. The process does not need
  it: it ends through Textual's own shutdown (``App.run`` returns, ``main`` returns 130).

The app (:class:`~vdc_tui.app.VdcApp`) treats SIGHUP and SIGTERM like a confirmed quit:
it cancels the work, lets the service layer roll back (within
:data:`~vdc_tui.connect.onboard.rollback.ROLLBACK_BOUND_SECONDS`), logs the outcome
(``--log``) and exits 130.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import IO, Any

from textual.drivers.linux_driver import LinuxDriver

from vdc_tui.stuck_exit import STUCK_EXIT_SECONDS, exit_if_stuck

_log = logging.getLogger("vdc_tui.hangup")

#: Seconds the input thread gets to notice that it must stop (it checks at least every
#: 0.1 s, and a hung-up terminal answers its reads at once).
INPUT_STOP_SECONDS = 2.0



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

    def terminal_gone(self) -> bool:
        """Whether the terminal that was our stdin has hung up (or been detached)."""
        return self.input_tty and not os.isatty(self.fileno)

    def _sigcont_application(self, *args: Any) -> None:
        # The kernel sends SIGCONT with SIGHUP: restarting application mode then would
        # start a second input thread on a dead terminal. A real resume (``fg`` after
        # Ctrl+Z) has its terminal, and is Textual's as before.
        if self.terminal_gone():
            _log.info("SIGCONT without a terminal: application mode not restarted")
            return
        super()._sigcont_application(*args)

    def run_input_thread(self) -> None:
        try:
            super().run_input_thread()
        except OSError as exc:
            # The terminal hung up (EIO): SIGHUP follows, and the app stops on it.
            _log.info("terminal input ended (%s)", type(exc).__name__)

    def stop_input(self, timeout: float = INPUT_STOP_SECONDS) -> bool:
        """End the input thread for good; whether it has ended within ``timeout``.

        Unlike Textual's ``disable_input`` the stop is not undone afterwards (that one clears
        its event again, for a resume), so Textual's shutdown finds input already disabled
        and has no thread left to wait for.
        """
        self.exit_event.set()
        thread = self._key_thread
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(timeout)
        return not thread.is_alive()


def detach_terminal(driver: object | None) -> None:
    """After SIGHUP: stop reading the dead terminal, then point stdin, stdout and stderr at
    ``/dev/null``.

    The input thread is stopped *first*: it reads the descriptor it selected on, and a
    descriptor swapped under it between the two could block that read for good.
    """
    if isinstance(driver, HangupSafeDriver) and not driver.stop_input():
        _log.warning("the terminal's input thread did not stop within %.0f s",
                     INPUT_STOP_SECONDS)
    try:
        null = os.open(os.devnull, os.O_RDWR)
        try:
            for fd in (0, 1, 2):
                os.dup2(null, fd)
        finally:
            os.close(null)
    except OSError as exc:
        _log.warning("could not detach from the terminal (%s)", type(exc).__name__)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


__all__ = [
    "INPUT_STOP_SECONDS",
    "STUCK_EXIT_SECONDS",
    "HangupSafeDriver",
    "detach_terminal",
    "exit_if_stuck",
]
