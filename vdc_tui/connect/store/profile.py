"""The saved profile as a type: what ``profile.json`` holds, read once, by the store.

Every reader outside the store gets a :class:`Profile` (from :meth:`ProfileStore.load
<vdc_tui.connect.store.profiles.ProfileStore.load>` or :attr:`ProfileEntry.profile
<vdc_tui.connect.store.profiles.ProfileEntry.profile>`), never the JSON document: a field
of the wrong type in a hand-edited file reads as missing here, once, instead of being
guarded against in every module that needs it. Fields this version does not model (added
by a later one, or a lifecycle's own facts such as ``renewed_at``) are kept in
:attr:`Profile.extra` and written back unchanged.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from vdc_tui.connect.permissions import load_catalog

if TYPE_CHECKING:
    from vdc_tui.connect.models import ConnectionResult

#: Version of the ``profile.json`` layout; bump it when a field changes meaning.
SCHEMA_VERSION = 1

#: The top-level fields :class:`Profile` models (everything else goes to ``extra``).
MODELLED = frozenset({
    "schema_version", "tenant", "mode", "plan", "signed_in_admin", "app", "certificate",
    "services", "permissions", "warnings", "created_at", "verified_at", "updated_at",
})


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _texts(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        return ()
    return tuple(v for v in value if isinstance(v, str))


def _record(doc: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = doc.get(key)
    return value if isinstance(value, Mapping) else {}


def parse_time(text: str | None) -> datetime | None:
    """An ISO 8601 time of the profile as an aware UTC datetime (``None`` if unreadable)."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def now_iso() -> str:
    """Now, as profiles record times (UTC, whole seconds, ISO 8601)."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def profile_record(
    result: ConnectionResult,
    selected: Sequence[str],
    *,
    plan: str,
    cloud: str,
    key_file: str | None,
    created_at: str | None = None,
) -> dict[str, Any]:
    """The JSON document stored as ``profile.json`` for a verified connection.

    Holds no token, password or private key: only public facts and the key file's name.
    """
    now = now_iso()
    cert = result.certificate
    return {
        "schema_version": SCHEMA_VERSION,
        "tenant": {
            "id": result.tenant.id,
            "name": result.tenant.name,
            "default_domain": result.tenant.default_domain,
            "cloud": cloud,
        },
        "mode": result.mode,
        "plan": plan,
        "signed_in_admin": result.signed_in_as,
        "app": {
            "app_id": result.app_id,
            "object_id": result.app_object_id,
            "created_by_tool": result.created_app,
        },
        "certificate": {
            "subject": cert.subject,
            "sha1": cert.sha1,
            "sha256": cert.sha256,
            "not_before": cert.not_before.isoformat(),
            "not_after": cert.not_after.isoformat(),
            "key_size": cert.key_size,
            "key_file": key_file,
        },
        "services": {
            "selected": list(selected),
            "available": list(result.available_services),
            "detected": [
                {"service": s.service, "availability": str(s.availability), "reason": s.reason}
                for s in result.services
            ],
        },
        "permissions": {
            "granted": list(result.permissions.granted),
            # Verified: every required permission was in the tokens (see PermissionStatus).
            "missing": [],
            "catalog_version": load_catalog().version,
        },
        "warnings": [f"{w.title}: {w.detail}" if w.detail else w.title for w in result.warnings],
        "created_at": created_at or now,
        "verified_at": now,
        "updated_at": now,
    }


@dataclass(frozen=True)
class TenantRecord:
    """The customer's tenant: its id, display name, default domain and cloud."""

    id: str | None = None
    name: str | None = None
    default_domain: str | None = None
    cloud: str | None = None

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> TenantRecord:
        """Read the ``tenant`` record."""
        return cls(_text(doc.get("id")), _text(doc.get("name")),
                   _text(doc.get("default_domain")), _text(doc.get("cloud")))


@dataclass(frozen=True)
class AppRecord:
    """The app registration the connection signs in as."""

    app_id: str | None = None
    object_id: str | None = None
    created_by_tool: bool = False

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> AppRecord:
        """Read the ``app`` record."""
        return cls(_text(doc.get("app_id")), _text(doc.get("object_id")),
                   doc.get("created_by_tool") is True)


@dataclass(frozen=True)
class CertificateRecord:
    """The certificate the saved key belongs to (public facts only)."""

    subject: str | None = None
    sha1: str | None = None
    sha256: str | None = None
    not_before: str | None = None
    not_after: str | None = None
    key_size: int | None = None
    key_file: str | None = None

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> CertificateRecord:
        """Read the ``certificate`` record."""
        size = doc.get("key_size")
        return cls(_text(doc.get("subject")), _text(doc.get("sha1")), _text(doc.get("sha256")),
                   _text(doc.get("not_before")), _text(doc.get("not_after")),
                   size if isinstance(size, int) and not isinstance(size, bool) else None,
                   _text(doc.get("key_file")))

    @property
    def thumbprint(self) -> str | None:
        """The SHA-1 thumbprint in upper case (as Entra shows it), if recorded."""
        return self.sha1.upper() if self.sha1 else None

    @property
    def expires(self) -> datetime | None:
        """``not_after`` as a UTC datetime, if recorded and readable."""
        return parse_time(self.not_after)


@dataclass(frozen=True)
class ServicesRecord:
    """The services chosen for backup and those the tenant had."""

    selected: tuple[str, ...] = ()
    available: tuple[str, ...] = ()
    #: The tenant's SharePoint root (``https://contoso.sharepoint.com``), once verified there.
    sharepoint_url: str | None = None

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> ServicesRecord:
        """Read the ``services`` record."""
        url = _text(doc.get("sharepoint_url"))
        return cls(_texts(doc.get("selected")), _texts(doc.get("available")),
                   url if url and url.startswith("https://") else None)

    @property
    def backed_up(self) -> tuple[str, ...]:
        """The selected services, Exchange Online always among them (first)."""
        rest = tuple(s for s in self.selected if s != "exchange")
        return ("exchange", *rest)


@dataclass(frozen=True)
class PermissionsRecord:
    """The permissions verified in app-only tokens, and the catalog they were held against."""

    granted: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    catalog_version: str | None = None

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> PermissionsRecord:
        """Read the ``permissions`` record."""
        version = doc.get("catalog_version")
        return cls(_texts(doc.get("granted")), _texts(doc.get("missing")),
                   str(version) if isinstance(version, str | int) else None)

    def to_json(self) -> dict[str, Any]:
        """The record as saved."""
        return {"granted": list(self.granted), "missing": list(self.missing),
                "catalog_version": self.catalog_version}


@dataclass(frozen=True)
class Profile:
    """One saved connection (``profile.json``): no token, password or key.

    Attributes:
        tenant: Id, name, default domain and cloud of the customer's tenant.
        mode: ``automatic`` (the tool made the app) or ``manual`` (the operator's app).
        plan: ``flex``, ``foundation`` or ``advanced``.
        signed_in_admin: Who authorised it (automatic mode), or the admin email given.
        app: The app registration.
        certificate: The certificate of the saved key.
        services: Selected and available services.
        permissions: What was verified, against which catalog version.
        warnings: What the onboarding warned about, one line each.
        created_at, verified_at, updated_at: ISO 8601 times (UTC).
        extra: Every other top-level field, kept as read.
        source: The document as read (for :meth:`to_json`: ``connections show --json``).
    """

    tenant: TenantRecord = TenantRecord()
    mode: str | None = None
    plan: str | None = None
    signed_in_admin: str | None = None
    app: AppRecord = AppRecord()
    certificate: CertificateRecord = CertificateRecord()
    services: ServicesRecord = ServicesRecord()
    permissions: PermissionsRecord = PermissionsRecord()
    warnings: tuple[str, ...] = ()
    created_at: str | None = None
    verified_at: str | None = None
    updated_at: str | None = None
    schema_version: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    source: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Profile:
        """Read a ``profile.json`` document (fields of the wrong type read as missing)."""
        version = doc.get("schema_version")
        return cls(
            tenant=TenantRecord.from_json(_record(doc, "tenant")),
            mode=_text(doc.get("mode")),
            plan=_text(doc.get("plan")),
            signed_in_admin=_text(doc.get("signed_in_admin")),
            app=AppRecord.from_json(_record(doc, "app")),
            certificate=CertificateRecord.from_json(_record(doc, "certificate")),
            services=ServicesRecord.from_json(_record(doc, "services")),
            permissions=PermissionsRecord.from_json(_record(doc, "permissions")),
            warnings=_texts(doc.get("warnings")),
            created_at=_text(doc.get("created_at")),
            verified_at=_text(doc.get("verified_at")),
            updated_at=_text(doc.get("updated_at")),
            schema_version=version if isinstance(version, int) else None,
            extra={k: v for k, v in doc.items() if k not in MODELLED},
            source=copy.deepcopy(dict(doc)),
        )

    def to_json(self) -> dict[str, Any]:
        """The saved document, as read (a copy: changing it changes nothing)."""
        return copy.deepcopy(dict(self.source))

    @property
    def manual(self) -> bool:
        """Whether the operator brought the app registration (manual mode)."""
        return self.mode == "manual"

    @property
    def app_id(self) -> str:
        """The Application (client) ID, ``""`` when the profile names none (profiles of the
        first releases kept it at the top level)."""
        return self.app.app_id or _text(self.extra.get("app_id")) or ""

    def fact(self, name: str) -> Any:
        """A top-level field this type does not model (``renewed_at``, …), or ``None``."""
        return self.extra.get(name)


__all__ = [
    "SCHEMA_VERSION",
    "AppRecord",
    "CertificateRecord",
    "PermissionsRecord",
    "Profile",
    "ServicesRecord",
    "TenantRecord",
    "now_iso",
    "parse_time",
    "profile_record",
]
