"""The fleet's side of ``connections/index.json`` (:mod:`vdc_tui.connect.store.index`).

- :func:`summary_of` makes a tenant's summary from its profile entry and last result,
  with the ``stat`` of both files taken *before* they were read (a file changed in between
  then reads as stale next time, never as fresh with old content);
- :func:`indexed` reads a summary back as the entry and the slim result the dashboard's
  table draws before its first frame (the full records replace them after it);
- :func:`keep_in_index` puts the results of a fleet check into the index.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vdc_tui.connect.fleet.health import TenantHealth
from vdc_tui.connect.store.index import Signature, Summary, SummaryIndex
from vdc_tui.connect.store.profiles import PROFILE_FILE, ProfileEntry, ProfileStore

_HEALTHS = ("healthy", "warning", "broken")


def slim(result: TenantHealth) -> dict[str, Any]:
    """What the index keeps of a result: everything the table shows, not the checks."""
    return {"health": result.health, "unreachable": result.unreachable,
            "days_left": result.days_left, "missing": list(result.missing),
            "checked_at": result.checked_at, "not_after": result.not_after,
            "sha1": result.sha1}


def summary_of(entry: ProfileEntry, result: TenantHealth | None,
               sigs: tuple[Signature, Signature]) -> Summary:
    """The index's summary of one tenant (``sigs``: its files' stat before the read)."""
    profile = entry.profile or {}
    mode = profile.get("mode")
    return Summary(entry.tenant_id, entry.name, entry.default_domain,
                   mode if isinstance(mode, str) else None,
                   entry.error, slim(result) if result is not None else None, *sigs)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def indexed(store: ProfileStore, summary: Summary
            ) -> tuple[ProfileEntry, TenantHealth | None]:
    """A summary as the table's entry and result (checks empty until the full read).

    The entry's profile holds only the tenant's name, domain and mode; the table scrubs
    every text it shows, as it does for the full records.
    """
    folder = store.connections_dir / summary.tenant_id
    if summary.error is not None:
        entry = ProfileEntry(summary.tenant_id, folder / PROFILE_FILE, None, summary.error)
    else:
        entry = ProfileEntry(summary.tenant_id, folder / PROFILE_FILE, {
            "tenant": {"id": summary.tenant_id, "name": summary.name,
                       "default_domain": summary.default_domain},
            "mode": summary.mode})
    raw: Mapping[str, Any] | None = summary.result
    if raw is None or raw.get("health") not in _HEALTHS:
        return entry, None
    missing = raw.get("missing")
    return entry, TenantHealth(
        tenant_id=summary.tenant_id, name=summary.name, default_domain=summary.default_domain,
        mode=summary.mode, health=str(raw["health"]), checks=(),
        sha1=_str(raw.get("sha1")), not_after=_str(raw.get("not_after")),
        days_left=_int(raw.get("days_left")),
        missing=tuple(str(m) for m in missing) if isinstance(missing, list) else (),
        checked_at=_str(raw.get("checked_at")) or "",
        unreachable=raw.get("unreachable") is True)


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


__all__ = ["indexed", "keep_in_index", "slim", "summary_of"]
