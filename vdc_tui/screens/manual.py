"""Step 2c: manual connection with the operator's own app registration and PFX."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from os.path import commonprefix
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeAlias

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.validation import Function, Regex
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Static

from vdc_tui.connect.errors import Cancelled, InvalidInput, VdcError, scrub
from vdc_tui.connect.inputs import EMAIL_PATTERN, looks_like_email, normalize_guid
from vdc_tui.connect.models import CheckEvent, ConnectionResult
from vdc_tui.connect.steps import MANUAL_STEPS
from vdc_tui.screens.base import WizardScreen
from vdc_tui.screens.messages import Progress
from vdc_tui.screens.picker import CertificatePicker, is_certificate_file
from vdc_tui.widgets import Checklist, QRCode, untrusted
from vdc_tui.widgets.text import abbreviate_home, home_relative

if TYPE_CHECKING:
    from vdc_tui.connect.onboard.manual import ManualInput
    from vdc_tui.connect.service import ConnectionService

#: The result: a connection, ``"automatic"`` (switch modes), or ``None`` (back).
ManualOutcome: TypeAlias = "ConnectionResult | Literal['automatic'] | None"


FIELDS = ("admin_email", "app_id", "pfx_path", "pfx_password")

#: The field at fault for errors that do not name one themselves: no tenant has the
#: domain of the admin email, so the email is what to correct.
FIELD_OF_CODE: dict[str, str] = {"tenant_not_found": "admin_email"}

def expand_path(text: str) -> Path:
    """A path as typed, with ``~`` expanded."""
    return Path(text.strip()).expanduser()


def complete_path(text: str) -> tuple[str, list[str]]:
    """Tab completion of a certificate path.

    Returns the completed text (unchanged when nothing can be added) and the candidate
    names (folders end with ``/``). Only folders and ``.pfx``/``.p12`` files are offered.
    """
    typed = text.strip()
    path = expand_path(typed) if typed else Path.cwd()
    folder, prefix = (path, "") if typed.endswith("/") or not typed else (path.parent, path.name)
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return text, []
    names = []
    for entry in entries:
        if not entry.name.startswith(prefix) or (entry.name.startswith(".") and not prefix):
            continue
        try:
            if entry.is_dir():
                names.append(entry.name + "/")
            elif is_certificate_file(entry):
                names.append(entry.name)
        except OSError:
            continue
    if not names:
        return text, []
    common = names[0] if len(names) == 1 else commonprefix(names)
    if len(common) <= len(prefix):
        return text, names
    base = typed[: len(typed) - len(prefix)] if prefix else (typed or "")
    if not typed:
        base = home_relative(folder) + "/"
    return base + common, names


@dataclass
class ManualDraft:
    """What the operator typed, kept by the wizard when going back and forth.

    The password is not kept: it lives only in its field while the form is open.
    """

    admin_email: str = ""
    app_id: str = ""
    pfx_path: str = ""


class PathInput(Input):
    """A path field: ``~`` is expanded and Tab completes folder and file names."""

    BINDINGS = [
        Binding("tab", "complete", "Complete path", show=False, id="manual.complete",
                tooltip="Complete the folder or file name"),
    ]

    def action_complete(self) -> None:
        """Complete the name; when nothing can be completed, move on like Tab does."""
        completed, names = complete_path(self.value)
        if completed != self.value:
            self.value = completed
            self.cursor_position = len(completed)
        elif len(names) > 1 and self.value.strip():
            shown = "  ".join(names[:8]) + ("  …" if len(names) > 8 else "")
            self.notify(scrub(shown), title="Matches", markup=False)
        else:
            self.screen.focus_next()


class ConsentScreen(ModalScreen[None]):
    """The admin-consent address (and its QR code) after missing permissions."""

    BINDINGS = [
        Binding("escape,enter", "dismiss(None)", "Close", id="consent.close",
                tooltip="Back to the form"),
    ]

    def __init__(self, url: str) -> None:
        """Create the dialog for ``url``."""
        super().__init__(id="consent")
        self._url = url

    def compose(self) -> ComposeResult:
        """Explanation, address, QR code."""
        with Vertical(classes="dialog consent"):
            yield Static("Admin consent needed", classes="dialog-title", markup=False)
            yield Static(
                "A Global Administrator of the tenant opens this address and accepts the "
                "permissions; then press Ctrl+R on the form to check again.",
                classes="dialog-body", markup=False,
            )
            yield Static(untrusted(self._url), id="consent-url")
            yield QRCode(self._url, id="consent-qr")
            yield Static("Esc: close", classes="dialog-hint", markup=False)


#: What Ctrl+G says before a check has found an admin-consent address.
CONSENT_UNKNOWN = ("Ctrl+G shows the admin-consent address once a check has found permissions "
                   "that lack admin consent; no check has found that yet.")


class ManualScreen(WizardScreen[ManualOutcome]):
    """The manual form; Connect runs the checks with a live checklist."""

    BINDINGS = [
        Binding("ctrl+r", "connect", "Connect", id="manual.connect", priority=True,
                tooltip="Check the app registration and certificate"),
        Binding("ctrl+o", "browse", "Browse…", id="manual.browse", priority=True,
                tooltip="Pick the certificate file from a folder tree"),
        Binding("ctrl+t", "automatic", "Auto connect", id="manual.automatic", priority=True,
                tooltip="Switch to automatic connection"),
        Binding("ctrl+g", "consent", "Consent", id="manual.consent", priority=True,
                tooltip="Show the admin-consent address and its QR code"),
        # The same key before a check has found the address: it says why there is none.
        Binding("ctrl+g", "consent_unknown", show=False, priority=True,
                id="manual.consent_unknown"),
        Binding("escape", "back", "Back", id="manual.back",
                tooltip="Cancel a running check, or go back to the choice of mode"),
    ]

    def __init__(
        self,
        service: ConnectionService,
        *,
        draft: ManualDraft | None = None,
        services: frozenset[str] = frozenset({"exchange", "sharepoint", "teams"}),
    ) -> None:
        """Create the form.

        Args:
            service: The connection service.
            draft: Values typed earlier (kept by the wizard); updated as the operator types.
            services: Services to check permissions for.
        """
        super().__init__(id="manual")
        self._service = service
        self.draft = draft if draft is not None else ManualDraft()
        self._services = services
        self._checking = False
        self._consent_url: str | None = None

    def compose_body(self) -> Iterable[Widget]:
        """Four fields, the link back to automatic, the checklist and a status line."""
        with Vertical(classes="body", id="manual-body"):
            yield Static("Connect with your own app registration", classes="step-heading",
                         markup=False)
            yield from self._field(
                "admin_email", "Admin Email",
                Input(self.draft.admin_email, placeholder="admin@contoso.com", id="admin_email",
                      validators=[Regex(EMAIL_PATTERN,
                                        failure_description="Not an email address.")],
                      validate_on=["changed", "blur"], valid_empty=True),
            )
            yield from self._field(
                "app_id", "App Registration ID",
                Input(self.draft.app_id, placeholder="00000000-0000-0000-0000-000000000000",
                      id="app_id",
                      validators=[Function(lambda v: normalize_guid(v) is not None,
                                           "Not a GUID (Application (client) ID).")],
                      validate_on=["changed", "blur"], valid_empty=True),
            )
            with Horizontal(classes="field", id="pfx_path-row"):
                yield Label("Certificate file", classes="field-label")
                yield PathInput(self.draft.pfx_path, placeholder="~/certs/app.pfx  (Tab completes)",
                                id="pfx_path")
                browse = Button("Browse…", id="browse", compact=True)
                # Keyboard users have Ctrl+O; keep Tab going from the path to the password.
                browse.can_focus = False
                yield browse
            yield Static("", id="pfx_path-error", classes="field-error")
            yield from self._field(
                "pfx_password", "Password (optional)",
                Input(password=True, placeholder="only if the PFX has one", id="pfx_password"),
            )
            yield Static(
                Content.from_markup(
                    "[@click=screen.automatic]Auto connect Veeam Data Cloud to your "
                    "Microsoft 365 tenancy[/]  [dim](Ctrl+T)[/]"
                ),
                id="auto-link",
            )
            yield Checklist(id="checklist")
            yield Static("", id="manual-status", markup=False)

    @staticmethod
    def _field(name: str, label: str, field: Input) -> Iterable[Widget]:
        with Horizontal(classes="field", id=f"{name}-row"):
            yield Label(label, classes="field-label")
            yield field
        yield Static("", id=f"{name}-error", classes="field-error")

    def on_mount(self) -> None:
        """Focus the first empty field; the checklist waits until Connect."""
        self.query_one(Checklist).display = False
        for name in FIELDS:
            field = self.query_one(f"#{name}", Input)
            if not field.value:
                field.focus()
                break
        else:
            self.query_one("#pfx_password", Input).focus()

    # -- fields -----------------------------------------------------------------------

    def _input(self, name: str) -> Input:
        return self.query_one(f"#{name}", Input)

    def set_field_error(self, name: str, message: str | Content) -> None:
        """Show a message next to a field (empty clears it)."""
        box = self.query_one(f"#{name}-error", Static)
        box.update(message if isinstance(message, Content) else untrusted(message))
        box.display = bool(message)
        self.query_one(f"#{name}-row").set_class(bool(message), "-error")

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        name = event.input.id or ""
        if name in ("admin_email", "app_id", "pfx_path"):
            setattr(self.draft, name, event.value)
        if event.validation_result is not None and not event.validation_result.is_valid:
            self.set_field_error(name, " ".join(event.validation_result.failure_descriptions))
        elif name in FIELDS:
            self.set_field_error(name, "")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "pfx_password":
            self.action_connect()
        else:
            self.focus_next()

    def local_problems(self) -> dict[str, str]:
        """What can be told without the network: empty or malformed fields, missing file."""
        problems: dict[str, str] = {}
        email = self._input("admin_email").value.strip()
        if not looks_like_email(email):
            problems["admin_email"] = "Enter the email of a user of the customer's tenant."
        if normalize_guid(self._input("app_id").value) is None:
            problems["app_id"] = ("Enter the Application (client) ID from the app's overview "
                                  "page (a GUID).")
        typed = self._input("pfx_path").value
        path = expand_path(typed) if typed.strip() else None
        if path is None:
            problems["pfx_path"] = "Choose the PFX file (Ctrl+O browses)."
        elif not path.is_file():
            problems["pfx_path"] = f"No such file: {home_relative(path)}"
        return problems

    # -- connect ------------------------------------------------------------------------

    def action_connect(self) -> None:
        """Check the fields, then run the connection check."""
        if self._checking:
            return
        problems = self.local_problems()
        for name in FIELDS:
            self.set_field_error(name, problems.get(name, ""))
        if problems:
            self._input(next(n for n in FIELDS if n in problems)).focus()
            return
        from vdc_tui.connect.onboard.manual import ManualInput

        password = self._input("pfx_password").value
        manual = ManualInput(
            admin_email=self._input("admin_email").value.strip(),
            app_id=normalize_guid(self._input("app_id").value) or "",
            pfx_path=str(expand_path(self._input("pfx_path").value)),
            pfx_password=password or None,
            services=self._services,
        )
        self._validate(manual)

    @work(group="validate", exclusive=True, exit_on_error=False)
    async def _validate(self, manual: object) -> None:
        from vdc_tui.connect.onboard.manual import ManualInput

        assert isinstance(manual, ManualInput)
        self._checking = True
        self._consent_url = None
        self.refresh_bindings()
        checklist = self.query_one(Checklist)
        checklist.display = True
        checklist.plan(MANUAL_STEPS)
        self._status(Content("Checking… Esc stops."))
        try:
            result = await self._check(manual)
        except Cancelled:
            self._status(Content("Stopped. Nothing was changed in the tenant."))
            return
        except VdcError as error:
            self._show_error(error)
            return
        finally:
            self._checking = False
            self.refresh_bindings()
        self.dismiss(result)

    async def _check(self, manual: ManualInput) -> ConnectionResult:
        """Run the check; services the tenant does not have are left out, not refused.

        The form offers no choice of services: the wizard wants each one the tenant has and
        the services step, after the check, offers only those. The check refuses a wanted
        service the tenant is not licensed for, so it runs again with the ones it has (as
        ``vdc-tui connect manual`` does without ``--services``).
        """
        try:
            return await self._service.validate_manual(manual, self._forward_progress)
        except InvalidInput as error:
            from vdc_tui.connect.entra.services import recheck_services

            again = recheck_services(error, tuple(manual.services))
            if again is None:
                raise
            wanted = frozenset(again)
            # Queued behind the first run's progress messages, so its rows are replaced.
            self.call_later(self.query_one(Checklist).plan, MANUAL_STEPS)
            self.call_later(self._status, Content(
                "The tenant does not have every service; checking again with those it has…"))
            return await self._service.validate_manual(replace(manual, services=wanted),
                                                       self._forward_progress)

    def _forward_progress(self, event: CheckEvent) -> None:
        self.post_message(Progress(event))

    def on_progress(self, message: Progress) -> None:
        """Show one event."""
        self.query_one(Checklist).report(message.event)

    def _show_error(self, error: VdcError) -> None:
        text = Content.assemble((abbreviate_home(scrub(error.message)), "bold"), "\n",
                                (abbreviate_home(scrub(error.remediation)), "italic"))
        field = error.details.get("field") or FIELD_OF_CODE.get(error.code)
        if isinstance(field, str) and field in FIELDS:
            self.set_field_error(field, text)
            self._input(field).focus()
            # The reason is under the field and in the checklist already: say what to do.
            self._status(Content.assemble(
                ("✘ ", "$error bold"), "Correct the field marked in red, then press Ctrl+R."))
        else:
            self._status(Content.assemble(("✘ ", "$error bold"), text))
        if error.code == "missing_permissions":
            url = error.details.get("admin_consent_url") or error.details.get("consent_url")
            if isinstance(url, str) and url:
                self._consent_url = url
                self.refresh_bindings()
                self.app.push_screen(ConsentScreen(url))

    def _status(self, content: Content) -> None:
        self.query_one("#manual-status", Static).update(content)

    # -- other keys -----------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Admin consent only when its address is known; connect not while running."""
        if action == "consent":
            return self._consent_url is not None
        if action == "consent_unknown":
            return self._consent_url is None
        if action == "connect":
            return not self._checking
        return True

    @on(Button.Pressed, "#browse")
    def action_browse(self) -> None:
        """Pick the certificate file from a folder tree."""
        typed = self._input("pfx_path").value
        start = expand_path(typed) if typed.strip() else Path.home()
        self.app.push_screen(CertificatePicker(start), self._picked)

    def _picked(self, path: Path | None) -> None:
        if path is not None:
            field = self._input("pfx_path")
            field.value = home_relative(path)
            self._input("pfx_password").focus()

    def action_consent(self) -> None:
        """Show the admin-consent address again."""
        if self._consent_url:
            self.app.push_screen(ConsentScreen(self._consent_url))

    def action_consent_unknown(self) -> None:
        """Ctrl+G before the address is known: say when it will be."""
        self.notify(CONSENT_UNKNOWN, title="Admin consent", markup=False)

    def action_automatic(self) -> None:
        """Switch to automatic connection."""
        self._stop()
        self.dismiss("automatic")

    def action_back(self) -> None:
        """Stop a running check, or go back."""
        if self._checking:
            self._stop()
            return
        self.dismiss(None)

    def _stop(self) -> None:
        self.workers.cancel_node(self)

    def quit_warning(self) -> str | None:
        """A manual check changes nothing; quitting only stops it."""
        if self._checking:
            return "The check in progress stops. Nothing was changed in the tenant."
        return None

    async def cancel_work(self) -> None:
        """Stop the check."""
        self._stop()
