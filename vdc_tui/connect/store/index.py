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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vdc_tui.connect.store.fsutil import PRIVATE_FILE_MODE, atomic_write

if TYPE_CHECKING:
    from vdc_tui.connect.store.profiles import ProfileStore

log = logging.getLogger(__name__)

INDEX_FILE = "index.json"
#: Version of the index layout; another version is read as no index (and rebuilt).
INDEX_VERSION = 1
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
        result: The slim last result (made by ``fleet.health``), or ``None``.
        profile_sig: ``stat`` of ``profile.json`` when this was taken.
        health_sig: ``stat`` of ``health.json`` when this was taken.
    """

    tenant_id: str
    name: str | None
    default_domain: str | None
    mode: str | None
    error: str | None
    result: Mapping[str, Any] | None
    profile_sig: Signature
    health_sig: Signature

    def to_json(self) -> dict[str, Any]:
        """Its entry in ``index.json``."""
        return {"name": self.name, "domain": self.default_domain, "mode": self.mode,
                "error": self.error, "result": self.result,
                "p": list(self.profile_sig) if self.profile_sig else None,
                "h": list(self.health_sig) if self.health_sig else None}


def _opt(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _sig_of(value: Any) -> Signature | bool:
    """A stored signature, or ``False`` when it is not one."""
    if value is None:
        return None
    if (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        return (value[0], value[1])
    return False


def _summary(tenant_id: str, raw: Any) -> Summary | None:
    if not isinstance(raw, dict):
        return None
    p, h = _sig_of(raw.get("p")), _sig_of(raw.get("h"))
    result = raw.get("result")
    if p is False or h is False or not (result is None or isinstance(result, dict)):
        return None
    assert not isinstance(p, bool) and not isinstance(h, bool)
    return Summary(tenant_id, _opt(raw.get("name")), _opt(raw.get("domain")),
                   _opt(raw.get("mode")), _opt(raw.get("error")), result, p, h)


class SummaryIndex:
    """The index of one store (``connections/index.json``)."""

    def __init__(self, store: ProfileStore) -> None:
        self.store = store
        self.path = store.connections_dir / INDEX_FILE

    def read(self) -> dict[str, Summary] | None:
        """Every summary the index holds, or ``None`` when it is missing or damaged."""
        try:
            with open(os.fspath(self.path), "rb") as file:
                document = json.loads(file.read().decode("utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(document, dict) or document.get("version") != INDEX_VERSION:
            return None
        tenants = document.get("tenants")
        if not isinstance(tenants, dict):
            return None
        out: dict[str, Summary] = {}
        for tid, raw in tenants.items():
            found = _summary(str(tid), raw)
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
        known = self.read()
        if known is None:
            return {}, False
        out: dict[str, Summary] = {}
        folder = os.fspath(self.store.connections_dir)
        join = os.path.join
        whole = True
        count = 0
        for tid in tenant_ids:
            count += 1
            found = known.get(tid)
            if found is None:
                whole = False
                continue
            here = join(folder, tid)
            if (signature(join(here, _PROFILE)) == found.profile_sig
                    and signature(join(here, _HEALTH)) == found.health_sig):
                out[tid] = found
            else:
                whole = False
        return out, whole and count == len(known)

    def write(self, summaries: Iterable[Summary]) -> bool:
        """Replace the index (atomically); ``False`` when it could not be written."""
        document = {"version": INDEX_VERSION,
                    "tenants": {s.tenant_id: s.to_json() for s in summaries}}
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


__all__ = ["INDEX_FILE", "INDEX_VERSION", "Signature", "Summary", "SummaryIndex", "signature"]
