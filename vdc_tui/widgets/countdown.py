"""A countdown of a device code's lifetime: ``mm:ss`` and a bar that shrinks."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime

from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.timer import Timer
from textual.widget import Widget


def utc_now() -> datetime:
    """The current time (UTC, aware): the default clock."""
    return datetime.now(UTC)


def format_remaining(seconds: int) -> str:
    """``mm:ss`` for a number of seconds (hours fold into the minutes)."""
    seconds = max(0, seconds)
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


class Countdown(Widget):
    """Time left until a deadline, as ``mm:ss`` followed by a bar.

    The widget reads a clock once a second; it does not count ticks, so a busy event loop
    cannot make it drift. When the deadline passes it posts :class:`Countdown.Expired`
    once. Below a minute it gets the ``-low`` class (the stylesheet colours it).
    """

    DEFAULT_CSS = """
    Countdown {
        height: 1;
        width: 1fr;
        color: $accent;
    }
    Countdown.-low {
        color: $warning;
    }
    Countdown.-expired {
        color: $error;
    }
    """

    remaining: reactive[int] = reactive(0)
    """Whole seconds left (0 once expired)."""

    class Expired(Message):
        """The deadline has passed."""

        def __init__(self, countdown: Countdown) -> None:
            super().__init__()
            self.countdown = countdown

        @property
        def control(self) -> Countdown:
            """The countdown that expired."""
            return self.countdown

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = utc_now,
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's keyword
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        """Create a countdown (idle until :meth:`start`).

        Args:
            clock: Returns the current time; tests pass a fixed clock.
            name: The name of the widget.
            id: The ID of the widget in the DOM.
            classes: The CSS classes of the widget.
            disabled: Whether the widget is disabled or not.
        """
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._clock = clock
        self._deadline: datetime | None = None
        self._lifetime = 1
        self._timer: Timer | None = None
        self._expired_sent = False

    def start(self, deadline: datetime, lifetime: int) -> None:
        """Count down to ``deadline``; ``lifetime`` (seconds) is the full bar."""
        self._deadline = deadline
        self._lifetime = max(1, lifetime)
        self._expired_sent = False
        self.remove_class("-expired")
        self._tick()
        if self._timer is None:
            self._timer = self.set_interval(1.0, self._tick)
        else:
            self._timer.resume()

    def stop(self) -> None:
        """Stop counting (the display keeps its last value)."""
        if self._timer is not None:
            self._timer.pause()

    def _tick(self) -> None:
        if self._deadline is None:
            return
        left = math.ceil((self._deadline - self._clock()).total_seconds())
        self.remaining = max(0, left)
        self.set_class(0 < self.remaining < 60, "-low")
        if self.remaining == 0 and not self._expired_sent:
            self._expired_sent = True
            self.add_class("-expired")
            self.stop()
            self.post_message(self.Expired(self))

    def render(self) -> Content:
        """``mm:ss`` and a bar of the fraction left."""
        label = format_remaining(self.remaining)
        width = max(0, self.size.width - len(label) - 1)
        filled = round(width * min(1.0, self.remaining / self._lifetime)) if width else 0
        return Content.assemble(
            (label, "bold"), " ", ("━" * filled, ""), ("─" * (width - filled), "dim")
        )
