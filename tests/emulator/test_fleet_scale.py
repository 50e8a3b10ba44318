"""A tenant's requests look through that tenant's objects only.

A fleet scenario holds thousands of tenants in one directory; a handler that scans a whole
collection per request makes the emulator's CPU grow with the fleet (a sampling profile of
a 5,000-tenant check found a quarter of the emulator's CPU in one such scan). Here every
whole-collection scan of the directory's grouped collections is recorded while a healthy
tenant of the fleet is checked: the check must pass and nothing may have been scanned.
"""

from __future__ import annotations

import contextlib
import io
import json
import traceback
from typing import Any

import pytest

from vdc_tui.cli.main import main
from vdc_tui.connect.fleet.workers import WORKERS_ENV
from vdc_tui.connect.store.profiles import ProfileStore
from vdc_tui.emulator.grouped import Grouped


def test_checking_one_tenant_of_a_fleet_scans_no_whole_collection(
    fleet_store: ProfileStore, health_fleet: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    healthy = next(t for t in health_fleet.files.tenants if t["kind"] == "healthy")
    scans: list[str] = []

    def recording(name: str) -> Any:
        real = getattr(dict, name)

        def scan(self: Grouped[Any], *args: Any) -> Any:
            scans.append("".join(traceback.format_stack(limit=4)[:-1]))
            return real(self, *args)
        return scan

    for name in ("values", "items", "keys", "__iter__"):
        monkeypatch.setattr(Grouped, name, recording(name))
    monkeypatch.setenv("VDC_TUI_HOME", str(fleet_store.root))
    monkeypatch.setenv(WORKERS_ENV, "1")
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(["connections", "check", healthy["tenant_id"], "--json",
                     *health_fleet.args()])

    document = json.loads(out.getvalue())
    assert (code, document["healthy"]) == (0, 1), document
    assert scans == [], scans[0]
