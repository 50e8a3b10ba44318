"""Step 4: Advanced settings, the services to protect (only those the tenant has)."""

from __future__ import annotations

from collections.abc import Iterable

from textual import on
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Static

from vdc_tui.connect.errors import scrub
from vdc_tui.connect.models import (
    SERVICE_LABELS,
    SERVICE_NAMES,
    Availability,
    ConnectionResult,
    ServiceAvailability,
)
from vdc_tui.screens.base import WizardScreen

AVAILABILITY_TEXT: dict[Availability, tuple[str, str]] = {
    Availability.AVAILABLE: ("available in this tenant", "$success"),
    Availability.NOT_LICENSED: ("not licensed in this tenant", "$warning"),
    Availability.UNKNOWN: ("could not be checked", "$error"),
}


def availability_content(entry: ServiceAvailability | None) -> Content:
    """The line under a service: what the tenant has, and why."""
    if entry is None:
        return Content.assemble(("could not be checked", "$error"), ("  no answer", "dim"))
    text, style = AVAILABILITY_TEXT[entry.availability]
    reason = f"  {scrub(entry.reason, limit=200)}" if entry.reason else ""
    return Content.assemble((text, style), (reason, "dim"))


class ServiceCheckbox(Checkbox):
    """A checkbox whose mark is a tick or nothing, so its state reads without colour.

    Space is its key, and the footer lists it while a service that can change has focus
    (Enter toggles too, as in any checkbox)."""

    BINDINGS = [
        Binding("space", "toggle_button", "Select", id="services.toggle", key_display="Space",
                tooltip="Select or clear the service under the cursor"),
    ]

    @property  # type: ignore[override,unused-ignore]
    def BUTTON_INNER(self) -> str:  # type: ignore[override]
        """The mark inside the box."""
        return "✔" if self.value else " "


class ServicesScreen(WizardScreen[tuple[str, ...]]):
    """Select the services to protect; returns the selected names (Exchange always)."""

    BINDINGS = [
        Binding("n", "next", "Next", id="services.next", tooltip="Continue to the summary"),
    ]

    def __init__(self, result: ConnectionResult, selected: Iterable[str]) -> None:
        """Create the screen.

        Args:
            result: The connection, with what the tenant has.
            selected: Services ticked at first (unavailable ones are left out).
        """
        super().__init__(id="services")
        self._result = result
        self._selected = set(selected) | {"exchange"}

    def compose_body(self) -> Iterable[Widget]:
        """One checkbox per service with what the tenant has."""
        # Scrolls rather than hiding Next when the reasons do not fit a small terminal.
        with VerticalScroll(classes="body"):
            yield Static("Advanced settings", classes="step-heading", markup=False)
            yield Static("Select the service you want to protect", markup=False)
            for name in SERVICE_NAMES:
                entry = self._result.availability(name)
                selectable = entry is not None and entry.selectable
                if name == "exchange":
                    # Always protected: ticked and greyed out, as in the product.
                    box = ServiceCheckbox(SERVICE_LABELS[name], True, id=f"svc-{name}",
                                          disabled=True, compact=True)
                else:
                    box = ServiceCheckbox(SERVICE_LABELS[name],
                                          selectable and name in self._selected,
                                          id=f"svc-{name}", disabled=not selectable,
                                          compact=True)
                with Vertical(classes="service"):
                    yield box
                    yield Static(availability_content(entry), classes="service-why")
            yield Static(
                "Exchange Online is always protected. A service the tenant does not have "
                "cannot be selected.",
                classes="dim", markup=False,
            )
            with Horizontal(classes="buttons"):
                yield Button("Next (n)", id="next", variant="primary")

    def on_mount(self) -> None:
        """Focus the first service that can be changed, else Next."""
        for box in self.query(Checkbox):
            if not box.disabled:
                box.focus()
                return
        self.query_one("#next", Button).focus()

    @property
    def selected(self) -> tuple[str, ...]:
        """Selected services in catalog order; Exchange Online always."""
        return tuple(
            name for name in SERVICE_NAMES
            if name == "exchange" or self.query_one(f"#svc-{name}", Checkbox).value
        )

    @on(Button.Pressed, "#next")
    def action_next(self) -> None:
        """Go on with the selection."""
        self.dismiss(self.selected)

    def quit_warning(self) -> str | None:
        """The connection exists but no profile has been written yet."""
        created = (" The app registration created in the tenant stays; remove it in Entra ID "
                   "if it is not needed." if self._result.created_app else "")
        return "The connection is verified but not saved: no profile will be written." + created
