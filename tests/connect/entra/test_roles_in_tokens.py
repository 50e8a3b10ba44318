"""The one rule for "is a required permission in the app-only tokens" (onboarding's
verification, the manual check, renewal's baseline and the health check share it)."""

from __future__ import annotations

from dataclasses import dataclass

from vdc_tui.connect.permissions import RequiredPermission, load_catalog, roles_in_tokens


@dataclass(frozen=True)
class _Token:
    roles: tuple[str, ...]


def _required() -> tuple[RequiredPermission, ...]:
    return load_catalog().required_for(["exchange", "sharepoint"])


def test_a_role_in_its_resources_token_is_granted_and_one_absent_is_missing() -> None:
    required = _required()
    graph = [p for p in required if p.resource.key == "graph"]
    exchange = [p for p in required if p.resource.key == "exchange"]
    found = roles_in_tokens(required, {
        "graph": _Token(tuple(p.value for p in graph[1:])),
        "exchange": _Token(tuple(p.value for p in exchange)),
    })
    assert found.missing == (graph[0],)
    assert set(found.granted) == set(graph[1:]) | set(exchange)


def test_a_role_named_in_another_resources_token_does_not_count() -> None:
    required = _required()
    exchange = [p for p in required if p.resource.key == "exchange"]
    found = roles_in_tokens(exchange, {"graph": _Token(tuple(p.value for p in exchange)),
                                       "exchange": _Token(())})
    assert found.missing == tuple(exchange) and not found.granted


def test_a_refused_token_makes_its_permissions_missing_and_an_unasked_one_unchecked() -> None:
    required = _required()
    everything = tuple(p.value for p in required)
    found = roles_in_tokens(required, {"graph": _Token(everything), "exchange": None})
    assert found.missing == tuple(p for p in required if p.resource.key == "exchange")
    assert found.unchecked == tuple(p for p in required if p.resource.key == "sharepoint")
    assert found.granted == tuple(p for p in required if p.resource.key == "graph")
