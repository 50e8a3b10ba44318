"""A live checklist: one row per step, fed by the service layer's ``CheckEvent``s."""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.widgets import Static

from vdc_tui.connect.errors import scrub
from vdc_tui.connect.models import CheckEvent, CheckStatus
from vdc_tui.widgets.text import abbreviate_home

#: Icon and style per status. The icons differ in shape, not only in colour, so the list
#: reads the same under NO_COLOR.
STATUS_ICONS: dict[CheckStatus, tuple[str, str]] = {
    CheckStatus.PENDING: ("·", "dim"),
    CheckStatus.RUNNING: ("…", "$accent bold"),
    CheckStatus.PASS: ("✔", "$success bold"),
    CheckStatus.WARN: ("!", "$warning bold"),
    CheckStatus.FAIL: ("✘", "$error bold"),
    CheckStatus.SKIPPED: ("–", "dim"),
}


def event_icon(event: CheckEvent) -> Content:
    """The status icon of a row."""
    icon, style = STATUS_ICONS[event.status]
    return Content.styled(icon, style)


def event_content(event: CheckEvent) -> Content:
    """One checklist row's text: title, detail, and the remediation under a warn or fail.

    All text of the event may quote the server, so it is scrubbed and never parsed as
    markup; paths in the home folder are shortened to ``~/…``.
    """
    parts: list[Content | tuple[str, str] | str] = [
        (scrub(event.title), "bold" if event.status is CheckStatus.RUNNING else ""),
    ]
    if event.detail:
        parts += [("  " + abbreviate_home(scrub(event.detail)), "dim")]
    if event.remediation and event.status in (CheckStatus.FAIL, CheckStatus.WARN):
        parts += ["\n", ("→ " + abbreviate_home(scrub(event.remediation)), "italic")]
    return Content.assemble(*parts)


class ChecklistRow(Horizontal):
    """One step of a :class:`Checklist`: the icon, and the text wrapping beside it."""

    DEFAULT_CSS = """
    ChecklistRow {
        height: auto;
        width: 1fr;
    }
    ChecklistRow > .checklist-icon {
        width: 2;
    }
    ChecklistRow > .checklist-text {
        width: 1fr;
    }
    ChecklistRow.-fail {
        background: $error 10%;
    }
    ChecklistRow.-warn {
        background: $warning 10%;
    }
    """

    def __init__(self, event: CheckEvent) -> None:
        super().__init__(classes=f"-{event.status.value}")
        self.event = event
        self._icon = Static(event_icon(event), classes="checklist-icon")
        self._text = Static(event_content(event), classes="checklist-text")

    def compose(self) -> ComposeResult:
        """Icon and text, in two columns (a long detail wraps under the text)."""
        yield self._icon
        yield self._text

    def show(self, event: CheckEvent) -> None:
        """Show a newer state of the step."""
        self.remove_class(f"-{self.event.status.value}")
        self.event = event
        self.add_class(f"-{event.status.value}")
        self._icon.update(event_icon(event))
        self._text.update(event_content(event))


class Checklist(VerticalScroll, can_focus=True):
    """Rows that move from pending to running to a result as events arrive.

    Rows can be announced up front (:meth:`plan`) so the operator sees the whole list;
    an event for an unknown step appends a row. The newest change is scrolled into view.
    """

    DEFAULT_CSS = """
    Checklist {
        height: auto;
        max-height: 1fr;
        border: round $primary 50%;
        padding: 0 1;
    }
    Checklist:focus {
        border: round $primary;
    }
    """

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's keyword
        classes: str | None = None,
    ) -> None:
        """Create an empty checklist.

        Args:
            name: The name of the widget.
            id: The ID of the widget in the DOM.
            classes: The CSS classes of the widget.
        """
        super().__init__(name=name, id=id, classes=classes)
        self._rows: dict[str, ChecklistRow] = {}

    def plan(self, steps: Iterable[tuple[str, str]]) -> None:
        """Show ``(step, title)`` rows as pending, replacing what was there."""
        self.clear()
        for step, title in steps:
            self.report(CheckEvent(step, title, CheckStatus.PENDING))

    def clear(self) -> None:
        """Remove every row."""
        for row in self._rows.values():
            row.remove()
        self._rows.clear()

    def report(self, event: CheckEvent) -> None:
        """Show one event: update its row, or add a row for a new step."""
        row = self._rows.get(event.step)
        if row is None:
            row = ChecklistRow(event)
            self._rows[event.step] = row
            self.mount(row)
        else:
            row.show(event)
        if event.status is not CheckStatus.PENDING:
            self.call_after_refresh(self.scroll_to_widget, row, animate=False)

    @property
    def events(self) -> dict[str, CheckEvent]:
        """The latest event of every step, in display order."""
        return {step: row.event for step, row in self._rows.items()}

    def status_of(self, step: str) -> CheckStatus | None:
        """The current status of a step, if it is shown."""
        row = self._rows.get(step)
        return row.event.status if row else None
