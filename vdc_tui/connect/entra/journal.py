"""The provisioning journal: what a run is about to create or change, written before it does.

``provisioning.json`` in the tenant's profile folder (0600, ids only, nothing secret). A run
that is killed outright leaves it behind; the next run for the tenant reads it to resume the
half-made app, or to put a reused app's keys back (``restore``). Renewal and repair write
the same record before they change an app, so a killed one is put right the same way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vdc_tui.connect.store.fsutil import atomic_write, ensure_private_dir

JOURNAL_NAME = "provisioning.json"


@dataclass
class Journal:
    """What this run (or a killed earlier run) created; written before each create.

    Attributes:
        path: ``<tenant dir>/provisioning.json``.
        tenant_id: The tenant.
        run_id: Id of the run that started it; also a tag on the app it created.
        pending: The create about to be sent (``application``, ``service_principal``), so a
            kill between request and answer is still traceable (through the run tag).
        application_id: Object id of the app created by an unfinished run.
        app_id: Its Application (client) ID.
        service_principal_id: The principal the run created for its app, once answered.
        state: ``in_progress`` or ``rollback_incomplete``.
        updated_at: When the journal was last written (ISO 8601, UTC): a next run takes an
            object it names as *not yet visible*, not gone, while the directory may still be
            replicating it (the replication timeout after this moment).
        restore: For a run that changed an app an earlier run had verified: what to put
            back if it fails (``application_id``, ``app_id``, ``key_credentials`` as they
            were, with their public certificates; ``required_resource_access`` when the run
            changed it; ``new_key_id``, the key the run added).
    """

    path: Path
    tenant_id: str
    run_id: str
    pending: str | None = None
    application_id: str | None = None
    app_id: str | None = None
    service_principal_id: str | None = None
    state: str = "in_progress"
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    restore: dict[str, Any] | None = None
    updated_at: str = ""

    @classmethod
    def read(cls, path: Path, tenant_id: str) -> Journal | None:
        """The journal a previous run left, or ``None`` (a damaged file counts as none)."""
        try:
            raw = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(raw, dict) or raw.get("tenant_id") != tenant_id:
            return None
        return cls(
            path=path,
            tenant_id=tenant_id,
            run_id=str(raw.get("run_id") or ""),
            pending=raw.get("pending"),
            application_id=raw.get("application_id"),
            app_id=raw.get("app_id"),
            service_principal_id=raw.get("service_principal_id"),
            state=str(raw.get("state") or "in_progress"),
            started_at=str(raw.get("started_at") or ""),
            restore=restore_record(raw.get("restore")),
            updated_at=str(raw.get("updated_at") or raw.get("started_at") or ""),
        )

    def age(self) -> float | None:
        """Seconds since the journal was last written (``None`` when unknown)."""
        try:
            moment = datetime.fromisoformat(self.updated_at)
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return max(0.0, (datetime.now(UTC) - moment).total_seconds())

    def names_objects(self) -> bool:
        """The journal names an app that may exist (by id, or by run tag of a create in
        flight) and was neither proven gone nor adopted."""
        return bool(self.application_id) or (self.pending == "application" and bool(self.run_id))

    def write(self) -> None:
        """Write atomically, 0600 (ids only: nothing secret)."""
        ensure_private_dir(self.path.parent)
        self.updated_at = datetime.now(UTC).isoformat()
        data = {
            "version": 1,
            "tenant_id": self.tenant_id,
            "run_id": self.run_id,
            "state": self.state,
            "pending": self.pending,
            "application_id": self.application_id,
            "app_id": self.app_id,
            "service_principal_id": self.service_principal_id,
            "started_at": self.started_at,
            "updated_at": self.updated_at,
            "restore": self.restore,
            "note": "vdc-tui automatic provisioning in progress; the next run for this "
            "tenant resumes (or removes) the app named here, or puts back the certificates "
            "named under 'restore'.",
        }
        atomic_write(self.path, json.dumps(data, indent=2).encode("utf-8"))

    def remove(self) -> None:
        """Forget the journal (the run verified, or its rollback finished)."""
        with suppress(FileNotFoundError):
            self.path.unlink()


@dataclass
class RunState:
    """What the current run has done, for the result and for rollback.

    Attributes:
        journal: The run's journal (written before each create or change).
        application_id: Object id of the app the run works on.
        app_id: Its Application (client) ID.
        created: The app counts as made by this run (a failure deletes it).
        service_principal_id: Its principal.
        principal_created: This run created the principal.
        verified: App-only tokens carried every permission: nothing is undone any more.
        wrote_journal: This run wrote the journal file (so it may remove it).
        new_key: The ``keyCredential`` this run added.
        old_keys_removed: The keys it replaced were (or may have been) removed.
    """

    journal: Journal
    application_id: str | None = None
    app_id: str | None = None
    created: bool = False
    service_principal_id: str | None = None
    principal_created: bool = False
    verified: bool = False
    wrote_journal: bool = False
    new_key: dict[str, Any] | None = None
    old_keys_removed: bool = False

    def write_journal(self) -> None:
        """Write the journal and remember that this run owns the file now."""
        self.journal.write()
        self.wrote_journal = True

    def made(self, app: Mapping[str, Any]) -> None:
        """This run created ``app`` (its create answered, or rollback found it by the run's
        tag): its ids go into the state and the journal, which the caller writes next."""
        self.application_id = str(app["id"])
        self.app_id = str(app["appId"])
        self.created = True
        self.journal.pending = None
        self.journal.application_id = self.application_id
        self.journal.app_id = self.app_id


def restore_record(raw: Any) -> dict[str, Any] | None:
    """A journal's ``restore`` record, or ``None`` when absent or damaged."""
    if not isinstance(raw, dict):
        return None
    keys = raw.get("key_credentials")
    access = raw.get("required_resource_access")
    if (
        not raw.get("application_id")
        or not isinstance(keys, list)
        or not all(isinstance(k, dict) for k in keys)
        or not (access is None or isinstance(access, list))
    ):
        return None
    return dict(raw)


__all__ = ["JOURNAL_NAME", "Journal", "RunState", "restore_record"]
