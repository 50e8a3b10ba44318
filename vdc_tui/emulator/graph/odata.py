"""OData query options of collections: ``$filter`` (the clauses Graph supports on the
properties this emulator serves), ``$select``, and paging with ``$top`` / ``$skiptoken``."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from vdc_tui.emulator.core import EmulatorCore, GraphResult
from vdc_tui.emulator.schema import property_names

PAGE_SIZE = 100
#: The largest ``$top`` of directory collections (Graph's paging page: 1 to 999).
MAX_PAGE_SIZE = 999


def collection(core: EmulatorCore, path: str, query: dict[str, str], crid: str | None,
               items: list[dict[str, Any]], context: str,
               entity: str | None = None) -> GraphResult:
    """A collection answer: filtered, selected, one page of it and the next link
    (``entity``: the item type, whose properties ``$select`` may name)."""
    problem = select_problem(core, query, crid, entity)
    if problem is not None:
        return problem
    filtered = filter_items(core, query, crid, items, entity)
    if isinstance(filtered, GraphResult):
        return filtered
    items = [select(query, i) for i in filtered]
    try:
        top = int(query.get("$top", PAGE_SIZE))
        skip = int(query.get("$skiptoken", "0"))
    except ValueError:
        return core.graph_error(400, "Request_BadRequest", "Invalid $top or $skiptoken.",
                                client_request_id=crid)
    if not 1 <= top <= MAX_PAGE_SIZE:  # Graph refuses, it does not clamp
        return core.graph_error(400, "Request_BadRequest",
                                f"Invalid page size specified: '{top}'. Must be between 1 and "
                                f"{MAX_PAGE_SIZE} inclusive.", client_request_id=crid)
    page = items[skip: skip + top]
    body: dict[str, Any] = {"@odata.context": selected_context(context, query, entity),
                            "value": page}
    if skip + top < len(items):
        rest = {k: v for k, v in query.items() if k != "$skiptoken"}
        rest["$skiptoken"] = str(skip + top)
        body["@odata.nextLink"] = f"{core.graph_url}/v1.0{path}?{urlencode(rest)}"
    return GraphResult(200, body)


def _selected_names(query: dict[str, str]) -> list[str] | None:
    """The names ``$select`` asks for (as typed), ``None`` for no or a ``*`` selection."""
    text = query.get("$select")
    if not text:
        return None
    names = [s.strip() for s in text.split(",") if s.strip()]
    return None if "*" in names else names


def select(query: dict[str, str], item: dict[str, Any]) -> dict[str, Any]:
    """``item`` reduced to ``$select`` and its OData annotations. Graph returns only what
    was selected: ``id`` too must be asked for (a client reading an unselected ``id`` gets
    nothing from Graph). Names match in any letter case (Graph answers ``$select=Id``
    with ``id``)."""
    names = _selected_names(query)
    if names is None:
        return item
    wanted = {n.lower() for n in names}
    return {k: v for k, v in item.items() if k.lower() in wanted or k.startswith("@odata.")}


def selected_context(context: str, query: dict[str, str], entity: str | None) -> str:
    """``@odata.context`` of an answer under ``$select``: the selected properties, in
    their declared spelling, in parentheses (``…#applications(id)/$entity``)."""
    names = _selected_names(query)
    if names is None:
        return context
    declared = {n.lower(): n for n in property_names(entity)} if entity else {}
    part = "(" + ",".join(declared.get(n.lower(), n) for n in names) + ")"
    if context.endswith("/$entity"):
        return context[: -len("/$entity")] + part + "/$entity"
    return context + part


def select_problem(core: EmulatorCore, query: dict[str, str], crid: str | None,
                   entity: str | None) -> GraphResult | None:
    """Graph's 400 for a ``$select`` naming a property ``entity`` does not have (only for
    the types of the schema extract; ``None`` otherwise)."""
    text = query.get("$select")
    names = property_names(entity) if text and entity else frozenset()
    if not names:
        return None
    lowered = {n.lower() for n in names}
    for name in (s.strip() for s in (text or "").split(",")):
        if name != "*" and name.lower() not in lowered:
            return core.graph_error(
                400, "BadRequest", "Parsing OData Select and Expand failed: Could not find a "
                f"property named '{name}' on type 'microsoft.graph.{entity}'.",
                client_request_id=crid)
    return None


def filter_items(core: EmulatorCore, query: dict[str, str], crid: str | None,
                 items: list[dict[str, Any]],
                 entity: str | None = None) -> list[dict[str, Any]] | GraphResult:
    """The items that pass ``$filter`` (clauses joined by ``and``), or Graph's 400 (also
    for a property ``entity`` does not have: Graph does not answer an empty page)."""
    text = query.get("$filter")
    if not text:
        return items
    names = property_names(entity, navigation=False) if entity else frozenset()
    tests: list[Callable[[dict[str, Any]], bool]] = []
    for clause in re.split(r"\s+and\s+", text.strip()):
        prop = re.match(r"\s*(?:startswith\(\s*)?(\w+)", clause)
        if names and prop and prop.group(1) not in names:
            return core.graph_error(
                400, "BadRequest", f"Could not find a property named '{prop.group(1)}' on "
                f"type 'microsoft.graph.{entity}'.", client_request_id=crid)
        test = filter_clause(clause.strip())
        if test is None:
            return core.graph_error(400, "Request_UnsupportedQuery", "Unsupported Query.",
                                    client_request_id=crid)
        tests.append(test)
    return [i for i in items if all(t(i) for t in tests)]


def _unquote(text: str) -> str:
    return text.replace("''", "'")


def filter_clause(clause: str) -> Callable[[dict[str, Any]], bool] | None:
    """One ``$filter`` clause: ``p eq 'v'``, ``p/any(t:t eq 'v')``, ``startswith(p,'v')``."""
    m = re.fullmatch(r"(\w+)\s+eq\s+'((?:[^']|'')*)'", clause)
    if m:
        prop, value = m.group(1), _unquote(m.group(2)).lower()
        return lambda item: str(item.get(prop, "")).lower() == value
    m = re.fullmatch(r"(\w+)/any\((\w+):\s*\2\s+eq\s+'((?:[^']|'')*)'\)", clause)
    if m:
        prop, value = m.group(1), _unquote(m.group(3)).lower()
        return lambda item: any(str(v).lower() == value for v in item.get(prop) or [])
    m = re.fullmatch(r"startswith\((\w+),\s*'((?:[^']|'')*)'\)", clause)
    if m:
        prop, value = m.group(1), _unquote(m.group(2)).lower()
        return lambda item: str(item.get(prop, "")).lower().startswith(value)
    return None
