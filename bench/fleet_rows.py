"""Rows of ``make bench`` for connection health at fleet scale (issue 14).

- ``fleet_check``: ``vdc-tui connections check --all --json`` on N saved connections (500)
  against the emulator in its own process with latency added to every request: wall time,
  peak RSS of the checking process, and the ratio to checking them one at a time. The
  one-at-a-time figure is measured on a sample and extrapolated: the start-up of a run
  (``--concurrency 1`` on 1 tenant) plus the per-tenant time of ``--concurrency 1`` on
  ``sample + 1`` tenants, times N − 1.
- ``dashboard_frame``: launch → the dashboard's table with N profiles fully drawn, against
  the wizard's first frame in the same run (interleaved, median). The dashboard is opened
  once before the runs, as an operator did before: that first open writes the summary
  index (``connections/index.json``) the measured opens read.
- ``fleet_check_5000`` / ``dashboard_frame_5000``: the same at 5,000 tenants (issue 26):
  more tenants in flight, the check spread over one worker process per core; peak RSS is
  the sum over the checking process and its workers; client CPU per tenant is reported.

Generated fleets (the emulator's scenario, the saved profiles and their encrypted keys,
the synthetic homes) are kept between runs in ``bench/.cache/`` (:mod:`bench.cache`),
keyed by the generator's inputs; each run works on a copy.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from vdc_tui.connect.store.keystore import PASSPHRASE_FILE_ENV

from .analysis import ratio, samples
from .cache import cached, save_profiles_spread, working_copy, write_passphrase
from .fleet import synthetic_home
from .report import RowResult
from .rows import BenchConfig, _not_measured
from .terminal import PtyTerminal
from .wizard import UI, passphrase_file, wizard_argv, wizard_env

FLEET_SIZE = 500
LARGE_FLEET = 5000
SEQUENTIAL_SAMPLE = 20
CONCURRENCY = 32
#: At 5,000 tenants: more in flight (the waits, ~5 sequential requests of 100 ms per
#: tenant, would take 78 s at 32), spread over the workers (64 each on 2 cores).
LARGE_CONCURRENCY = 128
#: What the dashboard shows once its table and footer are drawn: the status line, the
#: footer's last action key ("c C Check" shares one entry), the column headers.
DASHBOARD_TEXTS = ("{size} connections", "Offboard", "Health", "Checked")

COMPARISON = (
    "CIPP fans out one job per tenant and caches results for an hour; its Exchange check "
    "failed with 50+ tenants at once (issue 4964). No published timing for a full run."
)


#: Loopback endpoints nobody answers on: the dashboard and the wizard draw their first
#: frame without the network (and never reach out of the machine).
_NOWHERE = ["--authority-host", "https://127.0.0.1:9", "--graph-url", "https://127.0.0.1:9"]


def _program(cfg: BenchConfig) -> list[str]:
    """``vdc-tui`` as an operator runs it (see :func:`bench.wizard.wizard_argv`)."""
    script = Path(cfg.python).parent / "vdc-tui"
    return [str(script)] if script.exists() else [cfg.python, "-m", "vdc_tui"]


class _Emulator:
    """``vdc-tui emulator --scenario FILE`` in its own process (its CPU apart from ours)."""

    def __init__(self, cfg: BenchConfig, scenario: Path) -> None:
        self.proc = subprocess.Popen(
            [*_program(cfg), "emulator", "--scenario", str(scenario)], stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True, cwd=cfg.root)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the emulator did not start")
        self.endpoints: dict[str, str] = json.loads(line)

    def close(self) -> float:
        """Stop it; returns the CPU seconds it used."""
        self.proc.terminate()
        _pid, _status, usage = os.wait4(self.proc.pid, 0)
        return usage.ru_utime + usage.ru_stime


def _check(cfg: BenchConfig, endpoints: dict[str, str], home: str, tenants: list[str],
           concurrency: int, passphrase: str | None = None,
           ) -> tuple[float, float, float, dict[str, Any]]:
    """One ``connections check`` process: (wall s, peak RSS MiB, CPU s, its JSON)."""
    argv = wizard_argv(cfg.python, endpoints, ["connections", "check", "--json",
                                               "--concurrency", str(concurrency), *tenants])
    if not tenants:
        argv.append("--all")
    env = dict(os.environ, VDC_TUI_HOME=home)
    env[PASSPHRASE_FILE_ENV] = passphrase or passphrase_file()
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                            cwd=cfg.root)
    tree = TreeRss(proc.pid)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    tree.stop()
    document: dict[str, Any] = json.loads(out or b"{}")
    if "checked" not in document:
        raise RuntimeError(f"connections check failed (status {status}): {out[-300:]!r}")
    # ru_maxrss of wait4 is the largest single process of the tree; the sampled sum counts
    # the workers together (whichever is larger is reported).
    rss = max(usage.ru_maxrss / 1024, tree.peak_mib)
    # wait4's CPU includes the workers (descendants the check process waited for).
    return wall, rss, usage.ru_utime + usage.ru_stime, document


class TreeRss:
    """The peak of the summed RSS of a process and its descendants, sampled from /proc
    every 0.2 s (a worker's memory counts as much as the parent's)."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        self.pid = pid
        self.every = every
        self.peak_mib = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _tree(self) -> list[int]:
        pids, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            try:
                for task in os.listdir(f"/proc/{pid}/task"):
                    with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as f:
                        todo.extend(int(c) for c in f.read().split())
            except OSError:
                continue
        return pids

    def _rss(self, pid: int) -> float:
        try:
            with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except (OSError, ValueError):
            pass
        return 0.0

    def _run(self) -> None:
        while not self._done.wait(self.every):
            self.peak_mib = max(self.peak_mib, sum(self._rss(p) for p in self._tree()))

    def stop(self) -> None:
        self._done.set()
        self._thread.join(timeout=5)


def cached_fleet(cfg: BenchConfig, size: int) -> tuple[Path, bool]:
    """A fleet of ``size`` healthy tenants with their saved profiles (``fleet/``, ``home/``,
    ``passphrase``), from the cache or generated into it (``bench/.cache``)."""
    from vdc_tui.emulator.fleet import write_fleet

    def build(folder: Path) -> None:
        files = write_fleet(folder / "fleet", ["healthy"] * size,
                            faults={"latency": cfg.latency})
        secret = write_passphrase(folder)
        save_profiles_spread(files.manifest, folder / "home", secret, os.cpu_count() or 1)

    return cached(Path(cfg.cache_dir), Path(cfg.root), "fleet",
                  {"size": size, "kinds": "healthy", "latency": cfg.latency}, build,
                  cfg.progress)


def fleet_check(cfg: BenchConfig, size: int = FLEET_SIZE) -> list[RowResult]:
    """Wall time, peak RSS and ratio to sequential of checking ``size`` connections."""
    latency_ms = cfg.latency * 1000
    how = (f"`vdc-tui connections check --all --json --concurrency {CONCURRENCY}` on {size} "
           f"saved connections (all healthy: the most requests per tenant) against the "
           f"emulator in its own process with {latency_ms:.0f} ms added to every request")
    wall_row = RowResult(key="fleet_check_wall", figure=f"check {size} connections",
                         how=how + "; process start → exit", target="≤ 20 s",
                         comparison=COMPARISON)
    ratio_row = RowResult(
        key="fleet_check_ratio", figure="check: ratio to one at a time",
        how=(f"one at a time is measured on a sample and extrapolated: `--concurrency 1` on "
             f"1 tenant (start-up) and on {SEQUENTIAL_SAMPLE + 1} tenants give the time per "
             f"tenant; start-up + per-tenant × {size - 1}"),
        target="≥ 25×")
    rss_row = RowResult(key="fleet_check_rss", figure="check: peak RSS",
                        how="ru_maxrss of the checking process (wait4), or the sampled sum "
                        "over it and its worker processes when larger", target="≤ 200 MB")
    rows = [wall_row, ratio_row, rss_row]
    try:
        folder, from_cache = cached_fleet(cfg, size)
        with tempfile.TemporaryDirectory(prefix="vdc-bench-fleet-") as tmp:
            home = str(working_copy(folder / "home", Path(tmp) / "home"))
            secret = str(folder / "passphrase")
            ids = sorted(os.listdir(Path(home) / "connections"))[:SEQUENTIAL_SAMPLE + 1]
            emu = _Emulator(cfg, folder / "fleet" / "fleet.json")
            try:
                cfg.progress(f"fleet: checking {size} connections, {CONCURRENCY} at a time")
                load_before = os.getloadavg()[0]
                wall, rss, cpu, document = _check(cfg, emu.endpoints, home, [], CONCURRENCY,
                                                  secret)
                cfg.progress("fleet: one at a time, on a sample")
                one, _r, _c, _d = _check(cfg, emu.endpoints, home, ids[:1], 1, secret)
                sample, _r, _c, _d = _check(cfg, emu.endpoints, home, ids, 1, secret)
            finally:
                emulator_cpu = emu.close()
    except Exception as exc:  # noqa: BLE001 - a row that cannot run says why, the rest go on
        return [_not_measured(r, exc) for r in rows]
    per_tenant = max(1e-6, (sample - one) / SEQUENTIAL_SAMPLE)
    sequential = one + per_tenant * (size - 1)
    r = ratio(sequential, wall)
    healthy = document.get("healthy", 0)
    data = {"size": size, "concurrency": CONCURRENCY, "latency_s": cfg.latency,
            "wall_s": round(wall, 3), "peak_rss_mib": round(rss, 1),
            "client_cpu_s": round(cpu, 2), "emulator_cpu_s": round(emulator_cpu, 2),
            "healthy": healthy, "sequential_one_s": round(one, 3),
            "sequential_sample_s": round(sample, 3), "per_tenant_s": round(per_tenant, 4),
            "sequential_extrapolated_s": round(sequential, 1), "ratio": round(r, 2),
            "cpus": os.cpu_count(), "load_average_before": load_before,
            "load_average": os.getloadavg(), "fleet_from_cache": from_cache}
    wall_row.measured = f"{wall:.1f} s ({healthy}/{size} healthy)"
    wall_row.status = "met" if wall <= 20 and healthy == size else "missed"
    ratio_row.measured = (f"×{r:.1f} (one at a time ≈ {sequential:.0f} s: "
                          f"{per_tenant * 1000:.0f} ms per tenant)")
    ratio_row.status = "met" if r >= 25 else "missed"
    rss_row.measured = f"{rss:.0f} MiB"
    rss_row.status = "met" if rss <= 200 else "missed"
    for row in rows:
        row.data = data
    note = _pace_note(cfg, size, CONCURRENCY, wall, cpu, emulator_cpu, load_before,
                      from_cache)
    if wall_row.status == "missed" or ratio_row.status == "missed":
        wall_row.note = ratio_row.note = note
    else:
        wall_row.note = note
    return rows


def _pace_note(cfg: BenchConfig, size: int, concurrency: int, wall: float, cpu: float,
               emulator_cpu: float, load_before: float, from_cache: bool) -> str:
    """What set the pace of a check: the client's CPU, the emulator's, or the waits."""
    from vdc_tui.connect.fleet.workers import default_workers

    workers = default_workers(size, {})
    cores = os.cpu_count() or 1
    waits = size * 5 * cfg.latency / concurrency
    busy = (cpu + emulator_cpu) / cores
    if waits >= max(busy, cpu / workers) * 0.8:
        pace = "the network waits set the pace"
    elif emulator_cpu > cpu / workers:
        pace = "CPU sets the pace, the emulator's as much as ours (one machine serves both)"
    else:
        pace = "CPU, not the network, sets the pace"
    load = os.getloadavg()[0]
    where = ("one Python process" if workers == 1
             else f"{workers} worker processes, one per core")
    return (f"{pace}: the checking processes used {cpu:.1f} s of CPU "
            f"({cpu / size * 1000:.1f} ms per tenant, {where}) and the emulator "
            f"{emulator_cpu:.1f} s in its own process, {(cpu + emulator_cpu) / wall:.2f} of "
            f"{cores} cores over the {wall:.1f} s; load average {load_before:.1f} before and "
            f"{load:.1f} after the run (other work shares the machine). The waits alone "
            f"(about 5 round trips of {cfg.latency * 1000:.0f} ms per tenant, {concurrency} "
            f"tenants at a time) would take {waits:.0f} s. The fleet "
            + ("came from the cache (bench/.cache, keyed by the generator's inputs)."
               if from_cache else "was generated into the cache (bench/.cache) for the "
               "next runs."))


def fleet_check_large(cfg: BenchConfig, size: int = LARGE_FLEET) -> list[RowResult]:
    """Wall time, peak RSS (summed over the workers) and CPU per tenant at 5,000 tenants."""
    latency_ms = cfg.latency * 1000
    how = (f"`vdc-tui connections check --all --json --concurrency {LARGE_CONCURRENCY}` on "
           f"{size} saved connections (all healthy) against the emulator in its own process "
           f"with {latency_ms:.0f} ms added to every request; the check spreads the tenants "
           "over one worker process per core")
    wall_row = RowResult(key=f"fleet_check_{size}_wall", figure=f"check {size:,} connections",
                         how=how + "; process start → exit", target="≤ 60 s",
                         comparison=COMPARISON)
    rss_row = RowResult(key=f"fleet_check_{size}_rss", figure=f"check {size:,}: peak RSS",
                        how="the largest sum of the RSS of the checking process and its "
                        "workers (sampled from /proc every 0.2 s)", target="≤ 300 MB")
    cpu_row = RowResult(key=f"fleet_check_{size}_cpu",
                        figure=f"check {size:,}: client CPU per tenant",
                        how="user + system CPU of the checking process and its workers "
                        "(wait4), divided by the tenants", target="report")
    rows = [wall_row, rss_row, cpu_row]
    try:
        folder, from_cache = cached_fleet(cfg, size)
        with tempfile.TemporaryDirectory(prefix="vdc-bench-fleet-") as tmp:
            home = str(working_copy(folder / "home", Path(tmp) / "home"))
            emu = _Emulator(cfg, folder / "fleet" / "fleet.json")
            try:
                cfg.progress(f"fleet: checking {size} connections, {LARGE_CONCURRENCY} at a "
                             "time")
                load_before = os.getloadavg()[0]
                wall, rss, cpu, document = _check(cfg, emu.endpoints, home, [],
                                                  LARGE_CONCURRENCY,
                                                  str(folder / "passphrase"))
            finally:
                emulator_cpu = emu.close()
    except Exception as exc:  # noqa: BLE001 - a row that cannot run says why, the rest go on
        return [_not_measured(r, exc) for r in rows]
    healthy = document.get("healthy", 0)
    data = {"size": size, "concurrency": LARGE_CONCURRENCY, "latency_s": cfg.latency,
            "wall_s": round(wall, 3), "peak_rss_mib": round(rss, 1),
            "client_cpu_s": round(cpu, 2), "client_cpu_per_tenant_ms": round(
                cpu / size * 1000, 2), "emulator_cpu_s": round(emulator_cpu, 2),
            "healthy": healthy, "cpus": os.cpu_count(), "load_average_before": load_before,
            "load_average": os.getloadavg(), "fleet_from_cache": from_cache}
    wall_row.measured = f"{wall:.1f} s ({healthy}/{size} healthy)"
    wall_row.status = "met" if wall <= 60 and healthy == size else "missed"
    rss_row.measured = f"{rss:.0f} MiB"
    rss_row.status = "met" if rss <= 300 else "missed"
    cpu_row.measured = (f"{cpu / size * 1000:.1f} ms per tenant ({cpu:.1f} s; the emulator "
                        f"{emulator_cpu:.1f} s)")
    cpu_row.status = "report"
    for row in rows:
        row.data = data
    wall_row.note = _pace_note(cfg, size, LARGE_CONCURRENCY, wall, cpu, emulator_cpu,
                               load_before, from_cache)
    return rows


def cached_synthetic_home(cfg: BenchConfig, size: int) -> tuple[Path, bool]:
    """``synthetic_home`` of ``size`` profiles (``home/``), from the cache or made into it."""
    return cached(Path(cfg.cache_dir), Path(cfg.root), f"synthetic{size}", {"size": size},
                  lambda folder: None if synthetic_home(folder / "home", size) else None,
                  cfg.progress)


def dashboard_frame(cfg: BenchConfig, size: int = FLEET_SIZE) -> RowResult:
    """Launch → the dashboard with ``size`` profiles drawn, against the wizard's first frame."""
    limit = 1.2 if size <= FLEET_SIZE else 1.3
    row = RowResult(
        key="dashboard_first_frame" if size == FLEET_SIZE else f"dashboard_first_frame_{size}",
        figure=f"dashboard first frame ({size:,} profiles)",
        how=(f"launch → the table, status line and footer of `vdc-tui connections` with {size} "
             f"saved profiles and their last results, on a {cfg.cols}×{cfg.rows} "
             "pseudo-terminal, opened once before (which wrote the summary index the "
             "measured opens read); against the wizard's first frame (mode screen), runs "
             f"interleaved, median of {cfg.runs}"),
        target=f"ratio ≤ {limit}")
    dashboard: list[float] = []
    wizard: list[float] = []
    texts = tuple(t.format(size=f"{size}") for t in DASHBOARD_TEXTS)
    try:
        folder, from_cache = cached_synthetic_home(cfg, size)
        with tempfile.TemporaryDirectory(prefix="vdc-bench-dash-") as tmp:
            home = str(working_copy(folder / "home", Path(tmp) / "home"))
            empty = str(Path(tmp) / "empty")
            program = _program(cfg)
            index = Path(home) / "connections" / "index.json"

            def open_dashboard() -> float:
                with PtyTerminal([*program, "connections", *_NOWHERE], cols=cfg.cols,
                                 rows=cfg.rows, env=wizard_env(home), cwd=cfg.root) as term:
                    took = term.wait_for_text(*texts, timeout=cfg.timeout) - term.started_at
                    if not index.exists():  # the first open writes it after its first frame
                        deadline = time.monotonic() + cfg.timeout
                        while not index.exists() and time.monotonic() < deadline:
                            time.sleep(0.05)
                    term.press("ctrl+q")
                    term.close()
                return took

            cfg.progress(f"dashboard ({size} profiles): a first open writes the index")
            first_open = open_dashboard()
            if not index.exists():
                raise RuntimeError("the dashboard did not write connections/index.json")
            for i in range(cfg.runs):
                cfg.progress(f"dashboard first frame ({size} profiles) {i + 1}/{cfg.runs}")
                dashboard.append(open_dashboard())
                with PtyTerminal([*program, *_NOWHERE], cols=cfg.cols, rows=cfg.rows,
                                 env=wizard_env(empty), cwd=cfg.root) as term:
                    wizard.append(term.wait_for_text(*UI.mode_texts, timeout=cfg.timeout)
                                  - term.started_at)
                    term.press("ctrl+q")
                    term.close()
    except Exception as exc:  # noqa: BLE001 - a row that cannot run says why, the rest go on
        return _not_measured(row, exc)
    d, w = samples(dashboard), samples(wizard)
    r = ratio(d.median, w.median)
    row.measured = f"×{r:.2f} ({d.median * 1000:.0f} ms vs wizard {w.median * 1000:.0f} ms)"
    row.status = "met" if r <= limit else "missed"
    row.data = {"ratio": round(r, 3), "dashboard_s": d.as_dict(), "wizard_s": w.as_dict(),
                "profiles": size, "first_open_without_index_s": round(first_open, 3),
                "home_from_cache": from_cache, "load_average": os.getloadavg()}
    row.note = (f"The first open, before the index existed, took {first_open * 1000:.0f} ms "
                "(every profile and last result read before its first frame). The "
                "synthetic home " + ("came from the cache (bench/.cache)." if from_cache
                                     else "was generated into the cache (bench/.cache)."))
    return row
