"""One error hierarchy for the whole tool.

Every error carries a stable ``code`` (the contract of ``docs/design.md``), a one-line
``message`` and a ``remediation``. The TUI, the headless command line and the JSON output
all show those three, so they are written for the operator, never for a developer.

Nothing secret (tokens, passwords, private keys) may ever be put into an error: messages
quote server text only after :func:`scrub` and never include request bodies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

#: Exit codes of the command-line contract.
EXIT_OK = 0
EXIT_INVALID = 2
EXIT_DIAGNOSED = 3
EXIT_SERVICE = 4
EXIT_CANCELLED = 130

#: Every stable code and the exit code it maps to. Input the operator gave that cannot be
#: used at all (a bad argument, an unreadable PFX, a wrong password) is "invalid input" (2);
#: a problem the connection check found in the tenant, the app or a usable certificate is
#: "diagnosed" (3); a service that failed after retries is 4; cancelling is 130.
ERROR_CODES: dict[str, int] = {
    "invalid_argument": EXIT_INVALID,
    "pfx_unreadable": EXIT_INVALID,
    "pfx_too_large": EXIT_INVALID,
    "pfx_password_required": EXIT_INVALID,
    "pfx_wrong_password": EXIT_INVALID,
    "password_needs_terminal": EXIT_INVALID,
    "pfx_no_private_key": EXIT_DIAGNOSED,
    "key_passphrase_required": EXIT_INVALID,
    "key_passphrase_wrong": EXIT_INVALID,
    "key_passphrase_file_unsafe": EXIT_INVALID,
    "key_file_unreadable": EXIT_DIAGNOSED,
    "pfx_key_mismatch": EXIT_DIAGNOSED,
    "certificate_expired": EXIT_DIAGNOSED,
    "certificate_not_yet_valid": EXIT_DIAGNOSED,
    "certificate_key_too_weak": EXIT_DIAGNOSED,
    "tenant_not_found": EXIT_DIAGNOSED,
    "app_not_found_in_tenant": EXIT_DIAGNOSED,
    "app_missing_service_principal": EXIT_DIAGNOSED,
    "app_not_restorable": EXIT_DIAGNOSED,
    "enterprise_app_not_registration": EXIT_DIAGNOSED,
    "certificate_not_registered": EXIT_DIAGNOSED,
    "clock_skew": EXIT_DIAGNOSED,
    "missing_permissions": EXIT_DIAGNOSED,
    "user_not_in_tenant": EXIT_DIAGNOSED,
    "not_global_admin": EXIT_DIAGNOSED,
    "sign_in_declined": EXIT_DIAGNOSED,
    "device_code_expired": EXIT_DIAGNOSED,
    "device_code_blocked_by_policy": EXIT_DIAGNOSED,
    "service_unavailable": EXIT_SERVICE,
    "cancelled": EXIT_CANCELLED,
    "provisioning_failed": EXIT_SERVICE,
    "rollback_incomplete": EXIT_SERVICE,
    # keys and lifecycle
    "proof_rejected": EXIT_DIAGNOSED,
    "credential_lifetime_policy": EXIT_DIAGNOSED,
    "app_not_managed": EXIT_DIAGNOSED,
    "renewal_incomplete": EXIT_SERVICE,
    # the audit trail
    "audit_unwritable": EXIT_INVALID,
    "audit_chain_broken": EXIT_DIAGNOSED,
    # the demo
    "demo_world_damaged": EXIT_INVALID,
    "demo_profile_real_cloud": EXIT_INVALID,
}

#: What each code means, one line for the operator; ``docs/errors.md`` is generated from
#: this table, :data:`ERROR_CODES` and :data:`CHECK_CODES` (``make docs``), and a test
#: fails when a code has no meaning or the page is out of date.
ERROR_MEANINGS: dict[str, str] = {
    "invalid_argument": "An option, argument or typed value cannot be used (unknown tenant, "
    "malformed GUID or e-mail, a service the tenant does not have, a busy profile lock).",
    "pfx_unreadable": "The PFX file cannot be read or is not a PKCS#12 file.",
    "pfx_too_large": "The file is far larger than a PFX holding one certificate (a wrong "
    "file?).",
    "pfx_password_required": "The PFX is encrypted and no password was given.",
    "pfx_wrong_password": "The PFX password is wrong.",
    "password_needs_terminal": "A generated export password is shown only on a terminal, "
    "never on redirected output; give the password with --pfx-password-env or "
    "--pfx-password-stdin instead.",
    "pfx_no_private_key": "The PFX holds a certificate but no private key.",
    "key_passphrase_required": "A saved key must be read or written and no source gave the "
    "store passphrase.",
    "key_passphrase_wrong": "The store passphrase does not open the saved keys; nothing was "
    "changed.",
    "key_passphrase_file_unsafe": "VDC_TUI_KEY_PASSPHRASE_FILE is readable by others, not "
    "yours, or not a regular file.",
    "key_file_unreadable": "A saved key file is missing, damaged or under another passphrase.",
    "pfx_key_mismatch": "The PFX's private key does not belong to its certificate.",
    "certificate_expired": "The certificate's validity has ended.",
    "certificate_not_yet_valid": "The certificate's validity has not begun (or this clock is "
    "wrong).",
    "certificate_key_too_weak": "The certificate does not use an RSA key of at least 2048 "
    "bits.",
    "tenant_not_found": "No tenant answers for that domain or id.",
    "app_not_found_in_tenant": "No app registration with that Application (client) ID exists "
    "in the tenant.",
    "app_not_restorable": "The saved connection's app registration was deleted and is not "
    "in the tenant's deleted items any more (they keep it 30 days): repair cannot bring it "
    "back; `connect auto` makes a new app.",
    "app_missing_service_principal": "The app registration has no enterprise application "
    "(service principal) in the tenant.",
    "enterprise_app_not_registration": "The id is an enterprise application of another "
    "tenant, not an app registration of this one.",
    "certificate_not_registered": "The certificate is not among the app registration's keys.",
    "clock_skew": "This machine's clock is too far from Microsoft's for a sign-in.",
    "missing_permissions": "Application permissions are not consented: the app-only tokens "
    "lack them.",
    "user_not_in_tenant": "The admin e-mail is not a user of the tenant.",
    "not_global_admin": "The signed-in user is not a Global Administrator.",
    "sign_in_declined": "The administrator declined the sign-in.",
    "device_code_expired": "The device code expired before anyone signed in.",
    "device_code_blocked_by_policy": "Conditional Access blocks device-code sign-in for this "
    "tenant.",
    "service_unavailable": "Microsoft (or the network to it) kept failing after retries.",
    "cancelled": "The operator or a signal (Ctrl+C, SIGHUP, SIGTERM) stopped the run.",
    "provisioning_failed": "A step that reads or changes the tenant's app, principal or grants "
    "could not finish (onboarding, renewal, repair); the message names the step.",
    "rollback_incomplete": "A rollback could not remove everything; the error says what is "
    "left.",
    "proof_rejected": "Graph refused the proof of possession for addKey/removeKey; nothing "
    "was changed.",
    "credential_lifetime_policy": "The tenant's app management policy refuses even a "
    "30-day certificate.",
    "app_not_managed": "The app was not made by vdc-tui (no vdc-tui:managed tag) or does not "
    "match the profile; nothing is deleted.",
    "renewal_incomplete": "The new certificate is on the app but its tokens did not carry every "
    "permission in time (replication, or a grant removed meanwhile); the old one still works "
    "and the next renewal finishes or undoes it.",
    "audit_unwritable": "The audit log ($VDC_TUI_HOME/audit.jsonl) cannot be appended to "
    "(read-only home, full disk); the action stopped before changing anything.",
    "audit_chain_broken": "`vdc-tui audit --verify` found a line of the audit log edited, "
    "removed or reordered; the error names the first one.",
    "demo_world_damaged": "The demo's emulator world (`$VDC_TUI_HOME/demo/world/world.json`) "
    "cannot be read; `vdc-tui --demo-reset` deletes the demo and the next demo run seeds a "
    "new one.",
    "demo_profile_real_cloud": "A demo home's profiles were to be used against a real cloud; "
    "they work only with `--demo` or an emulator on 127.0.0.1.",
}

#: Codes that only appear in a ``connections check`` result (a check's ``code``), never as
#: an error of a command, with their meanings. A check's sign-in failures use the codes of
#: :data:`ERROR_CODES`.
CHECK_CODES: dict[str, str] = {
    "certificate_expiring": "The certificate ends within 30 days (a warning): renew it.",
    "certificate_mismatch": "The key file holds another certificate than the profile names.",
    "global_reader_missing": "The app's principal no longer holds Global Reader (a warning).",
    "service_not_licensed": "A selected service is no longer licensed in the tenant (a "
    "warning).",
    "profile_damaged": "The saved profile cannot be read.",
    "standing_delegated_consent": "A delegated permission grant of the sign-in client still "
    "holds an onboarding scope in the tenant (a warning): any later sign-in of that client "
    "gets it without a prompt.",
}

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")


def scrub(text: str, *, limit: int = 2000) -> str:
    """Make untrusted text safe to put into an error or a log line.

    Removes control characters (so a server message cannot drive the terminal), masks
    anything that looks like a bearer token or a JWT, and bounds the length.
    """
    # Printable ASCII without "bearer" or "eyJ" has nothing to replace (most text: names,
    # domains, dates); the regular expressions are only run on the rest.
    if not (text.isascii() and text.isprintable() and "eyJ" not in text
            and "bearer" not in text.lower()):
        text = _CONTROL.sub(" ", text)
        text = _BEARER.sub(r"\1[redacted]", text)
        text = _JWT.sub("[redacted-jwt]", text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


@dataclass(eq=False)
class VdcError(Exception):
    """A failure the operator can act on.

    Attributes:
        code: One of :data:`ERROR_CODES`.
        message: One line saying what is wrong.
        remediation: What to do about it.
        details: Extra facts for JSON output and the checklist (ids, thumbprints, lists of
            missing permissions). Plain JSON values only; never secrets.
    """

    code: str
    message: str
    remediation: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.code not in ERROR_CODES:
            raise ValueError(f"unknown error code {self.code!r}")
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    @property
    def exit_code(self) -> int:
        """The process exit code of the command-line contract for this error."""
        return ERROR_CODES[self.code]

    def to_json(self) -> dict[str, Any]:
        """The ``error`` object of the ``--json`` failure output."""
        out: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "remediation": self.remediation,
        }
        if self.details:
            out["details"] = self.details
        return out


class InvalidInput(VdcError):
    """The operator's input cannot be used (exit 2)."""


class CertificateProblem(VdcError):
    """A PFX or certificate problem (``pfx_*`` and ``certificate_*`` codes)."""


class SignInError(VdcError):
    """Sign-in (device code or certificate) failed in a way the wizard can explain."""


class DiagnosedProblem(VdcError):
    """The connection check found something wrong in the tenant or the app (exit 3)."""


class ServiceUnavailable(VdcError):
    """A Microsoft service could not be reached or kept failing after retries (exit 4)."""

    def __init__(
        self,
        message: str,
        remediation: str = "Check the network connection and try again; "
        "`vdc-tui doctor` tests connectivity to the cloud's endpoints.",
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__("service_unavailable", message, remediation, details or {})


class ProvisioningFailed(VdcError):
    """Automatic provisioning could not finish (``provisioning_failed``/``rollback_incomplete``)."""


class Cancelled(VdcError):
    """The operator cancelled (exit 130)."""

    def __init__(self, message: str = "Cancelled by the operator.", remediation: str = "") -> None:
        super().__init__("cancelled", message, remediation, {})
