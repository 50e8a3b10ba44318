"""The emulator's id-keyed dicts that also group their objects (fleet-sized lookups)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from vdc_tui.emulator.grouped import Grouped


@dataclass
class Grant:
    id: str
    principal_id: str


def test_groups_follow_every_write() -> None:
    grants: Grouped[Grant] = Grouped(lambda g: g.principal_id)
    grants["a"] = Grant("a", "p1")
    grants["b"] = Grant("b", "p1")
    grants["c"] = Grant("c", "p2")
    grants["b"] = Grant("b", "p2")  # replaced: moves to its new group
    del grants["a"]
    assert grants.pop("zzz", None) is None
    assert grants.pop("c").principal_id == "p2"
    assert [g.id for g in grants.group("p1")] == []
    assert [g.id for g in grants.group("p2")] == ["b"]
    assert list(grants) == ["b"]


def test_a_group_is_a_snapshot_that_survives_deletes_while_iterating() -> None:
    grants: Grouped[Grant] = Grouped(lambda g: g.principal_id)
    for name in "abc":
        grants[name] = Grant(name, "p")
    for grant in grants.group("p"):
        del grants[grant.id]
    assert not grants and list(grants.group("p")) == []


def test_writes_that_would_bypass_the_groups_are_refused() -> None:
    grants: Grouped[Grant] = Grouped(lambda g: g.principal_id)
    with pytest.raises(TypeError):
        grants.update({"a": Grant("a", "p")})
    with pytest.raises(TypeError):
        grants.setdefault("a", Grant("a", "p"))


@dataclass
class TenantGrant:
    id: str
    principal_id: str
    tenant_id: str


def test_the_tenant_index_follows_every_write_and_clear() -> None:
    grants: Grouped[TenantGrant] = Grouped(lambda g: g.principal_id, lambda g: g.tenant_id)
    grants["a"] = TenantGrant("a", "p1", "t1")
    grants["b"] = TenantGrant("b", "p2", "t1")
    grants["c"] = TenantGrant("c", "p3", "t2")
    grants["b"] = TenantGrant("b", "p2", "t2")  # replaced: moves to its new tenant
    assert [g.id for g in grants.of_tenant("t1")] == ["a"]
    assert [g.id for g in grants.of_tenant("t2")] == ["c", "b"]
    del grants["c"]
    assert [g.id for g in grants.of_tenant("t2")] == ["b"]
    grants.clear()
    assert list(grants.of_tenant("t1")) == list(grants.of_tenant("t2")) == []
    assert list(grants.group("p1")) == []


def test_asking_for_a_tenant_of_a_collection_without_that_index_is_an_error() -> None:
    grants: Grouped[Grant] = Grouped(lambda g: g.principal_id)
    with pytest.raises(TypeError):
        grants.of_tenant("t1")
