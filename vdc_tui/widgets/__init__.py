"""Reusable widgets of the wizard (each with its ``DEFAULT_CSS`` next to the code)."""

from .checklist import Checklist, ChecklistRow
from .countdown import Countdown
from .notice import TooSmallNotice
from .qr import QRCode, qr_matrix
from .text import safe_markup, untrusted

__all__ = [
    "Checklist",
    "ChecklistRow",
    "Countdown",
    "QRCode",
    "TooSmallNotice",
    "qr_matrix",
    "safe_markup",
    "untrusted",
]
