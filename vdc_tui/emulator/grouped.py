"""A dict by object id that also keeps its values grouped by one of their fields."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Any, TypeVar

_V = TypeVar("_V")


class Grouped(dict[str, _V]):
    """A dict by object id that also keeps its values grouped by one of their fields.

    A fleet scenario holds thousands of principals and grants; a token request looked
    through all of them several times (the emulator's own CPU then grew with the fleet's
    size). Writes go through ``d[id] = obj``, ``del d[id]`` and ``pop``, as on any dict;
    :meth:`group` gives the objects whose field equals a value, in insertion order, and
    :meth:`of_tenant` those of one tenant when the collection was built with ``tenant_of``
    (a tenant's list requests look through its own objects only). The grouping fields
    must not change once an object is stored (ids of tenants and principals never do).
    """

    def __init__(self, field_of: Callable[[_V], Hashable],
                 tenant_of: Callable[[_V], Hashable] | None = None) -> None:
        super().__init__()
        #: (field, groups) per index: the grouping field first, then the tenant if given.
        self._indexes: list[tuple[Callable[[_V], Hashable], dict[Hashable, dict[str, _V]]]] = [
            (field_of, {})]
        if tenant_of is not None:
            self._indexes.append((tenant_of, {}))
        self._by_tenant = tenant_of is not None

    def __setitem__(self, key: str, value: _V) -> None:
        if key in self:
            self._forget(key, self[key])
        super().__setitem__(key, value)
        for field_of, groups in self._indexes:
            groups.setdefault(field_of(value), {})[key] = value

    def __delitem__(self, key: str) -> None:
        value = self[key]
        super().__delitem__(key)
        self._forget(key, value)

    def pop(self, key: str, *default: Any) -> Any:
        if key not in self:
            if default:
                return default[0]
            raise KeyError(key)
        value = self[key]
        del self[key]
        return value

    def clear(self) -> None:
        super().clear()
        for _field_of, groups in self._indexes:
            groups.clear()

    def _unsupported(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("Grouped supports d[k] = v, del d[k], pop and clear only")

    update = setdefault = popitem = __ior__ = _unsupported

    def _forget(self, key: str, value: _V) -> None:
        for field_of, groups in self._indexes:
            group = groups.get(field_of(value))
            if group is not None:
                group.pop(key, None)
                if not group:
                    del groups[field_of(value)]

    def group(self, value: Hashable) -> Iterable[_V]:
        """The stored objects whose grouping field is ``value`` (a snapshot)."""
        return list(self._indexes[0][1].get(value, {}).values())

    def of_tenant(self, tenant_id: Hashable) -> Iterable[_V]:
        """The stored objects of one tenant (a snapshot), when built with ``tenant_of``."""
        if not self._by_tenant:
            raise TypeError("this collection is not grouped by tenant")
        return list(self._indexes[1][1].get(tenant_id, {}).values())
