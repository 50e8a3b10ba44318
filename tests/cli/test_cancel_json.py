"""``connect auto --json`` cancelled with Ctrl+C three times (real SIGINTs to a real process).

The first Ctrl+C starts the rollback, the second only says it is still rolling back, the
third ends the process at once (exit 130). stdout must still hold exactly one JSON object:
the contract's ``cancelled`` failure, which says that the rollback was abandoned.
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .test_resilience import auto, env, lagging, reached  # noqa: F401  (env: fixture)


def pump(proc: subprocess.Popen[str]) -> queue.Queue[str | None]:
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def wait_for_line(lines: queue.Queue[str | None], text: str, seen: list[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        if line is None:
            raise AssertionError(f"stderr ended before {text!r}:\n" + "".join(seen))
        seen.append(line)
        if text in line:
            return
    raise AssertionError(f"no {text!r} on stderr:\n" + "".join(seen))


def test_a_third_ctrl_c_still_leaves_one_json_object_and_exits_130(
        start_emulator: Callable[..., Any], env: dict[str, str],  # noqa: F811
        tmp_path: Path) -> None:
    emu = lagging(start_emulator, lag=1.0)
    before = set(emu.state.applications)
    proc = auto(emu, env)
    assert proc.stdout is not None
    lines = pump(proc)
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while not reached(emu, "service_principal", before):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        # The rollback's deletes hang: it is still running when the operator insists.
        emu.faults.update(stall_every=1, stall_path="/v1.0/*", stall_seconds=120)
        proc.send_signal(signal.SIGINT)
        wait_for_line(lines, "Cancelling (SIGINT)", seen)
        proc.send_signal(signal.SIGINT)
        wait_for_line(lines, "Still rolling back", seen)
        proc.send_signal(signal.SIGINT)
        out = proc.stdout.read()
        assert proc.wait(timeout=30) == 130, "".join(seen)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    objects = [line for line in out.splitlines() if line.strip()]
    assert len(objects) == 1, out
    document = json.loads(objects[0])
    assert document["status"] == "failed"
    assert document["error"]["code"] == "cancelled"
    assert "three times" in document["error"]["message"]
    assert "again" in document["error"]["remediation"]
