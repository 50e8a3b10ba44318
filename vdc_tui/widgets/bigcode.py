"""A device code in large letters, grouped so it can be read aloud."""

from __future__ import annotations

from textual.content import Content
from textual.geometry import Size
from textual.reactive import reactive
from textual.widget import Widget

#: A 3×3 font of box-drawing glyphs for what device codes contain (A–Z, 0–9). Letters that
#: look alike at this size differ on purpose: a slashed zero, a rounded S beside the 5.
_FONT: dict[str, tuple[str, str, str]] = {
    "A": ("┏━┓", "┣━┫", "╹ ╹"), "B": ("┏┓ ", "┣┻┓", "┗━┛"), "C": ("┏━╸", "┃  ", "┗━╸"),
    "D": ("┳━┓", "┃ ┃", "┻━┛"), "E": ("┏━╸", "┣━ ", "┗━╸"), "F": ("┏━╸", "┣━ ", "╹  "),
    "G": ("┏━╸", "┃╺┓", "┗━┛"), "H": ("╻ ╻", "┣━┫", "╹ ╹"), "I": ("╺┳╸", " ┃ ", "╺┻╸"),
    "J": ("  ╻", "  ┃", "┗━┛"), "K": ("╻ ╻", "┣┳┛", "╹┗╸"), "L": ("╻  ", "┃  ", "┗━╸"),
    "M": ("┏┳┓", "┃┃┃", "╹╹╹"), "N": ("┏┓╻", "┃┃┃", "╹┗┛"), "O": ("┏━┓", "┃ ┃", "┗━┛"),
    "P": ("┏━┓", "┣━┛", "╹  "), "Q": ("┏━┓", "┃ ┃", "┗━╋"), "R": ("┏━┓", "┣┳┛", "╹┗╸"),
    "S": ("╭━╸", "╰━╮", "╺━╯"), "T": ("╺┳╸", " ┃ ", " ╹ "), "U": ("╻ ╻", "┃ ┃", "┗━┛"),
    "V": ("╻ ╻", "╲ ╱", " ╹ "), "W": ("╻╻╻", "┃┃┃", "┗┻┛"), "X": ("╲ ╱", " ╳ ", "╱ ╲"),
    "Y": ("╻ ╻", "┗┳┛", " ╹ "), "Z": ("━━┓", " ╱ ", "┗━━"),
    "0": ("┏━┓", "┃╱┃", "┗━┛"), "1": ("╺┓ ", " ┃ ", "╺┻╸"), "2": ("╺━┓", "┏━┛", "┗━╸"),
    "3": ("╺━┓", " ━┫", "╺━┛"), "4": ("╻ ╻", "┗━┫", "  ╹"), "5": ("┏━╸", "┗━┓", "╺━┛"),
    "6": ("┏━╸", "┣━┓", "┗━┛"), "7": ("╺━┓", "  ┃", "  ╹"), "8": ("┏━┓", "┣━┫", "┗━┛"),
    "9": ("┏━┓", "┗━┫", "╺━┛"),
}


def group_code(code: str, size: int = 3) -> list[str]:
    """Split a code into groups of ``size`` characters (the last may be shorter)."""
    return [code[i : i + size] for i in range(0, len(code), size)]


def big_lines(code: str) -> tuple[str, str, str]:
    """The three lines of ``code`` in the large font, groups of three apart.

    A character the font lacks is shown as itself in the middle line.
    """
    lines = ["", "", ""]
    for g, group in enumerate(group_code(code.upper())):
        for c, char in enumerate(group):
            glyph = _FONT.get(char, ("   ", f" {char[:1]} ", "   "))
            gap = "   " if g and not c else (" " if c else "")
            for row in range(3):
                lines[row] += gap + glyph[row]
    return lines[0], lines[1], lines[2]


class BigCode(Widget):
    """A short code (a device code) in three-line letters, in groups of three."""

    DEFAULT_CSS = """
    BigCode {
        width: auto;
        height: 3;
        color: $text;
        text-style: bold;
    }
    """

    code: reactive[str] = reactive("", layout=True)
    """The code shown."""

    def render(self) -> Content:
        """The three lines."""
        if not self.code:
            return Content("")
        return Content("\n".join(big_lines(self.code)))

    def get_content_width(self, container: Size, viewport: Size) -> int:
        """As wide as the large letters."""
        return len(big_lines(self.code)[0]) if self.code else 0

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        """Three lines."""
        return 3
