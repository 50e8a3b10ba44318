"""``serve()``: the first stdout line, a fetch with the CA bundle, and a clean stop."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def test_serve_prints_connection_json_then_serves_until_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from vdc_tui.emulator.cli import serve; "
                               "sys.exit(serve(0, 'demo'))"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert set(info) == {"authority_host", "graph_url", "ca_bundle", "device_login_url"}
        url = f"{info['authority_host']}/contoso.com/v2.0/.well-known/openid-configuration"
        import ssl

        tls = ssl.create_default_context(cafile=info["ca_bundle"])
        assert httpx.get(url, verify=tls).json()["issuer"].endswith("/v2.0")
        curl = shutil.which("curl")
        if curl:  # the documented way to check it by hand
            out = subprocess.run([curl, "-sS", "--cacert", info["ca_bundle"], url],
                                 capture_output=True, text=True, timeout=20)
            assert json.loads(out.stdout)["token_endpoint"].startswith(info["authority_host"])
        proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_importing_the_emulator_does_not_import_textual() -> None:
    code = ("import sys, vdc_tui.emulator, vdc_tui.emulator.cli; "
            "print('textual' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"
