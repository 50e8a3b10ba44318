"""The audit trail: ``$VDC_TUI_HOME/audit.jsonl``, one JSON record per line, hash-chained.

Every action that changes a tenant or a key (onboard, renew, repair, offboard, remove,
export, consent_removed, key_migrated) writes two records sharing one ``id``: a *start*
record (``"phase": "start"``, ``"outcome": null``) before anything is changed, and an *end*
record (``"phase": "end"``, ``"outcome": "ok" | "failed" | "cancelled"``) when it is over.
A run killed in between leaves the start record alone: ``vdc-tui audit`` shows it as
unfinished. The start record is the gate: when it cannot be written (a read-only home, a
full disk), the action fails with ``audit_unwritable`` before it changes anything.

How to record an action (the one API, for every flow)::

    log = AuditLog(store.root)
    with log.action("consent_removed", tenant_id=tid, tenant_name=name, app_id=app,
                    admin=token.admin.upn, details={"client_id": cid}) as act:
        ...                        # the change; an exception makes the outcome failed
        act.add(removed=[...])     # what changed, for the end record

``log.record(action, outcome, ...)`` writes one finished record without a start (for a
caller that has nothing to gate). Details are scrubbed (control characters, tokens) and a
key that names a secret (password, passphrase, token, secret, private key) is withheld.

Each line is written with one ``os.write`` on an ``O_APPEND`` descriptor under a file lock
(``locks/audit.lock``), so two processes never interleave. Fields beyond the contract's:
``seq`` (the line's number, from 1), ``phase``, and ``hash`` (SHA-256 of the line without its
``hash``; ``prev`` is the SHA-256 of the whole previous line, ``"0" * 64`` for the first).
:meth:`AuditLog.verify` names the first line edited, removed or reordered. Removing the
newest lines leaves a valid, shorter chain: forwarding the log elsewhere covers that.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import logging
import os
import re
import socket
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vdc_tui.connect.errors import VdcError, scrub
from vdc_tui.connect.store.fsutil import PRIVATE_FILE_MODE, ensure_private_dir

AUDIT_FILE = "audit.jsonl"
#: ``prev`` of the first line.
GENESIS = "0" * 64
ACTIONS = ("onboard", "renew", "repair", "offboard", "remove", "export", "consent_removed",
           "key_migrated")
OUTCOMES = ("ok", "failed", "cancelled")
#: Seconds to wait for another process's append (each one holds the lock for milliseconds).
LOCK_TIMEOUT = 15.0
#: Bytes of the log's end that :meth:`AuditLog.history` reads.
HISTORY_TAIL = 2 * 1024 * 1024

_log = logging.getLogger(__name__)
_SECRET_KEY = re.compile(r"(?i)password|passphrase|secret|token|private|pfx_bytes|assertion")
_HASH_TAIL = re.compile(rb',"hash":"([0-9a-f]{64})"}$')
_THREAD_LOCKS: dict[str, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _thread_lock(path: Path) -> threading.Lock:
    with _THREAD_LOCKS_GUARD:
        return _THREAD_LOCKS.setdefault(str(path), threading.Lock())


def sha256_hex(data: bytes) -> str:
    """The chain's hash of one line (without its newline)."""
    return hashlib.sha256(data).hexdigest()


def current_actor(admin: str | None = None) -> dict[str, str | None]:
    """Who acts: the OS user, this host, and the signed-in admin's UPN (when one signed in)."""
    try:
        user: str | None = getpass.getuser()
    except (OSError, KeyError):  # no name for the uid (a container)
        user = str(os.getuid()) if hasattr(os, "getuid") else None
    return {"os_user": _clean(user), "host": _clean(socket.gethostname()),
            "admin": _clean(admin)}


def _clean(value: str | None, limit: int = 500) -> str | None:
    return None if value is None else scrub(str(value), limit=limit)


def safe_details(value: Any) -> Any:
    """``value`` as plain JSON: strings scrubbed, bytes and secret-named keys withheld."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = str(key)
            out[scrub(name, limit=100)] = ("[withheld]" if _SECRET_KEY.search(name)
                                           else safe_details(item))
        return out
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [safe_details(v) for v in items]
    if isinstance(value, bytes | bytearray | memoryview):
        return "[withheld]"
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return scrub(str(value), limit=2000)


class AuditUnwritable(VdcError):
    """The audit log cannot be appended to (``audit_unwritable``): nothing was changed."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(
            "audit_unwritable",
            f"The audit log {scrub(str(path), limit=300)} cannot be written "
            f"({scrub(why, limit=200)}); nothing was changed.",
            "Free disk space or make VDC_TUI_HOME writable (the log is audit.jsonl in it), "
            "then run the action again.",
            {"path": scrub(str(path), limit=300)},
        )


@dataclass
class AuditAction:
    """One action in progress: its start record is written; :meth:`finish` writes the end.

    Attributes:
        log: The log it is written to.
        id: The id shared by its start and end records.
        action: One of :data:`ACTIONS`.
        tenant_id: The tenant (may be filled in once known).
        tenant_name: Its display name, when known.
        app_id: The Application (client) ID, when known.
        admin: The signed-in admin's UPN, when one signed in.
        details: What changed, collected for the end record.
    """

    log: AuditLog
    id: str
    action: str
    tenant_id: str | None
    tenant_name: str | None = None
    app_id: str | None = None
    admin: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    finished: bool = False

    def add(self, **details: Any) -> None:
        """Add facts for the end record (key ids, thumbprints, permissions, paths…)."""
        self.details.update(details)

    def finish(self, outcome: str, *, error: BaseException | None = None) -> None:
        """Write the end record (once). A failure to write it is not raised: the change is
        done, and the start record already says that this action did not finish cleanly."""
        if self.finished:
            return
        self.finished = True
        details = dict(self.details)
        if error is not None:
            details["error"] = _error_facts(error)
        try:
            self.log.append(self._fields("end", outcome, details))
        except AuditUnwritable as problem:
            _log.warning("audit: the end record of %s %s was not written: %s", self.action,
                         self.id, problem.message)

    def _fields(self, phase: str, outcome: str | None,
                details: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": self.id, "action": self.action, "phase": phase, "outcome": outcome,
            "tenant_id": self.tenant_id, "tenant_name": self.tenant_name,
            "app_id": self.app_id, "actor": current_actor(self.admin), "details": details,
        }


def _error_facts(error: BaseException) -> dict[str, Any]:
    if isinstance(error, VdcError):
        facts: dict[str, Any] = {"code": error.code, "message": error.message}
        if error.details:
            facts["details"] = error.details
        return facts
    import asyncio

    if isinstance(error, asyncio.CancelledError | KeyboardInterrupt):
        return {"code": "cancelled", "message": "The run was cancelled."}
    return {"code": "internal_error", "message": type(error).__name__}


def outcome_of(error: BaseException) -> str:
    """``cancelled`` for a cancellation (Ctrl+C, a signal, the operator), else ``failed``."""
    import asyncio

    if isinstance(error, asyncio.CancelledError | KeyboardInterrupt):
        return "cancelled"
    if isinstance(error, VdcError) and error.code == "cancelled":
        return "cancelled"
    return "failed"


@dataclass(frozen=True)
class AuditLine:
    """One line of the log as read back.

    Attributes:
        number: The line's number (from 1).
        raw: Its bytes (without the newline).
        record: The parsed record, or ``None`` when the line is not a JSON object.
    """

    number: int
    raw: bytes
    record: dict[str, Any] | None


@dataclass(frozen=True)
class VerifyReport:
    """What :meth:`AuditLog.verify` found.

    Attributes:
        lines: How many lines the log has.
        bad_line: The first line edited, removed or reordered (``None``: intact).
        problem: What is wrong there, one line.
    """

    lines: int
    bad_line: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        """The chain holds from the first line to the last."""
        return self.bad_line is None


class AuditLog:
    """The append-only audit log of one home folder (``<home>/audit.jsonl``)."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self.path = self.home / AUDIT_FILE
        self.lock_path = self.home / "locks" / "audit.lock"

    # -- writing ---------------------------------------------------------------------

    @contextlib.contextmanager
    def action(self, action: str, *, tenant_id: str | None, tenant_name: str | None = None,
               app_id: str | None = None, admin: str | None = None,
               details: Mapping[str, Any] | None = None) -> Iterator[AuditAction]:
        """Record ``action`` around the block: the start record now (raising
        :class:`AuditUnwritable` before anything is changed when it cannot be written), the
        end record when the block ends: ``ok``, or ``failed``/``cancelled`` with the error."""
        act = self.start(action, tenant_id=tenant_id, tenant_name=tenant_name, app_id=app_id,
                         admin=admin, details=details)
        try:
            yield act
        except BaseException as error:
            act.finish(outcome_of(error), error=error)
            raise
        act.finish("ok")

    def start(self, action: str, *, tenant_id: str | None, tenant_name: str | None = None,
              app_id: str | None = None, admin: str | None = None,
              details: Mapping[str, Any] | None = None) -> AuditAction:
        """Write the start record of ``action`` and return it; call ``finish`` later."""
        if action not in ACTIONS:
            raise ValueError(f"unknown audit action {action!r}")
        act = AuditAction(self, uuid.uuid4().hex, action, tenant_id, tenant_name, app_id,
                          admin, dict(details or {}))
        self.append(act._fields("start", None, dict(act.details)))
        return act

    def record(self, action: str, outcome: str, *, tenant_id: str | None,
               tenant_name: str | None = None, app_id: str | None = None,
               admin: str | None = None, details: Mapping[str, Any] | None = None) -> str:
        """Write one finished record (no start record); returns its id."""
        if action not in ACTIONS or outcome not in OUTCOMES:
            raise ValueError(f"unknown audit action or outcome {action!r}/{outcome!r}")
        act = AuditAction(self, uuid.uuid4().hex, action, tenant_id, tenant_name, app_id,
                          admin, dict(details or {}))
        self.append(act._fields("end", outcome, dict(act.details)))
        return act.id

    def append(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Append one record (``time``, ``seq``, ``prev`` and ``hash`` are added here).

        Raises:
            AuditUnwritable: the home, the lock or the file cannot be written (read-only,
                full disk, a folder in the way); the file is left as it was.
        """
        from filelock import FileLock, Timeout

        try:
            ensure_private_dir(self.lock_path.parent)
        except OSError as exc:
            raise AuditUnwritable(self.path, exc.strerror or type(exc).__name__) from None
        lock = FileLock(str(self.lock_path), timeout=LOCK_TIMEOUT, mode=PRIVATE_FILE_MODE)
        try:
            with _thread_lock(self.path), lock:
                return self._append_locked(fields)
        except Timeout:
            raise AuditUnwritable(self.path, "another run held its lock too long") from None
        except OSError as exc:
            raise AuditUnwritable(self.path, exc.strerror or type(exc).__name__) from None

    def _append_locked(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(self.path, flags, PRIVATE_FILE_MODE)
        try:
            size = os.fstat(fd).st_size
            last, ends_with_newline = self._last_line(size)
            seq = self._next_seq(last, size)
            record: dict[str, Any] = {"time": _now(), "id": fields["id"], "seq": seq}
            record.update({k: v for k, v in fields.items() if k != "id"})
            record["tenant_id"] = _clean(record.get("tenant_id"), 100)
            record["tenant_name"] = _clean(record.get("tenant_name"), 300)
            record["app_id"] = _clean(record.get("app_id"), 100)
            record["details"] = safe_details(record.get("details") or {})
            record["prev"] = sha256_hex(last) if last is not None else GENESIS
            body = json.dumps(record, ensure_ascii=True, separators=(",", ":")).encode()
            digest = sha256_hex(body)
            line = body[:-1] + f',"hash":"{digest}"}}'.encode() + b"\n"
            if size and not ends_with_newline:
                line = b"\n" + line  # a cut line stays visible to verify, on its own line
            written = os.write(fd, line)
            if written != len(line):
                os.ftruncate(fd, size)
                raise OSError(28, "the disk is full (a short write was undone)")
            os.fsync(fd)
        except OSError:
            with contextlib.suppress(OSError):
                if os.fstat(fd).st_size > size:
                    os.ftruncate(fd, size)
            raise
        finally:
            os.close(fd)
        record["hash"] = digest
        return record

    def _last_line(self, size: int) -> tuple[bytes | None, bool]:
        """The last non-empty line (without newline) and whether the file ends with one."""
        if size == 0:
            return None, True
        with open(self.path, "rb") as handle:
            chunk = 4096
            data = b""
            position = size
            while position > 0:
                step = min(chunk, position)
                position -= step
                handle.seek(position)
                data = handle.read(step) + data
                if data.rstrip(b"\n").count(b"\n") >= 1 or position == 0:
                    break
                chunk *= 2
        ends = data.endswith(b"\n")
        lines = [piece for piece in data.split(b"\n") if piece]
        return (lines[-1] if lines else None), ends

    def _next_seq(self, last: bytes | None, size: int) -> int:
        if last is None:
            return 1
        with contextlib.suppress(ValueError, TypeError, KeyError):
            seq = json.loads(last)["seq"]
            if isinstance(seq, int) and not isinstance(seq, bool):
                return seq + 1
        with open(self.path, "rb") as handle:  # the last line is damaged: count lines
            return sum(1 for line in handle if line.strip()) + 1

    # -- reading ---------------------------------------------------------------------

    def lines(self, *, tail: int | None = None) -> list[AuditLine]:
        """Every line of the log (none when it does not exist yet); with ``tail``, only the
        whole lines of its last ``tail`` bytes (numbered from 1 within them)."""
        try:
            with open(self.path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if tail is not None and size > tail:
                    handle.seek(size - tail)
                    data = handle.read()
                    data = data[data.find(b"\n") + 1:]  # the first line is cut
                else:
                    data = handle.read()
        except FileNotFoundError:
            return []
        out: list[AuditLine] = []
        pieces = data.split(b"\n")
        if pieces and pieces[-1] == b"":
            pieces.pop()
        for number, raw in enumerate(pieces, start=1):
            record: dict[str, Any] | None
            try:
                parsed = json.loads(raw)
                record = parsed if isinstance(parsed, dict) else None
            except ValueError:
                record = None
            out.append(AuditLine(number, raw, record))
        return out

    def actions(self, *, tail: int | None = None) -> list[dict[str, Any]]:
        """One entry per action, in the order they ended (unfinished ones where they began):
        its end record with ``started`` (the start's time), or its start record with
        ``unfinished: true``. Damaged lines are skipped (``verify`` reports them).
        ``tail``: read only the log's last ``tail`` bytes."""
        starts: dict[str, dict[str, Any]] = {}
        order: dict[str, tuple[int, dict[str, Any]]] = {}
        for line in self.lines(tail=tail):
            record = line.record
            if record is None or not isinstance(record.get("id"), str):
                continue
            rid = record["id"]
            if record.get("phase") == "start":
                starts[rid] = record
                order.setdefault(rid, (line.number, {**record, "unfinished": True}))
            else:
                entry = dict(record)
                if rid in starts:
                    entry["started"] = starts[rid].get("time")
                entry["unfinished"] = False
                order.pop(rid, None)
                order[rid] = (line.number, entry)
        return [entry for _, entry in sorted(order.values(), key=lambda pair: pair[0])]

    def history(self, tenant_id: str, limit: int = 5) -> list[dict[str, Any]]:
        """The last ``limit`` actions on one tenant, newest last (from the log's last
        :data:`HISTORY_TAIL` bytes: a few thousand records, read quickly)."""
        mine = [a for a in self.actions(tail=HISTORY_TAIL) if a.get("tenant_id") == tenant_id]
        return mine[-limit:] if limit > 0 else mine

    def verify(self) -> VerifyReport:
        """Walk the chain: the first line edited, removed or reordered, or none."""
        lines = self.lines()
        seqs = [line.record.get("seq") if line.record else None for line in lines]
        previous: bytes | None = None
        for line in lines:
            number = line.number
            record = line.record
            if record is None:
                return VerifyReport(len(lines), number,
                                    f"line {number} is not a whole JSON record (edited or cut)")
            tail = _HASH_TAIL.search(line.raw)
            if tail is None or sha256_hex(line.raw[:tail.start()] + b"}") != \
                    tail.group(1).decode():
                return VerifyReport(len(lines), number,
                                    f"line {number} was edited (its hash does not match it)")
            seq = record.get("seq")
            if seq != number:
                later = any(isinstance(s, int) and isinstance(seq, int) and number <= s < seq
                            for s in seqs[number:])
                if isinstance(seq, int) and seq > number and not later:
                    problem = (f"line {number}: {seq - number} line(s) before it were removed "
                               f"(it was written as line {seq})")
                else:
                    problem = (f"line {number} is out of order (it was written as line "
                               f"{seq})")
                return VerifyReport(len(lines), number, problem)
            expected = sha256_hex(previous) if previous is not None else GENESIS
            if record.get("prev") != expected:
                if number == 1:
                    problem = "line 1 does not start the chain (lines before it were removed)"
                    return VerifyReport(len(lines), 1, problem)
                return VerifyReport(len(lines), number - 1,
                                    f"line {number - 1} was replaced or edited (line {number}'s "
                                    "prev does not match it)")
            previous = line.raw
        return VerifyReport(len(lines))


__all__ = [
    "ACTIONS",
    "AUDIT_FILE",
    "GENESIS",
    "OUTCOMES",
    "AuditAction",
    "AuditLine",
    "AuditLog",
    "AuditUnwritable",
    "VerifyReport",
    "current_actor",
    "outcome_of",
    "safe_details",
    "sha256_hex",
]
