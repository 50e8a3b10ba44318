"""What a health check found, and the last result kept per tenant.

A tenant's result (:class:`TenantHealth`) is a list of :class:`Check` s, each with its
status, detail and the remediation that fixes it (:func:`remedy`: which ``vdc-tui``
command); its verdict is the worst of them (:func:`verdict`): ``healthy``, ``warning`` or
``broken``. :class:`HealthCache` keeps the last one per tenant (``health.json``), which the
dashboard reads before its first frame, so this module stays light: the checks themselves
are in :mod:`.health_check`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from vdc_tui.connect.errors import InvalidInput, scrub
from vdc_tui.connect.store.fsutil import atomic_write

if TYPE_CHECKING:
    from pathlib import Path

    from vdc_tui.connect.store.profiles import ProfileEntry, ProfileStore

log = logging.getLogger(__name__)

HEALTH_FILE = "health.json"

#: Verdicts, best first.
HEALTHY, WARNING, BROKEN = "healthy", "warning", "broken"
#: Status of one check.
OK, WARN, FAIL, SKIPPED = "ok", "warning", "broken", "skipped"

CHECK_NAMES: dict[str, str] = {
    "profile": "Profile",
    "certificate": "Certificate",
    "sign_in_graph": "Sign-in: Microsoft Graph",
    "sign_in_exchange": "Sign-in: Exchange Online",
    "sign_in_sharepoint": "Sign-in: SharePoint Online",
    "permissions": "Permissions in the tokens",
    "global_reader": "Global Reader role",
    "services": "Services licensed",
    "delegated_consent": "No standing delegated consent",
}

_RANK = {BROKEN: 0, WARNING: 1, HEALTHY: 2}
_STATUS_RANK = {FAIL: 0, WARN: 1, OK: 2, SKIPPED: 2}


@dataclass(frozen=True)
class Check:
    """One line of a tenant's health.

    Attributes:
        name: Stable id (:data:`CHECK_NAMES`).
        status: ``ok``, ``warning``, ``broken`` or ``skipped``.
        detail: What was found (one line, safe to print).
        remediation: What fixes it (empty when nothing needs doing).
        code: The stable error code of a problem (``certificate_expired``, …).
    """

    name: str
    status: str
    detail: str
    remediation: str = ""
    code: str | None = None

    @property
    def title(self) -> str:
        """The check's label for people."""
        return CHECK_NAMES.get(self.name, self.name)

    def to_json(self) -> dict[str, Any]:
        """The contract's ``{"name", "status", "detail", "remediation"}`` (+ ``code``)."""
        out: dict[str, Any] = {
            "name": self.name,
            "status": self.status,
            "detail": self.detail,
            "remediation": self.remediation,
        }
        if self.code:
            out["code"] = self.code
        return out


@dataclass(frozen=True)
class TenantHealth:
    """The health of one saved connection at one moment.

    Attributes:
        tenant_id: The tenant.
        name: Its display name, when known.
        default_domain: Its default domain, when known.
        mode: ``auto`` or ``manual`` (from the profile).
        health: ``healthy``, ``warning`` or ``broken``.
        checks: Every check, in order.
        sha1: SHA-1 thumbprint of the certificate checked.
        not_after: Its end of validity (ISO 8601), when it was read.
        days_left: Whole days until ``not_after`` (negative once expired).
        missing: Permissions absent from the tokens (``API: value``).
        checked_at: When the check ended (ISO 8601 UTC).
        unreachable: The tenant could not be reached at all (network, deadline).
    """

    tenant_id: str
    name: str | None
    default_domain: str | None
    mode: str | None
    health: str
    checks: tuple[Check, ...]
    sha1: str | None = None
    not_after: str | None = None
    days_left: int | None = None
    missing: tuple[str, ...] = ()
    checked_at: str = ""
    unreachable: bool = False

    @property
    def summary(self) -> str:
        """One line: the first problem's detail, or that all is well."""
        worst = sorted(self.checks, key=lambda c: _STATUS_RANK.get(c.status, 2))
        if worst and worst[0].status in (FAIL, WARN):
            return worst[0].detail
        return "All checks passed."

    @property
    def rank(self) -> tuple[int, int, int, str]:
        """Sort key, worst first: unreachable, broken, warning, healthy; then fewer days."""
        return (
            _RANK.get(self.health, 2),
            0 if self.unreachable else 1,
            self.days_left if self.days_left is not None else 10**6,
            (self.name or self.tenant_id).casefold(),
        )

    def to_json(self) -> dict[str, Any]:
        """One entry of ``connections check --json``'s ``connections``."""
        return {
            "tenant_id": self.tenant_id,
            "name": self.name,
            "default_domain": self.default_domain,
            "mode": self.mode,
            "health": self.health,
            "unreachable": self.unreachable,
            "checks": [c.to_json() for c in self.checks],
            "certificate": {
                "sha1": self.sha1,
                "not_after": self.not_after,
                "days_left": self.days_left,
            },
            "permissions": {"missing": list(self.missing)},
            "checked_at": self.checked_at,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TenantHealth:
        """Read back what :meth:`to_json` wrote (the last-result cache).

        Raises:
            ValueError: the document does not have that shape.
        """
        try:
            cert = data.get("certificate") or {}
            perms = data.get("permissions") or {}
            checks = tuple(
                _check(
                    str(c["name"]),
                    str(c["status"]),
                    str(c.get("detail") or ""),
                    str(c.get("remediation") or ""),
                    str(c["code"]) if c.get("code") else None,
                )
                for c in data.get("checks") or ()
            )
            health = str(data["health"])
            if health not in _RANK:
                raise ValueError(f"unknown health {health!r}")
            days = cert.get("days_left")
            return cls(
                tenant_id=str(data["tenant_id"]),
                name=_opt_str(data.get("name")),
                default_domain=_opt_str(data.get("default_domain")),
                mode=_opt_str(data.get("mode")),
                health=health,
                checks=checks,
                sha1=_opt_str(cert.get("sha1")),
                not_after=_opt_str(cert.get("not_after")),
                days_left=int(days) if isinstance(days, int) else None,
                missing=tuple(str(m) for m in perms.get("missing") or ()),
                checked_at=str(data.get("checked_at") or ""),
                unreachable=bool(data.get("unreachable")),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a health record ({type(exc).__name__})") from None


#: Checks read back from last results, by their fields: most tenants' checks say the same
#: ("Passed."), and a fleet's last results are read at every start of the dashboard.
#: Checks are immutable, so one object serves every tenant; bounded, for long sessions.
_READ_CHECKS: dict[tuple[str, str, str, str, str | None], Check] = {}
_READ_CHECKS_MAX = 4096


def _check(name: str, status: str, detail: str, remediation: str, code: str | None) -> Check:
    key = (name, status, detail, remediation, code)
    found = _READ_CHECKS.get(key)
    if found is None:
        if len(_READ_CHECKS) >= _READ_CHECKS_MAX:
            _READ_CHECKS.clear()
        found = _READ_CHECKS[key] = Check(name, status, detail, remediation, code)
    return found


def _opt_str(value: Any) -> str | None:
    return scrub(str(value), limit=256) if isinstance(value, str) and value else None


def verdict(checks: tuple[Check, ...] | list[Check]) -> str:
    """The tenant's health: the worst status among its checks."""
    statuses = {c.status for c in checks}
    if FAIL in statuses:
        return BROKEN
    if WARN in statuses:
        return WARNING
    return HEALTHY


def now_iso(moment: datetime | None = None) -> str:
    """``2026-11-30T23:59:00+00:00``: the form every time of a health record uses."""
    return (moment or datetime.now(UTC)).replace(microsecond=0).isoformat()


# --- which command fixes what ---------------------------------------------------------


#: The dashboard's action that fixes a finding where it is shown: ``renew`` (``r``: the app
#: rolls its own key, no admin) or ``repair`` (``p``: what a Global Administrator's one
#: sign-in fixes, keeping the app).
FIX_ACTIONS = {
    "certificate_expiring": "renew",
    "certificate_expired": "repair",
    "certificate_not_registered": "repair",
    "app_not_found_in_tenant": "repair",
    "app_missing_service_principal": "repair",
    "missing_permissions": "repair",
    "global_reader_missing": "repair",
}


def fix_action(code: str | None) -> str | None:
    """The dashboard action (``renew`` or ``repair``) that fixes ``code``, if one does."""
    return FIX_ACTIONS.get(code or "")


def remedy(code: str, tenant_id: str, mode: str | None, fallback: str = "") -> str:
    """The remediation of a problem code: the vdc-tui command that fixes it first.

    Args:
        code: The problem's stable code.
        tenant_id: The tenant (named in the command).
        mode: The profile's mode: an ``auto`` connection is remade by a Global
            Administrator's sign-in, a ``manual`` one needs the operator's app fixed.
        fallback: The diagnosis' own remediation, used for codes without a command.
    """
    reconnect = (
        f"Connect again: `vdc-tui connect auto` (a Global Administrator signs in with a "
        f"device code; automatic mode reuses the app of tenant {tenant_id} if it exists)."
        if mode != "manual"
        else "Fix the app registration in the Entra admin centre, then check it with "
        "`vdc-tui connect manual --admin-email … --app-id … --pfx …`."
    )
    # What one admin sign-in fixes, keeping the app and its app id (never "remove the
    # profile": the profile is what repair works from).
    repair = f"Run `vdc-tui connections repair {tenant_id}` (a Global Administrator signs in once)"
    table = {
        "app_not_found_in_tenant": "The app was deleted in the tenant. " + repair + ": it "
        "is restored from the tenant's deleted items (within 30 days of the deletion) with "
        "the same app id, and granted again.",
        "app_not_restorable": "The app is past the 30 days of deleted items. " + reconnect,
        "app_missing_service_principal": "The app's Enterprise application was deleted in "
        "the tenant. " + repair + ": it is created again and granted.",
        "enterprise_app_not_registration": reconnect,
        "certificate_not_registered": "The certificate was removed from the app. " + repair
        + ": the saved certificate is registered again, so the PFX the backup service holds "
        "works again.",
        "certificate_expired": "An expired certificate cannot renew itself. " + repair
        + ": a new certificate goes on the same app; then give the backup service the new "
        f"PFX (`vdc-tui connections export {tenant_id}`)." + (
            " For your own app you may instead upload a new certificate to it and prove it "
            "with `vdc-tui connect manual --admin-email … --app-id … --pfx …`."
            if mode == "manual" else ""),
        "certificate_expiring": f"Renew it now: `vdc-tui connections renew {tenant_id}` (no "
        "admin sign-in needed while the certificate is valid).",
        "missing_permissions": f"Grant what is missing: `vdc-tui connections repair "
        f"{tenant_id}` (a Global Administrator signs in; only missing grants are added).",
        "global_reader_missing": f"Assign it again: `vdc-tui connections repair {tenant_id}`, "
        "or Entra admin centre → Roles and administrators → Global Reader → Add assignments.",
        "tenant_not_found": "The tenant is gone (or the profile's id is wrong): remove the "
        f"profile with `vdc-tui connections remove {tenant_id}`.",
        "service_not_licensed": "License the service again in the Microsoft 365 admin centre, "
        "or stop protecting it (connect again with --services).",
        "service_unavailable": "Check again later; `vdc-tui doctor` tests this computer's "
        "network, proxy and TLS.",
        "standing_delegated_consent": f"`vdc-tui connections repair {tenant_id}` removes it "
        "(a Global Administrator signs in; the run's last step takes the onboarding scopes "
        "out of the sign-in client's grants, earlier scopes stay).",
        "profile_damaged": f"Remove it with `vdc-tui connections remove {tenant_id}` and "
        "connect again.",
    }
    return table.get(code) or fallback


# --- the last result per tenant -----------------------------------------------------


class HealthCache:
    """``connections/<tenant>/health.json``: the last check of each tenant, with its time."""

    def __init__(self, store: ProfileStore) -> None:
        self.store = store

    def path(self, tenant_id: str) -> Path:
        """Where a tenant's last result lives."""
        return self.store.tenant_dir(tenant_id) / HEALTH_FILE

    def save(self, result: TenantHealth) -> None:
        """Write one result atomically (a tenant whose folder is gone is skipped)."""
        path = self.path(result.tenant_id)
        if not path.parent.is_dir():
            return
        data = (json.dumps(result.to_json(), ensure_ascii=False) + "\n").encode("utf-8")
        try:
            atomic_write(path, data)
        except OSError as exc:
            log.warning("could not keep the health of %s: %s", result.tenant_id,
                        type(exc).__name__)

    def load(self, tenant_id: str) -> TenantHealth | None:
        """The last result of a tenant, or ``None`` (never checked, or unreadable)."""
        try:
            path = self.path(tenant_id)
        except InvalidInput:
            return None
        return self._load(tenant_id, os.fspath(path))

    @staticmethod
    def _load(tenant_id: str, path: str) -> TenantHealth | None:
        try:
            with open(path, "rb") as file:
                raw = json.loads(file.read().decode("utf-8"))
            result = TenantHealth.from_json(raw)
        except (OSError, ValueError, InvalidInput):
            return None
        return result if result.tenant_id == tenant_id else None

    def load_all(self, entries: Iterable[ProfileEntry]) -> dict[str, TenantHealth]:
        """The last results of these tenants (those that have one)."""
        from vdc_tui.connect.store.profiles import is_tenant_id

        # Paths as strings, each id checked as tenant_dir checks it:
        # pathlib's joins and reads cost ~4 ms more for 500 tenants before the first frame.
        folder = os.fspath(self.store.connections_dir)
        out: dict[str, TenantHealth] = {}
        for entry in entries:
            tid = entry.tenant_id
            if not is_tenant_id(tid):  # as tenant_dir, which refuses it
                continue
            found = self._load(tid, os.path.join(folder, tid, HEALTH_FILE))
            if found is not None:
                out[tid] = found
        return out


def unreachable_health(entry: ProfileEntry, why: str, *, checked_at: str | None = None
                       ) -> TenantHealth:
    """The record of a tenant that gave no answer in time (network down, deadline)."""
    mode = entry.mode
    code = "service_unavailable"
    check = Check("sign_in_graph", FAIL, why, remedy(code, entry.tenant_id, None), code)
    return TenantHealth(
        tenant_id=entry.tenant_id, name=entry.name, default_domain=entry.default_domain,
        mode=mode if isinstance(mode, str) else None, health=BROKEN, checks=(check,),
        checked_at=checked_at or now_iso(), unreachable=True)


@dataclass(frozen=True)
class FleetProgress:
    """One tenant started or finished.

    Attributes:
        tenant_id: The tenant.
        result: Its health once finished, ``None`` when it just started.
        done: Tenants finished so far.
        total: Tenants in this run.
    """

    tenant_id: str
    result: TenantHealth | None
    done: int
    total: int


__all__ = [
    "FleetProgress",
    "BROKEN",
    "CHECK_NAMES",
    "FIX_ACTIONS",
    "Check",
    "HEALTHY",
    "HealthCache",
    "TenantHealth",
    "fix_action",
    "WARNING",
    "remedy",
    "unreachable_health",
    "verdict",
]
