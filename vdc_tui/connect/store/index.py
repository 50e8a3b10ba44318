"""``connections/index.json``: a summary of every tenant, read before the dashboard's
first frame instead of its two files.

With 5,000 tenants the dashboard would open 10,000 files (``profile.json`` and
``health.json`` of each) before it could draw anything. The index holds, per tenant, what
the table shows (name, domain, mode, and a slim copy of the last result: verdict, days
left, missing permissions, when it was checked) and the ``stat`` of both files
(``st_mtime_ns``, ``st_size``) when that summary was taken. A reader stats the two files
(no open); a tenant whose files changed since, or that the index does not know, is read
from its files as before. A damaged or missing index is read as empty and rebuilt.

The index is written atomically (``atomic_write``, 0600, like the profiles) after a
dashboard read the full records and after a fleet check; it holds no secret: only what
``profile.json`` and ``health.json`` already show. It is an optimisation only: deleting
it changes nothing but the time to the first frame.

The last result is kept as an opaque JSON object here (the store does not know health
records); :mod:`vdc_tui.connect.fleet.health` makes and reads it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vdc_tui.connect.store.fsutil import PRIVATE_FILE_MODE, atomic_write

if TYPE_CHECKING:
    from vdc_tui.connect.store.profiles import ProfileStore

log = logging.getLogger(__name__)

INDEX_FILE = "index.json"
#: Version of the index layout; another version is read as no index (and rebuilt).
INDEX_VERSION = 2
#: The two files of a tenant whose ``stat`` decides whether its summary is fresh.
_PROFILE, _HEALTH = "profile.json", "health.json"

#: ``(st_mtime_ns, st_size)`` of a file, ``None`` when it does not exist.
Signature = tuple[int, int] | None
#: A file that exists but cannot be stat'ed: never equal to what the index holds.
_UNKNOWN = (-1, -1)


def signature(path: str) -> Signature:
    """The ``stat`` facts a summary is checked against."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError:
        return _UNKNOWN
    return (found.st_mtime_ns, found.st_size)


@dataclass(frozen=True)
class Summary:
    """What the index holds for one tenant.

    Attributes:
        tenant_id: The tenant (its folder's name).
        name: Display name, when known.
        default_domain: Default domain, when known.
        mode: ``automatic`` or ``manual``, when known.
        error: Why its profile could not be read (then the rest is empty).
        result: The slim last result (a list made by ``fleet.summaries``), or ``None``.
        profile_sig: ``stat`` of ``profile.json`` when this was taken.
        health_sig: ``stat`` of ``health.json`` when this was taken.
    """

    tenant_id: str
    name: str | None
    default_domain: str | None
    mode: str | None
    error: str | None
    result: list[Any] | None
    profile_sig: Signature
    health_sig: Signature

    def to_row(self) -> list[Any]:
        """Its row in ``index.json`` (:data:`ROW`: a list, which JSON reads fastest)."""
        p, h = self.profile_sig or (None, None), self.health_sig or (None, None)
        return [self.tenant_id, self.name, self.default_domain, self.mode, self.error,
                p[0], p[1], h[0], h[1], self.result]


#: The columns of a row of ``index.json``: the tenant, what the table shows, the two
#: signatures (``null`` for a missing file), the slim last result (an object or ``null``).
ROW = ("tenant_id", "name", "domain", "mode", "error", "profile_mtime_ns", "profile_size",
       "health_mtime_ns", "health_size", "result")


def _opt(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _sig(mtime: Any, size: Any) -> Signature | bool:
    """A stored signature, or ``False`` when it is not one."""
    if mtime is None and size is None:
        return None
    if type(mtime) is int and type(size) is int:
        return (mtime, size)
    return False


def _summary(row: list[Any]) -> Summary | None:
    p, h = _sig(row[5], row[6]), _sig(row[7], row[8])
    result = row[9]
    if p is False or h is False or not (result is None or isinstance(result, list)):
        return None
    assert not isinstance(p, bool) and not isinstance(h, bool)
    return Summary(str(row[0]), _opt(row[1]), _opt(row[2]), _opt(row[3]), _opt(row[4]),
                   result, p, h)


class SummaryIndex:
    """The index of one store (``connections/index.json``)."""

    def __init__(self, store: ProfileStore) -> None:
        self.store = store
        self.path = store.connections_dir / INDEX_FILE

    def rows(self) -> dict[str, list[Any]] | None:
        """The index's rows by tenant id (each a list of :data:`ROW`'s length; its values
        unchecked), or ``None`` when the index is missing or damaged."""
        try:
            with open(os.fspath(self.path), "rb") as file:
                document = json.loads(file.read())
        except (OSError, ValueError):
            return None
        if not isinstance(document, dict) or document.get("version") != INDEX_VERSION:
            return None
        rows = document.get("tenants")
        if not isinstance(rows, list):
            return None
        width = len(ROW)
        out: dict[str, list[Any]] = {}
        for row in rows:
            if type(row) is not list or len(row) != width or type(row[0]) is not str:
                return None
            out[row[0]] = row
        return out

    def read(self) -> dict[str, Summary] | None:
        """Every summary the index holds, or ``None`` when it is missing or damaged."""
        rows = self.rows()
        if rows is None:
            return None
        out: dict[str, Summary] = {}
        for row in rows.values():
            found = _summary(row)
            if found is not None:
                out[found.tenant_id] = found
        return out

    def signatures(self, tenant_id: str) -> tuple[Signature, Signature]:
        """``stat`` of a tenant's ``profile.json`` and ``health.json``, now."""
        folder = os.path.join(os.fspath(self.store.connections_dir), tenant_id)
        return (signature(os.path.join(folder, _PROFILE)),
                signature(os.path.join(folder, _HEALTH)))

    def fresh(self, tenant_ids: Iterable[str]) -> tuple[dict[str, Summary], bool]:
        """The summaries still true of their files, and whether the index was all true.

        A summary is fresh when both files' ``stat`` equals what it was taken with (no
        file is opened). The flag is ``False`` when the index is missing or damaged, a
        tenant is stale or unknown, or the index names a tenant that is gone: then it
        wants rewriting.
        """
        rows, whole = self.fresh_rows(tenant_ids)
        out: dict[str, Summary] = {}
        for tid, row in rows.items():
            found = _summary(row)
            if found is None:
                whole = False
            else:
                out[tid] = found
        return out, whole

    def fresh_rows(self, tenant_ids: Iterable[str]) -> tuple[dict[str, list[Any]], bool]:
        """:meth:`fresh` as raw rows (values unchecked but the signatures): the dashboard's
        path before its first frame, two ``stat`` calls and no object per tenant."""
        known = self.rows()
        if known is None:
            return {}, False
        out: dict[str, list[Any]] = {}
        folder = os.fspath(self.store.connections_dir)
        stat = os.stat
        whole = True
        count = 0
        for tid in tenant_ids:
            count += 1
            row = known.get(tid)
            if row is None:
                whole = False
                continue
            try:
                found = stat(f"{folder}/{tid}/{_PROFILE}")
                if found.st_mtime_ns != row[5] or found.st_size != row[6]:
                    whole = False
                    continue
            except OSError:
                whole = False
                continue
            try:
                found = stat(f"{folder}/{tid}/{_HEALTH}")
            except FileNotFoundError:
                if row[7] is None and row[8] is None:
                    out[tid] = row
                else:
                    whole = False
                continue
            except OSError:
                whole = False
                continue
            if found.st_mtime_ns == row[7] and found.st_size == row[8]:
                out[tid] = row
            else:
                whole = False
        return out, whole and count == len(known)

    def write(self, summaries: Iterable[Summary]) -> bool:
        """Replace the index (atomically); ``False`` when it could not be written."""
        document = {"version": INDEX_VERSION, "columns": list(ROW),
                    "tenants": [s.to_row() for s in summaries]}
        data = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        try:
            if not self.store.connections_dir.is_dir():
                return False
            atomic_write(self.path, data + b"\n", mode=PRIVATE_FILE_MODE)
        except OSError as exc:
            log.warning("could not write the connections index: %s", type(exc).__name__)
            return False
        return True

    def update(self, summaries: Iterable[Summary], *, keep: Iterable[str]) -> bool:
        """Put ``summaries`` into the index, keeping the known summaries of the tenants of
        ``keep`` (the others are dropped); ``False`` when it could not be written."""
        merged = dict(self.read() or {})
        wanted = set(keep)
        merged = {tid: s for tid, s in merged.items() if tid in wanted}
        for summary in summaries:
            merged[summary.tenant_id] = summary
        return self.write(merged.values())


__all__ = ["INDEX_FILE", "INDEX_VERSION", "ROW", "Signature", "Summary", "SummaryIndex",
           "signature"]
