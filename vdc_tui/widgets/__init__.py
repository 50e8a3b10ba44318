"""Reusable widgets of the wizard (each with its ``DEFAULT_CSS`` next to the code).

The names below are imported on first use (PEP 562), so the first screen does not pay for
the QR code library or widgets it does not show.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vdc_tui.lazy_exports import lazy_getattr

if TYPE_CHECKING:
    from vdc_tui.widgets.checklist import Checklist, ChecklistRow
    from vdc_tui.widgets.countdown import Countdown
    from vdc_tui.widgets.notice import TooSmallNotice
    from vdc_tui.widgets.qr import QRCode, qr_matrix
    from vdc_tui.widgets.text import abbreviate_home, home_relative, safe_markup, untrusted
    from vdc_tui.widgets.titlebar import TitleBar

#: Exported name → the module (in this package) that defines it.
_HOMES: dict[str, str] = {
    "Checklist": "checklist",
    "ChecklistRow": "checklist",
    "Countdown": "countdown",
    "QRCode": "qr",
    "TitleBar": "titlebar",
    "TooSmallNotice": "notice",
    "qr_matrix": "qr",
    "abbreviate_home": "text",
    "home_relative": "text",
    "safe_markup": "text",
    "untrusted": "text",
}


#: Imports an exported widget the first time it is asked for.
__getattr__ = lazy_getattr(__name__, _HOMES)


__all__ = [
    "Checklist",
    "ChecklistRow",
    "Countdown",
    "QRCode",
    "TitleBar",
    "TooSmallNotice",
    "abbreviate_home",
    "home_relative",
    "qr_matrix",
    "safe_markup",
    "untrusted",
]
