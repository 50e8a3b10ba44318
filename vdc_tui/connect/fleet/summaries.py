"""The fleet's side of ``connections/index.json`` (:mod:`vdc_tui.connect.store.index`).

- :func:`summary_of` makes a tenant's summary from its profile entry and last result,
  with the ``stat`` of both files taken *before* they were read (a file changed in between
  then reads as stale next time, never as fresh with old content);
- :func:`first_frame_records` reads the index's fresh rows as the entries and slim results
  the dashboard's table draws before its first frame (the full records replace them);
- :func:`keep_in_index` puts the results of a fleet check into the index.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vdc_tui.connect.fleet.health import TenantHealth
from vdc_tui.connect.store.index import Signature, Summary, SummaryIndex
from vdc_tui.connect.store.profile import Profile, TenantRecord
from vdc_tui.connect.store.profiles import PROFILE_FILE, ProfileEntry, ProfileStore

_HEALTHS = frozenset(("healthy", "warning", "broken"))

#: The columns of a slim result in the index (a list: JSON reads it fastest).
SLIM = ("health", "unreachable", "days_left", "missing", "checked_at", "not_after", "sha1")


def slim(result: TenantHealth) -> list[Any]:
    """What the index keeps of a result (:data:`SLIM`): what the table shows, no checks."""
    return [result.health, result.unreachable, result.days_left, list(result.missing),
            result.checked_at, result.not_after, result.sha1]


def summary_of(entry: ProfileEntry, result: TenantHealth | None,
               sigs: tuple[Signature, Signature]) -> Summary:
    """The index's summary of one tenant (``sigs``: its files' stat before the read)."""
    return Summary(entry.tenant_id, entry.name, entry.default_domain, entry.mode,
                   entry.error, slim(result) if result is not None else None, *sigs)


def _str(value: Any) -> str | None:
    return value if type(value) is str else None


def first_frame_records(store: ProfileStore, tenant_ids: Sequence[str]
                        ) -> tuple[dict[str, ProfileEntry], dict[str, TenantHealth], bool]:
    """The entries and slim results of the tenants whose index rows are still true of
    their files (two ``stat`` calls each, no file opened), and whether the whole index was.

    An entry's profile holds only the tenant's name, domain and mode, a result no checks:
    the full records replace them after the first frame. Every value is type-checked as
    it is taken (a row that is not what :func:`summary_of` writes reads as stale); the
    table scrubs every text it shows, as it does for the full records.
    """
    rows, whole = SummaryIndex(store).fresh_rows(tenant_ids)
    folder = os.fspath(store.connections_dir)
    entries: dict[str, ProfileEntry] = {}
    results: dict[str, TenantHealth] = {}
    for tid, row in rows.items():
        _tid, name, domain, mode, error, *_sigs, raw = row
        name, domain, mode = _str(name), _str(domain), _str(mode)
        path = Path(f"{folder}/{tid}/{PROFILE_FILE}")
        if error is not None:
            entries[tid] = ProfileEntry(tid, path, None, _str(error) or "unreadable")
        else:
            entries[tid] = ProfileEntry(tid, path, Profile(
                tenant=TenantRecord(tid, name, domain), mode=mode))
        if raw is None:
            continue
        if type(raw) is not list or len(raw) != len(SLIM) or raw[0] not in _HEALTHS:
            del entries[tid]  # not a row this code wrote: read from the files
            whole = False
            continue
        health, unreachable, days, missing, checked_at, not_after, sha1 = raw
        results[tid] = TenantHealth(
            tenant_id=tid, name=name, default_domain=domain, mode=mode, health=health,
            checks=(), sha1=_str(sha1), not_after=_str(not_after),
            days_left=days if type(days) is int else None,
            missing=tuple(str(m) for m in missing) if type(missing) is list else (),
            checked_at=_str(checked_at) or "", unreachable=unreachable is True)
    return entries, results, whole


def keep_in_index(store: ProfileStore, entries: Sequence[ProfileEntry],
                  results: Sequence[TenantHealth]) -> None:
    """After a check kept ``results`` (``health.json``): their summaries into the index.

    Only tenants of ``entries`` change; the index's other tenants stay as they were (a
    stale one is found stale by the next reader). Best effort: an index that cannot be
    written is only slower next time.
    """
    index = SummaryIndex(store)
    by_id = {r.tenant_id: r for r in results}
    known = index.read()
    if known is None:
        return  # no index yet: the dashboard's full read builds it, with every tenant
    changed = []
    for entry in entries:
        result = by_id.get(entry.tenant_id)
        if result is None:
            continue
        changed.append(summary_of(entry, result, index.signatures(entry.tenant_id)))
    index.update(changed, keep=known.keys() | {e.tenant_id for e in entries})


__all__ = ["SLIM", "first_frame_records", "keep_in_index", "slim", "summary_of"]
