"""Saved connection profiles for a fleet written by :func:`vdc_tui.emulator.fleet.write_fleet`.

The client's side of a generated fleet: each manifest entry becomes a profile saved the way
onboarding saves one (``ProfileStore.save``), with the tenant's PFX as its key file. Used by
the benchmark, the tests and ``scripts/screenshots.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

from vdc_tui.connect.certificates import load_pfx
from vdc_tui.connect.models import (
    Availability,
    ConnectionResult,
    PermissionStatus,
    ServiceAvailability,
    TenantInfo,
)
from vdc_tui.connect.profiles import ProfileStore


def save_profiles(manifest: Path, home: Path) -> ProfileStore:
    """Save one profile per tenant of ``manifest`` (``manifest.json``) under ``home``."""
    store = ProfileStore(home)
    entries = json.loads(manifest.read_text(encoding="utf-8"))["tenants"]
    for item in entries:
        pfx = load_pfx(manifest.parent / item["pfx"], None)
        services = tuple(
            ServiceAvailability(s, Availability.AVAILABLE, "licensed at onboarding")
            for s in item["services"]
        )
        result = ConnectionResult(
            mode="automatic",
            tenant=TenantInfo(item["tenant_id"], item["name"], item["domain"]),
            app_id=item["app_id"],
            app_object_id=item["app_object_id"],
            certificate=pfx.info,
            certificate_pfx=pfx.pfx_bytes,
            signed_in_as=item["admin"],
            services=services,
            permissions=PermissionStatus(granted=("(all at onboarding)",)),
            created_app=True,
        )
        store.save(result, item["services"], plan="flex", cloud="global")
    return store
