"""Real ``vdc-tui`` processes against a standalone ``vdc-tui emulator``.

These are the runs a script makes: separate processes, endpoints from the emulator's first
stdout line, the PFX password in the environment, Ctrl+C as a real SIGINT.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from vdc_tui.cli.demo import DemoFacts, demo_facts
from vdc_tui.connect.microsoft.clouds import server_endpoints
from vdc_tui.connect.steps import AUTOMATIC_TITLES

VDC_TUI = str(Path(sys.executable).parent / "vdc-tui")
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")


@pytest.fixture(scope="module")
def standalone() -> Iterator[dict[str, Any]]:
    """``vdc-tui emulator --port 0`` in its own process; its first stdout line."""
    proc = subprocess.Popen([VDC_TUI, "emulator", "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        info = json.loads(line)
        assert {"authority_host", "graph_url", "ca_bundle", "device_login_url"} <= set(info)
        yield info
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)


def endpoint_args(info: dict[str, Any]) -> list[str]:
    return ["--authority-host", info["authority_host"], "--graph-url", info["graph_url"],
            "--ca-bundle", info["ca_bundle"]]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    environment = dict(os.environ)
    environment["VDC_TUI_HOME"] = str(tmp_path / "home")
    environment.pop("HTTPS_PROXY", None)
    environment.pop("https_proxy", None)
    return environment


@pytest.fixture(scope="module")
def facts() -> DemoFacts:
    loaded = demo_facts()
    assert loaded.manual_app_id and loaded.pfx_path and loaded.pfx_password is not None
    return loaded


#: A password nobody could mistake for other text in the output.
PASSWORD = "S3cret-Pfx-Pw-9f2e71"


def reprotect_demo_pfx(facts: DemoFacts, target: Path) -> list[str]:
    """The demo app's PFX under :data:`PASSWORD`; returns texts its private key could leak as."""
    from cryptography.hazmat.primitives.serialization import (
        BestAvailableEncryption,
        Encoding,
        NoEncryption,
        PrivateFormat,
        pkcs12,
    )

    assert facts.pfx_path and facts.pfx_password is not None
    key, cert, _ = pkcs12.load_key_and_certificates(Path(facts.pfx_path).read_bytes(),
                                                    facts.pfx_password.encode())
    assert key is not None and cert is not None
    target.write_bytes(pkcs12.serialize_key_and_certificates(
        b"demo", key, cert, None, BestAvailableEncryption(PASSWORD.encode())))  # type: ignore[arg-type]
    der = key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    body = "".join(pem.splitlines()[1:-1])
    return [body[:64], base64.b64encode(der).decode()[100:164], "PRIVATE KEY"]


def test_a_script_onboards_manually_and_nothing_secret_leaks(
    standalone: dict[str, Any], env: dict[str, str], facts: DemoFacts, tmp_path: Path
) -> None:
    assert facts.manual_app_id
    pfx = tmp_path / "operator.pfx"
    key_texts = reprotect_demo_pfx(facts, pfx)
    env["PFX_PW"] = PASSWORD
    log = tmp_path / "run.log"
    done = subprocess.run(
        [VDC_TUI, "connect", "manual", "--admin-email", facts.admin_email,
         "--app-id", facts.manual_app_id, "--pfx", str(pfx),
         "--pfx-password-env", "PFX_PW", "--json", "--log", str(log),
         *endpoint_args(standalone)],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    document = json.loads(line)
    assert document["status"] == "connected" and document["mode"] == "manual"
    assert document["app_id"] == facts.manual_app_id
    assert log.read_text().strip(), "the log records what was done"

    home = Path(env["VDC_TUI_HOME"])
    texts = {"stdout": done.stdout, "stderr": done.stderr, "log": log.read_text()}
    for path in home.rglob("*"):
        if path.is_file() and path.name != "certificate.pfx":
            texts[str(path)] = path.read_text(encoding="utf-8", errors="replace")
    secrets = [PASSWORD, *key_texts]
    for where, text in texts.items():
        for secret in secrets:
            assert secret not in text, f"secret found in {where}"
        assert not JWT.search(text), f"token found in {where}"
    key_file = Path(document["profile"]).parent / "certificate.pfx"
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_ctrl_c_during_sign_in_cancels_with_exit_130(standalone: dict[str, Any],
                                                     env: dict[str, str]) -> None:
    proc = subprocess.Popen(
        [VDC_TUI, "connect", "auto", "--json", *endpoint_args(standalone)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stderr is not None
        seen = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            seen.append(line)
            if "enters the code" in line:
                break
        assert any("enters the code" in s for s in seen), "".join(seen)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=20)
    assert proc.returncode == 130, err
    document = json.loads(out)
    assert document["status"] == "failed" and document["error"]["code"] == "cancelled"


def test_doctor_passes_against_the_emulator(standalone: dict[str, Any],
                                            env: dict[str, str]) -> None:
    done = subprocess.run([VDC_TUI, "doctor", "--json", *endpoint_args(standalone)], env=env,
                          capture_output=True, text=True, timeout=60)
    document = json.loads(done.stdout)
    checks = {c["id"]: c for c in document["checks"]}
    assert checks["dns:127.0.0.1"]["status"] == "pass"
    assert checks["https:127.0.0.1"]["status"] == "pass"
    assert "certificate verified" in checks["https:127.0.0.1"]["detail"]
    assert checks["clock"]["status"] == "pass"
    assert done.returncode == 0


def test_ctrl_c_during_provisioning_rolls_back_and_exits_130(
    start_emulator: Callable[..., Any], env: dict[str, str]
) -> None:
    # Slow Graph down so that provisioning is surely running when Ctrl+C arrives.
    emu = start_emulator("demo", auto_approve_after=0, device_code_interval=1, latency=0.3,
                         latency_path="/v1.0/*")
    before = set(emu.state.applications)
    proc = subprocess.Popen(
        [VDC_TUI, "connect", "auto", "--json", "--authority-host", emu.authority_host,
         "--graph-url", emu.graph_url, "--ca-bundle", str(server_endpoints(emu).ca_bundle)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stderr is not None
        seen: list[str] = []
        # Interrupt once the app exists and the tool knows it (a Ctrl+C while the create
        # request is in flight is the provisioner's "reuse it next run" case instead).
        for line in proc.stderr:
            seen.append(line)
            if line.startswith("[pass] " + AUTOMATIC_TITLES["application"]):
                break
        with emu.state.lock:
            assert set(emu.state.applications) - before, "".join(seen)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        seen.append(err)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=20)
    assert proc.returncode == 130, "".join(seen)
    assert json.loads(out)["error"]["code"] == "cancelled"
    with emu.state.lock:
        assert set(emu.state.applications) == before, "not rolled back:\n" + "".join(seen)
    assert not (Path(env["VDC_TUI_HOME"]) / "connections").exists() or not any(
        (Path(env["VDC_TUI_HOME"]) / "connections").glob("*/profile.json"))
