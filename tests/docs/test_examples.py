"""Every shell example of the docs says whether it runs, and those that run, run.

The runnable blocks of a page run in order, as one shell script (so a page's examples build
on each other, as a reader would type them), with ``bash -e``: in a scratch ``HOME`` and
``VDC_TUI_HOME``, offline, with this checkout's ``vdc-tui`` first on ``PATH`` and no store
passphrase from the suite (the examples set up their own). A standalone emulator an example
starts is stopped with the script's process group.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .pages import SHELL_LANGUAGES, Block, blocks, doc_pages

SHELL_BLOCKS = [block for page in doc_pages() for block in blocks(page)
                if block.language in SHELL_LANGUAGES]
RUNNABLE_PAGES = sorted({block.page for block in SHELL_BLOCKS if block.mark == "run"})


def test_every_shell_example_says_whether_it_runs() -> None:
    unmarked = [block.where for block in SHELL_BLOCKS
                if block.mark not in ("run", "no") or (block.mark == "no" and not block.reason)]
    assert unmarked == [], ("mark each shell block <!-- doc-test: run --> or "
                            "<!-- doc-test: no (why it cannot run offline) -->")


def test_most_pages_with_examples_have_runnable_ones() -> None:
    assert len(RUNNABLE_PAGES) >= 5


def _script(page_blocks: list[Block]) -> str:
    parts = ["set -e"]
    for block in page_blocks:
        parts.append(f"echo; echo '>>> doc-test block {block.where}' >&2")
        parts.append(block.text)
    return "\n".join(parts) + "\n"


def _environment(scratch: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("VDC_TUI_", "PYTEST", "COV_"))}
    env.update({
        "HOME": str(scratch / "home"),
        "VDC_TUI_HOME": str(scratch / "home" / "vdc-tui"),
        "VDC_TUI_KEYRING": "off",
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "LC_ALL": "C.UTF-8",
    })
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    return env


@pytest.mark.timeout(300)
@pytest.mark.parametrize("page", RUNNABLE_PAGES, ids=lambda page: page.name)
def test_runnable_examples_of_the_page_run_as_written(page: Path, tmp_path: Path) -> None:
    page_blocks = [block for block in blocks(page)
                   if block.language in SHELL_LANGUAGES and block.mark == "run"]
    (tmp_path / "home").mkdir()
    work = tmp_path / "work"
    work.mkdir()
    process = subprocess.Popen(["bash", "-c", _script(page_blocks)], cwd=work,
                               env=_environment(tmp_path), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    try:
        output, _ = process.communicate(timeout=240)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # an emulator left running
        except ProcessLookupError:
            pass
        process.wait()
    # A block's own output may end without a newline: look for the marks anywhere.
    started = re.findall(r">>> doc-test block \S+", output)
    assert process.returncode == 0, (
        f"{started[-1] if started else page.name} failed with exit {process.returncode}:\n"
        + output[-4000:])
    assert len(started) == len(page_blocks)
