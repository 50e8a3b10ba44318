"""Fault settings (mutable at runtime as ``emu.faults``) and the emulator's clock."""

from __future__ import annotations

import fnmatch
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

#: Broken answers the ``garbage_*`` fault sends instead of the real one (status 200):
#: a proxy's HTML page, JSON cut off in the middle, an empty object, a JSON list, a
#: bare string, and a body of several megabytes of JSON.
GARBAGE_KINDS = ("html", "truncated", "empty_object", "list", "text", "huge")

#: What the ``signin_fault`` does to a sign-in request: a 503 ``temporarily_unavailable``
#: (AADSTS90033) with ``Retry-After``, a stall of ``stall_seconds``, or a dropped connection.
SIGNIN_FAULTS = ("", "unavailable", "stall", "drop")
#: The sign-in request it hits: the device-code request, a device-code token poll, or an
#: app-only (client-credentials) token request.
SIGNIN_TARGETS = ("devicecode", "device_poll", "app_token")


@dataclass
class Faults:
    """What the emulator does wrong on purpose; see SCENARIOS.md for every field.

    ``None`` in the device-code fields means "as the scenario says".
    """

    latency: float = 0.0
    latency_path: str = "*"
    throttle_every: int = 0
    throttle_path: str = "/v1.0/*"
    retry_after: int = 1
    unavailable_every: int = 0
    unavailable_path: str = "*"
    stall_every: int = 0
    stall_path: str = "*"
    stall_seconds: float = 30.0
    drop_every: int = 0
    drop_path: str = "*"
    garbage_every: int = 0
    garbage_path: str = "*"
    garbage_kind: str = "html"
    replication_delay: float = 0.0
    device_code_lifetime: int | None = None
    device_code_interval: int | None = None
    auto_approve_after: float | None = None
    slow_down: int = 0
    block_device_code: bool = False
    clock_offset: float = 0.0
    assertion_skew: float = 300.0
    proof_skew: float = 300.0
    signin_fault: str = ""
    signin_fault_on: str = "devicecode"
    signin_fault_count: int = 1
    revoke_on_add_key: str = ""

    @property
    def signin_round(self) -> int:
        """How many times the sign-in fault was set through :meth:`update`."""
        return int(getattr(self, "_signin_round", 0))

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Faults:
        """Faults from a scenario's ``faults`` object (unknown keys are errors)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"unknown fault setting(s): {', '.join(unknown)}")
        faults = cls(**raw)
        faults.update()  # checks the values too
        return faults

    def update(self, **changes: Any) -> None:
        """Set several fields at once (unknown names are errors)."""
        for key, value in changes.items():
            if not hasattr(self, key) or key.startswith("_"):
                raise AttributeError(f"unknown fault setting {key!r}")
            setattr(self, key, value)
        if any(key.startswith("signin_fault") for key in changes):
            # A new sign-in fault counts its requests from zero.
            self._signin_round = getattr(self, "_signin_round", 0) + 1
        if self.signin_fault not in SIGNIN_FAULTS:
            raise ValueError(
                f"signin_fault must be one of {', '.join(repr(f) for f in SIGNIN_FAULTS)}, "
                f"not {self.signin_fault!r}"
            )
        if self.signin_fault_on not in SIGNIN_TARGETS:
            raise ValueError(
                f"signin_fault_on must be one of {', '.join(SIGNIN_TARGETS)}, "
                f"not {self.signin_fault_on!r}"
            )
        if self.garbage_kind not in GARBAGE_KINDS:
            raise ValueError(
                f"garbage_kind must be one of {', '.join(GARBAGE_KINDS)}, "
                f"not {self.garbage_kind!r}"
            )


@dataclass
class FaultCounters:
    """Per-kind counts of requests a fault pattern matched (for "every Nth")."""

    counts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hit(self, kind: str, every: int, pattern: str, path: str) -> bool:
        """Count a matching request; True when it is the Nth one."""
        if every <= 0 or not fnmatch.fnmatchcase(path, pattern):
            return False
        with self.lock:
            n = self.counts.get(kind, 0) + 1
            self.counts[kind] = n
        return n % every == 0

    def first(self, kind: str, count: int) -> bool:
        """Count a request of ``kind``; True for the first ``count`` of them."""
        with self.lock:
            n = self.counts.get(kind, 0) + 1
            self.counts[kind] = n
        return n <= count


class Clock:
    """The emulator's notion of now: a base clock plus the fault's offset.

    Tests inject ``base`` (e.g. a :class:`FakeClock`) to move time without sleeping.
    """

    def __init__(self, faults: Faults, base: Callable[[], float] | None = None) -> None:
        self._faults = faults
        self._base = base or time.time

    def now(self) -> float:
        """Seconds since the epoch, as the emulator sees it."""
        return self._base() + self._faults.clock_offset


class FakeClock:
    """A manual clock for tests: ``clock.advance(60)`` moves time by a minute."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward (or back, with a negative value)."""
        with self._lock:
            self._now += seconds
