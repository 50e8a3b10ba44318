"""What a row of the fleet dashboard shows: its columns, cells, order and filter.

Kept apart from the screen (:mod:`.dashboard`) so that the detail screen and the tests use
the same words and colours without the screen's key handling and action flows.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style

from vdc_tui.connect.errors import scrub

if TYPE_CHECKING:
    from vdc_tui.connect.fleet.health import TenantHealth
    from vdc_tui.connect.store.profiles import ProfileEntry


#: Colours of the verdicts (the wizard theme's success / warning / error).
HEALTH_STYLE = {
    "broken": ("✘ broken", "bold #F0524F"),
    "warning": ("! warning", "bold #F0B429"),
    "healthy": ("✔ healthy", "#3FBF5F"),
    "checking": ("… checking", "italic #5CC8FF"),
    "unchecked": ("· unchecked", "#8A949E"),
    "unreachable": ("✘ no answer", "bold #F0524F"),
}
_RANK = {"broken": 0, "warning": 1, "unchecked": 2, "healthy": 3}

COLUMNS = (
    ("health", "Health"),
    ("tenant", "Tenant"),
    ("domain", "Domain"),
    ("mode", "Mode"),
    ("days", "Days"),
    ("missing", "Miss"),
    ("checked", "Checked"),
)
#: Column widths at 80 columns; tenant and domain share what a wider terminal adds. At 80
#: the tenant's name gets more than its domain: a domain's first characters tell tenants
#: apart (the rest is mostly ``.onmicrosoft.com``), a name cut at 15 often did not.
BASE_WIDTHS = {"health": 11, "tenant": 19, "domain": 11, "mode": 6, "days": 4, "missing": 4,
               "checked": 7}
#: Columns of the table's own frame: body padding, cell padding, scroll bar.
FRAME_WIDTH = 2 + 2 * len(COLUMNS) + 2


def age(checked_at: str, now: datetime) -> str:
    """How long ago a check ended: ``12s``, ``5m``, ``3h``, ``2d`` (``never`` without one)."""
    if not checked_at:
        return "never"
    try:
        when = datetime.fromisoformat(checked_at)
    except ValueError:
        return "?"
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = max(0, int((now - when).total_seconds()))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def state_of(result: TenantHealth | None) -> str:
    """The health column's key for a result (``unchecked`` without one)."""
    if result is None:
        return "unchecked"
    return "unreachable" if result.unreachable else result.health


def sort_key(entry: ProfileEntry, result: TenantHealth | None) -> tuple[int, int, int, str]:
    """Worst first: broken (unreachable first), warning, never checked, healthy."""
    label = (entry.name or entry.default_domain or entry.tenant_id).casefold()
    if result is None:
        return (_RANK["unchecked"], 1, 10**6, label)
    days = result.days_left if result.days_left is not None else 10**6
    return (_RANK.get(result.health, 2), 0 if result.unreachable else 1, days, label)


_PLAIN = Style()


class Cell:
    """One table cell: a line of plain text in one style, cropped or padded to the column.

    Drawn exactly as a Rich ``Text`` in that style (``no_wrap``: cropped, padded) is, at
    about half the cost: a ``Text`` is wrapped, divided and justified for every cell the
    table draws. ``plain`` is the text, as on a ``Text``.
    """

    __slots__ = ("plain", "style", "right")

    _styles: ClassVar[dict[str, Style]] = {}

    def __init__(self, plain: str, style: str = "", *, right: bool = False) -> None:
        self.plain = plain
        self.style = style
        self.right = right

    def __rich_console__(self, console: Any, options: Any) -> Iterable[Segment]:
        width = options.max_width
        length = cell_len(self.plain)
        style = self._styles.get(self.style)
        if style is None:
            style = self._styles[self.style] = Style.parse(self.style) if self.style else _PLAIN
        if length >= width:
            yield Segment(set_cell_size(self.plain, width) if length > width else self.plain,
                          style)
            return
        if self.right:  # padded inside the text's style, as a right-justified Text is
            yield Segment(" " * (width - length) + self.plain, style)
        else:  # and outside it, as a Text is on the left
            if self.plain:
                yield Segment(self.plain, style)
            yield Segment(" " * (width - length), _PLAIN)

    def __rich_measure__(self, console: Any, options: Any) -> Any:
        from rich.measure import Measurement

        length = cell_len(self.plain)
        return Measurement(length, length)

    def __repr__(self) -> str:
        return f"Cell({self.plain!r}, {self.style!r})"


def row_cells(entry: ProfileEntry, result: TenantHealth | None, now: datetime,
              *, checking: bool = False) -> list[Cell]:
    """The cells of one row (untrusted text scrubbed, never parsed as markup)."""
    label, style = HEALTH_STYLE["checking" if checking else state_of(result)]
    mode = entry.mode
    days = "-" if result is None or result.days_left is None else str(result.days_left)
    days_style = ""
    if result is not None and result.days_left is not None and result.days_left < 30:
        days_style = "bold #F0524F" if result.days_left < 0 else "bold #F0B429"
    missing = "-" if result is None else str(len(result.missing))
    return [
        Cell(label, style),
        Cell(scrub(entry.name or entry.tenant_id, limit=60)),
        Cell(scrub(entry.default_domain or "-", limit=60)),
        Cell("manual" if mode == "manual" else "auto"),
        Cell(days, days_style, right=True),
        Cell(missing, "bold #F0524F" if missing not in ("-", "0") else "", right=True),
        Cell(age(result.checked_at, now) if result else "never", "#8A949E"),
    ]


def matches(entry: ProfileEntry, result: TenantHealth | None, needle: str) -> bool:
    """Does the filter text occur in the tenant's name, domain, id or health?"""
    if not needle:
        return True
    haystack = " ".join([entry.name or "", entry.default_domain or "", entry.tenant_id,
                         state_of(result)]).casefold()
    return all(word in haystack for word in needle.casefold().split())


__all__ = ["BASE_WIDTHS", "COLUMNS", "FRAME_WIDTH", "HEALTH_STYLE", "Cell", "age", "matches",
           "row_cells", "sort_key", "state_of"]
