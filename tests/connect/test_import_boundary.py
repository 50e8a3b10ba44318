"""The service layer never pulls in the TUI toolkit (checked in a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import importlib, json, pkgutil, sys
import vdc_tui.connect as package
names = sorted(m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + "."))
for name in names:
    importlib.import_module(name)
loaded = sorted(m for m in sys.modules if m == "textual" or m.startswith("textual."))
print(json.dumps({"modules": names, "textual": loaded}))
"""


def test_service_layer_imports_without_textual() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    # The modules this test exists for must really have been imported.
    for core in (
        "microsoft.http",
        "microsoft.discovery",
        "microsoft.identity",
        "microsoft.graph",
        "onboard.automatic",
        "lifecycle.renew",
        "fleet.run",
        "store.profiles",
        "certificates",
        "errors",
        "service",
    ):
        assert f"vdc_tui.connect.{core}" in report["modules"]
    assert report["textual"] == []
