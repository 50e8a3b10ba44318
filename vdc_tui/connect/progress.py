"""Pacing and reporting a run of checks: a bounded adaptive wait, the checklist of steps,
and running steps side by side.

Shared by every run that talks to a tenant step by step (automatic mode, manual validation,
and what later reuses their pieces). Nothing here knows about Graph or MSAL.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

from vdc_tui.connect.errors import VdcError, scrub
from vdc_tui.connect.models import CheckEvent, CheckStatus, ProgressCallback

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


class Backoff:
    """A bounded, adaptive wait between attempts.

    Delays start at ``initial`` and grow by ``factor`` up to ``cap``; after ``total``
    seconds in all, :meth:`wait` says no. Short early delays catch the common case of a
    few seconds of lag; the cap keeps the detection latency low when the lag is long.
    """

    def __init__(
        self,
        *,
        initial: float,
        cap: float,
        total: float,
        factor: float = 1.6,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        self._sleep = sleep
        self._clock = clock
        self._next = initial
        self._cap = cap
        self._factor = factor
        self.started = clock()
        self.deadline = self.started + total
        self.attempt = 1

    @property
    def elapsed(self) -> float:
        """Seconds since the first attempt."""
        return self._clock() - self.started

    def describe(self) -> str:
        """``attempt 3, 4 s``: progress detail for the checklist."""
        return f"attempt {self.attempt}, {self.elapsed:.0f} s"

    async def wait(self) -> bool:
        """Sleep before the next attempt; ``False`` (without sleeping) when time is up."""
        remaining = self.deadline - self._clock()
        if remaining <= 0:
            return False
        delay = min(self._next, remaining)
        self._next = min(self._cap, self._next * self._factor)
        self.attempt += 1
        await self._sleep(delay)
        return True


class Checklist:
    """Reports the steps of a run as :class:`CheckEvent` s and keeps the warnings."""

    def __init__(self, titles: Mapping[str, str], on_progress: ProgressCallback) -> None:
        self._titles = titles
        self._on_progress = on_progress
        self.warnings: list[CheckEvent] = []
        self.current: str | None = None
        self._reported: set[int] = set()

    def _emit(
        self,
        step: str,
        status: CheckStatus,
        detail: str = "",
        remediation: str = "",
        code: str | None = None,
    ) -> CheckEvent:
        event = CheckEvent(
            step, self._titles.get(step, step), status, scrub(detail), scrub(remediation), code
        )
        self._on_progress(event)
        return event

    def running(self, step: str, detail: str = "") -> None:
        """The step started (or made progress)."""
        self.current = step
        self._emit(step, CheckStatus.RUNNING, detail)

    def passed(self, step: str, detail: str = "") -> None:
        """The step succeeded."""
        self._emit(step, CheckStatus.PASS, detail)

    def warn(self, step: str, detail: str, remediation: str) -> None:
        """The step passed with a warning (kept for the summary)."""
        self.warnings.append(self._emit(step, CheckStatus.WARN, detail, remediation))

    def skipped(self, step: str, detail: str) -> None:
        """The step did not apply."""
        self._emit(step, CheckStatus.SKIPPED, detail)

    def failed(self, step: str, error: VdcError) -> None:
        """The step failed with this error (its step is also put into ``details``).

        Reporting the same error object twice emits one event.
        """
        if id(error) in self._reported:
            return
        self._reported.add(id(error))
        error.details.setdefault("step", step)
        self._emit(step, CheckStatus.FAIL, error.message, error.remediation, error.code)


async def together(*steps: Coroutine[Any, Any, None]) -> None:
    """Run steps at once; the first failure cancels the others, which end before it is
    raised (as itself, not wrapped in a group), so a rollback never races a step."""
    try:
        async with asyncio.TaskGroup() as group:
            for step in steps:
                group.create_task(step)
    except BaseExceptionGroup as grouped:
        raise first_error(grouped) from None


def first_error(grouped: BaseExceptionGroup[BaseException]) -> BaseException:
    first = grouped.exceptions[0]
    return first_error(first) if isinstance(first, BaseExceptionGroup) else first


__all__ = ["Backoff", "Checklist", "Clock", "Sleep", "first_error", "together"]
