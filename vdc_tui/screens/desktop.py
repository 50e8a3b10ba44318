"""Reaching the operator's desktop: clipboard and browser, only where that makes sense."""

from __future__ import annotations

import os
import sys
import webbrowser
from collections.abc import Mapping

from textual.app import App

from vdc_tui.connect.terminal import is_remote_session, native_copy


def can_open_browser(environ: Mapping[str, str] | None = None) -> bool:
    """Whether opening a browser here would reach the operator.

    Not over SSH, and on Linux only with a graphical session (``DISPLAY`` or
    ``WAYLAND_DISPLAY``); otherwise a text browser might take over the terminal.
    """
    env = os.environ if environ is None else environ
    if is_remote_session(env):
        return False
    if sys.platform.startswith("linux"):
        return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))
    return True


def open_in_browser(url: str) -> bool:
    """Open ``url`` in the default browser where :func:`can_open_browser`; never raises."""
    if not can_open_browser():
        return False
    try:
        return webbrowser.open(url, new=2)
    except webbrowser.Error:
        return False


def copy_text(app: App[object], text: str) -> str:
    """Copy ``text`` by every means that can work here; returns what was done, for a toast.

    OSC 52 (``App.copy_to_clipboard``) always: it reaches the operator's own terminal even
    over SSH, but nobody learns whether the terminal accepted it, so the text stays on
    screen as well.
    """
    app.copy_to_clipboard(text)
    if native_copy(text):
        return "Copied to the clipboard."
    return "Sent to the terminal's clipboard (OSC 52). If pasting fails, select the code on screen."
