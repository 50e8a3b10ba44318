"""``vdc-tui`` in pipes: a reader that goes away is not a failure (real processes, real pipes).

A standard Unix tool whose stdout or stderr loses its reader stops quietly: no traceback, no
error line, exit status 141 (128 + SIGPIPE, what a shell shows for a tool SIGPIPE stopped).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from support.commands import Outcome
from support.factories import make_result

from vdc_tui.cli.output import EXIT_OUTPUT_CLOSED
from vdc_tui.connect.store.profiles import ProfileStore

VDC_TUI = str(Path(sys.executable).parent / "vdc-tui")
PROFILES = 5


@pytest.fixture
def env(home: Path) -> dict[str, str]:
    """The environment of a ``vdc-tui`` process with several saved connections."""
    store = ProfileStore(home)
    for n in range(PROFILES):
        store.save(make_result(str(uuid.uuid4()), f"Org {n}", f"org{n}.example"),
                   ["exchange"], plan="flex", cloud="global")
    return {**os.environ, "VDC_TUI_HOME": str(home), "NO_COLOR": "1"}


def _closed_pipe() -> int:
    """The write end of a pipe whose reader is already gone (the fd to hand to a child)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    return write_end


def _run_into_closed(argv: list[str], env: dict[str, str], *, stream: str) -> Outcome:
    """Run ``vdc-tui ARGV`` with ``stream`` ("stdout"/"stderr") a pipe nobody reads."""
    closed = _closed_pipe()
    try:
        proc = subprocess.run(
            [VDC_TUI, *argv], env=env, text=True, timeout=60, check=False,
            stdout=closed if stream == "stdout" else subprocess.PIPE,
            stderr=closed if stream == "stderr" else subprocess.PIPE,
        )
    finally:
        os.close(closed)
    return Outcome(proc.returncode, proc.stdout or "", proc.stderr or "")


def test_list_into_head_gives_the_first_line_and_no_error(env: dict[str, str]) -> None:
    lister = subprocess.Popen([VDC_TUI, "connections", "list"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert lister.stdout is not None and lister.stderr is not None
    head = subprocess.run(["head", "-1"], stdin=lister.stdout, capture_output=True,
                          text=True, timeout=60, check=False)
    lister.stdout.close()  # only head holds the read end now
    err = lister.stderr.read().decode()
    lister.stderr.close()
    code = lister.wait(timeout=60)
    assert head.stdout.startswith("TENANT ID") and head.stdout.count("\n") == 1
    assert err == ""
    # 0 when every line fit in the pipe before head left, 141 when a write found it gone.
    assert code in (0, EXIT_OUTPUT_CLOSED)


def test_list_into_a_closed_stdout_stops_quietly_with_141(env: dict[str, str]) -> None:
    outcome = _run_into_closed(["connections", "list"], env, stream="stdout")
    assert (outcome.code, outcome.err) == (EXIT_OUTPUT_CLOSED, "")


def test_json_into_a_closed_stdout_stops_quietly_with_141(env: dict[str, str]) -> None:
    outcome = _run_into_closed(["connections", "list", "--json"], env, stream="stdout")
    assert (outcome.code, outcome.err) == (EXIT_OUTPUT_CLOSED, "")


def test_a_command_printing_for_itself_into_a_closed_stdout_stops_quietly(
    env: dict[str, str],
) -> None:
    """Not only the Reporter: a command's own print() is answered by the same one handler."""
    outcome = _run_into_closed(["emulator", "--print-demo"], env, stream="stdout")
    assert (outcome.code, outcome.err) == (EXIT_OUTPUT_CLOSED, "")


def test_a_closed_stderr_stops_quietly_with_141(env: dict[str, str]) -> None:
    # An unknown tenant: the command's first words go to stderr, whose reader is gone.
    outcome = _run_into_closed(["connections", "show", str(uuid.uuid4())], env,
                               stream="stderr")
    assert (outcome.code, outcome.out) == (EXIT_OUTPUT_CLOSED, "")


def test_json_through_a_pipe_is_one_complete_object(env: dict[str, str]) -> None:
    lister = subprocess.Popen([VDC_TUI, "connections", "list", "--json"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    count = "import json, sys; print(len(json.load(sys.stdin)['connections']))"
    reader = subprocess.run(
        [sys.executable, "-c", count],
        stdin=lister.stdout, capture_output=True, text=True, timeout=60, check=False)
    assert lister.stdout is not None and lister.stderr is not None
    lister.stdout.close()
    err = lister.stderr.read().decode()
    lister.stderr.close()
    assert lister.wait(timeout=60) == 0
    assert (reader.returncode, reader.stdout.strip(), err) == (0, str(PROFILES), "")


def test_a_failure_into_a_closed_stdout_still_says_what_failed(env: dict[str, str]) -> None:
    """The reader of stdout left, stderr still has one: the real error is still told."""
    outcome = _run_into_closed(["connections", "show", "nobody", "--json"], env,
                               stream="stdout")
    assert outcome.code == EXIT_OUTPUT_CLOSED
    assert "[invalid_argument]" in outcome.err and "Traceback" not in outcome.err


def test_a_network_broken_pipe_is_still_service_unavailable(
    run: Callable[..., Outcome], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A BrokenPipeError from a socket is a network failure when stdout and stderr are fine."""
    from vdc_tui.cli import main as cli_main

    def broken(*_: object) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(cli_main, "_dispatch", broken)
    outcome = run("connections", "list", "--json")
    assert outcome.code == 4
    assert json.loads(outcome.out)["error"]["code"] == "service_unavailable"
