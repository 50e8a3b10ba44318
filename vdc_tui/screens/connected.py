"""Step 3: the confirmation dialog ("Flex Plan Connected")."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from vdc_tui.connect.models import ConnectionResult
from vdc_tui.widgets import safe_markup


def connected_by(result: ConnectionResult) -> Content:
    """Who or what made the connection, for people."""
    if result.mode == "automatic":
        return safe_markup("Authorized by [b]$who[/b] (Global Administrator)",
                           who=result.signed_in_as)
    return safe_markup("App [b]$app[/b] checked for [b]$who[/b]", app=result.app_id,
                       who=result.signed_in_as)


class ConnectedDialog(ModalScreen[None]):
    """The tenant is connected: its name and who connected it; Ok goes on."""

    BINDINGS = [
        Binding("enter,escape,o", "dismiss(None)", "Ok", id="connected.ok",
                tooltip="Continue to the services"),
    ]

    def __init__(self, title: str, result: ConnectionResult) -> None:
        """Create the dialog.

        Args:
            title: "Flex Plan Connected" or "Connected" (by plan).
            result: The connection.
        """
        super().__init__(id="connected")
        self._title = title
        self._result = result

    def compose(self) -> ComposeResult:
        """Title, tenant, account, Ok."""
        tenant = self._result.tenant
        with Vertical(classes="dialog connected"):
            yield Static(Content.assemble(("✔ ", "$success"), self._title),
                         classes="dialog-title")
            yield Static(
                safe_markup("Tenant [b]$name[/b]\n[dim]$domain · $id[/dim]",
                            name=tenant.name or tenant.default_domain or tenant.id,
                            domain=tenant.default_domain or "", id=tenant.id),
                classes="dialog-body",
            )
            yield Static(connected_by(self._result), classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Ok", id="ok", variant="success")

    def on_mount(self) -> None:
        """Ok has focus."""
        self.query_one("#ok", Button).focus()

    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        self.dismiss(None)
