"""Step 2b: automatic mode creates, consents and verifies the app registration."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Literal, TypeAlias

from textual import work
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Static

from vdc_tui.connect.errors import Cancelled, VdcError, scrub
from vdc_tui.connect.models import CheckEvent, CheckStatus, ConnectionResult
from vdc_tui.connect.steps import AUTOMATIC_STEPS
from vdc_tui.screens.base import WizardScreen
from vdc_tui.screens.dialogs import ConfirmDialog
from vdc_tui.screens.messages import Progress
from vdc_tui.widgets import Checklist, safe_markup

if TYPE_CHECKING:
    from vdc_tui.connect.microsoft.identity import DelegatedToken
    from vdc_tui.connect.service import ConnectionService

#: The result: a connection, ``"new_code"`` (sign in again), or ``None`` (back).
ProvisioningOutcome: TypeAlias = "ConnectionResult | Literal['new_code'] | None"


CANCEL_UNDOES = ("Cancelling deletes the app registration (and its service principal) that "
                 "this run created in the customer's tenant.")

#: Once the run has finished nothing is undone any more.
TOO_LATE_TO_UNDO = ("The connection has just been verified, so nothing is deleted now: the app "
                    "registration stays in the tenant (remove it in Entra ID if it is not "
                    "needed), and no profile will be written.")
#: The cancel question's title and yes button while the run can still be undone …
CANCEL_TITLE, CANCEL_YES = "Cancel the connection?", "Cancel and delete"
#: … and once it cannot: yes leaves for the mode choice, deleting nothing.
LEAVE_TITLE, LEAVE_YES = "Leave without saving?", "Leave, delete nothing"


class ProvisioningScreen(WizardScreen[ProvisioningOutcome]):
    """A live checklist while the app registration is made; cancellable."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="provisioning.cancel",
                tooltip="Stop and delete what this run created"),
        Binding("r", "new_code", "New code", id="provisioning.new_code",
                tooltip="Sign in again with another account"),
        Binding("b", "back", "Back", id="provisioning.back",
                tooltip="Go back to the choice of mode"),
    ]

    def __init__(
        self,
        service: ConnectionService,
        token: DelegatedToken,
        *,
        steps: Sequence[tuple[str, str]] = AUTOMATIC_STEPS,
    ) -> None:
        """Create the screen.

        Args:
            service: The connection service.
            token: The Global Admin's delegated token.
            steps: The checklist rows shown before events arrive.
        """
        super().__init__(id="provisioning")
        self._service = service
        self._token = token
        self._steps = tuple(steps)
        self._busy = False
        self._failed: VdcError | None = None
        self._result: ConnectionResult | None = None
        self._on_top = asyncio.Event()

    def compose_body(self) -> Iterable[Widget]:
        """Heading, checklist and a status line."""
        with Vertical(classes="body"):
            admin = self._token.admin
            yield Static(
                safe_markup("Setting up the connection as [b]$upn[/b]", upn=admin.upn),
                classes="step-heading",
            )
            yield Checklist(id="checklist")
            yield Static("", id="provisioning-status", markup=False)

    def on_mount(self) -> None:
        """Start at once."""
        self.query_one(Checklist).plan(self._steps)
        self._provision()

    @work(group="provision", exclusive=True, exit_on_error=False)
    async def _provision(self) -> None:
        self._busy = True
        self.refresh_bindings()
        self._status(Content("Working… Esc cancels (and deletes what this run created)."))
        try:
            result = await self._service.provision(self._token, self._forward_progress)
        except Cancelled:
            self._status(Content("Cancelled."))
            return
        except VdcError as error:
            # After the progress messages already queued, so the failing row is in place.
            self.call_later(self._fail, error)
            return
        finally:
            self._busy = False
            self.refresh_bindings()
        self._result = result
        if not self._on_top.is_set():
            # A question (quit? cancel?) is open over this screen. Going on now would pull
            # the screen away under it and send the answer's key to the next step; say that
            # it is too late to undo, and go on once it is answered with "stay".
            for screen in self.app.screen_stack:
                if isinstance(screen, ConfirmDialog) and screen.id == "cancel-confirm":
                    screen.set_message(TOO_LATE_TO_UNDO, title=LEAVE_TITLE, yes=LEAVE_YES)
                elif isinstance(screen, ConfirmDialog):
                    screen.set_message(TOO_LATE_TO_UNDO)  # "Quit (y)" still says what it does
            await self._on_top.wait()
        self.dismiss(result)

    def on_screen_resume(self) -> None:
        """This screen is on top again (a dialog above it was answered)."""
        self._on_top.set()

    def on_screen_suspend(self) -> None:
        """A dialog opened above this screen."""
        self._on_top.clear()

    def _forward_progress(self, event: CheckEvent) -> None:
        # The service may report from a worker thread: hand the event to the screen.
        self.post_message(Progress(event))

    def on_progress(self, message: Progress) -> None:
        """Show one event."""
        self.query_one(Checklist).report(message.event)

    def _fail(self, error: VdcError) -> None:
        self._failed = error
        checklist = self.query_one(Checklist)
        # The failing step normally arrives as an event; make sure it is visible anyway.
        if not any(e.status is CheckStatus.FAIL for e in checklist.events.values()):
            checklist.report(
                CheckEvent(error.details.get("step", "error"), "Connection failed",
                           CheckStatus.FAIL, scrub(error.message), scrub(error.remediation),
                           error.code)
            )
        next_step = ("Press r to sign in again with a Global Administrator, or b to go back."
                     if error.code == "not_global_admin" else "Press b to go back.")
        self._status(
            Content.assemble((scrub(error.message), "bold $error"), "\n",
                             (scrub(error.remediation), "italic"), "\n", (next_step, "bold"))
        )

    def _status(self, content: Content) -> None:
        self.query_one("#provisioning-status", Static).update(content)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Cancel while running; back and new code once stopped."""
        if action == "cancel":
            return self._busy
        if action == "back":
            return not self._busy
        if action == "new_code":
            return not self._busy and self._failed is not None and (
                self._failed.code == "not_global_admin"
            )
        return True

    def action_cancel(self) -> None:
        """Ask, then cancel and undo."""
        self.app.push_screen(
            ConfirmDialog(CANCEL_TITLE, CANCEL_UNDOES, yes=CANCEL_YES, no="Keep going",
                          id="cancel-confirm"),
            self._after_cancel_question,
        )

    def _after_cancel_question(self, yes: bool | None) -> None:
        if yes:
            self._cancel_and_leave()

    @work(group="cancel", exit_on_error=False)
    async def _cancel_and_leave(self) -> None:
        if self._result is None:
            self._status(Content("Cancelling and deleting what this run created…"))
        await self.cancel_work()
        self.dismiss(None)

    def action_back(self) -> None:
        """Back to the mode choice after a failure."""
        self.dismiss(None)

    def action_new_code(self) -> None:
        """Sign in again (after not_global_admin)."""
        self.dismiss("new_code")

    def quit_warning(self) -> str | None:
        """While running, quitting undoes this run's work; once verified, it cannot."""
        if self._result is not None:
            return TOO_LATE_TO_UNDO
        return CANCEL_UNDOES if self._busy else None

    async def cancel_work(self) -> None:
        """Cancel provisioning and wait until the service has rolled back."""
        for worker in list(self.workers):
            if worker.node is self and worker.group == "provision" and not worker.is_finished:
                worker.cancel()
                try:
                    await worker.wait()
                except Exception:  # cancelled or failed: both are final
                    pass
