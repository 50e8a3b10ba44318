"""Bad values on the command line: a clear error, its code and exit code, no traceback.

Each is refused before any network traffic where it can be (a home folder that cannot
hold the profile is said before the sign-in, not after an app was made).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from support.commands import Outcome

from vdc_tui.demo import demo_facts

Run = Callable[..., Outcome]
VDC_TUI = str(Path(sys.executable).parent / "vdc-tui")
GUID = "6b1c7e52-3f0a-4d8e-b5a9-0e4f2c7d9a13"


def failed(outcome: Outcome, code: str, exit_code: int) -> dict[str, object]:
    assert outcome.code == exit_code, outcome.err
    assert "Traceback" not in outcome.err
    error = outcome.json()["error"]
    assert isinstance(error, dict) and error["code"] == code, error
    return error


@pytest.fixture
def manual(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``connect manual --demo`` with the demo PFX, password in the environment."""
    facts = demo_facts()
    assert facts.pfx_path and facts.pfx_password is not None
    monkeypatch.setenv("PFX_PW", facts.pfx_password)
    return ["connect", "manual", "--demo", "--json", "--pfx", facts.pfx_path,
            "--pfx-password-env", "PFX_PW"]


@pytest.mark.parametrize(
    ("email", "app_id", "field"),
    [
        ("admin @contoso.com", GUID, "admin_email"),
        ("admin", GUID, "admin_email"),
        ("admin@contoso.com", "6b1c7e52-3f0a-4d8e-b5a9", "app_id"),
        ("admin@contoso.com", "urn:uuid:not-a-guid", "app_id"),
    ],
)
def test_a_malformed_email_or_app_id_names_its_field(
    run: Run, manual: list[str], email: str, app_id: str, field: str
) -> None:
    error = failed(run(*manual, "--admin-email", email, "--app-id", app_id),
                   "invalid_argument", 2)
    assert error["details"]["field"] == field  # type: ignore[index]


@pytest.mark.parametrize("app_id", [f"{{{GUID}}}", f"urn:uuid:{GUID.upper()}", f" {GUID} "])
def test_an_app_id_in_braces_or_as_a_urn_is_understood(
    run: Run, manual: list[str], app_id: str
) -> None:
    outcome = run(*manual, "--admin-email", "Admin@CONTOSO.com", "--app-id", app_id)
    assert outcome.code == 0, outcome.err
    assert outcome.json()["app_id"] == GUID


@pytest.mark.parametrize(("services", "said"), [
    ("exchange,fax", "Unknown service(s) in --services: fax."),
    (",", "--services names no service."),
    ("", "--services names no service."),
])
def test_bad_service_lists_are_refused(run: Run, manual: list[str], services: str,
                                       said: str) -> None:
    error = failed(run(*manual, "--admin-email", "admin@contoso.com", "--app-id", GUID,
                       "--services", services), "invalid_argument", 2)
    assert error["message"] == said


def test_a_service_named_twice_counts_once(run: Run, manual: list[str]) -> None:
    outcome = run(*manual, "--admin-email", "admin@contoso.com", "--app-id", GUID,
                  "--services", "teams,Exchange,teams")
    assert outcome.code == 0, outcome.err
    assert outcome.json()["services"]["selected"] == ["exchange", "teams"]


@pytest.mark.parametrize("url", ["http://127.0.0.1:1", "https://127.0.0.1:1/common",
                                 "https://u:pw-secret@127.0.0.1:1", "https://[::1"])
def test_a_bad_authority_host_is_refused_before_any_network(run: Run, url: str) -> None:
    error = failed(run("connect", "auto", "--json", "--authority-host", url),
                   "invalid_argument", 2)
    assert "pw-secret" not in json.dumps(error)


def test_a_home_that_is_a_file_is_refused_before_the_sign_in(
    run: Run, home: Path, manual: list[str]
) -> None:
    home.parent.mkdir(parents=True, exist_ok=True)
    home.write_text("a file, not a folder")
    outcome = run("connect", "auto", "--demo", "--json", "--demo-approve-after", "0")
    error = failed(outcome, "invalid_argument", 2)
    assert "enters the code" not in outcome.err  # no device code was asked for
    assert error["details"]["field"] == "home"  # type: ignore[index]
    failed(run(*manual, "--admin-email", "admin@contoso.com", "--app-id", GUID),
           "invalid_argument", 2)
    assert home.read_text() == "a file, not a folder"


def test_a_log_path_that_is_a_pipe_nobody_reads_fails_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "log"
    os.mkfifo(fifo)
    env = dict(os.environ, VDC_TUI_HOME=str(tmp_path / "home"))
    done = subprocess.run([VDC_TUI, "connections", "list", "--json", "--log", str(fifo)],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert json.loads(done.stdout)["error"]["code"] == "invalid_argument"


def test_the_emulator_port_must_be_a_port(run: Run) -> None:
    outcome = run("emulator", "--port", "70000")
    assert outcome.code == 2 and "between 1 and 65535" in outcome.err


def test_a_busy_emulator_port_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([VDC_TUI, "emulator", "--port", str(port)],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "[invalid_argument]" in done.stderr and "Traceback" not in done.stderr
