"""``python -m bench``: run every measurement, print the table, write ``bench/results.json``."""

from __future__ import annotations

import argparse
import compileall
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from . import fleet_rows, rows
from .emulator_host import EmulatorProcess
from .report import RowResult, machine_info, render_table, results_document
from .wizard import python_executable

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = Path(__file__).resolve().parent / "results.json"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=(
            "Measure what an operator feels: start-up, the wait for the device code, "
            "provisioning round trips, the replication wait, idle repaint, memory and the "
            "headless manual check. Prints a Markdown table and writes results.json."
        ),
    )
    parser.add_argument("--runs", type=int, default=5, help="runs of each cheap row (median)")
    parser.add_argument(
        "--first-frame-runs", type=int, default=11,
        help="runs of the first-frame row (median of a ratio: needs more than the others)",
    )
    parser.add_argument(
        "--full-runs", type=int, default=2, help="full automatic runs (provisioning, memory)"
    )
    parser.add_argument("--latency-ms", type=float, default=100.0, help="added per request")
    parser.add_argument("--lag", type=float, default=30.0, help="replication lag in seconds")
    parser.add_argument(
        "--no-replication", action="store_true", help="skip the replication row (saves ~1 min)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where results.json goes")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated rows: first_frame,device_code,provisioning,replication,"
        "manual_check,fleet_check,dashboard_frame,fleet_check_5000,dashboard_frame_5000 "
        "(generated fleets are kept in .cache beside --out)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 0 when every row was measured (targets may be missed)."""
    args = _parser().parse_args(argv)
    started = datetime.now(UTC)
    t0 = time.monotonic()

    def progress(message: str) -> None:
        print(f"[{time.monotonic() - t0:6.1f} s] {message}", file=sys.stderr, flush=True)

    cfg = rows.BenchConfig(
        python=python_executable(),
        root=str(ROOT),
        runs=max(1, args.runs),
        first_frame_runs=max(1, args.first_frame_runs),
        full_runs=max(1, args.full_runs),
        latency=args.latency_ms / 1000.0,
        lag=args.lag,
        replication=not args.no_replication,
        progress=progress,
        cache_dir=str(args.out.resolve().parent / ".cache"),
    )
    only = {name.strip() for name in args.only.split(",") if name.strip()}

    def wanted(name: str) -> bool:
        return not only or name in only

    machine = machine_info()
    results: list[RowResult] = []
    # An installed vdc-tui has its bytecode compiled (pip does it at install time, as it did
    # for Textual and the other dependencies); a checkout run with PYTHONDONTWRITEBYTECODE
    # (CI, some shells) would otherwise compile every module of vdc_tui at each start.
    progress("compiling vdc_tui's bytecode, as an install does")
    compileall.compile_dir(str(ROOT / "vdc_tui"), quiet=1)
    progress("starting the emulator host")
    with EmulatorProcess(cfg.python, cwd=cfg.root) as emu:
        if wanted("first_frame"):
            results.append(rows.first_frame(cfg, emu))
        if wanted("device_code"):
            results.extend(rows.device_code(cfg, emu))
        if wanted("provisioning"):
            results.extend(rows.provisioning_and_memory(cfg, emu))
        if wanted("replication") and cfg.replication:
            results.append(rows.replication(cfg, emu))
        if wanted("manual_check"):
            results.append(rows.manual_check(cfg, emu))
    # Connection health at fleet scale: its own emulator process (N tenants).
    if wanted("dashboard_frame"):
        results.append(fleet_rows.dashboard_frame(cfg))
    if wanted("dashboard_frame_5000"):
        results.append(fleet_rows.dashboard_frame(cfg, fleet_rows.LARGE_FLEET))
    if wanted("fleet_check"):
        results.extend(fleet_rows.fleet_check(cfg))
    if wanted("fleet_check_5000"):
        results.extend(fleet_rows.fleet_check_large(cfg))
    duration = time.monotonic() - t0
    when = started.strftime("%Y-%m-%d %H:%M UTC") + f", {duration:.0f} s"
    print(render_table(results, machine, when=when))
    document = results_document(
        results,
        machine,
        settings={
            "runs": cfg.runs,
            "first_frame_runs": cfg.first_frame_runs,
            "full_runs": cfg.full_runs,
            "latency_s": cfg.latency,
            "replication_lag_s": cfg.lag if cfg.replication else None,
            "terminal": f"{cfg.cols}x{cfg.rows}",
            "idle_window_s": cfg.idle_window,
            "bytecode": "compiled before the runs (compileall), as an install does",
        },
        started=started,
        duration_s=duration,
    )
    args.out.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    progress(f"wrote {args.out}")
    return 0 if all(row.status != "not measured" for row in results) else 1
