"""How the benchmark starts the wizard and what it expects to see on its screens.

The wizard is started exactly as an operator starts it (the ``vdc-tui`` command in a
terminal), pointed at the benchmark's emulator with the common options. The texts below are
the wizard's visible contract for the benchmark: when a screen changes its wording, this is
the one place to follow it.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class WizardUi:
    """What is on each screen the benchmark waits for, and the keys it presses."""

    #: Every text of the mode screen, body and footer: when all show, the frame is complete.
    mode_texts: tuple[str, ...] = (
        "Choose how to connect",
        "(recommended)",
        "Bring your own app registration",
        "Manual",
    )
    automatic_key: str = "a"
    #: Shown with the code on the device-code screen.
    device_texts: tuple[str, ...] = ("Waiting for the customer to sign in",)
    #: The confirmation dialog after verification (plan "flex").
    connected_texts: tuple[str, ...] = ("Flex Plan Connected",)
    ok_key: str = "enter"
    #: The services step and the summary, and the keys that get through them.
    services_texts: tuple[str, ...] = ("Select the service you want to protect",)
    next_key: str = "n"
    summary_texts: tuple[str, ...] = ("Summary",)
    finish_key: str = "f"


UI = WizardUi()

_CODE_SEPARATORS = re.compile(r"[\s\-·•]")


def shows_code(screen: str, user_code: str) -> bool:
    """Whether ``user_code`` is on screen, however the wizard groups its characters.

    The code may be split into groups (``CWE5 QHL NM``, ``CWE5-QHLNM``) to be read aloud;
    separators are ignored, one line at a time.
    """
    wanted = _CODE_SEPARATORS.sub("", user_code).upper()
    return any(wanted in _CODE_SEPARATORS.sub("", line).upper() for line in screen.splitlines())


def wizard_argv(python: str, endpoints: Mapping[str, str], extra: Sequence[str] = ()) -> list[str]:
    """The command that starts the wizard against the given emulator endpoints.

    ``vdc-tui`` is what operators run; it sits next to the interpreter in the virtualenv.
    ``python -m vdc_tui`` is the same program when the script is not installed.
    """
    common = [
        "--authority-host",
        endpoints["authority_host"],
        "--graph-url",
        endpoints["graph_url"],
        "--ca-bundle",
        endpoints["ca_bundle"],
    ]
    script = Path(python).parent / "vdc-tui"
    program = [str(script)] if script.exists() else [python, "-m", "vdc_tui"]
    return [*program, *common, *extra]


_PASSPHRASE_DIR: tempfile.TemporaryDirectory[str] | None = None


def passphrase_file() -> str:
    """The benchmark's store passphrase, in an owner-only file (made once per run).

    Keys are encrypted at rest: every run gets it through ``VDC_TUI_KEY_PASSPHRASE_FILE``,
    as an operator who configured one does (otherwise the wizard would stop to ask for it at
    the first save and a headless command would refuse to save).
    """
    global _PASSPHRASE_DIR
    if _PASSPHRASE_DIR is None:
        _PASSPHRASE_DIR = tempfile.TemporaryDirectory(prefix="vdc-bench-keys-")
        path = Path(_PASSPHRASE_DIR.name) / "passphrase"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(secrets.token_urlsafe(24) + "\n")
    return str(Path(_PASSPHRASE_DIR.name) / "passphrase")


def wizard_env(home: str) -> dict[str, str]:
    """Environment of a wizard run: its own profile folder, the bench's store passphrase
    file, no colour overrides."""
    env = {"VDC_TUI_HOME": home, "TEXTUAL_ANIMATIONS": os.environ.get("TEXTUAL_ANIMATIONS", ""),
           "VDC_TUI_KEY_PASSPHRASE_FILE": passphrase_file()}
    if not env["TEXTUAL_ANIMATIONS"]:
        del env["TEXTUAL_ANIMATIONS"]
    return env


def python_executable() -> str:
    """The interpreter running the benchmark (the project's virtualenv under ``make``)."""
    return sys.executable
