"""Saved connection profiles for a fleet written by :func:`vdc_tui.emulator.fleet.write_fleet`.

The client's side of a generated fleet: each manifest entry becomes a profile saved the way
onboarding saves one (``ProfileStore.save``), with the tenant's PFX as its key file. Used by
the benchmark, the tests and ``scripts/screenshots.py``.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509

from vdc_tui.connect.certificates import certificate_info
from vdc_tui.connect.models import (
    Availability,
    ConnectionResult,
    PermissionStatus,
    ServiceAvailability,
    TenantInfo,
)
from vdc_tui.connect.store.keystore import PassphraseProvider
from vdc_tui.connect.store.profiles import ProfileStore


def save_profiles(manifest: Path, home: Path,
                  passphrase: PassphraseProvider | None = None, *, start: int = 0,
                  step: int = 1) -> ProfileStore:
    """Save one profile per tenant of ``manifest`` (``manifest.json``) under ``home``, keys
    encrypted with the store passphrase (``passphrase``, else the usual sources).

    ``start`` and ``step``: only every ``step``-th tenant from ``start`` (a share, when
    several processes save one large fleet: ``bench/cache.py``)."""
    store = ProfileStore(home, passphrase=passphrase)
    entries = json.loads(manifest.read_text(encoding="utf-8"))["tenants"][start::step]
    for item in entries:
        # The certificate's facts from its .cer and the PFX's bytes as they are: loading the
        # PFX would re-validate the RSA key (~50 ms each), minutes for a large fleet.
        pfx_path = manifest.parent / item["pfx"]
        cert = x509.load_pem_x509_certificate(pfx_path.with_suffix(".cer").read_bytes())
        info = certificate_info(cert)
        pfx_bytes = pfx_path.read_bytes()
        services = tuple(
            ServiceAvailability(s, Availability.AVAILABLE, "licensed at onboarding")
            for s in item["services"]
        )
        result = ConnectionResult(
            mode="automatic",
            tenant=TenantInfo(item["tenant_id"], item["name"], item["domain"]),
            app_id=item["app_id"],
            app_object_id=item["app_object_id"],
            certificate=info,
            certificate_pfx=pfx_bytes,
            signed_in_as=item["admin"],
            services=services,
            permissions=PermissionStatus(granted=("(all at onboarding)",)),
            created_app=True,
        )
        store.save(result, item["services"], plan="flex", cloud="global")
    return store


# --- a synthetic fleet: profiles and last results only (no keys, no network) ------------

_COMPANIES = (
    "Contoso", "Fabrikam", "Northwind Traders", "Tailspin Toys", "Wide World Importers",
    "Adventure Works", "Litware", "Proseware", "Woodgrove Bank", "Alpine Ski House",
    "Coho Winery", "Lucerne Publishing", "Margie's Travel", "Trey Research", "Fourth Coffee",
    "Graphic Design Institute", "School of Fine Art", "Blue Yonder Airlines",
    "City Power & Light", "Consolidated Messenger",
)

#: What a synthetic tenant's last check found, by kind:
#: (check name, status, detail, problem code for the remediation).
_FINDINGS: dict[str, tuple[str, str, str, str | None]] = {
    "healthy": ("certificate", "ok", "Valid for 2 more years.", None),
    "key_removed": ("sign_in_graph", "broken",
                    "The certificate is not registered on the app.",
                    "certificate_not_registered"),
    "app_deleted": ("sign_in_graph", "broken",
                    "No application with the app's Application (client) ID was found in "
                    "the tenant.", "app_not_found_in_tenant"),
    "grant_revoked": ("permissions", "broken",
                      "1 of 20 required permissions are not in the tokens — Microsoft "
                      "Graph: Sites.Read.All.", "missing_permissions"),
    "global_reader_removed": ("global_reader", "warning",
                              "The app no longer holds the Global Reader role (Exchange "
                              "Online PowerShell needs it).", "global_reader_missing"),
    "licence_removed": ("services", "warning",
                        "No longer licensed: SharePoint Online and OneDrive for Business.",
                        "service_not_licensed"),
    "expiring": ("certificate", "warning",
                 "The certificate expires in 9 days: renew it before then or backups will "
                 "stop.", "certificate_expiring"),
    "expired": ("certificate", "broken", "The certificate expired 2 days ago.",
                "certificate_expired"),
    "throttled": ("certificate", "ok", "Valid for 2 more years.", None),
}


def synthetic_home(home: Path, count: int, *, now: datetime | None = None,
                   unchecked_every: int = 0) -> ProfileStore:
    """``count`` saved profiles with a last result each (kinds in turn), written directly.

    For the dashboard's first-frame benchmark, its snapshots and the screenshots: the same
    files a real fleet has (``profile.json``, ``health.json``), with fixed names and times.
    ``unchecked_every``: every Nth tenant has no result yet (0 = all have one).
    """
    from vdc_tui.connect.fleet.health import (
        OK,
        SKIPPED,
        Check,
        HealthCache,
        TenantHealth,
        remedy,
        verdict,
    )
    from vdc_tui.connect.store.fsutil import atomic_write, ensure_private_dir
    from vdc_tui.emulator.fleet import KINDS

    moment = (now or datetime(2026, 11, 30, 9, 0, tzinfo=UTC)).replace(microsecond=0)
    store = ProfileStore(home)
    ensure_private_dir(store.connections_dir)
    cache = HealthCache(store)
    for index in range(count):
        kind = KINDS[index % len(KINDS)]
        company = _COMPANIES[index % len(_COMPANIES)]
        suffix = "" if index < len(_COMPANIES) else f" {index // len(_COMPANIES) + 1}"
        slug = company.lower().replace("'", "").replace("&", "and").replace(" ", "")
        domain = f"{slug}{suffix.strip()}.onmicrosoft.com"
        tid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"vdc-tui/synthetic/{index}"))
        days = {"expiring": 9, "expired": -2}.get(kind, 700 - index % 300)
        not_after = moment + timedelta(days=days, hours=3)
        profile = {
            "schema_version": 1,
            "tenant": {"id": tid, "name": company + suffix, "default_domain": domain,
                       "cloud": "global"},
            "mode": "manual" if index % 7 == 3 else "automatic",
            "plan": "flex",
            "app": {"app_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"app/{index}"))},
            "certificate": {"sha1": f"{index:040X}", "not_after": not_after.isoformat()},
            "services": {"selected": ["exchange", "sharepoint", "teams"]},
            "permissions": {"granted": [], "missing": []},
        }
        folder = store.tenant_dir(tid)
        ensure_private_dir(folder)
        atomic_write(folder / "profile.json", (json.dumps(profile) + "\n").encode())
        if unchecked_every and index % unchecked_every == unchecked_every - 1:
            continue
        name, status, detail, code = _FINDINGS[kind]
        mode = str(profile["mode"])
        checks = [Check(n, OK, "Passed.") for n in
                  ("certificate", "sign_in_graph", "sign_in_exchange", "sign_in_sharepoint",
                   "permissions", "global_reader", "services")]
        position = next(i for i, c in enumerate(checks) if c.name == name)
        checks[position] = Check(name, status, detail,
                                 remedy(code, tid, mode) if code else "", code)
        if name == "sign_in_graph" and status == "broken":
            checks[position + 1:] = [Check(c.name, SKIPPED, "Not checked (an earlier check "
                                           "failed).") for c in checks[position + 1:]]
        cache.save(TenantHealth(
            tenant_id=tid, name=company + suffix, default_domain=domain, mode=mode,
            health=verdict(checks), checks=tuple(checks), sha1=f"{index:040X}",
            not_after=not_after.isoformat(), days_left=days,
            missing=("Microsoft Graph: Sites.Read.All",) if kind == "grant_revoked" else (),
            checked_at=(moment - timedelta(minutes=5 + 7 * (index % 40))).isoformat(),
        ))
    return store
