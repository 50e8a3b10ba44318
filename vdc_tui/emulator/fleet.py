"""Fleets of tenants whose saved connections are healthy or broken in a chosen way.

:func:`write_fleet` writes, into one folder, a scenario with N tenants (each with its app
registration, certificate, grants and Global Reader role), the certificate of each app
(``<n>.cer``) and its PFX with the private key (``<n>.pfx``, no password: what the
operator's machine holds), and ``manifest.json``: the manifest a test or the benchmark turns
into saved connection profiles.

Each tenant is of one *kind*: how its connection has been broken since onboarding.

========================  ==============================================================
``healthy``               Everything in place.
``key_removed``           The app's certificate was removed from the app registration.
``key_expired_on_app``    The certificate is valid, but its key credential on the app ended
                          yesterday (an ``endDateTime`` set shorter than the certificate's).
``app_deleted``           The app registration was deleted two days ago: it is in the
                          tenant's deleted items (restorable, same appId and id); its
                          principal and grants are gone.
``app_purged``            The app registration was deleted 40 days ago: past the 30 days of
                          deleted items, gone for good.
``grant_revoked``         Admin consent of Graph ``Sites.Read.All`` was revoked.
``global_reader_removed`` The Global Reader role was taken from the app.
``licence_removed``       The SharePoint licence lapsed (no SharePoint service plan).
``expiring``              The certificate expires in 10 days.
``expired``               The certificate expired yesterday.
``throttled``             The tenant's token endpoint answers every 2nd request with 429
                          and ``Retry-After: 1`` (the scenario's ``faults``; one per fleet).
``manual``                Healthy, but the app is the operator's own (no ``vdc-tui:managed``
                          tag): the connection was made in manual mode (``"mode"`` in the
                          manifest). Not in :data:`KINDS` (the tests' fleet of every kind).
``standing_consent``      Healthy, but the admin's consent of the onboarding's delegated
                          scopes to Microsoft Graph Command Line Tools was left in place (a
                          ``Principal`` oAuth2PermissionGrant). Not in :data:`KINDS` either.
========================  ==============================================================

An ``app_deleted`` app waits in the tenant's deleted items (deleted 2 days ago: restorable
for 28 more days); an ``app_purged`` one was deleted 40 days ago, past what Entra keeps.

The emulator's own view only: nothing here reads the client's code or data.
"""

from __future__ import annotations

import datetime as _dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

KINDS = (
    "healthy",
    "key_removed",
    "app_deleted",
    "grant_revoked",
    "global_reader_removed",
    "licence_removed",
    "expiring",
    "expired",
    "throttled",
)
#: Every broken kind once, in this order (the scenario of the tests and the screenshots).
BROKEN_KINDS = KINDS[1:]
#: Breaks only a Global Administrator's sign-in (``connections repair``) can fix, beyond
#: those of :data:`KINDS` (kept apart so the screenshots' fleet stays as it is).
REPAIR_KINDS = ("key_expired_on_app", "app_purged")
#: Every kind :func:`write_fleet` accepts.
ALL_KINDS = (*KINDS, *REPAIR_KINDS, "manual", "standing_consent")
#: What an onboarding's device-code sign-in leaves consented to Microsoft Graph Command Line
#: Tools when nobody removes it (Microsoft records consent cumulatively), beside the admin's
#: own earlier ``User.Read``.
STANDING_SCOPES = ("User.Read Application.ReadWrite.All AppRoleAssignment.ReadWrite.All "
                   "Directory.ReadWrite.All RoleManagement.ReadWrite.Directory")


@dataclass(frozen=True)
class FleetName:
    """A tenant's believable names: its display name, the label of its
    ``<label>.onmicrosoft.com`` domain, and its Global Administrator's display name."""

    display_name: str
    domain_label: str
    admin_name: str = "Fleet Admin"

_NAMESPACE = uuid.UUID("0f1e2d3c-4b5a-4968-8778-695a4b3c2d1e")
_ALL_PLANS = ["EXCHANGE_S_ENTERPRISE", "SHAREPOINTENTERPRISE", "TEAMS1"]


@dataclass(frozen=True)
class FleetFiles:
    """What :func:`write_fleet` wrote.

    Attributes:
        scenario: The scenario JSON (``--scenario`` of ``vdc-tui emulator``).
        manifest: ``manifest.json``: one entry per tenant (``tenant_id``, ``name``, ``domain``,
            ``app_id``, ``app_object_id``, ``admin``, ``pfx``, ``kind``, ``services``,
            ``mode``).
        tenants: The manifest's entries.
    """

    scenario: Path
    manifest: Path
    tenants: tuple[dict[str, Any], ...]


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _certificate(key: rsa.RSAPrivateKey, name: str, not_before: _dt.datetime,
                 not_after: _dt.datetime) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )


def write_fleet(
    folder: Path,
    kinds: Sequence[str],
    *,
    name: str = "fleet",
    now: _dt.datetime | None = None,
    faults: dict[str, Any] | None = None,
    names: Sequence[FleetName] | None = None,
) -> FleetFiles:
    """Write a scenario with one tenant per entry of ``kinds`` (see the module's table).

    One RSA key is shared by every certificate (thousands of keys would cost minutes);
    every certificate, and so every thumbprint, is its own.

    Args:
        folder: Where to write (created).
        kinds: The kind of each tenant, in order.
        name: The scenario's name.
        now: The moment validity periods count from (default: now).
        faults: Extra scenario faults (``latency`` for the benchmark, …).
        names: One :class:`FleetName` per tenant (default: ``Tenant 0001 (kind)`` at
            ``t0001.onmicrosoft.com``).

    Raises:
        ValueError: an unknown kind, more than one ``throttled`` tenant, or not one name
            per tenant.
    """
    if names is not None and len(names) != len(kinds):
        raise ValueError("give one name per tenant")
    unknown = sorted(set(kinds) - set(ALL_KINDS))
    if unknown:
        raise ValueError(f"unknown kind(s): {', '.join(unknown)}")
    if list(kinds).count("throttled") > 1:
        raise ValueError("at most one throttled tenant per fleet (one token-endpoint fault)")
    folder.mkdir(parents=True, exist_ok=True)
    moment = (now or _dt.datetime.now(_dt.UTC)).replace(microsecond=0)
    key = _key()
    tenants: list[dict[str, Any]] = []
    manifest: list[dict[str, Any]] = []
    all_faults = dict(faults or {})
    for index, kind in enumerate(kinds, start=1):
        label = f"t{index:04d}"
        tid = str(uuid.uuid5(_NAMESPACE, f"{name}/{label}/tenant"))
        app_id = str(uuid.uuid5(_NAMESPACE, f"{name}/{label}/app"))
        app_oid = str(uuid.uuid5(_NAMESPACE, f"{name}/{label}/app-object"))
        named = names[index - 1] if names is not None else None
        domain = f"{named.domain_label if named else label}.onmicrosoft.com"
        display = named.display_name if named else f"Tenant {index:04d} ({kind.replace('_', ' ')})"
        admin_name = named.admin_name if named else "Fleet Admin"
        if kind == "expiring":
            start, end = moment - _dt.timedelta(days=355), moment + _dt.timedelta(days=10)
        elif kind == "expired":
            start, end = moment - _dt.timedelta(days=366), moment - _dt.timedelta(days=1)
        else:
            start, end = moment - _dt.timedelta(days=1), moment + _dt.timedelta(days=730)
        cert = _certificate(key, f"vdc-tui {label}", start, end)
        (folder / f"{label}.cer").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        pfx = pkcs12.serialize_key_and_certificates(
            label.encode(), key, cert, None, serialization.NoEncryption())
        (folder / f"{label}.pfx").write_bytes(pfx)
        (folder / f"{label}.pfx").chmod(0o600)
        plans = ["EXCHANGE_S_ENTERPRISE", "TEAMS1"] if kind == "licence_removed" else _ALL_PLANS
        tenant: dict[str, Any] = {
            "id": tid,
            "display_name": display,
            "domains": [domain],
            "users": [{"upn": f"admin@{domain}", "display_name": admin_name,
                       "roles": ["Global Administrator"]}],
            "skus": [{"sku_part_number": "ENTERPRISEPACK",
                      "sku_id": "6fd2c87f-b296-42f0-b197-1e91e994b900",
                      "consumed_units": 10, "enabled_units": 25, "service_plans": plans}],
        }
        registered: dict[str, Any] = {"cert": f"{label}.cer"}
        if kind == "key_expired_on_app":
            registered["key_start"] = start.strftime("%Y-%m-%dT%H:%M:%SZ")
            registered["key_end"] = (moment - _dt.timedelta(days=1)).strftime(
                "%Y-%m-%dT%H:%M:%SZ")
        application: dict[str, Any] = {
            "display_name": ("Veeam Backup (made by hand)" if kind == "manual"
                             else "Veeam Data Cloud (vdc-tui)"),
            "app_id": app_id, "id": app_oid,
            # The tag automatic mode puts on the apps it makes (offboarding checks it).
            "tags": [] if kind == "manual" else ["vdc-tui:managed"],
            "certificates": [] if kind == "key_removed" else [registered],
        }
        if kind in ("app_deleted", "app_purged"):
            # In deleted items (restorable) or past their 30 days; no principal either way.
            application["deleted_days_ago"] = 2 if kind == "app_deleted" else 40
        tenant["applications"] = [application]
        if kind not in ("app_deleted", "app_purged"):
            tenant["service_principals"] = [{
                "app_id": app_id,
                "grants": ["catalog"],
                "revoked": ["graph:Sites.Read.All"] if kind == "grant_revoked" else [],
                "directory_roles": [] if kind == "global_reader_removed" else ["Global Reader"],
            }]
        if kind == "standing_consent":
            tenant["delegated_grants"] = [{"consent_type": "Principal",
                                           "principal": f"admin@{domain}",
                                           "scope": STANDING_SCOPES}]
        if kind == "throttled":
            all_faults.update(throttle_every=2, retry_after=1,
                              throttle_path=f"/{tid}/oauth2/v2.0/token")
        tenants.append(tenant)
        manifest.append({
            "tenant_id": tid, "name": display, "domain": domain, "app_id": app_id,
            "app_object_id": app_oid, "admin": f"admin@{domain}", "pfx": f"{label}.pfx",
            "kind": kind, "services": ["exchange", "sharepoint", "teams"],
            "mode": "manual" if kind == "manual" else "automatic",
        })
    scenario = {
        "name": name,
        "description": f"{len(kinds)} tenants with saved connections (vdc_tui.emulator.fleet).",
        "seed": 14,
        "faults": all_faults,
        "tenants": tenants,
    }
    scenario_path = folder / f"{name}.json"
    scenario_path.write_text(json.dumps(scenario, indent=1) + "\n", encoding="utf-8")
    manifest_path = folder / "manifest.json"
    manifest_path.write_text(json.dumps({"tenants": manifest}, indent=1) + "\n",
                             encoding="utf-8")
    return FleetFiles(scenario_path, manifest_path, tuple(manifest))


__all__ = ["ALL_KINDS", "BROKEN_KINDS", "FleetFiles", "FleetName", "KINDS", "REPAIR_KINDS",
           "write_fleet"]
