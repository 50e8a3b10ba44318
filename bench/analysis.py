"""Pure arithmetic of the benchmark: request logs to round trips, samples to medians.

Nothing here starts a process or reads a clock, so ``tests/bench`` can check it with
synthetic data.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RequestRecord:
    """One request the emulator answered, with when it arrived and when it was answered.

    Times are seconds on one clock (the benchmark converts them to its own monotonic clock).
    """

    method: str
    path: str
    status: int
    start: float
    end: float


def round_trips(records: Iterable[RequestRecord]) -> list[list[RequestRecord]]:
    """Group requests into sequential round trips.

    Requests whose time spans overlap were in flight together (a parallel fan-out, or a
    background call running beside the main path), so they cost the operator one round
    trip; a request that starts after everything before it has been answered starts a new
    one. The number of groups is what a per-request latency multiplies.
    """
    groups: list[list[RequestRecord]] = []
    group_end = float("-inf")
    for record in sorted(records, key=lambda r: (r.start, r.end)):
        if groups and record.start < group_end:
            groups[-1].append(record)
            group_end = max(group_end, record.end)
        else:
            groups.append([record])
            group_end = record.end
    return groups


def between(records: Iterable[RequestRecord], start: float, end: float) -> list[RequestRecord]:
    """Requests that arrived at or after ``start`` and were answered by ``end``."""
    return [r for r in records if r.start >= start and r.end <= end]


def is_token_request(record: RequestRecord) -> bool:
    """Whether the request went to an OAuth token endpoint."""
    return record.method == "POST" and record.path.rstrip("/").endswith("/oauth2/v2.0/token")


@dataclass(frozen=True)
class Samples:
    """Repeated measurements of one quantity."""

    values: tuple[float, ...]

    @property
    def median(self) -> float:
        """The median (what the table reports: robust to one noisy run)."""
        return statistics.median(self.values)

    def as_dict(self, digits: int = 4) -> dict[str, Any]:
        """The samples and their summary, rounded, for results.json."""
        return {
            "median": round(self.median, digits),
            "min": round(min(self.values), digits),
            "max": round(max(self.values), digits),
            "runs": [round(v, digits) for v in self.values],
        }


def samples(values: Sequence[float]) -> Samples:
    """Wrap measurements; at least one is required."""
    if not values:
        raise ValueError("no measurement")
    return Samples(tuple(values))


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``; a zero denominator is an error, not infinity."""
    if denominator <= 0:
        raise ValueError("baseline time is not positive")
    return numerator / denominator


def rate(byte_count: int, seconds: float) -> float:
    """Bytes per second over a window."""
    if seconds <= 0:
        raise ValueError("empty window")
    return byte_count / seconds
