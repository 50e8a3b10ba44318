"""The dashboard's actions on a saved connection: renew, repair and offboard.

- :class:`ActionScreen` runs one :class:`~vdc_tui.connect.service.ConnectionService`
  coroutine with the wizard's live checklist; Esc (or Ctrl+C) cancels it after a question,
  which cancels the coroutine exactly as Ctrl+C cancels the command line's (the service
  layer undoes or journals what it started).
- :class:`AdminSignInScreen` is the wizard's device-code screen (code shown large, copied,
  QR code, countdown) for the Global Administrator that repair and offboarding need.
- :class:`OffboardDialog` names the tenant and exactly what offboarding deletes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from textual import work
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Static

from vdc_tui.connect.errors import Cancelled, VdcError, scrub
from vdc_tui.connect.lifecycle.offboard import RESTORE_DAYS, deletes_app
from vdc_tui.connect.models import CheckEvent, CheckStatus, ProgressCallback
from vdc_tui.connect.store.profile import Profile
from vdc_tui.screens.base import WizardScreen
from vdc_tui.screens.device_code import DeviceCodeScreen
from vdc_tui.screens.dialogs import ConfirmDialog
from vdc_tui.screens.messages import Progress
from vdc_tui.widgets import Checklist
from vdc_tui.widgets.text import home_relative


def error_content(error: VdcError) -> Content:
    """An error as the dashboard shows it: message, code, remediation (plain text)."""
    parts: list[tuple[str, str] | str] = [
        ("✘ " + scrub(error.message, limit=600), "bold $error"),
        (f"  [{scrub(error.code, limit=60)}]", "$text-muted"),
    ]
    if error.remediation:
        parts += ["\n", (scrub(error.remediation, limit=600), "italic")]
    return Content.assemble(*parts)


class ActionScreen(WizardScreen[Any]):
    """A live checklist while one action runs; returns its outcome (``None``: it did not
    finish). Esc or Ctrl+C asks, then cancels; once finished they go back."""

    BINDINGS = [
        Binding("escape", "leave", "Cancel", id="action.cancel",
                tooltip="Cancel the action (asks first)"),
        Binding("ctrl+c", "leave", "Cancel", id="action.cancel_alt", show=False,
                tooltip="Cancel the action (asks first)"),
        Binding("enter,escape", "done", "Back", id="action.done",
                tooltip="Back to the dashboard"),
    ]

    def __init__(
        self,
        heading: str,
        steps: Mapping[str, str],
        run: Callable[[ProgressCallback], Awaitable[Any]],
        *,
        describe: Callable[[Any], str],
        cancel_note: str,
    ) -> None:
        """Create the screen.

        Args:
            heading: What is being done to which tenant (plain text).
            steps: The checklist's rows (step id → title), shown before events arrive.
            run: Starts the action with a progress callback.
            describe: One sentence about the outcome.
            cancel_note: What cancelling does (the question's text).
        """
        super().__init__(id="action")
        self._heading = heading
        self._steps = dict(steps)
        self._run = run
        self._describe = describe
        self._cancel_note = cancel_note
        self._busy = True  # from the start: on_mount starts the action
        self.outcome: Any = None
        self.error: VdcError | None = None

    def compose_body(self) -> Iterable[Widget]:
        """Heading, checklist and a status line."""
        with Vertical(classes="body"):
            yield Static(self._heading, classes="step-heading", markup=False)
            yield Checklist(id="checklist")
            yield Static("", id="action-status", markup=False)

    def on_mount(self) -> None:
        """Start at once."""
        self.query_one(Checklist).plan(self._steps.items())
        self._work()

    @work(group="action", exclusive=True, exit_on_error=False)
    async def _work(self) -> None:
        self._busy = True
        self.refresh_bindings()
        self._status(Content("Working… Esc cancels."))
        try:
            outcome = await self._run(self._forward_progress)
        except Cancelled:
            self._status(Content("Cancelled."))
            return
        except VdcError as error:
            self.error = error
            self.call_later(self._fail, error)
            return
        except Exception as exc:  # a bug: say so instead of leaving a silent screen
            bug = VdcError("internal_error", f"The action stopped: {type(exc).__name__}: {exc}",
                           "Run the same command on the command line with --log FILE and "
                           "report it.")
            self.error = bug
            self.call_later(self._fail, bug)
            return
        finally:
            self._busy = False
            self.refresh_bindings()
        self.outcome = outcome
        self._status(Content.assemble(("✔ " + scrub(self._describe(outcome), limit=600),
                                       "bold $success"), "\n",
                                      ("Press Enter to go back to the dashboard.", "dim")))

    def _forward_progress(self, event: CheckEvent) -> None:
        # The service may report from a worker thread: hand the event to the screen.
        self.post_message(Progress(event))

    def on_progress(self, message: Progress) -> None:
        """Show one event."""
        self.query_one(Checklist).report(message.event)

    def _fail(self, error: VdcError) -> None:
        checklist = self.query_one(Checklist)
        if not any(e.status is CheckStatus.FAIL for e in checklist.events.values()):
            checklist.report(CheckEvent("error", "Stopped", CheckStatus.FAIL,
                                        scrub(error.message), scrub(error.remediation),
                                        error.code))
        self._status(Content.assemble(error_content(error), "\n",
                                      ("Press Enter to go back to the dashboard.", "dim")))

    def _status(self, content: Content) -> None:
        self.query_one("#action-status", Static).update(content)

    @property
    def busy(self) -> bool:
        """The action is running."""
        return self._busy

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Cancel while the action runs, Back once it has ended."""
        if action == "done":
            return not self._busy
        if action == "leave":
            return self._busy
        return True

    def action_leave(self) -> None:
        """While running: ask, then cancel. Afterwards: back to the dashboard."""
        if not self._busy:
            self.dismiss(self.outcome)
            return
        self.app.push_screen(
            ConfirmDialog("Cancel?", self._cancel_note, yes="Cancel it", no="Keep going"),
            self._after_question)

    def action_done(self) -> None:
        """Back to the dashboard."""
        if not self._busy:
            self.dismiss(self.outcome)

    def _after_question(self, yes: bool | None) -> None:
        if yes and self._busy:
            self._cancel_and_leave()

    @work(group="cancel", exit_on_error=False)
    async def _cancel_and_leave(self) -> None:
        self._status(Content("Cancelling…"))
        await self.cancel_work()
        self.dismiss(self.outcome)

    def quit_warning(self) -> str | None:
        """While running, quitting cancels the action."""
        return self._cancel_note if self._busy else None

    async def cancel_work(self) -> None:
        """Cancel the action and wait until the service layer has stopped."""
        for worker in list(self.workers):
            if worker.node is self and worker.group == "action" and not worker.is_finished:
                worker.cancel()
                try:
                    await worker.wait()
                except Exception:  # cancelled or failed: both are final
                    pass


class AdminSignInScreen(DeviceCodeScreen):
    """The wizard's device-code screen, for an action that needs a Global Administrator of
    one tenant (repair, offboarding). Esc or Ctrl+C go back without changing anything."""

    OFFERS_MANUAL = False

    BINDINGS = [
        Binding("escape", "cancel", "Back", id="device.back",
                tooltip="Stop waiting and go back to the dashboard (nothing is changed)"),
        Binding("ctrl+c", "cancel", "Back", id="device.back_alt", show=False,
                tooltip="Stop waiting and go back to the dashboard (nothing is changed)"),
    ]

    def __init__(self, service: Any, *, tenant_label: str, purpose: str, **kwargs: Any) -> None:
        """Create the screen.

        Args:
            service: The connection service.
            tenant_label: The tenant's name or domain (plain text).
            purpose: What the sign-in is for ("repair", "offboard").
            kwargs: As :class:`DeviceCodeScreen` (``clock``).
        """
        super().__init__(service, **kwargs)
        self._tenant_label = tenant_label
        self._purpose = purpose

    def on_mount(self) -> None:
        """Name the tenant in the heading, then ask for the first code."""
        heading = scrub(f"{self._purpose[:1].upper()}{self._purpose[1:]} "
                        f"{self._tenant_label}: sign in as a Global Admin", limit=200)
        if len(heading) > 43:  # one line of the left column
            heading = heading[:42] + "…"
        self.query_one(".step-heading", Static).update(Content(heading))
        super().on_mount()

    def quit_warning(self) -> str | None:
        """Quitting abandons the code; nothing has been changed."""
        if self._session is None:
            return None
        return "The device code will be abandoned. Nothing has been changed in the tenant."


class OffboardDialog(ConfirmDialog):
    """Names the tenant and exactly what offboarding deletes; ``p`` toggles purging and,
    for a manual-mode connection, ``d`` toggles deleting the operator's app."""

    BINDINGS = [
        Binding("p", "toggle_purge", "Purge", id="offboard.purge",
                tooltip="Also remove the app from deleted items (not restorable)"),
        Binding("d", "toggle_delete_app", "Delete app", id="offboard.delete_app",
                tooltip="Manual mode: also delete the app registration you brought"),
    ]

    def __init__(self, profile: Profile, tenant_id: str, folder: Path) -> None:
        """Create the dialog for the saved ``profile`` of ``tenant_id`` kept in ``folder``."""
        self.profile = profile
        self.tenant_id = tenant_id
        self.folder = folder
        self.purge = False
        self.delete_app = False
        self._label = profile.tenant.name or profile.tenant.default_domain or tenant_id
        super().__init__(f"Offboard {scrub(self._label, limit=40)}?", self._plan_text(),
                         yes="Offboard", no="Cancel", id="offboard-confirm")

    @property
    def manual(self) -> bool:
        """The connection uses the operator's own app (manual mode)."""
        return self.profile.manual

    def _plan_text(self) -> Content:
        app_id = scrub(self.profile.app_id or "-", limit=60)
        lines: list[Content] = [Content.assemble(
            ("Tenant ", "bold"), scrub(f"{self._label} ({self.tenant_id})", limit=120))]
        if deletes_app(self.profile, delete_app=self.delete_app):
            fate = ("and purged from deleted items: gone for good" if self.purge else
                    f"(restorable from deleted items for {RESTORE_DAYS} days)")
            lines.append(Content.assemble(
                "• In the tenant: the app registration ", (app_id, "bold"), " is ",
                ("deleted", "bold $error"), f" {fate}."))
        else:
            lines.append(Content.assemble(
                "• In the tenant: the app registration ", (app_id, "bold"), " is ",
                ("kept", "bold $success"), " (you brought it in manual mode)."))
        lines.append(Content.assemble(
            "• On this machine: the profile and key in ",
            (scrub(home_relative(self.folder), limit=200), "bold"), " are ",
            ("deleted", "bold $error"), "."))
        lines.append(Content("A Global Administrator of the tenant signs in first (device "
                             "code)."))
        toggles: list[tuple[str, str] | str] = []
        if deletes_app(self.profile, delete_app=self.delete_app):
            toggles += [("p", "bold $accent"),
                        " purge: " + ("on" if self.purge else "off") + "   "]
        if self.manual:
            toggles += [("d", "bold $accent"),
                        " delete the app: " + ("on" if self.delete_app else "off")]
        lines.append(Content.assemble(*toggles))
        return Content("\n").join(lines)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """``d`` only for manual-mode connections; ``p`` only when the app is deleted."""
        if action == "toggle_delete_app":
            return self.manual
        if action == "toggle_purge":
            return deletes_app(self.profile, delete_app=self.delete_app)
        return True

    def action_toggle_purge(self) -> None:
        """Purge the deleted app (or not)."""
        self.purge = not self.purge
        self.set_message(self._plan_text())

    def action_toggle_delete_app(self) -> None:
        """Delete the operator's own app (or keep it)."""
        self.delete_app = not self.delete_app
        if not self.delete_app:
            self.purge = False
        self.set_message(self._plan_text())
        self.refresh_bindings()


__all__ = ["ActionScreen", "AdminSignInScreen", "OffboardDialog", "error_content"]
