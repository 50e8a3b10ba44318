"""Hand a connection to the backup service: its key as a password-protected PFX.

The product's manual connection form asks for exactly four things: Admin Email, App
Registration (client) ID, a PFX certificate file and its password. :func:`export_connection`
writes the PFX (a new AES-256 PKCS#12 under a password of its own, never the store
passphrase) and returns the other facts, with the certificate's thumbprint and expiry to
check against the Entra admin centre. ``connections export`` and the dashboard's ``e`` both
call it; they only differ in how they ask for the path and the password.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from vdc_tui.connect.errors import InvalidInput, scrub
from vdc_tui.connect.store.fsutil import PRIVATE_FILE_MODE, atomic_write
from vdc_tui.connect.store.profiles import ProfileStore

#: PBKDF2 rounds of an exported PFX: it leaves the machine and its password may be typed
#: by a person, so it gets more than the store's files. Key bag, certificate bag and MAC
#: together stay under the 600,000-iteration limit .NET applies when it imports a PFX.
EXPORT_KDF_ROUNDS = 150_000

#: A shorter given password is accepted with a warning (the form may have its own rules).
MIN_EXPORT_PASSWORD = 12


@dataclass(frozen=True)
class ExportedConnection:
    """What the manual connection form needs, and what was written.

    Attributes:
        tenant_id: The tenant.
        name: The tenant's display name (from the profile).
        admin_email: The admin who connected it (the form's Admin Email).
        app_id: The app registration's Application (client) ID.
        pfx: The written PFX (absolute path).
        thumbprint: The certificate's SHA-1 thumbprint (as Entra shows it).
        thumbprint_sha256: Its SHA-256 thumbprint.
        not_after: When the certificate expires.
    """

    tenant_id: str
    name: str | None
    admin_email: str | None
    app_id: str | None
    pfx: Path
    thumbprint: str
    thumbprint_sha256: str
    not_after: datetime


def generate_password() -> str:
    """A random export password (32 characters, URL-safe)."""
    return secrets.token_urlsafe(24)


def weak_password_warning(password: str) -> str | None:
    """What to say about a short password (it is still accepted), or ``None``."""
    if len(password) < MIN_EXPORT_PASSWORD:
        return (f"The PFX password has fewer than {MIN_EXPORT_PASSWORD} characters; anyone "
                "who gets the file can try to guess it.")
    return None


def default_export_path(tenant_id: str, default_domain: str | None) -> Path:
    """``~/<default domain>-vdc.pfx`` (the tenant id when the domain is unknown)."""
    stem = "".join(c for c in (default_domain or tenant_id) if c.isalnum() or c in ".-_")
    return Path("~") / f"{stem or 'connection'}-vdc.pfx"


def export_target(store: ProfileStore, text: str, *, force: bool) -> Path:
    """The PFX path to write, checked: outside the key store, its folder exists, and not
    an existing file unless ``force``.

    Raises:
        InvalidInput: ``invalid_argument`` with ``details.field = "pfx"``; an existing
            file also has ``details.exists = True`` (the dashboard then asks to replace it).
    """
    if not text.strip():
        raise InvalidInput("invalid_argument", "No PFX path was given.",
                           "Give the path of the PFX file to write.", {"field": "pfx"})
    out = Path(text.strip()).expanduser()
    shown = scrub(str(out), limit=300)
    home = store.root.expanduser().resolve()
    absolute = out.resolve()
    if absolute == home or home in absolute.parents:
        raise InvalidInput(
            "invalid_argument",
            f"{shown} is inside the key store ({scrub(str(home), limit=300)}).",
            "Write the export somewhere else: the store holds only passphrase-protected keys.",
            {"field": "pfx"})
    if out.is_dir():
        raise InvalidInput("invalid_argument", f"{shown} is a folder.",
                           "Give the path of the PFX file to write.", {"field": "pfx"})
    if (out.exists() or out.is_symlink()) and not force:
        raise InvalidInput("invalid_argument", f"{shown} exists; it was not replaced.",
                           "Give another path, or add --force to replace it.",
                           {"field": "pfx", "exists": True})
    if not out.parent.is_dir():
        raise InvalidInput("invalid_argument",
                           f"The folder of {shown} does not exist.",
                           "Create it first, or give another path.", {"field": "pfx"})
    return out


def export_connection(store: ProfileStore, tenant: str, out: Path,
                      password: str) -> ExportedConnection:
    """Write the key of ``tenant`` (id, domain or name) to ``out`` (0600, atomically) as a
    PKCS#12 encrypted with AES-256 under ``password``; ``out`` comes from
    :func:`export_target`.

    Raises:
        InvalidInput: an empty password, or ``out`` cannot be written.
        VdcError: the profile or its key cannot be read (``key_passphrase_required``,
            ``key_passphrase_wrong``, ``key_file_unreadable``, …).
    """
    from vdc_tui.connect.store.keystore import encrypt_pfx

    if not password:
        raise InvalidInput("invalid_argument", "The PFX password is empty.",
                           "Give a password, or let one be generated.",
                           {"field": "pfx_password"})
    from vdc_tui.connect.store.audit import AuditLog

    entry = store.find(tenant)
    profile = store.load(entry.tenant_id)
    app = profile.get("app") if isinstance(profile.get("app"), dict) else {}
    admin = profile.get("signed_in_admin")
    app_id = (app or {}).get("app_id")
    # Audited as ``export`` (the CLI and the dashboard both come here): the start record is
    # written before the key is read, so an unwritable log stops the export.
    with AuditLog(store.root).action(
            "export", tenant_id=entry.tenant_id, tenant_name=entry.name,
            app_id=str(app_id) if app_id else None,
            details={"path": str(out.expanduser().resolve())}) as act:
        pfx = store.read_key(entry.tenant_id)
        data = encrypt_pfx(pfx.private_key, pfx.certificate, pfx.chain,
                           password.encode("utf-8"),
                           name=pfx.info.subject.encode("utf-8")[:200] or b"vdc-tui",
                           rounds=EXPORT_KDF_ROUNDS)
        try:
            atomic_write(out, data, mode=PRIVATE_FILE_MODE)
        except OSError as exc:
            raise InvalidInput("invalid_argument",
                               f"Cannot write {scrub(str(out), limit=300)} "
                               f"({exc.strerror or type(exc).__name__}).",
                               "Give a path in a folder you can write.",
                               {"field": "pfx"}) from None
        act.add(thumbprint=pfx.info.sha1, thumbprint_sha256=pfx.info.sha256)
    return ExportedConnection(
        tenant_id=entry.tenant_id,
        name=entry.name,
        admin_email=str(admin) if admin else None,
        app_id=str(app_id) if app_id else None,
        pfx=out.resolve(),
        thumbprint=pfx.info.sha1,
        thumbprint_sha256=pfx.info.sha256,
        not_after=pfx.info.not_after,
    )


__all__ = [
    "EXPORT_KDF_ROUNDS",
    "MIN_EXPORT_PASSWORD",
    "ExportedConnection",
    "default_export_path",
    "export_connection",
    "export_target",
    "generate_password",
    "weak_password_warning",
]
