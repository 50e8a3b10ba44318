"""The benchmark's outputs: the machine it ran on, the table, and ``results.json``."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from typing import Any, Literal

Status = Literal["met", "missed", "report", "not measured"]

#: Version of the results.json layout; bump it when a key changes meaning.
RESULTS_SCHEMA = 1


@dataclass
class RowResult:
    """One line of the table.

    Attributes:
        key: Stable identifier (results.json consumers key on it).
        figure: What is measured, as the table names it.
        how: How it was measured, in one sentence.
        target: The target, in words.
        measured: The measured value, formatted for people (empty when not measured).
        status: met / missed / report (no target) / not measured (a piece is missing).
        comparison: What a comparable tool does, where that is known.
        note: Why a target was missed and what would meet it, or why nothing was measured.
        data: The raw numbers behind ``measured`` (samples, counts, timestamps).
    """

    key: str
    figure: str
    how: str
    target: str
    measured: str = ""
    status: Status = "not measured"
    comparison: str = ""
    note: str = ""
    data: dict[str, Any] = field(default_factory=dict)


def machine_info() -> dict[str, Any]:
    """CPU model, cores, memory, OS, Python and the versions the figures depend on."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count() or 0,
        "memory_gb": _memory_gb(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "textual": _version("textual"),
        "vdc_tui": _version("vdc-tui"),
        "msal": _version("msal"),
    }


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _memory_gb() -> float | None:
    try:
        pages = os.sysconf("SC_PHYS_PAGES")
        page_size = os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    return round(pages * page_size / 1e9, 1)


def machine_line(machine: dict[str, Any]) -> str:
    """The machine in one line, for the table header."""
    memory = f", {machine['memory_gb']} GB RAM" if machine.get("memory_gb") else ""
    return (
        f"{machine['cpu']} ({machine['cores']} cores{memory}), {machine['os']}, "
        f"Python {machine['python']}, Textual {machine['textual']}, vdc-tui {machine['vdc_tui']}"
    )


_STATUS_MARK: dict[str, str] = {
    "met": "✅ met",
    "missed": "❌ missed",
    "report": "ℹ️ report",
    "not measured": "⚠️ not measured",
}


def _cell(text: str) -> str:
    # A table cell is one line and must not end the cell early.
    return " ".join(text.split()).replace("|", "\\|")


def render_table(rows: list[RowResult], machine: dict[str, Any], *, when: str) -> str:
    """The results as a Markdown table (what ``make bench`` prints and docs/benchmarks.md shows)."""
    lines = [
        f"`make bench`, {when}, on {machine_line(machine)}",
        "",
        "| figure | measured | target | result | comparable tools | note |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            "| "
            + " | ".join(
                _cell(part)
                for part in (
                    row.figure,
                    row.measured or "—",
                    row.target,
                    _STATUS_MARK[row.status],
                    row.comparison or "—",
                    row.note or "—",
                )
            )
            + " |"
        )
    lines.append("")
    lines.append("How each figure is measured:")
    lines.extend(f"- **{row.figure}**: {row.how}" for row in rows)
    return "\n".join(lines)


def results_document(
    rows: list[RowResult],
    machine: dict[str, Any],
    *,
    settings: dict[str, Any],
    started: datetime,
    duration_s: float,
) -> dict[str, Any]:
    """The content of ``bench/results.json``."""
    return {
        "schema": RESULTS_SCHEMA,
        "started": started.astimezone(UTC).isoformat(timespec="seconds"),
        "duration_s": round(duration_s, 1),
        "machine": machine,
        "settings": settings,
        "argv": sys.argv[1:],
        "rows": [asdict(row) for row in rows],
    }
