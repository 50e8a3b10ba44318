"""``vdc-tui connect auto|manual``: the wizard's checks and provisioning without the TUI.

Both modes end like the wizard: a verified connection, the services chosen among those
the tenant has, and a saved profile. Progress lines go to stderr as the service layer
reports them; ``--json`` puts one result object on stdout at the end.

Ctrl+C cancels: the device-code wait stops, provisioning rolls back what it created (the
service layer does that when its task is cancelled), and the command exits 130.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from vdc_tui.cli.output import FINAL_STATES, OutputClosed, Reporter, write
from vdc_tui.connect.entra.services import default_selection, recheck_services
from vdc_tui.connect.errors import Cancelled, InvalidInput, VdcError, scrub
from vdc_tui.connect.models import (
    SERVICE_LABELS,
    SERVICE_NAMES,
    CheckEvent,
    CheckStatus,
    ConnectionResult,
)
from vdc_tui.connect.onboard.rollback import ROLLBACK_BOUND_SECONDS
from vdc_tui.connect.service import ConnectionService, ConnectSettings

if TYPE_CHECKING:
    from vdc_tui.connect.microsoft.identity import DelegatedToken, DeviceFlowSession

log = logging.getLogger("vdc_tui.cli.connect")

T = TypeVar("T")


def parse_services(text: str | None) -> list[str] | None:
    """``exchange,sharepoint,teams`` → an ordered list; Exchange Online is always included.

    A name given twice counts once (a script that builds the list may repeat one).

    Raises:
        InvalidInput: an unknown service name, or an empty list.
    """
    if text is None:
        return None
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    if not names:
        raise InvalidInput(
            "invalid_argument",
            "--services names no service.",
            "Use a comma-separated list of: " + ", ".join(SERVICE_NAMES) + ".",
            {"field": "services"},
        )
    unknown = [n for n in names if n not in SERVICE_NAMES]
    if unknown:
        raise InvalidInput(
            "invalid_argument",
            f"Unknown service(s) in --services: {scrub(', '.join(unknown), limit=200)}.",
            "Use a comma-separated list of: " + ", ".join(SERVICE_NAMES) + ".",
            {"field": "services"},
        )
    wanted = set(names) | {"exchange"}  # Exchange Online is always protected
    return [s for s in SERVICE_NAMES if s in wanted]


def choose_services(result: ConnectionResult, requested: Sequence[str] | None) -> list[str]:
    """The services to save: the requested ones (all of them must be available) or,
    when none were requested, every service the tenant has.

    A service the tenant lacks is refused the way the manual check refuses it (the same
    code, exit code and ``details``), so both modes answer a script alike.

    Raises:
        InvalidInput: a requested service is not available (``details.field`` =
            ``services``, with ``refused``, ``available`` and each reason).
    """
    available: list[str] = list(result.available_services)
    if requested is None:
        if not available:
            raise InvalidInput(
                "invalid_argument",
                "The tenant has none of the services the backup protects.",
                "Check the tenant's Microsoft 365 licences (Exchange Online at least).",
                {"field": "services", "refused": list(SERVICE_NAMES), "available": [],
                 "unavailable": _reasons(result, SERVICE_NAMES)},
            )
        return list(default_selection(available))
    refused = [s for s in requested if s not in available]
    if refused:
        reasons = _reasons(result, refused)
        shown = "; ".join(f"{SERVICE_LABELS[r['service']]}: {r['reason']}" for r in reasons)
        raise InvalidInput(
            "invalid_argument",
            f"The tenant does not have every requested service ({scrub(shown, limit=600)}).",
            "Run again with --services limited to: " + (",".join(available) or "(none)") + ".",
            {"field": "services", "refused": refused, "available": available,
             "unavailable": reasons, "app_id": result.app_id},
        )
    return list(requested)


def _reasons(result: ConnectionResult, services: Sequence[str]) -> list[dict[str, str]]:
    out = []
    for name in services:
        entry = result.availability(name)
        reason = (entry.reason or str(entry.availability)) if entry else "not reported"
        out.append({"service": name, "reason": scrub(reason, limit=300)})
    return out


def success_document(
    result: ConnectionResult, selected: Sequence[str], profile: Path
) -> dict[str, Any]:
    """The ``--json`` success object of the command-line contract."""
    consent = result.extra.get("delegated_consent")
    return {
        "status": "connected",
        "tenant": {
            "id": result.tenant.id,
            "name": result.tenant.name,
            "default_domain": result.tenant.default_domain,
        },
        "mode": result.mode,
        "app_id": result.app_id,
        "certificate": {
            "sha1": result.certificate.sha1,
            "sha256": result.certificate.sha256,
            "not_after": result.certificate.not_after.isoformat(),
        },
        "services": {"selected": list(selected), "available": list(result.available_services)},
        "permissions": {
            "granted": list(result.permissions.granted),
            "missing": [],  # a verified connection lacks none (see PermissionStatus)
        },
        "profile": str(profile),
        # automatic mode: what the consent cleanup did (design.md), absent in manual mode
        **({"delegated_consent": consent} if consent is not None else {}),
    }


def read_password(env_var: str | None, from_stdin: bool) -> str | None:
    """The PFX password from an environment variable or stdin, never from an argument.

    Raises:
        InvalidInput: the variable is not set.
    """
    if env_var:
        value = os.environ.get(env_var)
        if value is None:
            raise InvalidInput(
                "invalid_argument",
                f"--pfx-password-env names {scrub(env_var, limit=80)!r}, which is not set.",
                f"Export the PFX password in {scrub(env_var, limit=80)} before running.",
                {"field": "pfx_password"},
            )
        return value
    if from_stdin:
        if sys.stdin is None:
            raise InvalidInput("invalid_argument", "--pfx-password-stdin: no standard input.",
                               "Pipe the password in, or use --pfx-password-env VAR.",
                               {"field": "pfx_password"})
        if sys.stdin.isatty():
            return getpass.getpass("PFX password: ", stream=sys.stderr)
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    return None


@dataclass
class ConnectRun:
    """One headless connect: its settings, how it reports, and what it was asked for."""

    settings: ConnectSettings
    reporter: Reporter
    requested: list[str] | None
    demo_note: str | None = None
    _sign_in: SignInSession = field(default_factory=lambda: SignInSession(), repr=False)

    async def auto(self) -> int:
        """Automatic mode: device-code sign-in, then create, consent and verify the app."""
        return await self._guarded(self._auto)

    async def manual(self, admin_email: str, app_id: str, pfx_path: str,
                     password: str | None) -> int:
        """Manual mode: prove that the operator's app registration works."""

        async def check(service: ConnectionService, services: frozenset[str], *,
                        hold_services_line: bool) -> ConnectionResult:
            from vdc_tui.connect.onboard.manual import ManualInput

            manual = ManualInput(
                admin_email=admin_email,
                app_id=app_id,
                pfx_path=pfx_path,
                pfx_password=password,
                services=services,
            )
            held: list[CheckEvent] = []

            def progress(event: CheckEvent) -> None:
                if hold_services_line and event.step == "services" and (
                    event.status in FINAL_STATES
                ):
                    held.append(event)
                else:
                    self.reporter.progress(event)

            try:
                result = await service.validate_manual(manual, progress)
            except VdcError as error:
                retried = hold_services_line and recheck_services(error, SERVICE_NAMES)
                if not retried:  # the line belongs to the failure the operator will see
                    for event in held:
                        self.reporter.progress(event)
                raise
            for event in held:
                self.reporter.progress(event)
            return result

        async def body(service: ConnectionService) -> tuple[ConnectionResult, list[str], Path]:
            if self.requested is not None:
                result = await check(service, frozenset(self.requested),
                                     hold_services_line=False)
            else:
                # No --services: every service the tenant has. The check refuses services
                # the tenant lacks, so a tenant without one is checked again with those it
                # has (its refused "services" line is held back, not shown as a failure).
                try:
                    result = await check(service, frozenset(SERVICE_NAMES),
                                         hold_services_line=True)
                except InvalidInput as error:
                    available = recheck_services(error, SERVICE_NAMES)
                    if not available:
                        raise
                    self.reporter.note("No --services given: selecting the services the tenant "
                                       f"has ({', '.join(available)}); checking again.")
                    result = await check(service, frozenset(available),
                                         hold_services_line=False)
            selected = choose_services(result, self.requested)
            with service.profiles.lock(result.tenant.id):
                path = service.save_profile(result, selected)
            return result, selected, path

        return await self._guarded(body)

    async def _auto(self, service: ConnectionService) -> tuple[ConnectionResult, list[str], Path]:
        token = await admin_sign_in(service, self.reporter, note=self.demo_note,
                                    on_session=self._sign_in.track)
        # The lock covers provisioning and saving: two runs must not build two apps at once.
        with service.profiles.lock(token.tenant_id):
            result = await service.provision(token, self.reporter.progress, self.requested)
            selected = choose_services(result, self.requested)
            path = service.save_profile(result, selected)
        return result, selected, path

    async def _guarded(
        self,
        body: Callable[[ConnectionService], Awaitable[tuple[ConnectionResult, list[str], Path]]],
    ) -> int:
        outcome = await run_service_command(
            self.settings, self.reporter, body, what="connect",
            # A home folder that cannot hold the profile, or a key store passphrase that
            # nothing gives, is said now, not after a sign-in and an app registration that
            # could then not be saved.
            before=_ready_to_save,
            on_cancel=self._sign_in.cancel, folder_warnings=True)
        if isinstance(outcome, VdcError):
            return outcome.exit_code
        result, selected, path = outcome
        for warning in result.warnings:
            log.info("warning: %s %s", warning.title, warning.detail)
        self.reporter.note(
            f"Connected: {result.tenant.name or result.tenant.id} "
            f"({result.mode}, app {result.app_id}); services: {', '.join(selected)}."
        )
        self.reporter.note(f"Profile saved: {path}")
        log.info("connected tenant %s, app %s, profile %s", result.tenant.id, result.app_id, path)
        if self.reporter.json_mode:
            self.reporter.emit(success_document(result, selected, path))
        return 0


def _ready_to_save(service: ConnectionService) -> None:
    """Before any sign-in: the home folder can hold the profile and the passphrase that
    encrypts its key is settled (``key_passphrase_required`` otherwise, exit 2)."""
    service.profiles.check_usable()
    service.settle_passphrase("save the new connection's key")


class SignInSession:
    """The pending device-code session of a command, so that Ctrl+C stops its wait at once."""

    def __init__(self) -> None:
        self._session: DeviceFlowSession | None = None

    def track(self, session: DeviceFlowSession | None) -> None:
        """Remember the pending session (``None`` once the wait is over)."""
        self._session = session

    def cancel(self) -> None:
        """Stop the pending wait, if any."""
        if self._session is not None:
            self._session.cancel()


async def run_service_command(
    settings: ConnectSettings,
    reporter: Reporter,
    work: Callable[[ConnectionService], Awaitable[T]],
    *,
    what: str,
    before: Callable[[ConnectionService], object] | None = None,
    on_cancel: Callable[[], None] = lambda: None,
    folder_warnings: bool = False,
) -> T | VdcError:
    """One command's run: a service opened for ``work`` and closed after it, Ctrl+C
    cancelling the work (:func:`run_cancellable`).

    ``before`` runs first, outside the Ctrl+C handling (checks and prompts that touch no
    network). A failure is logged and reported, then returned (its ``exit_code`` is the
    command's); ``folder_warnings`` reports the home folder's warnings either way.
    """
    service = ConnectionService(settings)

    def warn_folder() -> None:
        if folder_warnings:
            for warning in service.profiles.warnings:
                reporter.warning(warning)

    try:
        if before is not None:
            before(service)
        outcome = await run_cancellable(work(service), on_cancel=on_cancel,
                                        reporter=reporter)
    except VdcError as error:
        log.info("%s failed: %s (%s)", what, error.code, error.message)
        warn_folder()
        reporter.failure(error)
        return error
    finally:
        await service.aclose()
    warn_folder()
    return outcome


async def admin_sign_in(
    service: ConnectionService,
    reporter: Reporter,
    *,
    note: str | None,
    on_session: Callable[[DeviceFlowSession | None], None],
) -> DelegatedToken:
    """The headless device-code sign-in of an administrator (``connect auto``, offboarding,
    repair): the code, its address and a QR code on stderr at once, then the wait.

    ``on_session`` is told the pending session (so Ctrl+C can cancel it) and ``None`` after.
    """
    await service.prepare()
    session = await service.start_device_code()
    on_session(session)
    log.info("device code issued; waiting for sign-in at %s", session.code.verification_uri)
    reporter.device_code(session.code, extra=note)
    try:
        token = await service.wait_for_sign_in(session)
    finally:
        on_session(None)
    admin = token.admin
    reporter.check(CheckStatus.PASS, "Signed in", f"{admin.upn} (tenant {token.tenant_id})")
    log.info("signed in as %s, tenant %s", admin.upn, token.tenant_id)
    return token


#: Signals that cancel a run like Ctrl+C: a dropped SSH session or closed terminal (SIGHUP),
#: ``kill``, ``timeout`` or a service manager stopping us (SIGTERM).
CANCEL_SIGNALS = (signal.SIGINT, signal.SIGHUP, signal.SIGTERM)


def _say(text: str) -> None:
    """A line on stderr, if there still is one (after SIGHUP the terminal may be gone; the
    run is being cancelled already, so a reader that went away stops nothing more)."""
    try:
        write(sys.stderr, text + "\n")
    except OutputClosed:
        pass


def abandoned_error(undoing: str) -> Cancelled:
    """What the third Ctrl+C leaves: the run ended while still ``undoing``."""
    return Cancelled(
        f"Cancelled by the operator (Ctrl+C three times) while {undoing}: it was abandoned.",
        "Run the same command again: it finds what this run left from the journal in the "
        "tenant's profile folder and resumes or removes it.")


async def run_cancellable(work: Awaitable[T], *, on_cancel: Callable[[], None],
                          rollback_bound: float = ROLLBACK_BOUND_SECONDS,
                          undoing: str = "rolling back anything created",
                          reporter: Reporter | None = None) -> T:
    """Await ``work``; SIGINT (Ctrl+C), SIGHUP or SIGTERM cancels it and raises
    :class:`Cancelled`. ``undoing`` says what the cancelled work does before it ends (read-only
    work such as a health check has nothing to roll back).

    The first signal calls ``on_cancel`` (stops a device-code wait at once) and cancels the
    task, which lets the service layer roll back; the rollback gets at most
    ``rollback_bound`` seconds, then it is stopped and the journal stays. A second Ctrl+C
    while rolling back only says so, a third ends the process; SIGHUP and SIGTERM never end
    it before the rollback had its chance (a hung-up terminal cannot press anything).

    ``reporter``: the third Ctrl+C ends the process at once, without the command's own
    failure report; this one says it first (with ``--json``, stdout still holds the one
    JSON object the contract promises: a ``cancelled`` failure).
    """
    loop = asyncio.get_running_loop()
    task: asyncio.Task[T] = asyncio.ensure_future(work)
    presses = 0
    received: list[str] = []
    gave_up: list[bool] = []

    def give_up() -> None:
        if not task.done():
            gave_up.append(True)
            log.warning("rollback still running after %.0f s: stopped; the journal stays",
                        rollback_bound)
            task.cancel()

    def on_signal(signum: int) -> None:
        nonlocal presses
        name = signal.Signals(signum).name
        received.append(name)
        if len(received) == 1:
            log.info("%s received: cancelling, %s (at most %.0f s)", name, undoing,
                     rollback_bound)
            _say(f"\nCancelling ({name}): {undoing} (at most {rollback_bound:.0f} s)…")
            on_cancel()
            task.cancel()
            loop.call_later(rollback_bound, give_up)
            if signum == signal.SIGINT:
                presses = 1
            return
        if signum != signal.SIGINT:
            return  # the rollback goes on; only the operator's Ctrl+C may abandon it
        presses += 1
        if presses == 2:
            _say("Still rolling back; press Ctrl+C again to abandon it.")
        elif presses >= 3:
            log.warning("Ctrl+C pressed three times: rollback abandoned; the journal stays")
            if reporter is not None:
                with contextlib.suppress(Exception):  # the exit below must happen anyway
                    reporter.failure(abandoned_error(undoing))
            os._exit(130)  # the operator insists; rollback may be incomplete

    installed: list[signal.Signals] = []
    for sig in CANCEL_SIGNALS:
        try:
            loop.add_signal_handler(sig, on_signal, sig)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread or no signal support: KeyboardInterrupt still stops us
    try:
        return await task
    except asyncio.CancelledError:
        if received and gave_up:
            raise Cancelled(
                f"Cancelled ({received[0]}); the rollback did not finish within "
                f"{rollback_bound:.0f} s.",
                "Run the same command again: it finds what this run left from the journal "
                "in the tenant's profile folder and resumes or removes it.",
            ) from None
        if received:
            message = "Cancelled by the operator." if received[0] == "SIGINT" else (
                f"Cancelled: {received[0]} received (the session ended or the process was "
                "asked to stop)."
            )
            raise Cancelled(message) from None
        raise
    except VdcError as error:
        if not received or isinstance(error, Cancelled):
            raise
        # Cancelled, but the rollback could not finish: still the cancel exit code, with
        # what is left and how to remove it.
        cancelled = Cancelled(
            f"Cancelled ({received[0]}), but the rollback could not finish: {error.message}",
            error.remediation,
        )
        cancelled.details = {"rollback": error.to_json()}
        raise cancelled from None
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
