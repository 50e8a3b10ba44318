"""The docs' cron lines install with crontab as written, and run."""

from __future__ import annotations

import pytest

from .cron import check_crontab, looks_like_cron_entry
from .pages import Block, blocks, doc_pages

CRON_BLOCKS = [block for page in doc_pages() for block in blocks(page)
               if block.language == "cron"]


def test_the_docs_have_cron_examples() -> None:
    assert len(CRON_BLOCKS) >= 2


@pytest.mark.parametrize("block", CRON_BLOCKS, ids=lambda block: block.where)
def test_cron_block_is_a_valid_crontab(block: Block) -> None:
    assert block.mark == "cron", f"{block.where}: mark it <!-- doc-test: cron -->"
    assert check_crontab(block.text) == []


def test_every_cron_line_of_the_docs_is_in_a_cron_block() -> None:
    stray = [f"{block.where}: {line.strip()}"
             for page in doc_pages() for block in blocks(page) if block.language != "cron"
             for line in block.text.splitlines() if looks_like_cron_entry(line)]
    assert stray == []


def test_a_continued_line_is_refused_as_crontab_refuses_it() -> None:
    problems = check_crontab(
        "17 * * * *  VDC_TUI_KEY_PASSPHRASE_FILE=/srv/p \\\n"
        "    /usr/local/bin/vdc-tui connections check --all\n")
    assert problems and "continuation" in problems[0]


def test_a_bare_program_name_is_refused_without_path() -> None:
    assert "not found" in check_crontab("17 * * * * vdc-tui connections check --all\n")[0]
    assert check_crontab("PATH=/opt/vdc-tui/bin:/usr/bin:/bin\n"
                         "17 * * * * vdc-tui connections check --all\n") == []


def test_a_program_after_variable_assignments_is_the_one_judged() -> None:
    assert check_crontab("17 3 * * * A=1 B=2 /opt/bin/vdc-tui connections renew --all\n") == []
    assert check_crontab("17 3 * * * A=1 vdc-tui connections renew --all\n")


@pytest.mark.parametrize("line", [
    "61 * * * * /bin/true",
    "* 24 * * * /bin/true",
    "* * 0 * * /bin/true",
    "* * * 13 * /bin/true",
    "*/0 * * * * /bin/true",
    "5-1 * * * * /bin/true",
    "* * * * /bin/true",
    "@often /bin/true",
])
def test_bad_time_fields_are_refused(line: str) -> None:
    assert check_crontab(line + "\n")


def test_names_steps_ranges_and_specials_are_accepted() -> None:
    assert check_crontab("*/15 8-18 1,15 jan-dec mon-fri /bin/true\n"
                         "@hourly /bin/true\n# a comment\n\nMAILTO=ops@example.com\n") == []


def test_environment_lines_are_literal() -> None:
    assert check_crontab("VDC_TUI_KEY_PASSPHRASE_FILE=~/.config/vdc-tui/passphrase\n")
    assert check_crontab("VDC_TUI_HOME=$HOME/vdc\n")


def test_an_unescaped_percent_ends_the_command() -> None:
    assert check_crontab("0 0 * * * /bin/date +%F\n")
    assert check_crontab("0 0 * * * /bin/date +\\%F\n") == []


@pytest.mark.parametrize("line", [
    "17 * * * * /bin/true && vdc-tui connections check --all\n",
    "17 * * * * /usr/bin/flock -n /tmp/vdc.lock timeout 600 vdc-tui connections check --all\n",
    "17 * * * * /opt/vdc-tui/bin/vdc-tui connections list | vdc-tui connections check\n",
    "17 * * * * cd /srv/vdc; vdc-tui connections renew --all\n",
])
def test_a_bare_vdc_tui_anywhere_in_the_command_is_refused(line: str) -> None:
    assert any("'vdc-tui' is not found" in problem for problem in check_crontab(line))


def test_tools_on_crons_path_and_redirections_pass() -> None:
    assert check_crontab(
        "17 * * * * /opt/vdc-tui/bin/vdc-tui connections check --all --json 2>&1 "
        "| logger -t vdc-tui\n"
        "18 * * * * timeout 600 /opt/vdc-tui/bin/vdc-tui connections list > /dev/null "
        "2>> '/var/log/vdc tui.log'\n") == []
    assert check_crontab("17 * * * * mytool --flag\n")  # not on cron's PATH everywhere
