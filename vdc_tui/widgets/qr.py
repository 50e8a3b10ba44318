"""A QR code drawn with half blocks in fixed black and white."""

from __future__ import annotations

import qrcode
from qrcode.constants import ERROR_CORRECT_M
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

_DARK = "#000000"
_LIGHT = "#ffffff"


def qr_matrix(data: str, *, border: int = 2) -> list[list[bool]]:
    """The module matrix of ``data`` (``True`` = dark), quiet zone included.

    Error correction M and the smallest version that fits: a screen has no stains to
    recover from, and a smaller code fits an 80×24 terminal.
    """
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=border)
    code.add_data(data)
    code.make(fit=True)
    return [list(row) for row in code.get_matrix()]


class QRCode(Widget):
    """A scannable QR code of a text (an address), two modules per terminal cell.

    Each cell is an upper half block whose foreground is the upper module and whose
    background is the lower one. The colours are explicit black and white, never theme
    colours, so the code scans under any theme, on light and dark terminals and under
    ``NO_COLOR`` (the monochrome filter keeps black and white).
    """

    DEFAULT_CSS = """
    QRCode {
        width: auto;
        height: auto;
    }
    """

    data: reactive[str] = reactive("", layout=True)
    """The text encoded in the code."""

    def __init__(
        self,
        data: str = "",
        *,
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's keyword
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        """Create a QR code.

        Args:
            data: The text to encode.
            name: The name of the widget.
            id: The ID of the widget in the DOM.
            classes: The CSS classes of the widget.
            disabled: Whether the widget is disabled or not.
        """
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._matrix: list[list[bool]] = []
        self.set_reactive(QRCode.data, data)
        self._matrix = qr_matrix(data) if data else []

    def watch_data(self, data: str) -> None:
        """Recompute the matrix when the text changes."""
        self._matrix = qr_matrix(data) if data else []
        self.refresh(layout=True)

    @property
    def matrix(self) -> list[list[bool]]:
        """The module matrix being drawn (quiet zone included)."""
        return self._matrix

    @property
    def cells(self) -> Size:
        """Columns and lines the code needs."""
        width = len(self._matrix[0]) if self._matrix else 0
        return Size(width, (len(self._matrix) + 1) // 2)

    def get_content_width(self, container: Size, viewport: Size) -> int:
        """One column per module."""
        return self.cells.width

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        """One line per two module rows."""
        return self.cells.height

    def render_line(self, y: int) -> Strip:
        """Pair module rows ``2y`` and ``2y+1`` into one line of half blocks."""
        rows = self._matrix
        if not rows or y * 2 >= len(rows):
            return Strip.blank(self.size.width)
        top = rows[y * 2]
        # An odd row count is padded with a light row: it extends the quiet zone.
        bottom = rows[y * 2 + 1] if y * 2 + 1 < len(rows) else [False] * len(top)
        segments = [
            Segment(
                "▀",
                Style(color=_DARK if up else _LIGHT, bgcolor=_DARK if down else _LIGHT),
            )
            for up, down in zip(top, bottom, strict=True)
        ]
        return Strip(segments, len(segments)).crop_extend(0, self.size.width, None)
