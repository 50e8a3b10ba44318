"""``vdc-tui connections list|show|remove``: the saved connection profiles."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from vdc_tui.cli.output import Reporter
from vdc_tui.connect.errors import VdcError, scrub
from vdc_tui.connect.store.profiles import ProfileEntry, ProfileStore

log = logging.getLogger("vdc_tui.cli.connections")
T = TypeVar("T")

def tenant_untouched(tenant_id: str, app_id: str | None, mode: str | None) -> str:
    """What ``remove`` (local only) says about the tenant, so nobody believes the app is gone.

    The profile is gone by then, so ``remove --offboard`` cannot find the tenant any more: the
    text names what still works instead."""
    app = f"the app registration {app_id}" if app_id else "the app registration"
    said = (f"Only local files were removed: {app}, its certificate and its permissions in "
            f"tenant {tenant_id} were not touched and still exist there. ")
    if mode == "manual":
        return said + ("It is the operator's own app (manual mode): delete it in the Entra "
                       "admin centre (App registrations) only if nothing else uses it.")
    return said + (
        "`connections remove --offboard` cannot find the tenant now that the profile is "
        "gone: delete the app in the Entra admin centre (App registrations → "
        f"{app_id or 'the app'} → Delete), or connect the tenant again with `vdc-tui connect "
        "auto` (a Global Administrator of it signs in; the app is reused) and then run "
        "`vdc-tui connections remove "
        f"{tenant_id} --offboard`. Next time offboard first: `remove --offboard` deletes "
        "the app, then the local files.")


#: How ``list`` names a key file's protection (``ProfileStore.key_status``).
KEY_LABELS = {"encrypted": "encrypted", "unprotected": "UNPROTECTED", "missing": "-",
              "unknown": "unreadable"}


#: How ``show`` describes it.
KEY_DESCRIPTIONS = {
    "encrypted": "encrypted under the store passphrase (PKCS#12, AES-256)",
    "unprotected": "UNPROTECTED (saved before encryption; encrypted on first use)",
    "missing": "no key file",
    "unknown": "unreadable key file",
}


def _summary(entry: ProfileEntry, store: ProfileStore | None = None) -> dict[str, Any]:
    profile = entry.profile or {}
    app = profile.get("app") if isinstance(profile.get("app"), dict) else {}
    services = profile.get("services") if isinstance(profile.get("services"), dict) else {}
    return {
        "tenant_id": entry.tenant_id,
        "name": entry.name,
        "default_domain": entry.default_domain,
        "mode": profile.get("mode"),
        "plan": profile.get("plan"),
        "app_id": (app or {}).get("app_id"),
        "services": (services or {}).get("selected", []),
        "updated_at": profile.get("updated_at"),
        "path": str(entry.path),
        **({"key": store.key_status(entry.tenant_id)} if store is not None else {}),
    }


def _folder_warnings(store: ProfileStore, reporter: Reporter) -> None:
    for warning in store.warnings:
        reporter.warning(warning)


def list_connections(store: ProfileStore, reporter: Reporter) -> int:
    """List every profile; damaged ones are reported and skipped, never fatal."""
    entries = store.list()
    _folder_warnings(store, reporter)
    good = [e for e in entries if e.profile is not None]
    damaged = [e for e in entries if e.profile is None]
    for entry in damaged:
        reporter.warning(f"tenant {entry.tenant_id}: {entry.error} ({entry.path})")
    if reporter.json_mode:
        reporter.emit({
            "status": "ok",
            "home": str(store.root),
            "connections": [_summary(e, store) for e in good],
            "damaged": [{"tenant_id": e.tenant_id, "path": str(e.path), "error": e.error}
                        for e in damaged],
        })
        return 0
    if not good:
        reporter.result(f"No saved connections under {store.connections_dir}.")
        return 0
    rows: list[tuple[str, ...]] = [("TENANT ID", "NAME", "DOMAIN", "MODE", "APP ID", "KEY",
                                    "UPDATED")]
    summaries = [_summary(e, store) for e in good]
    for s in summaries:
        s["key"] = KEY_LABELS.get(s["key"], s["key"])
        rows.append(tuple(scrub(str(s[k] or "-"), limit=60) for k in
                          ("tenant_id", "name", "default_domain", "mode", "app_id", "key",
                           "updated_at")))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = (cell.ljust(w) for cell, w in zip(row, widths, strict=True))
        reporter.result("  ".join(cells).rstrip())
    unprotected = [s["tenant_id"] for s in summaries if s["key"] == "UNPROTECTED"]
    if unprotected:
        reporter.warning(
            f"{len(unprotected)} key(s) were saved without a password, before keys were "
            "encrypted; each is encrypted in place the first time a command reads it "
            "(e.g. `vdc-tui connections export TENANT`).")
    return 0


def _act_on_profile(
    store: ProfileStore, reporter: Reporter, tenant: str, act: Callable[[str], T]
) -> tuple[ProfileEntry, T] | int:
    """Find the profile of ``tenant`` and ``act`` on its tenant id (``show`` and ``remove``).

    The folder's warnings are said either way, after the work. Returns the entry and what
    ``act`` returned, or the exit code of a failure already reported.
    """
    try:
        entry = store.find(tenant)
        outcome = act(entry.tenant_id)
    except VdcError as error:
        _folder_warnings(store, reporter)
        reporter.failure(error)
        return error.exit_code
    _folder_warnings(store, reporter)
    return entry, outcome


def show_connection(store: ProfileStore, reporter: Reporter, tenant: str) -> int:
    """Show one profile (by tenant id, default domain or name)."""
    found = _act_on_profile(store, reporter, tenant, store.load)
    if isinstance(found, int):
        return found
    entry, profile = found
    key = store.key_status(entry.tenant_id)
    if reporter.json_mode:
        reporter.emit({"status": "ok", "path": str(entry.path), "profile": profile,
                       "key": key})
        return 0
    for line in _describe(profile, entry):
        reporter.result(scrub(line, limit=1000))
    reporter.result(f"Key:           {KEY_DESCRIPTIONS.get(key, key)}")
    return 0


def _describe(profile: dict[str, Any], entry: ProfileEntry) -> list[str]:
    def get(*keys: str) -> Any:
        value: Any = profile
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    def listed(value: Any) -> str:
        return ", ".join(str(v) for v in value) if isinstance(value, list) and value else "-"

    return [
        f"Tenant:        {get('tenant', 'name') or '-'} ({entry.tenant_id})",
        f"Domain:        {get('tenant', 'default_domain') or '-'}",
        f"Cloud:         {get('tenant', 'cloud') or '-'}",
        f"Mode:          {get('mode') or '-'}    Plan: {get('plan') or '-'}",
        f"Signed in as:  {get('signed_in_admin') or '-'}",
        f"App (client):  {get('app', 'app_id') or '-'}",
        f"Certificate:   SHA-1 {get('certificate', 'sha1') or '-'}",
        f"               valid until {get('certificate', 'not_after') or '-'}",
        f"Key file:      {get('certificate', 'key_file') or '(none)'}",
        f"Services:      {listed(get('services', 'selected'))}"
        f"  (available: {listed(get('services', 'available'))})",
        f"Permissions:   {len(get('permissions', 'granted') or [])} granted, "
        f"missing: {listed(get('permissions', 'missing'))}",
        f"Verified at:   {get('verified_at') or '-'}",
        f"Profile:       {entry.path}",
    ]


def remove_connection(store: ProfileStore, reporter: Reporter, tenant: str) -> int:
    """Delete one profile and its key files; the tenant itself is not touched."""
    from vdc_tui.connect.service import remove_profile

    found = _act_on_profile(store, reporter, tenant,
                            lambda tenant_id: remove_profile(store, tenant_id))
    if isinstance(found, int):
        return found
    entry, removed = found
    log.info("removed profile of tenant %s (%d paths)", entry.tenant_id, len(removed))
    label = entry.name or entry.default_domain or entry.tenant_id
    reporter.note(f"Removed the connection profile of {label} ({entry.tenant_id}).")
    profile = entry.profile or {}
    app = profile.get("app") if isinstance(profile.get("app"), dict) else {}
    mode = profile.get("mode")
    note = tenant_untouched(entry.tenant_id, str((app or {}).get("app_id") or "") or None,
                            mode if isinstance(mode, str) else None)
    reporter.note(note)
    if reporter.json_mode:
        reporter.emit({
            "status": "removed",
            "tenant": {"id": entry.tenant_id, "name": entry.name,
                       "default_domain": entry.default_domain},
            "removed": [str(p) for p in removed],
            "tenant_untouched": True,
            "note": note,
        })
    else:
        for path in removed:
            reporter.result(f"removed {path}")
    return 0
