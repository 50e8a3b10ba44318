"""Step 2a: the device code the customer's Global Admin signs in with."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal, TypeAlias

from textual import events, work
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Static

from vdc_tui.connect.errors import Cancelled, VdcError, scrub
from vdc_tui.connect.models import DeviceCode
from vdc_tui.screens.base import WizardScreen
from vdc_tui.screens.desktop import can_open_browser, copy_text, open_in_browser
from vdc_tui.widgets import Countdown, QRCode
from vdc_tui.widgets.bigcode import BigCode
from vdc_tui.widgets.countdown import utc_now

if TYPE_CHECKING:
    from vdc_tui.connect.microsoft.identity import DelegatedToken, DeviceFlowSession
    from vdc_tui.connect.service import ConnectionService

#: What the screen returns: the admin's token, a switch to manual mode, or ``None`` (back).
DeviceCodeOutcome: TypeAlias = "DelegatedToken | Literal['manual'] | None"

#: Next steps per outcome, under the error's own message and remediation.
NEXT_STEPS: dict[str, str] = {
    "sign_in_declined": "Press r for a new code and try again.",
    "device_code_expired": "Press r for a new code.",
    "device_code_blocked_by_policy": (
        "Press m to connect manually instead (an app registration made by hand), "
        "or r for a new code once the policy allows device code sign-in."
    ),
    "not_global_admin": "Press r for a new code and sign in with a Global Administrator.",
}

WAITING = "Waiting for the customer to sign in…"


#: What ``m`` says on the device-code screen when manual mode is not offered there.
MANUAL_ELSEWHERE = ("Here m switches to manual mode only when a Conditional Access policy "
                    "blocks the device code. To connect by hand now: Esc, then m.")


def problem_content(error: VdcError, *, manual: bool = True) -> Content:
    """An outcome panel: what happened, what to do, which key to press next (``manual``:
    the screen offers manual mode)."""
    message = scrub(error.message)
    if error.code == "not_global_admin":
        upn = error.details.get("upn") or error.details.get("account")
        if isinstance(upn, str) and upn and upn not in message:
            message = f"{message} (signed in as {scrub(upn)})"
    parts: list[tuple[str, str] | str] = [(message, "bold $error")]
    if error.code == "device_code_blocked_by_policy":
        parts += [
            "\n",
            (
                "A Conditional Access policy of the tenant blocks the device code sign-in "
                "flow for this account or location.",
                "",
            ),
        ]
    if error.remediation:
        parts += ["\n", (scrub(error.remediation), "italic")]
    next_step = NEXT_STEPS.get(error.code, "Press r to try again with a new code.")
    if error.code == "device_code_blocked_by_policy" and not manual:
        next_step = "Press r for a new code once the policy allows device code sign-in."
    parts += ["\n", (next_step, "bold")]
    return Content.assemble(*parts)


class DeviceCodeScreen(WizardScreen[DeviceCodeOutcome]):
    """Shows the device code, its address and QR code, and waits for the sign-in.

    Returns the delegated token when the admin signed in, ``"manual"`` when the operator
    switches to manual mode, or ``None`` when cancelled. Subclasses that have no manual
    mode to offer (the dashboard's sign-in) set :attr:`OFFERS_MANUAL` to ``False``.
    """

    #: ``m`` switches to manual mode where the device code flow is blocked.
    OFFERS_MANUAL = True

    BINDINGS = [
        Binding("c", "copy_code", "Copy", id="device.copy",
                tooltip="Copy the code to the clipboard (it stays on screen)"),
        Binding("i", "copy_invite", "Invite", id="device.invite",
                tooltip="Copy sign-in instructions (address, code, deadline) to send to "
                        "the customer"),
        Binding("o", "open_browser", "Browser", id="device.open",
                tooltip="Open the sign-in address in a browser on this machine"),
        Binding("r", "new_code", "New code", id="device.new_code",
                tooltip="Get a new code; the current one stops working here"),
        Binding("q", "toggle_qr", "QR", id="device.qr",
                tooltip="Show or hide the QR code of the sign-in address"),
        Binding("m", "manual", "Manual", id="device.manual",
                tooltip="Connect with an app registration made by hand"),
        # The same key where manual mode is not offered: it says why, and how to get there.
        Binding("m", "manual_elsewhere", show=False, id="device.manual_elsewhere"),
        Binding("escape", "cancel", "Back", id="device.back",
                tooltip="Stop waiting and go back to the choice of mode"),
    ]

    def __init__(
        self,
        service: ConnectionService,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """Create the screen.

        Args:
            service: The connection service.
            clock: The clock of the countdown (tests freeze it).
        """
        super().__init__(id="device-code")
        self._service = service
        self._clock = clock
        self._session: DeviceFlowSession | None = None
        self._code: DeviceCode | None = None
        self._problem: VdcError | None = None
        self._qr_wanted = True

    def compose_body(self) -> Iterable[Widget]:
        """Instructions, the code, the countdown and the QR code."""
        with Horizontal(classes="body", id="device-body"):
            with Vertical(id="device-left"):
                yield Static("Sign in as a Global Admin of the tenant",
                             classes="step-heading", markup=False)
                yield Static("1. On any device, open", classes="dim", markup=False)
                yield Static("", id="device-url", markup=False)
                yield Static("2. Enter the code", classes="dim", markup=False)
                yield BigCode(id="device-big-code")
                yield Static("", id="device-code-text", markup=False)
                yield Static("3. Pick the Global Admin account, Continue",
                             classes="dim", markup=False)
                yield Countdown(clock=self._clock, id="device-countdown")
                yield Static("Requesting a code…", id="device-status", markup=False)
            yield QRCode(id="device-qr")

    def on_mount(self) -> None:
        """Ask for the first code."""
        self._run_flow()

    # -- the flow -------------------------------------------------------------------

    @work(group="device-flow", exclusive=True, exit_on_error=False)
    async def _run_flow(self) -> None:
        self._drop_session()
        self._show_requesting()
        try:
            session = await self._service.start_device_code()
        except VdcError as error:
            self._show_problem(error)
            return
        self._session = session
        self._show_code(session.code)
        try:
            token = await self._service.wait_for_sign_in(session)
        except Cancelled:
            return
        except VdcError as error:
            if self._session is session:
                self._show_problem(error)
            return
        self._session = None
        self.query_one(Countdown).stop()
        self.dismiss(token)

    def _drop_session(self) -> None:
        """Abandon the current code: its sign-in can no longer finish here."""
        if self._session is not None:
            self._session.cancel()
            self._session = None

    # -- showing states -------------------------------------------------------------

    def _show_requesting(self) -> None:
        self._problem = None
        self._set_status(Content("Requesting a code…"))
        self.refresh_bindings()

    def _show_code(self, code: DeviceCode) -> None:
        self._code = code
        self.query_one("#device-url", Static).update(
            Content.assemble((scrub(code.verification_uri), "bold underline $accent"))
        )
        self.query_one(BigCode).code = scrub(code.user_code)
        self.query_one("#device-code-text", Static).update(
            Content.assemble(("Code: ", "dim"), (scrub(code.user_code), "bold"), "  ",
                             ("(c copies it)", "dim"))
        )
        self.query_one(QRCode).data = code.verification_uri
        self.query_one(Countdown).start(code.expires_at, code.expires_in)
        self._set_status(Content(WAITING))
        self._fit_qr()

    def _show_problem(self, error: VdcError) -> None:
        self._problem = error
        self._drop_session()
        self.query_one(Countdown).stop()
        self._set_status(problem_content(error, manual=self.OFFERS_MANUAL))
        # The code cannot be used any more: its QR code and the keys that copy or open it
        # go, which leaves the outcome the whole width and the footer its next keys.
        if self._code is not None:
            self.query_one("#device-code-text", Static).update(
                Content.assemble(("Code: ", "dim"), (scrub(self._code.user_code), "dim"), "  ",
                                 ("(no longer valid; r gets a new one)", "dim")))
        self._fit_qr()
        self.refresh_bindings()

    def _set_status(self, content: Content) -> None:
        status = self.query_one("#device-status", Static)
        status.update(content)
        status.set_class(self._problem is not None, "-problem")

    def on_countdown_expired(self, event: Countdown.Expired) -> None:
        """The code's lifetime is over: offer a new one."""
        if self._problem is None:
            self._show_problem(
                VdcError(
                    "device_code_expired",
                    "The code has expired before anyone signed in with it.",
                    "Codes live for about 15 minutes.",
                )
            )

    # -- QR code ----------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        """Hide the QR code where it does not fit."""
        self._fit_qr()

    def _fit_qr(self) -> None:
        qr = self.query_one(QRCode)
        need = qr.cells
        # Room for the left column (44) and the chrome (header, badge, footer).
        fits = self.size.width >= need.width + 46 and self.size.height >= need.height + 4
        qr.display = self._qr_wanted and fits and bool(qr.data) and self._problem is None

    def action_toggle_qr(self) -> None:
        """Show or hide the QR code."""
        self._qr_wanted = not self._qr_wanted
        self._fit_qr()

    # -- keys -------------------------------------------------------------------------

    def _blocked(self) -> bool:
        return self._problem is not None and self._problem.code == "device_code_blocked_by_policy"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Manual mode is offered where the device code flow cannot work; the code's own
        keys (copy, instructions, browser, QR) only while the code can still be used."""
        if action == "manual":
            return self.OFFERS_MANUAL and self._blocked()
        if action == "manual_elsewhere":
            return self.OFFERS_MANUAL and not self._blocked()
        if action in ("copy_code", "open_browser", "copy_invite", "toggle_qr"):
            if self._problem is not None:
                return False
            if action != "toggle_qr":
                return True if self._code is not None else None
        return True

    def action_copy_code(self) -> None:
        """Copy the code; it stays on screen because a copy cannot be confirmed."""
        if self._code is None:
            return
        what = copy_text(self.app, self._code.user_code)
        self.notify(scrub(f"{self._code.user_code}: {what}"), title="Code copied",
                    markup=False)

    def action_copy_invite(self) -> None:
        """Copy what the customer needs to sign in, for a chat or an e-mail.

        The provider may pass the code on to the customer's Global Administrator; the text
        says where to go, what to type and until when (in UTC, as the reader's time zone is
        unknown).
        """
        if self._code is None:
            return
        until = self._code.expires_at.astimezone(UTC).strftime("%H:%M UTC")
        invite = (
            f"To connect your Microsoft 365 tenant to Veeam Data Cloud, a Global "
            f"Administrator opens {self._code.verification_uri} and enters the code "
            f"{self._code.user_code} before {until}, then signs in and accepts."
        )
        what = copy_text(self.app, invite)
        self.notify(scrub(f"Sign-in instructions for the customer: {what}"),
                    title="Invite copied", markup=False)

    def action_open_browser(self) -> None:
        """Open the sign-in address here, where a browser can reach the operator."""
        if self._code is None:
            return
        url = self._code.verification_uri
        if can_open_browser() and open_in_browser(url):
            self.notify("Opened the sign-in page in the browser.", markup=False)
        else:
            self.notify(
                scrub(f"No browser on this machine (SSH or no display). Open {url} "
                      "on any device, or scan the QR code."),
                title="Open the address yourself",
                severity="warning",
                markup=False,
            )

    def action_new_code(self) -> None:
        """Drop the current code and ask for a new one."""
        self._run_flow()

    def action_manual(self) -> None:
        """Switch to manual mode."""
        self._cancel_flow()
        self.dismiss("manual")

    def action_manual_elsewhere(self) -> None:
        """``m`` while the device code can still work: say where manual mode is."""
        self.notify(MANUAL_ELSEWHERE, title="Manual mode", markup=False)

    def action_cancel(self) -> None:
        """Stop waiting and go back."""
        self._cancel_flow()
        self.dismiss(None)

    def _cancel_flow(self) -> None:
        self._drop_session()
        self.workers.cancel_group(self, "device-flow")

    def quit_warning(self) -> str | None:
        """Quitting abandons the code; nothing exists in the tenant yet."""
        if self._session is None:
            return None
        return ("The device code will be abandoned. Nothing has been created in the "
                "customer's tenant yet.")

    async def cancel_work(self) -> None:
        """Abandon the code."""
        self._cancel_flow()
