"""The benchmark harness's own parts, so that ``make bench`` cannot silently rot.

The benchmark itself is not a test (it runs on demand, ``make bench``); these check its
arithmetic, its outputs and its pseudo-terminal reader on synthetic input.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bench.analysis import (
    RequestRecord,
    between,
    is_token_request,
    rate,
    ratio,
    round_trips,
    samples,
)
from bench.report import RESULTS_SCHEMA, RowResult, machine_info, render_table, results_document
from bench.terminal import PtyTerminal, TerminalTimeout, bytes_between
from bench.wizard import shows_code, wizard_argv


def rec(
    path: str, start: float, end: float, method: str = "GET", status: int = 200
) -> RequestRecord:
    return RequestRecord(method, path, status, start, end)


def test_sequential_requests_are_one_round_trip_each() -> None:
    log = [rec("/a", 0.0, 0.1), rec("/b", 0.15, 0.25), rec("/c", 0.3, 0.4)]
    assert [len(g) for g in round_trips(log)] == [1, 1, 1]


def test_overlapping_requests_share_a_round_trip_whatever_the_log_order() -> None:
    log = [
        rec("/grant2", 0.32, 0.42),
        rec("/app", 0.0, 0.1),
        rec("/grant1", 0.3, 0.4),
        rec("/grant3", 0.41, 0.5),  # starts before /grant2 ends: still the same fan-out
        rec("/verify", 0.6, 0.7),
    ]
    groups = round_trips(log)
    assert [[r.path for r in g] for g in groups] == [
        ["/app"],
        ["/grant1", "/grant2", "/grant3"],
        ["/verify"],
    ]


def test_a_request_starting_exactly_when_another_ends_is_sequential() -> None:
    assert len(round_trips([rec("/a", 0.0, 0.1), rec("/b", 0.1, 0.2)])) == 2


def test_no_requests_is_no_round_trip() -> None:
    assert round_trips([]) == []


def test_between_keeps_requests_inside_the_window() -> None:
    log = [rec("/before", 0.0, 0.5), rec("/in", 1.0, 1.2), rec("/straddles", 1.9, 2.1)]
    assert [r.path for r in between(log, 0.9, 2.0)] == ["/in"]


def test_token_requests_are_recognised_by_path_and_method() -> None:
    assert is_token_request(rec("/contoso.com/oauth2/v2.0/token", 0, 1, "POST"))
    assert not is_token_request(rec("/contoso.com/oauth2/v2.0/token", 0, 1, "GET"))
    assert not is_token_request(rec("/v1.0/applications", 0, 1, "POST"))


def test_samples_report_the_median_and_every_run() -> None:
    s = samples([0.3, 0.1, 0.2, 5.0])
    assert s.median == pytest.approx(0.25)
    assert s.as_dict() == {"median": 0.25, "min": 0.1, "max": 5.0, "runs": [0.3, 0.1, 0.2, 5.0]}
    with pytest.raises(ValueError):
        samples([])


def test_ratio_and_rate_refuse_empty_denominators() -> None:
    assert ratio(1.2, 1.0) == pytest.approx(1.2)
    assert rate(600, 2.0) == 300
    with pytest.raises(ValueError):
        ratio(1.0, 0.0)
    with pytest.raises(ValueError):
        rate(1, 0.0)


def test_user_code_is_found_however_it_is_grouped() -> None:
    screen = "Enter the code\n   CWE5 QHL NM   \nat https://example"
    assert shows_code(screen, "CWE5QHLNM")
    assert shows_code("code: cwe5-qhlnm", "CWE5QHLNM")
    assert not shows_code("CWE5\nQHLNM", "CWE5QHLNM")  # split over lines is not readable


def test_wizard_is_pointed_at_the_emulator_with_the_common_options() -> None:
    endpoints = {
        "authority_host": "https://127.0.0.1:1",
        "graph_url": "https://127.0.0.1:1",
        "ca_bundle": "ca.pem",
    }
    argv = wizard_argv(sys.executable, endpoints, ["connect", "manual"])
    assert argv[-2:] == ["connect", "manual"]
    assert argv[argv.index("--ca-bundle") + 1] == "ca.pem"
    assert argv[argv.index("--authority-host") + 1] == "https://127.0.0.1:1"


def _rows() -> list[RowResult]:
    return [
        RowResult(
            key="first_frame",
            figure="first frame",
            how="launch → drawn",
            target="ratio ≤ 1.2",
            measured="×1.05 (300 ms vs 286 ms)",
            status="met",
            comparison="none | known",
            data={"ratio": 1.05},
        ),
        RowResult(
            key="memory",
            figure="memory",
            how="peak RSS",
            target="≤ 100 MB",
            note="ValueError: something\nwith a second line",
        ),
    ]


def test_table_names_the_machine_and_every_row() -> None:
    machine = machine_info()
    table = render_table(_rows(), machine, when="2026-01-01 00:00 UTC")
    lines = table.splitlines()
    assert machine["cpu"] in lines[0] and f"Textual {machine['textual']}" in lines[0]
    body = [line for line in lines if line.startswith(("| first frame", "| memory"))]
    assert len(body) == 2
    # A pipe inside a cell is escaped, a newline inside a note does not break the row.
    assert "none \\| known" in body[0] and "✅ met" in body[0]
    assert "⚠️ not measured" in body[1] and "with a second line" in body[1]
    assert all(len(re.split(r"(?<!\\)\|", line)) == 8 for line in body)  # 6 cells


def test_results_document_is_json_with_the_documented_keys() -> None:
    doc = results_document(
        _rows(),
        machine_info(),
        settings={"runs": 5},
        started=datetime(2026, 1, 1, tzinfo=UTC),
        duration_s=12.34,
    )
    again = json.loads(json.dumps(doc))
    assert again["schema"] == RESULTS_SCHEMA
    assert set(again) >= {"started", "duration_s", "machine", "settings", "rows"}
    assert {"cpu", "cores", "python", "textual"} <= set(again["machine"])
    assert [r["key"] for r in again["rows"]] == ["first_frame", "memory"]
    assert set(again["rows"][0]) == {
        "key", "figure", "how", "target", "measured", "status", "comparison", "note", "data",
    }


_PAINTER = r"""
import sys, time
sys.stdout.write("\x1b[?1049h\x1b[2J\x1b[3;5Hhello\x1b[10;1Hworld")
sys.stdout.flush()
sys.stdin.readline()
sys.stdout.write("\x1b[3;5Hbye  ")
sys.stdout.flush()
time.sleep(0.2)
"""


def test_pty_terminal_sees_positioned_text_keys_and_bytes() -> None:
    term = PtyTerminal([sys.executable, "-c", _PAINTER], cols=40, rows=12)
    with term:
        arrived = term.wait_for_text("hello", "world", timeout=20)
        assert arrived >= term.started_at
        lines = term.text().splitlines()
        assert len(lines) == 12 and lines[2][4:9] == "hello"
        term.press("enter")
        term.wait_for_text("bye", timeout=20)
        with pytest.raises(TerminalTimeout):
            term.wait_for_text("never shown", timeout=0.2)
        status = term.close(timeout=20)
    assert status.returncode == 0 and status.max_rss_bytes > 0
    chunks = term.chunks()
    assert bytes_between(chunks, 0.0, float("inf")) == sum(c.size for c in chunks) > 20


def test_a_generated_fleet_is_cached_by_its_inputs_and_a_failed_one_is_not_kept(
        tmp_path: Path) -> None:
    from bench.cache import cached

    root = Path(__file__).resolve().parents[2]
    built: list[dict[str, int]] = []

    def build_for(inputs: dict[str, int]) -> Any:
        def build(folder: Path) -> None:
            built.append(inputs)
            (folder / "made").write_text(json.dumps(inputs))
        return build

    first, hit = cached(tmp_path, root, "fleet", {"size": 3}, build_for({"size": 3}),
                        lambda _m: None)
    assert not hit and json.loads((first / "made").read_text()) == {"size": 3}
    again, hit = cached(tmp_path, root, "fleet", {"size": 3}, build_for({"size": 3}),
                        lambda _m: None)
    assert hit and again == first and built == [{"size": 3}]
    other, hit = cached(tmp_path, root, "fleet", {"size": 4}, build_for({"size": 4}),
                        lambda _m: None)
    assert not hit and other != first and not first.exists()  # the older one is dropped

    def broken(folder: Path) -> None:
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        cached(tmp_path, root, "synthetic", {"size": 1}, broken, lambda _m: None)
    assert not list(tmp_path.glob("*synthetic*"))  # nothing half-made is kept


def test_tree_rss_sums_a_process_and_its_children() -> None:
    import subprocess
    import time as _time

    from bench.fleet_rows import TreeRss

    code = ("import subprocess, sys, time; b = bytearray(40 << 20); "
            "c = subprocess.Popen([sys.executable, '-c', "
            "'import time; b = bytearray(40 << 20); time.sleep(3)']); time.sleep(3); c.wait()")
    proc = subprocess.Popen([sys.executable, "-c", code])
    tree = TreeRss(proc.pid, every=0.1)
    deadline = _time.monotonic() + 20
    while tree.peak_mib < 80 and _time.monotonic() < deadline:
        _time.sleep(0.1)
    proc.wait(timeout=30)
    tree.stop()
    assert tree.peak_mib >= 80  # both processes' 40 MiB counted together
