"""Terminal checks: size, colours, SSH, the native clipboard and OSC 52 (the facts come
from :mod:`vdc_tui.connect.terminal`, shared with the wizard)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping

from vdc_tui.connect.doctor.report import DoctorCheck, check
from vdc_tui.connect.models import CheckStatus
from vdc_tui.connect.terminal import MIN_COLUMNS, MIN_LINES, has_native_clipboard, is_remote_session


def terminal_checks(env: Mapping[str, str]) -> list[DoctorCheck]:
    """Size, colours, SSH, clipboard and OSC 52 facts of the terminal."""
    checks: list[DoctorCheck] = []

    def add(id_: str, title: str, status: CheckStatus, detail: str, fix: str = "") -> None:
        checks.append(check(id_, "terminal", title, status, detail, fix))

    size = shutil.get_terminal_size(fallback=(0, 0))
    if size.columns == 0 or size.lines == 0:
        add("terminal.size", "Terminal size", CheckStatus.WARN,
            "Not a terminal (output is redirected); size unknown.",
            "Run the wizard in an interactive terminal.")
    elif size.columns < MIN_COLUMNS or size.lines < MIN_LINES:
        add("terminal.size", "Terminal size", CheckStatus.WARN,
            f"{size.columns}×{size.lines}: smaller than {MIN_COLUMNS}×{MIN_LINES}; "
            "the wizard stacks its panels and may hide the QR code.",
            "Enlarge the window or lower the font size.")
    else:
        add("terminal.size", "Terminal size", CheckStatus.PASS,
            f"{size.columns}×{size.lines}.")

    term = env.get("TERM", "")
    colorterm = env.get("COLORTERM", "").lower()
    if env.get("NO_COLOR"):
        add("terminal.colours", "Colours", CheckStatus.PASS,
            "NO_COLOR is set: the wizard runs in monochrome.")
    elif colorterm in ("truecolor", "24bit"):
        add("terminal.colours", "Colours", CheckStatus.PASS,
            f"24-bit colour (COLORTERM={colorterm}).")
    elif "256color" in term:
        add("terminal.colours", "Colours", CheckStatus.PASS, f"256 colours (TERM={term}).")
    elif term in ("", "dumb"):
        add("terminal.colours", "Colours", CheckStatus.WARN,
            f"TERM is {term or 'not set'}: no colours or cursor control.",
            "Set TERM (for example xterm-256color) or use a full terminal.")
    else:
        add("terminal.colours", "Colours", CheckStatus.PASS,
            f"16 colours (TERM={term}); themes are approximated.")

    ssh = is_remote_session(env)
    add("terminal.ssh", "SSH session", CheckStatus.PASS,
        "Yes: copying goes to your local terminal through OSC 52." if ssh
        else "No: a local session.")

    native = has_native_clipboard()
    if native and not ssh:
        detail = "A native clipboard exists; the wizard also copies there."
    elif native:
        detail = "A clipboard tool exists on this host, but over SSH only OSC 52 reaches you."
    else:
        detail = "No native clipboard tool; the wizard copies with OSC 52 only."
    add("terminal.clipboard", "Native clipboard", CheckStatus.PASS, detail)

    if env.get("TMUX"):
        setting = _tmux_set_clipboard()
        if setting in ("on", "external"):
            add("terminal.osc52", "OSC 52 copy", CheckStatus.PASS,
                f"Used for copying; tmux set-clipboard is {setting}.")
        else:
            add("terminal.osc52", "OSC 52 copy", CheckStatus.WARN,
                f"Used for copying, but tmux set-clipboard is "
                f"{setting or 'unknown'}: copies may not reach your clipboard.",
                "Run `tmux set -g set-clipboard on` (and add it to ~/.tmux.conf).")
    else:
        add("terminal.osc52", "OSC 52 copy", CheckStatus.PASS,
            "Used for copying; terminals without OSC 52 support "
            "(e.g. macOS Terminal) ignore it: select the code on screen instead.")
    return checks


def _tmux_set_clipboard() -> str | None:
    try:
        done = subprocess.run(
            ["tmux", "show-options", "-gv", "set-clipboard"],
            capture_output=True,
            text=True,
            timeout=2,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    value = done.stdout.strip()
    return value or None


__all__ = ["terminal_checks"]
