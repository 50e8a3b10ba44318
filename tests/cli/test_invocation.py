"""Invocation rules of the command line: bad input, refused passwords, help, lazy imports."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from support.commands import Outcome
from support.factories import make_result

from vdc_tui.cli.connect_cmd import (
    choose_services,
    parse_services,
    run_cancellable,
)
from vdc_tui.cli.output import Reporter, qr_lines
from vdc_tui.connect.errors import Cancelled, InvalidInput
from vdc_tui.connect.models import CheckEvent, CheckStatus
from vdc_tui.settings import AppSettings

Run = Callable[..., Outcome]


def test_an_unknown_command_is_one_line_and_exit_2(run: Run) -> None:
    outcome = run("frobnicate")
    assert outcome.code == 2
    assert outcome.out == ""
    lines = outcome.err.strip().splitlines()
    assert len(lines) == 1
    assert "invalid choice: 'frobnicate'" in lines[0] and "vdc-tui --help" in lines[0]


def test_a_missing_option_names_it_and_the_sub_command_help(run: Run) -> None:
    outcome = run("connect", "manual", "--app-id", "x", "--pfx", "a.pfx")
    assert outcome.code == 2
    assert outcome.err.count("\n") == 1
    assert "--admin-email" in outcome.err and "vdc-tui connect manual --help" in outcome.err


def test_a_bad_invocation_with_json_still_gives_one_json_object(run: Run) -> None:
    outcome = run("connections", "list", "--json", "--cloud", "mars")
    assert outcome.code == 2
    document = outcome.json()
    assert document["status"] == "failed"
    assert document["error"]["code"] == "invalid_argument"
    assert "mars" in document["error"]["message"]


@pytest.mark.parametrize("form", [["--pfx-password", "hunter2"], ["--pfx-password=hunter2"],
                                  ["--pfx-password"]])
def test_a_password_on_the_command_line_is_refused(run: Run, form: list[str]) -> None:
    outcome = run("connect", "manual", "--admin-email", "a@contoso.com", "--app-id",
                  "11111111-2222-3333-4444-555555555555", "--pfx", "app.pfx", *form, "--json")
    assert outcome.code == 2
    assert "--pfx-password-env" in outcome.err
    assert "hunter2" not in outcome.err + outcome.out
    assert outcome.json()["error"]["code"] == "invalid_argument"


def test_abbreviated_options_are_not_guessed(run: Run) -> None:
    outcome = run("connect", "manual", "--admin", "a@contoso.com", "--app-id", "x", "--pfx", "p")
    assert outcome.code == 2


def test_the_two_password_sources_exclude_each_other(run: Run) -> None:
    outcome = run("connect", "manual", "--admin-email", "a@b.c", "--app-id", "x", "--pfx", "p",
                  "--pfx-password-env", "PW", "--pfx-password-stdin")
    assert outcome.code == 2 and "not allowed with" in outcome.err


def test_an_unset_password_variable_is_invalid_input(run: Run,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VDC_TEST_NO_SUCH_VAR", raising=False)
    outcome = run("connect", "manual", "--admin-email", "a@b.c", "--app-id", "x", "--pfx", "p",
                  "--pfx-password-env", "VDC_TEST_NO_SUCH_VAR", "--json")
    assert outcome.code == 2
    error = outcome.json()["error"]
    assert error["code"] == "invalid_argument" and error["details"]["field"] == "pfx_password"


def test_an_unknown_service_is_refused_before_any_network(run: Run) -> None:
    outcome = run("connect", "auto", "--services", "exchange,yammer", "--json")
    assert outcome.code == 2
    assert "yammer" in outcome.json()["error"]["message"]


def test_a_bad_endpoint_override_is_invalid_input(run: Run) -> None:
    outcome = run("doctor", "--authority-host", "http://login.example", "--json")
    assert outcome.code == 2
    assert outcome.json()["error"]["code"] == "invalid_argument"


def test_demo_mode_refuses_endpoint_overrides(run: Run) -> None:
    outcome = run("connect", "auto", "--demo", "--graph-url", "https://graph.example", "--json")
    assert outcome.code == 2
    assert "--demo" in outcome.json()["error"]["message"]


def test_help_has_examples_and_exit_codes(run: Run) -> None:
    outcome = run("--help")
    assert outcome.code == 0
    assert "examples:" in outcome.out and "connect manual" in outcome.out
    assert "130 cancelled" in outcome.out and "VDC_TUI_HOME" in outcome.out
    assert "$VDC_TUI_HOME/demo" in outcome.out


def test_version_works_on_sub_commands(run: Run) -> None:
    outcome = run("doctor", "--version")
    assert outcome.code == 0 and outcome.out.startswith("vdc-tui ")


def test_the_cli_module_does_not_import_heavy_packages() -> None:
    code = ("import sys, vdc_tui.cli.main; "
            "print(sorted(m for m in ('msal', 'cryptography', 'textual') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)
    assert done.stdout.strip() == "[]"


def test_services_are_parsed_with_exchange_always_included() -> None:
    assert parse_services("teams") == ["exchange", "teams"]
    assert parse_services(" SharePoint , exchange ") == ["exchange", "sharepoint"]
    assert parse_services(None) is None
    with pytest.raises(InvalidInput):
        parse_services(",")


def test_a_service_the_tenant_lacks_is_refused_with_the_reason() -> None:
    result = make_result()  # Teams is not licensed there
    assert choose_services(result, None) == ["exchange", "sharepoint"]
    assert choose_services(result, ["exchange"]) == ["exchange"]
    with pytest.raises(InvalidInput) as caught:
        choose_services(result, ["exchange", "teams"])
    assert caught.value.exit_code == 2
    assert "no Teams plan" in caught.value.message
    assert caught.value.details["refused"] == ["teams"]
    assert caught.value.details["available"] == ["exchange", "sharepoint"]


def test_progress_prints_final_states_once_each() -> None:
    import io

    err = io.StringIO()
    reporter = Reporter(json_mode=True, out=io.StringIO(), err=err)
    reporter.progress(CheckEvent("tenant", "Tenant", CheckStatus.RUNNING))
    reporter.progress(CheckEvent("tenant", "Tenant", CheckStatus.PASS, "Contoso"))
    reporter.progress(CheckEvent("tenant", "Tenant", CheckStatus.PASS, "Contoso"))
    reporter.progress(CheckEvent("grants", "Grants", CheckStatus.FAIL, "missing \x1b[2Jx",
                                 "Grant consent"))
    lines = err.getvalue().splitlines()
    assert lines == ["[pass] Tenant: Contoso", "[fail] Grants: missing  [2Jx",
                     "       fix: Grant consent"]


def test_the_qr_code_round_trips_to_the_library_matrix() -> None:
    import qrcode

    url = "https://microsoft.com/devicelogin"
    lines = qr_lines(url)
    reference = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_L, border=2)
    reference.add_data(url)
    reference.make(fit=True)
    matrix = reference.get_matrix()
    assert len(lines) == (len(matrix) + 1) // 2 and len(lines[0]) == len(matrix[0]) == 33
    light = {"█": (True, True), "▀": (True, False), "▄": (False, True), " ": (False, False)}
    rows: list[list[bool]] = []
    for line in lines:
        pairs = [light[ch] for ch in line]
        rows.append([not top for top, _ in pairs])
        rows.append([not bottom for _, bottom in pairs])
    assert rows[: len(matrix)] == matrix
    assert all(ch == "█" for ch in lines[0])  # quiet zone: light all round


def test_sigint_cancels_the_work_and_reports_cancelled() -> None:
    cancelled: list[bool] = []

    async def scenario() -> None:
        started = asyncio.Event()

        async def work() -> str:
            started.set()
            await asyncio.sleep(60)
            return "finished"

        async def interrupt() -> None:
            await started.wait()
            os.kill(os.getpid(), signal.SIGINT)

        interrupter = asyncio.ensure_future(interrupt())
        with pytest.raises(Cancelled):
            await run_cancellable(work(), on_cancel=lambda: cancelled.append(True))
        await interrupter

    asyncio.run(asyncio.wait_for(scenario(), 20))
    assert cancelled == [True]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_without_a_command_the_wizard_starts_with_the_options(
    run: Run, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    import vdc_tui.app

    started: list[AppSettings] = []

    class Recorder:
        return_code = 0
        return_value: Path | None = None

        def run(self) -> None:
            # Finish in the wizard returns the saved profile's path.
            self.return_value = home / "demo" / "profile.json"

    def make_app(settings: AppSettings) -> Recorder:
        started.append(settings)
        return Recorder()

    monkeypatch.setattr(vdc_tui.app, "make_app", make_app)
    # The test's captured streams are no terminal (a real one: test_wizard_terminal.py).
    monkeypatch.setattr("vdc_tui.cli.session.refuse_without_terminal", lambda: None)
    outcome = run("--demo", "--plan", "premium", "--tenant-name", "Contoso", "--theme", "nord",
                  "--demo-approve-after", "3")
    assert outcome.code == 0
    # Once the terminal is back, the operator is told where the profile went.
    assert f"Saved the connection profile: {home / 'demo' / 'profile.json'}" in outcome.out
    [settings] = started
    assert settings.demo and settings.demo_approve_after == 3.0
    assert settings.tenant_name == "Contoso" and settings.theme == "nord"
    assert settings.connect.plan == "premium"
    assert settings.connect.home == home / "demo"  # demo profiles apart from real ones
    run("--client-id", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "--app-name", "VDC test")
    assert not started[1].demo and started[1].connect.home == home
    assert started[1].connect.client_id == "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
    assert started[1].connect.app_display_name == "VDC test"


def test_the_log_file_is_private_and_records_the_command(run: Run, tmp_path: Path) -> None:
    log = tmp_path / "vdc.log"
    outcome = run("connections", "list", "--log", str(log))
    assert outcome.code == 0
    assert (log.stat().st_mode & 0o777) == 0o600
    assert "connections list" in log.read_text()
    assert outcome.err == ""  # nothing is logged to the terminal


@pytest.mark.parametrize(("exc", "code", "error_code"), [
    (RuntimeError("boom: internal detail"), 1, "internal_error"),
    (ConnectionResetError("peer reset: internal detail"), 4, "service_unavailable"),
])
def test_an_untyped_exception_still_gives_one_json_answer(
    run: Run, monkeypatch: pytest.MonkeyPatch, exc: Exception, code: int, error_code: str
) -> None:
    import vdc_tui.cli.connections_cmd

    def explode(*args: object) -> int:
        raise exc

    monkeypatch.setattr(vdc_tui.cli.connections_cmd, "list_connections", explode)
    outcome = run("connections", "list", "--json")
    assert outcome.code == code
    assert outcome.json()["error"]["code"] == error_code
    assert "internal detail" not in outcome.out + outcome.err
