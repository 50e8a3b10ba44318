"""The command synopses of the docs name commands and options the program has.

A synopsis is a plain code block (no language) whose lines start with ``vdc-tui``; lines
indented under one continue it. For each, ``vdc-tui <command words> --help`` runs as a real
process and must list every ``--option`` the synopsis gives, and every choice it spells out
(``--cloud global|usgov|…``).
"""

from __future__ import annotations

import functools
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .pages import ROOT, blocks, doc_pages

VDC_TUI = str(Path(sys.executable).parent / "vdc-tui")


def _synopses() -> list[tuple[str, list[str], str]]:
    """(where, command words, the synopsis text) of every synopsis line of the docs."""
    found = []
    for page in doc_pages():
        for block in blocks(page):
            if block.language:
                continue
            current: list[str] = []
            for line in block.text.splitlines() + ["<end>"]:
                if line.startswith((" ", "\t")) and current:
                    current.append(line)
                    continue
                if current:
                    text = " ".join(current)
                    for words in _command_words(text):
                        found.append((f"{block.where}: {current[0].strip()[:60]}", words,
                                      text))
                current = [line] if line.startswith("vdc-tui") else []
    return found


def _command_words(text: str) -> list[list[str]]:
    """The sub-command words a synopsis line names (``list|show`` gives two)."""
    choices: list[list[str]] = [[]]
    for word in text.split()[1:]:
        alternatives = word.split("|")
        if not all(re.fullmatch(r"[a-z]+", alt) for alt in alternatives):
            break  # an option, a placeholder (TENANT), or "TENANT|remove": the words end
        choices = [prefix + [alt] for prefix in choices for alt in alternatives]
    return choices


@functools.cache
def _help(words: tuple[str, ...]) -> str:
    done = subprocess.run([VDC_TUI, *words, "--help"], capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"vdc-tui {' '.join(words)} --help: {done.stderr}"
    return done.stdout


SYNOPSES = _synopses()


def test_the_docs_have_synopses_of_every_command() -> None:
    named = {" ".join(words) for _, words, _ in SYNOPSES}
    assert {"", "connect auto", "connect manual", "connections", "connections list",
            "connections check", "connections renew", "connections repair",
            "connections remove", "connections export", "doctor", "emulator"} <= named


@pytest.mark.parametrize(("where", "words", "text"), SYNOPSES,
                         ids=[f"{where} [{' '.join(words)}]" for where, words, _ in SYNOPSES])
def test_synopsis_options_are_the_programs(where: str, words: list[str], text: str) -> None:
    shown = _help(tuple(words))
    for option in set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", text)):
        assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", shown), \
            f"{where}: vdc-tui {' '.join(words)} has no {option}"
    for option, spelled in re.findall(r"(--[a-z-]+) ([a-z-]+(?:\|[a-z-]+)+)", text):
        for choice in spelled.split("|"):
            assert choice in shown, f"{where}: {option} has no choice {choice}"


def test_a_synopsis_that_names_a_missing_option_is_caught() -> None:
    with pytest.raises(AssertionError):
        test_synopsis_options_are_the_programs("test", ["doctor"], "vdc-tui doctor --nope")


def test_synopsis_paths_are_relative_to_the_repository() -> None:
    assert all(str(ROOT) not in text for _, _, text in SYNOPSES)


def test_top_level_help_names_every_action_and_exit_code() -> None:
    from vdc_tui.cli.output import EXIT_OUTPUT_CLOSED
    from vdc_tui.connect.errors import ERROR_CODES, EXIT_CANCELLED, EXIT_OK

    shown = _help(())
    for command in ("connect auto", "connect manual", "connections list", "connections check",
                    "connections renew", "connections repair", "connections export",
                    "connections remove", "audit", "doctor", "emulator"):
        assert f"vdc-tui {command}" in shown, f"top-level --help has no example of {command}"
    exit_codes = shown[shown.index("exit codes:"):shown.index("environment:")]
    codes = {EXIT_OK, EXIT_CANCELLED, EXIT_OUTPUT_CLOSED} | set(
        ERROR_CODES.values())
    for code in sorted(codes - {1}):  # 1: internal_error, a bug, not part of the contract
        assert re.search(rf"(?<!\d){code} ", exit_codes), f"--help lists no exit code {code}"


def test_connections_help_names_each_action() -> None:
    line = " ".join(_help(()).split())
    summary = line[line.index("connections the fleet dashboard"):][:160]
    for action in ("list", "show", "check", "renew", "repair", "export", "remove"):
        assert action in summary, summary
