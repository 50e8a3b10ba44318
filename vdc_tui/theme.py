"""The wizard's look: its default theme and how keys are named on screen."""

from __future__ import annotations

from textual.theme import Theme

#: How the footer and the help name keys that Textual would write in lower case.
KEY_NAMES = {"escape": "Esc", "enter": "Enter", "tab": "Tab", "backspace": "Backspace"}

#: The default theme: calm dark surfaces, the green of a healthy check as primary.
VDC_THEME = Theme(
    name="vdc",
    primary="#00B336",
    secondary="#3D8FD1",
    accent="#5CC8FF",
    warning="#F0B429",
    error="#F0524F",
    success="#3FBF5F",
    foreground="#E4E8EC",
    background="#0E1216",
    surface="#151B21",
    panel="#1D252D",
    dark=True,
)

__all__ = ["KEY_NAMES", "VDC_THEME"]
