"""Connection profiles: what a finished onboarding leaves on disk.

Layout under the home folder (``$VDC_TUI_HOME``)::

    connections/<tenant-id>/profile.json      the record (no secrets)
    connections/<tenant-id>/certificate.pfx   the certificate with its private key (0600)
    locks/<tenant-id>.lock                    per-tenant lock (+ ``.owner``: who holds it)

Key files are PKCS#12 encrypted with AES-256 under the store passphrase
(:mod:`~vdc_tui.connect.store.keystore`; ``keystore.json`` in the home folder checks the
passphrase).
A key file written before that (no password) is re-encrypted in place the first time it is
read (:meth:`ProfileStore.read_key`). Folders are 0700 and key files 0600, like SSH keys.
An existing folder that is more open is reported loudly (``ProfileStore.warnings``), never
silently re-permissioned: the operator may have a reason, and a silent fix would hide that
the keys were exposed.

Why one file of ~700 lines: :class:`ProfileStore` is the one owner of the home folder. Its
records, key files and locks share one validation of tenant ids and paths, one check of the
folders' permissions and one unlocking of the store passphrase; a store split by file kind
would hand those around, and a reader would need every part open to see who writes what.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import re
import socket
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vdc_tui.connect.errors import InvalidInput, VdcError, scrub
from vdc_tui.connect.store.fsutil import PRIVATE_FILE_MODE, atomic_write, ensure_private_dir
from vdc_tui.connect.store.home import (
    vdc_home as vdc_home,  # where it lived before; still exported here
)
from vdc_tui.connect.store.profile import SCHEMA_VERSION, Profile, now_iso, profile_record

if TYPE_CHECKING:
    from vdc_tui.connect.certificates import LoadedPfx
    from vdc_tui.connect.models import CertificateInfo, ConnectionResult
    from vdc_tui.connect.store.keystore import Passphrase, PassphraseProvider


PROFILE_FILE = "profile.json"
KEY_FILE = "certificate.pfx"
#: The next key of a renewal in progress (written before ``addKey``, removed once the
#: profile carries it).
RENEWAL_KEY_FILE = "certificate.renewal.pfx"
#: Written by automatic provisioning while it runs (``provision.JOURNAL_NAME``).
JOURNAL_FILE = "provisioning.json"

#: Tenant ids are GUIDs; anything else could walk out of the profile folder.
_SAFE_TENANT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")


def is_tenant_id(text: str) -> bool:
    """Whether ``text`` can name a tenant's folder (a plain identifier, as GUIDs are)."""
    return bool(_SAFE_TENANT_ID.match(text))



@dataclass(frozen=True)
class ProfileEntry:
    """One folder under ``connections/``, readable or not.

    Attributes:
        tenant_id: The folder name (the tenant id).
        path: Path of its ``profile.json``.
        profile: The profile, or ``None`` when it could not be read.
        error: Why it could not be read (one line, safe to print), or ``None``.
    """

    tenant_id: str
    path: Path
    profile: Profile | None
    error: str | None = None

    @property
    def name(self) -> str | None:
        """The tenant's display name, when known."""
        return self.profile.tenant.name if self.profile is not None else None

    @property
    def default_domain(self) -> str | None:
        """The tenant's default domain, when known."""
        return self.profile.tenant.default_domain if self.profile is not None else None

    @property
    def mode(self) -> str | None:
        """``automatic`` or ``manual``, when known."""
        return self.profile.mode if self.profile is not None else None


class ProfileStore:
    """The profiles of one home folder.

    Attributes:
        root: The home folder (``connections/`` and ``locks/`` live under it).
        warnings: Permission warnings found on the way (folders more open than 0700), for
            the caller to show loudly.
    """

    def __init__(self, root: Path | None = None, *,
                 passphrase: PassphraseProvider | None = None) -> None:
        from vdc_tui.connect.store.keystore import PassphraseProvider

        self.root = Path(root) if root is not None else vdc_home()
        #: Where the store passphrase comes from (options, file, keyring, typed).
        self.passphrase = passphrase if passphrase is not None else PassphraseProvider()
        self.warnings: list[str] = []
        # One FileLock object per tenant, so a run that holds a tenant's lock can save the
        # profile (which takes the lock again) without contending with itself.
        self._locks: dict[str, Any] = {}

    # -- paths -------------------------------------------------------------------------

    @property
    def connections_dir(self) -> Path:
        """``root/connections``."""
        return self.root / "connections"

    def tenant_dir(self, tenant_id: str) -> Path:
        """``root/connections/<tenant-id>``.

        Raises:
            InvalidInput: the id is not a plain identifier (it would escape the folder).
        """
        if not is_tenant_id(tenant_id):
            raise InvalidInput(
                "invalid_argument",
                f"{scrub(tenant_id, limit=80)!r} is not a tenant id.",
                "A tenant id is a GUID such as 72f988bf-86f1-41af-91ab-2d7cd011db47.",
            )
        return self.connections_dir / tenant_id

    def _private_dir(self, path: Path) -> None:
        try:
            found = ensure_private_dir(path)
        except OSError as exc:
            raise self._unusable(exc) from None
        for warning in found:
            if warning not in self.warnings:
                self.warnings.append(warning)

    def _prepare_tree(self) -> None:
        self._private_dir(self.root)
        self._private_dir(self.connections_dir)

    def _unusable(self, exc: OSError) -> InvalidInput:
        """The error for a home folder that cannot hold profiles (a file, unwritable, …)."""
        reason = exc.strerror or type(exc).__name__
        where = scrub(str(exc.filename), limit=300) if exc.filename else str(self.root)
        return InvalidInput(
            "invalid_argument",
            f"The profile folder {scrub(str(self.root), limit=300)} cannot be used: "
            f"{where}: {reason}.",
            "Set VDC_TUI_HOME to a folder you can write (it is created if missing), or fix "
            "that path.",
            {"field": "home", "path": scrub(str(self.root), limit=300)},
        )

    def check_usable(self) -> None:
        """Make sure profiles can be written here, before any work that would need it.

        Creates the folders (0700) and writes and removes a probe file, so a home that is
        a file, a dangling link or read-only is reported before a sign-in, not after it.

        Raises:
            InvalidInput: the folder cannot be created or written (``details.field`` =
                ``home``).
        """
        self._prepare_tree()
        try:
            atomic_write(self.connections_dir / ".write-check", b"")
            (self.connections_dir / ".write-check").unlink()
        except OSError as exc:
            raise self._unusable(exc) from None

    # -- locking -----------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, tenant_id: str) -> Iterator[None]:
        """Hold the tenant's lock; another run holding it → ``InvalidInput`` naming that run.

        Re-entrant within one store (the same lock object is reused per tenant).
        """
        from filelock import FileLock, Timeout

        self.tenant_dir(tenant_id)  # validates the id
        self._private_dir(self.root)
        locks = self.root / "locks"
        self._private_dir(locks)
        path = locks / f"{tenant_id}.lock"
        owner = locks / f"{tenant_id}.owner"
        lock = self._locks.get(tenant_id)
        if lock is None:
            lock = FileLock(str(path), timeout=0, mode=PRIVATE_FILE_MODE)
            self._locks[tenant_id] = lock
        first = not lock.is_locked
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise InvalidInput(
                "invalid_argument",
                f"Another vdc-tui run is working on tenant {tenant_id}: {_describe_owner(owner)}.",
                "Wait for that run to finish (or stop it), then try again.",
                {"tenant_id": tenant_id, "lock": str(path)},
            ) from None
        except OSError as exc:  # after Timeout, which is a TimeoutError (an OSError)
            raise self._unusable(exc) from None
        try:
            if first:
                atomic_write(owner, json.dumps(_owner_facts()).encode())
            yield
        finally:
            if lock.lock_counter == 1:
                with contextlib.suppress(FileNotFoundError):
                    owner.unlink()
            lock.release()

    # -- writing -----------------------------------------------------------------------

    def save(
        self, result: ConnectionResult, selected: Sequence[str], *, plan: str, cloud: str
    ) -> Path:
        """Write ``profile.json`` (and ``certificate.pfx``) for a verified connection.

        Both files are written atomically under the tenant's lock. A profile already there
        for the tenant is replaced; its ``created_at`` is kept.

        Returns:
            The path of ``profile.json``.
        """
        tenant_id = result.tenant.id
        folder = self.tenant_dir(tenant_id)
        with self.lock(tenant_id):
            self._prepare_tree()
            self._private_dir(folder)
            profile_path = folder / PROFILE_FILE
            created_at: str | None = None
            with contextlib.suppress(OSError, ValueError, AttributeError):
                previous = json.loads(profile_path.read_text(encoding="utf-8"))
                created = previous.get("created_at")
                created_at = created if isinstance(created, str) else None
            key_file: str | None = None
            encrypted: bytes | None = None
            if result.certificate_pfx:
                # Encrypted before anything is written: a wrong or missing passphrase leaves
                # the folder as it was.
                from vdc_tui.connect.certificates import load_pfx_bytes

                plain = load_pfx_bytes(result.certificate_pfx, None, source="the new key")
                encrypted = self._encrypt(plain, what="save the connection's key")
            try:
                if encrypted is not None:
                    atomic_write(folder / KEY_FILE, encrypted, mode=PRIVATE_FILE_MODE)
                    key_file = KEY_FILE
                record = profile_record(
                    result, selected, plan=plan, cloud=cloud, key_file=key_file,
                    created_at=created_at,
                )
                data = (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
                atomic_write(profile_path, data, mode=PRIVATE_FILE_MODE)
            except OSError as exc:  # a full disk, a folder made read-only meanwhile
                raise self._unusable(exc) from None
        return profile_path

    # -- keys --------------------------------------------------------------------------

    def _unlock(self, what: str, *, writing: bool) -> Passphrase:
        """The store passphrase, checked (once per process) against ``keystore.json``.

        Raises:
            VdcError: ``key_passphrase_required`` (no source), ``key_passphrase_wrong``.
        """
        from vdc_tui.connect.store import keystore

        phrase = self.passphrase.resolve(self.root)
        if phrase is None:
            raise keystore.passphrase_required(what)
        verdict = keystore.verify_passphrase(self.root, phrase.data)
        if verdict is None:
            # No check value yet (or a damaged one): an encrypted key decides.
            sample = self._encrypted_sample()
            if sample is not None:
                try:
                    keystore.open_store_pfx(sample.read_bytes(), phrase.data, source=str(sample))
                except (keystore.WrongSecret, OSError, VdcError):
                    verdict = False
            if verdict is None and (writing or sample is not None):
                self._prepare_tree()
                keystore.write_verifier(self.root, phrase.data)
                keystore.remember(self.root, phrase.data)
        if verdict is False:
            self.passphrase.forget_typed()
            raise keystore.passphrase_wrong(phrase.origin)
        return phrase

    def unlock(self) -> None:
        """Check the store passphrase now (a prompt checks what was typed before any key is
        read). Does nothing but remember a passphrase that proved right.

        Raises:
            VdcError: ``key_passphrase_required`` (no source), ``key_passphrase_wrong``
                (a typed one is forgotten, so the next use asks again).
        """
        self._unlock("read the saved keys", writing=False)

    def _encrypted_sample(self) -> Path | None:
        from vdc_tui.connect.store.keystore import key_protection

        with contextlib.suppress(OSError):
            for path in sorted(self.connections_dir.glob(f"*/{KEY_FILE}")):
                with contextlib.suppress(OSError):
                    if key_protection(path.read_bytes()) == "encrypted":
                        return path
        return None

    def _encrypt(self, pfx: LoadedPfx, *, what: str) -> bytes:
        from vdc_tui.connect.store.keystore import encrypt_pfx

        phrase = self._unlock(what, writing=True)
        name = pfx.info.subject.encode("utf-8")[:200] or b"vdc-tui"
        return encrypt_pfx(pfx.private_key, pfx.certificate, pfx.chain, phrase.data, name=name)

    def key_path(self, tenant_id: str, *, renewal: bool = False) -> Path:
        """``connections/<tenant-id>/certificate.pfx`` (or the pending key of a renewal)."""
        return self.tenant_dir(tenant_id) / (RENEWAL_KEY_FILE if renewal else KEY_FILE)

    def key_status(self, tenant_id: str) -> str:
        """How a tenant's key is kept, without the passphrase: ``encrypted``,
        ``unprotected`` (a key file written before encryption), ``missing`` or ``unknown``."""
        from vdc_tui.connect.store.keystore import key_protection

        try:
            data = self.key_path(tenant_id).read_bytes()
        except FileNotFoundError:
            return "missing"
        except OSError:
            return "unknown"
        return key_protection(data)

    def read_key(self, tenant_id: str, *, renewal: bool = False) -> LoadedPfx:
        """The certificate and private key of a saved profile (or of a pending renewal),
        opened with the passphrase.

        A key file written before encryption is re-encrypted in place (atomically) on this
        first read. A wrong passphrase changes nothing.

        Raises:
            VdcError: ``key_passphrase_required``, ``key_passphrase_wrong``,
                ``key_file_unreadable`` (missing, damaged, or under another password),
                ``invalid_argument`` (not a tenant id).
        """
        from vdc_tui.connect.store import keystore

        path = self.key_path(tenant_id, renewal=renewal)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise self._key_unreadable(tenant_id, path, exc.strerror or type(exc).__name__) \
                from None
        if keystore.holds_plain_key(data):
            return self._migrate(tenant_id, path, data)
        phrase = self._unlock("read the connection's key", writing=False)
        try:
            loaded: LoadedPfx = keystore.open_store_pfx(data, phrase.data, source=str(path))
        except keystore.WrongSecret:
            if keystore.key_protection(data) == "unprotected":  # an empty password
                return self._migrate(tenant_id, path, data)
            raise self._key_unreadable(
                tenant_id, path,
                "it is damaged or protected by a password other than the store passphrase",
            ) from None
        except VdcError as problem:
            raise self._key_unreadable(tenant_id, path, problem.message) from None
        return loaded

    def _migrate(self, tenant_id: str, path: Path, data: bytes) -> LoadedPfx:
        """Re-encrypt a key file saved without a password, in place and atomically."""
        from dataclasses import replace

        from vdc_tui.connect.certificates import load_pfx_bytes
        from vdc_tui.connect.store.audit import AuditLog, AuditUnwritable

        plain = load_pfx_bytes(data, None, source=str(path))
        encrypted = self._encrypt(plain, what="protect the key saved without one")
        try:
            with self.lock(tenant_id):
                if path.read_bytes() == data:  # nobody replaced it meanwhile
                    # Audited (``key_migrated``); an unwritable log leaves the key as it
                    # was, for a later read to migrate.
                    with AuditLog(self.root).action(
                            "key_migrated", tenant_id=tenant_id,
                            details={"path": str(path), "sha1": plain.info.sha1,
                                     "to": "aes-256 pkcs#12 under the store passphrase"}):
                        atomic_write(path, encrypted, mode=PRIVATE_FILE_MODE)
        except (InvalidInput, AuditUnwritable):
            return plain  # another run holds the tenant (or no audit): migrated next time
        except OSError as exc:
            raise self._unusable(exc) from None
        return replace(plain, pfx_bytes=encrypted)

    def write_key(self, tenant_id: str, pfx: LoadedPfx, *, renewal: bool = False) -> Path:
        """Replace a tenant's key file (or its pending renewal key): encrypted, atomic,
        under the tenant's lock.

        Returns:
            The key file's path.
        """
        path = self.key_path(tenant_id, renewal=renewal)
        encrypted = self._encrypt(pfx, what="save the renewed key")
        with self.lock(tenant_id):
            self._prepare_tree()
            self._private_dir(path.parent)
            try:
                atomic_write(path, encrypted, mode=PRIVATE_FILE_MODE)
            except OSError as exc:
                raise self._unusable(exc) from None
        return path

    def _key_unreadable(self, tenant_id: str, path: Path, why: str) -> VdcError:
        return VdcError(
            "key_file_unreadable",
            f"The key of tenant {tenant_id} ({scrub(str(path), limit=300)}) cannot be used: "
            f"{scrub(why, limit=200)}.",
            "Connect the tenant again (automatic mode makes a new key), or restore the file "
            "from a backup.",
            {"tenant_id": tenant_id, "path": str(path)},
        )

    def drop_renewal_key(self, tenant_id: str) -> None:
        """Forget a pending renewal key (it is on the profile now, or was never added)."""
        with contextlib.suppress(FileNotFoundError):
            self.key_path(tenant_id, renewal=True).unlink()

    def record_certificate(self, tenant_id: str, info: CertificateInfo, **facts: Any) -> Path:
        """Point the profile at a new certificate (renewal), atomically, keeping the rest.

        ``facts`` are extra top-level fields to set (``renewed_at``, …).
        """
        certificate = dict(self._document(tenant_id).get("certificate") or {})
        certificate.update({
            "subject": info.subject, "sha1": info.sha1, "sha256": info.sha256,
            "not_before": info.not_before.isoformat(),
            "not_after": info.not_after.isoformat(), "key_size": info.key_size,
            "key_file": KEY_FILE,
        })
        return self.update(tenant_id, certificate=certificate, **facts)

    def record_verified(self, tenant_id: str, *, granted: Sequence[str], catalog_version: str,
                        verified_at: str, sharepoint_url: str | None = None,
                        object_id: str | None = None) -> Path:
        """After a verification in app-only tokens (repair): the permissions they carried,
        the catalog they were held against, and what was learnt on the way (the tenant's
        SharePoint root, the app's object id), keeping the rest of the profile."""
        document = self._document(tenant_id)
        permissions = dict(document.get("permissions") or {})
        permissions.update(granted=list(granted), missing=[], catalog_version=catalog_version)
        services = dict(document.get("services") or {})
        if sharepoint_url:
            services["sharepoint_url"] = sharepoint_url
        app = dict(document.get("app") or {})
        if object_id:
            app["object_id"] = object_id
        return self.update(tenant_id, permissions=permissions, services=services, app=app,
                           verified_at=verified_at)

    def update(self, tenant_id: str, **fields: Any) -> Path:
        """Set top-level fields of a saved profile (atomically, under the tenant's lock)."""
        path = self.tenant_dir(tenant_id) / PROFILE_FILE
        with self.lock(tenant_id):
            profile = self._document(tenant_id)
            profile.update(fields)
            profile["updated_at"] = now_iso()
            data = (json.dumps(profile, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
            try:
                atomic_write(path, data, mode=PRIVATE_FILE_MODE)
            except OSError as exc:
                raise self._unusable(exc) from None
        return path

    # -- reading -----------------------------------------------------------------------

    def list(self) -> list[ProfileEntry]:
        """Every folder under ``connections/``, sorted by tenant name then id.

        A damaged or unreadable ``profile.json`` gives an entry with ``error`` set instead
        of failing the whole listing.
        """
        folder = self.connections_dir
        if not folder.is_dir():
            return []
        self._private_dir(self.root)
        self._private_dir(folder)
        # Names first (a directory entry's type needs no system call), then the folders:
        # pathlib's iterdir and is_dir cost a millisecond more for 500 tenants.
        with os.scandir(folder) as found:
            names = sorted(e.name for e in found
                           if _is_tenant_name(e.name) and e.is_dir())
        files = [folder.joinpath(name, PROFILE_FILE) for name in names]
        for file in files:
            # A tenant folder holds a private key: opened up by hand, it is said like the
            # home and connections folders are.
            with contextlib.suppress(InvalidInput):
                self._private_dir(file.parent)
        entries = [self._read(file.parent, file) for file in files]
        return sorted(entries, key=lambda e: ((e.name or "").casefold(), e.tenant_id))

    def tenant_ids(self) -> builtins.list[str]:
        """The tenant folders under ``connections/`` (names only: no file is opened, and
        the tenant folders' permissions are left to :meth:`list`)."""
        folder = self.connections_dir
        if not folder.is_dir():
            return []
        self._private_dir(self.root)
        self._private_dir(folder)
        with os.scandir(folder) as found:
            return sorted(e.name for e in found if _is_tenant_name(e.name) and e.is_dir())

    def read_entry(self, tenant_id: str) -> ProfileEntry:
        """One tenant's entry, as :meth:`list` reads it (damaged: ``error`` set)."""
        return self._read(self.tenant_dir(tenant_id))

    def _read(self, folder: Path, path: Path | None = None) -> ProfileEntry:
        path = path or folder / PROFILE_FILE
        try:
            # Bytes, then UTF-8 (strict, as read_text): a third faster than a text file,
            # which counts for 500 profiles (JSON needs no newline translation); opened by
            # its name (a str), not through pathlib, which adds a fifth.
            with open(os.fspath(path), "rb") as file:
                raw = file.read().decode("utf-8")
        except FileNotFoundError:
            if (folder / JOURNAL_FILE).exists():
                return ProfileEntry(
                    folder.name,
                    path,
                    None,
                    f"no profile yet: an interrupted automatic run left {JOURNAL_FILE} "
                    "(the next `vdc-tui connect auto` for this tenant resumes or removes it)",
                )
            return ProfileEntry(folder.name, path, None, "profile.json is missing")
        except (OSError, UnicodeDecodeError) as exc:
            reason = type(exc).__name__
            return ProfileEntry(folder.name, path, None, f"profile.json is unreadable ({reason})")
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            return ProfileEntry(
                folder.name, path, None, f"profile.json is not valid JSON (line {exc.lineno})"
            )
        if not isinstance(data, dict) or not isinstance(data.get("tenant"), dict):
            return ProfileEntry(folder.name, path, None, "profile.json has no tenant record")
        version = data.get("schema_version")
        if isinstance(version, int) and version > SCHEMA_VERSION:
            return ProfileEntry(
                folder.name,
                path,
                None,
                f"profile.json has schema version {version}; this vdc-tui reads up to "
                f"{SCHEMA_VERSION} (upgrade vdc-tui)",
            )
        return ProfileEntry(folder.name, path, Profile.from_json(data))

    def find(self, tenant: str) -> ProfileEntry:
        """The entry for a tenant id, default domain or display name (case-insensitive).

        A damaged profile is found by its tenant id (the folder name).

        Raises:
            InvalidInput: nothing matches, or a name matches more than one profile.
        """
        wanted = tenant.strip().casefold()
        entries = self.list()
        for attribute in ("tenant_id", "default_domain", "name"):
            matches = [
                e for e in entries if wanted and (getattr(e, attribute) or "").casefold() == wanted
            ]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                ids = ", ".join(e.tenant_id for e in matches)
                raise InvalidInput(
                    "invalid_argument",
                    f"{scrub(tenant, limit=120)!r} matches {len(matches)} profiles ({ids}).",
                    "Give the tenant id instead.",
                )
        raise InvalidInput(
            "invalid_argument",
            f"No connection profile for {scrub(tenant, limit=120)!r} under {self.connections_dir}.",
            "`vdc-tui connections list` shows the saved connections (tenant id, domain, name).",
        )

    def load(self, tenant: str) -> Profile:
        """The profile of a tenant id, default domain or name.

        Raises:
            InvalidInput: not found, ambiguous, or the profile file is damaged.
        """
        return self._entry(tenant)[1]

    def _document(self, tenant: str) -> dict[str, Any]:
        """The saved JSON document itself, for the store's own updates (fields it does not
        model are written back as they were)."""
        entry = self._entry(tenant)[0]
        try:
            document: dict[str, Any] = json.loads(entry.path.read_bytes().decode("utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidInput(
                "invalid_argument",
                f"The profile of tenant {entry.tenant_id} cannot be read again "
                f"({type(exc).__name__}).",
                "Check the file's permissions, or connect the tenant again.",
                {"path": str(entry.path)},
            ) from None
        return document

    def _entry(self, tenant: str) -> tuple[ProfileEntry, Profile]:
        entry = self.find(tenant)
        profile = entry.profile
        if profile is None:
            raise InvalidInput(
                "invalid_argument",
                f"The profile of tenant {entry.tenant_id} is damaged: {entry.error}.",
                f"Remove it with `vdc-tui connections remove {entry.tenant_id}` and connect again.",
                {"path": str(entry.path)},
            )
        return entry, profile

    def remove(self, tenant: str) -> builtins.list[Path]:
        """Delete a tenant's profile folder (profile and key files) under its lock.

        Only local files go; nothing in the tenant is touched.

        Returns:
            The files and folder removed.
        """
        entry = self.find(tenant)
        folder = entry.path.parent
        removed: builtins.list[Path] = []
        with self.lock(entry.tenant_id):
            for child in sorted(folder.iterdir()):
                if child.is_dir() and not child.is_symlink():
                    raise InvalidInput(
                        "invalid_argument",
                        f"{folder} contains a folder ({child.name}) vdc-tui did not write.",
                        "Move your own files out of the profile folder, then remove again.",
                    )
                child.unlink()
                removed.append(child)
            folder.rmdir()
            removed.append(folder)
        return removed


def _is_tenant_name(name: str) -> bool:
    return not name.startswith(".") and is_tenant_id(name)


def _is_tenant_folder(path: Path) -> bool:
    return _is_tenant_name(path.name) and path.is_dir()


def _owner_facts() -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        # Program and sub-command only: later arguments are the operator's business.
        "command": " ".join([os.path.basename(sys.argv[0]), *sys.argv[1:3]]) if sys.argv else "",
        "since": now_iso(),
    }


def _describe_owner(owner: Path) -> str:
    """Who holds a lock, from its ``.owner`` file (best effort; it is only a hint)."""
    try:
        facts = json.loads(owner.read_text(encoding="utf-8"))
        pid = int(facts["pid"])
        host = scrub(str(facts.get("host", "?")), limit=80)
        since = scrub(str(facts.get("since", "?")), limit=40)
    except (OSError, ValueError, KeyError, TypeError):
        return "a run that holds its lock (details unavailable)"
    return f"process {pid} on {host}, since {since}"
