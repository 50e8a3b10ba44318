"""How long each kind of wait of a provisioning run may last, and the backoff between tries."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from vdc_tui.connect.progress import Backoff, Clock, Sleep


@dataclass(frozen=True)
class Pacing:
    """The time limits of a run, with the sleep and clock its waits use.

    Attributes:
        verify: Seconds to wait for the grants to show in app-only tokens.
        replication: Seconds to wait for a new object to become usable.
        rollback: Seconds to keep trying to delete a new app (or to put back a reused
            app's certificates) on failure.
        inflight: Seconds to look for an app whose create was still in flight when the
            run failed or was cancelled.
        sleep: Awaitable sleep (tests may observe it).
        clock: Monotonic clock for deadlines.
    """

    verify: float = 300.0
    replication: float = 300.0
    rollback: float = 60.0
    inflight: float = 30.0
    sleep: Sleep = asyncio.sleep
    clock: Clock = time.monotonic

    def backoff(self, total: float, *, initial: float = 1.0, cap: float = 2.5) -> Backoff:
        """A backoff for waiting on replication.

        Replication usually takes seconds and sometimes minutes. Growing quickly to a 2.5 s
        cap keeps the delay between "visible" and "noticed" under ~3 s while the number of
        requests stays a few dozen for a minute of lag.
        """
        return Backoff(
            initial=initial, cap=cap, total=total, factor=1.5, sleep=self.sleep, clock=self.clock
        )


__all__ = ["Pacing"]
