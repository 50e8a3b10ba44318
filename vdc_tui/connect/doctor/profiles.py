"""The profile folder check: exists (or can be made), private (0700) and writable."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from vdc_tui.connect.doctor.report import DoctorCheck, check
from vdc_tui.connect.models import CheckStatus


def profile_folder_check(home: Path) -> DoctorCheck:
    """Whether the profile folder exists, is private (0700) and writable."""
    connections = home / "connections"
    if not home.exists():
        parent = next((p for p in home.parents if p.exists()), None)
        if parent is not None and not os.access(parent, os.W_OK | os.X_OK):
            return check(
                "profiles",
                "profiles",
                "Profile folder",
                CheckStatus.FAIL,
                f"{home} does not exist and {parent} is not writable.",
                "Set VDC_TUI_HOME to a folder you can write.",
            )
        return check(
            "profiles",
            "profiles",
            "Profile folder",
            CheckStatus.PASS,
            f"{home} will be created (0700) with the first profile.",
        )
    if not home.is_dir():
        return check(
            "profiles",
            "profiles",
            "Profile folder",
            CheckStatus.FAIL,
            f"{home} exists but is not a folder.",
            "Move it away or set VDC_TUI_HOME to another folder.",
        )
    if not os.access(home, os.W_OK | os.X_OK):
        return check(
            "profiles",
            "profiles",
            "Profile folder",
            CheckStatus.FAIL,
            f"{home} is not writable by this user.",
            "Fix its owner or permissions, or set VDC_TUI_HOME elsewhere.",
        )
    if os.name == "posix":
        too_open = [
            p
            for p in (home, connections, *_children(connections))
            if p.is_dir() and stat.S_IMODE(p.stat().st_mode) & 0o077
        ]
        if too_open:
            shown = ", ".join(f"{p} ({stat.S_IMODE(p.stat().st_mode):04o})" for p in too_open[:3])
            return check(
                "profiles",
                "profiles",
                "Profile folder",
                CheckStatus.WARN,
                f"Readable by other users: {shown}; these folders hold private keys.",
                "chmod 700 " + " ".join(str(p) for p in too_open[:3]),
            )
    count = len(_children(connections))
    return check(
        "profiles",
        "profiles",
        "Profile folder",
        CheckStatus.PASS,
        f"{home} is private (0700) and writable; {count} connection(s) saved.",
    )


def _children(folder: Path) -> list[Path]:
    try:
        return [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
    except OSError:
        return []


__all__ = ["profile_folder_check"]
