"""Shared set-up of the lifecycle tests: a tenant connected in automatic or manual mode."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vdc_tui.connect.microsoft.clouds import server_endpoints
from vdc_tui.emulator import EmulatorServer

TENANT = "7e3a1c55-2b4d-4f6a-9c8e-0d1f2a3b4c5d"
MANUAL_APP = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"


def scenario(**tenant: Any) -> dict[str, Any]:
    """Northwind: a Global Admin, Exchange Online, and an operator-made (manual) app."""
    return {
        "name": "lifecycle",
        "device_code": {"interval": 1},
        "tenants": [{
            "id": TENANT,
            "display_name": "Northwind",
            "domains": ["northwind.onmicrosoft.com", "northwind.com"],
            "sharepoint_host": None,
            "users": [{"upn": "admin@northwind.com", "roles": ["Global Administrator"]},
                      {"upn": "reader@northwind.com", "roles": ["Global Reader"]}],
            "skus": [{"sku_part_number": "EXCHANGESTANDARD",
                      "service_plans": ["EXCHANGE_S_STANDARD"]}],
            "applications": [{"display_name": "Northwind backup (manual)", "app_id": MANUAL_APP,
                              "certificates": [{"generate": "northwind-manual",
                                                "password": "pw-nw"}]}],
            "service_principals": [{"app_id": MANUAL_APP, "grants": ["catalog"],
                                    "directory_roles": ["Global Reader"]}],
            **tenant,
        }],
    }


def endpoint_args(emu: EmulatorServer) -> list[str]:
    """The options that point a command at ``emu``."""
    return ["--authority-host", emu.authority_host, "--graph-url", emu.graph_url,
            "--ca-bundle", str(server_endpoints(emu).ca_bundle)]


def managed_app(emu: EmulatorServer) -> Any:
    """The one app registration vdc-tui created in the tenant (automatic mode)."""
    apps = [a for a in emu.state.applications.values()
            if "vdc-tui:managed" in (a.props.get("tags") or [])]
    assert len(apps) == 1, apps
    return apps[0]


def kill_command_at(emu: EmulatorServer, home: Path, action: str, line_start: str,
                    arrived: Callable[[], bool] = lambda: True) -> list[str]:
    """Start ``connections ACTION TENANT --json`` as a process and SIGKILL it once a line of
    its stderr starts with ``line_start`` and ``arrived()`` holds (a parked request has
    reached the emulator). Returns the lines it printed."""
    env = {**os.environ, "VDC_TUI_HOME": str(home), "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vdc_tui", "connections", action, TENANT, "--json",
         *endpoint_args(emu)],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True)
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                break
            seen.append(line)
            if line.startswith(line_start):
                while not arrived():
                    assert time.monotonic() < deadline, "the parked request never arrived"
                    time.sleep(0.02)
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
                assert proc.returncode == -signal.SIGKILL
                return seen
        raise AssertionError("the step never came:\n" + "".join(seen))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
