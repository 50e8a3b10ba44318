"""Facts of the operator's terminal session, one home for the wizard and ``doctor``: the
smallest terminal the wizard lays out well, whether the session is remote (SSH), and
whether this host has a native clipboard.

No Textual here: the screens use it through :mod:`vdc_tui.screens.desktop`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

#: Smallest terminal the wizard lays out well (below it only the "too small" notice shows;
#: ``doctor`` warns).
MIN_COLUMNS, MIN_LINES = 80, 24


def is_remote_session(environ: Mapping[str, str] | None = None) -> bool:
    """True over SSH: a local clipboard or browser would be on the wrong machine."""
    env = os.environ if environ is None else environ
    return bool(env.get("SSH_CONNECTION") or env.get("SSH_TTY") or env.get("SSH_CLIENT"))


def has_native_clipboard() -> bool:
    """This host has a clipboard tool pyperclip can use (whatever the session)."""
    try:
        import pyperclip

        # is_available() is wrong before the first call; determine_clipboard() is not.
        return bool(pyperclip.determine_clipboard()[0])
    except Exception:  # pyperclip probes the system: any failure means "none"
        return False


def native_copy(text: str, environ: Mapping[str, str] | None = None) -> bool:
    """Copy with the local clipboard tool when this is a local session that has one; never
    raises (a clipboard must never break the wizard)."""
    if is_remote_session(environ) or not has_native_clipboard():
        return False
    try:
        import pyperclip

        pyperclip.copy(text)
    except Exception:  # a clipboard must never break the wizard
        return False
    return True


__all__ = [
    "MIN_COLUMNS",
    "MIN_LINES",
    "has_native_clipboard",
    "is_remote_session",
    "native_copy",
]
