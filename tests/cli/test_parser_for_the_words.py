"""The command line built for its own words (the commands it does not name without their
options) parses, fails and helps exactly as the whole command line does."""

from __future__ import annotations

import argparse
import contextlib
import io
from typing import Any

import pytest

from vdc_tui.cli.main import UsageError, build_parser

COMMAND_LINES = [
    [], ["--help"], ["-h"], ["--version"], ["--demo"], ["--theme", "nope"], ["--bogus"],
    ["--tenant-name", "connect"], ["--tenant-name", "connections", "--demo-port", "9"],
    ["--cloud", "usgov", "--authority-host", "https://h", "--graph-url", "https://g"],
    ["conect"], ["connections"], ["connections", "--help"], ["connections", "list"],
    ["connections", "list", "--json", "--demo"], ["connections", "show"],
    ["connections", "check", "--help"], ["connections", "check", "--concurrency", "0"],
    ["connections", "check", "--all", "--deadline", "5"], ["connections", "renew", "--all"],
    ["connections", "remove", "t", "--offboard", "--purge"], ["connections", "export", "t"],
    ["connections", "repair", "--help"], ["connections", "nope"], ["connect"],
    ["connect", "--help"], ["connect", "auto", "--json"], ["connect", "auto", "--help"],
    ["connect", "manual", "--admin-email", "a@b.c"], ["connect", "manual", "--help"],
    ["connect", "manual", "--pfx-password", "x"], ["doctor"], ["doctor", "--timeout", "0"],
    ["doctor", "--help"], ["emulator", "--port", "x"], ["emulator", "--print-demo"],
    ["emulator", "--help"], ["--demo", "connect", "auto", "--services", "teams"],
    ["audit"], ["audit", "t", "--since", "2026-01-01", "--action", "renew", "--json"],
    ["audit", "--verify"], ["audit", "--action", "nope"], ["audit", "--since", "x"],
]


def _outcome(parser: argparse.ArgumentParser, argv: list[str]) -> Any:
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            return ("parsed", sorted(vars(parser.parse_args(argv)).items()))
    except UsageError as error:
        return ("usage error", error.message, error.prog)
    except SystemExit as done:
        return ("exit", done.code, out.getvalue())


@pytest.mark.parametrize("argv", COMMAND_LINES, ids=" ".join)
def test_the_parser_for_the_words_behaves_as_the_whole_one(argv: list[str]) -> None:
    assert _outcome(build_parser(argv), argv) == _outcome(build_parser(), argv)


def test_without_a_command_no_command_has_its_options() -> None:
    parser = build_parser([])
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(commands.choices) == {"audit", "connect", "connections", "doctor",
                                    "emulator"}
    for sub in commands.choices.values():
        assert [a.dest for a in sub._actions] == ["help"]
