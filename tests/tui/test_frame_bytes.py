"""What the apps write for a frame: repeated styles joined (fewer bytes, the same screen),
and the dashboard's cells drawn exactly as Rich ``Text`` cells were."""

from __future__ import annotations

from typing import Any

import pyte
import pytest
from rich.console import Console
from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.renderables.styled import Styled

from vdc_tui.base_app import join_repeated_styles
from vdc_tui.screens.fleet_rows import Cell

RED = "\x1b[1;38;2;240;82;79m"
GREY = "\x1b[38;2;138;148;158m"
RESET = "\x1b[0m"


def _screen(data: str) -> list[tuple[str, tuple[object, ...]]]:
    """Every cell of a small terminal after ``data``: its character and attributes."""
    screen = pyte.Screen(40, 3)
    pyte.Stream(screen).feed(data)
    return [(c.data, (c.fg, c.bg, c.bold, c.italics, c.reverse))
            for line in range(3) for c in (screen.buffer[line][x] for x in range(40))]


@pytest.mark.parametrize("frame", [
    f"\x1b[1;1H{RED}ab{RESET}{RED}cd{RESET}{RED}ef{RESET}{GREY}x{RESET}",
    f"\x1b[2;3H{GREY} a {RESET}{GREY}b{RESET}plain{GREY}c{RESET}{GREY}d{RESET}",
    # Two styles in a row: the second alone after a reset is not the same state.
    f"\x1b[1;1H\x1b[1m{GREY}ab{RESET}{GREY}cd{RESET}",
    f"{RED}x{RESET}\x1b[3;1H{RED}y{RESET}{RED}z{RESET}",
])
def test_joined_styles_draw_the_same_screen(frame: str) -> None:
    assert _screen(join_repeated_styles(frame)) == _screen(frame)


def test_repeated_styles_are_joined_and_others_kept() -> None:
    frame = f"\x1b[1;1H{RED}ab{RESET}{RED}cd{RESET}{RED}ef{RESET}{GREY}x{RESET}"
    assert join_repeated_styles(frame) == f"\x1b[1;1H{RED}abcdef{RESET}{GREY}x{RESET}"
    kept = f"\x1b[1;1H\x1b[1m{GREY}ab{RESET}{GREY}cd{RESET}"
    assert join_repeated_styles(kept) == kept


def _lines(cell: Any, width: int) -> list[list[tuple[str, Style | None]]]:
    console = Console(width=100, color_system="truecolor", force_terminal=True)
    options = console.options.update_dimensions(width, 1).update(no_wrap=True)
    # As DataTable draws a cell: padded, between its base (with mouse meta) and CSS styles.
    base = Style.parse("#e4e8ec on #181c20") + Style.from_meta({"row": 1, "column": 2})
    lines = console.render_lines(Styled(Padding(cell, (0, 1)), pre_style=base,
                                        post_style=Style(bold=True)), options)
    return [[(s.text, s.style) for s in Segment.simplify(line)] for line in lines]


@pytest.mark.parametrize("plain", ["✘ broken", "Adventure Works 11", "", "-", "12",
                                   "日本語のテナント名", "x" * 40])
@pytest.mark.parametrize("style", ["", "bold #F0524F", "italic #5CC8FF"])
@pytest.mark.parametrize("right", [False, True])
def test_a_cell_draws_as_a_rich_text_does(plain: str, style: str, right: bool) -> None:
    for width in (1, 4, 7, 15, 27):
        text = Text(plain, style=style, justify="right" if right else "default")
        assert _lines(Cell(plain, style, right=right), width) == _lines(text, width)
