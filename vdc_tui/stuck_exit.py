"""The last resort of a process that is ending: exit even if a thread still holds it.

Python joins every worker thread before it exits. A thread blocked in a network read (MSAL
waiting on a tenant that does not answer) then keeps a cancelled run alive until its HTTP
timeout, although there is nothing left to do. :func:`exit_if_stuck` starts a daemon timer
that flushes the standard streams and ends the process with a given code if it is still
alive after a delay. A process that ends normally never meets it.

No Textual here: the headless commands use it too.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

_log = logging.getLogger("vdc_tui.exit")

#: Seconds after a rollback after which a wizard that has still not ended is ended by
#: :func:`exit_if_stuck` (the normal shutdown takes well under one).
STUCK_EXIT_SECONDS = 30.0


def exit_if_stuck(code: int, delay: float = STUCK_EXIT_SECONDS, *,
                  why: str = "after the rollback", level: int = logging.WARNING
                  ) -> threading.Timer:
    """End the process with ``code`` if it is still running ``delay`` seconds from now
    (a daemon timer: it never keeps the process alive itself). ``why`` is said in the log
    line (at ``level``) it writes when it fires."""

    def fire() -> None:
        _log.log(level, "the process had not ended %.0f s %s: ending it (exit %d)", delay,
                 why, code)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        logging.shutdown()
        os._exit(code)

    timer = threading.Timer(delay, fire)
    timer.daemon = True
    timer.name = "vdc-exit-if-stuck"
    timer.start()
    return timer


__all__ = ["STUCK_EXIT_SECONDS", "exit_if_stuck"]
