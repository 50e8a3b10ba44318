"""Showing text the operator did not write (tenant names, server messages, file names)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from textual.content import Content

from vdc_tui.connect.errors import scrub


def untrusted(text: str | None, *, limit: int = 2000) -> Content:
    """Text from outside the program, ready to display literally.

    ``Content`` is never parsed as markup, and :func:`scrub` removes control characters so
    a tenant name cannot send escape sequences (OSC 52, title changes) to the terminal.
    """
    return Content(scrub(text or "", limit=limit))


def safe_markup(template: str, **values: str | None) -> Content:
    """Markup written by us with untrusted values substituted literally.

    ``template`` uses ``$name`` placeholders (``Content.from_markup``): the values are
    scrubbed and inserted as plain text, so ``[bold]`` in a tenant name stays ``[bold]``.
    """
    return Content.from_markup(template, **{k: scrub(v or "") for k, v in values.items()})


def _home() -> str | None:
    try:
        home = str(Path.home())
    except (RuntimeError, KeyError):  # no HOME and no password entry: nothing to shorten
        return None
    return home if len(home) > 1 else None


def home_relative(path: str | Path) -> str:
    """``~/…`` for a path in the home folder (shorter, and keeps the user name off screen)."""
    text = str(path)
    home = _home()
    if home is not None and (text == home or text.startswith(home + os.sep)):
        return "~" + text[len(home):]
    return text


def abbreviate_home(text: str) -> str:
    """Every path in ``text`` that starts with the home folder, written as ``~/…``."""
    home = _home()
    if home is None:
        return text
    return re.sub(re.escape(home) + r"(?![\w.-])", "~", text)
