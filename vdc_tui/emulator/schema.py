"""Check Graph request bodies against Microsoft's own schema (a CSDL extract).

``data/graph_schema.json`` is copied from the official Graph v1.0 CSDL by
``scripts/extract_graph_schema.py``. This module needs only the standard library and that
file, so other tests can import it on its own to check the bodies our client builds.

``application`` and ``servicePrincipal`` are *open types* in the CSDL (Graph would store an
unknown property as a directory extension attempt and fail later, or ignore it). We are
strict on purpose: an unknown property name is reported, because a misspelled
``requiredResourceAcess`` silently granting nothing is exactly the bug a test must catch.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

#: Keys the docs of this project say a create body must carry.
REQUIRED_ON_CREATE: dict[str, tuple[str, ...]] = {
    "application": ("displayName",),
    "servicePrincipal": ("appId",),
    "appRoleAssignment": ("principalId", "resourceId", "appRoleId"),
    "unifiedRoleAssignment": ("roleDefinitionId", "principalId", "directoryScopeId"),
}

MAX_BATCH_REQUESTS = 20
BATCH_METHODS = frozenset({"GET", "POST", "PATCH", "PUT", "DELETE"})

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?(Z|[+-]\d{2}:\d{2})$")
_BASE64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")


@cache
def load_schema() -> dict[str, Any]:
    """The CSDL extract shipped with the package."""
    text = resources.files("vdc_tui.emulator").joinpath("data/graph_schema.json").read_text(
        "utf-8"
    )
    data: dict[str, Any] = json.loads(text)
    return data


def _short(type_name: str) -> str:
    name = type_name.lstrip("#")
    for prefix in ("microsoft.graph.", "graph."):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def _structured(name: str) -> dict[str, Any] | None:
    schema = load_schema()
    found: dict[str, Any] | None = schema["entityTypes"].get(name) or schema["complexTypes"].get(
        name
    )
    return found


def _properties(name: str) -> tuple[dict[str, Any], set[str]]:
    """All properties and navigation names of a type, walking ``BaseType``."""
    props: dict[str, Any] = {}
    navigation: set[str] = set()
    current: str | None = name
    while current:
        entry = _structured(current)
        if entry is None:
            break
        for key, value in entry["properties"].items():
            props.setdefault(key, value)
        navigation.update(entry.get("navigation", ()))
        current = entry.get("base")
    return props, navigation


def property_names(type_name: str, *, navigation: bool = True) -> frozenset[str]:
    """Names a query option may use on a type of the extract (its properties, inherited ones
    included, and with ``navigation`` its navigation properties); empty when the type is
    not in the extract."""
    props, links = _properties(_short(type_name))
    return frozenset(props) | (frozenset(links) if navigation else frozenset())


def entity_properties(type_name: str) -> dict[str, Any]:
    """The structural properties of a type of the extract (inherited ones included), each
    ``{"type", "collection", "nullable"}``; empty when the type is not in the extract."""
    props, _ = _properties(_short(type_name))
    return props


def _derives_from(name: str, ancestor: str) -> bool:
    current: str | None = name
    while current:
        if current == ancestor:
            return True
        entry = _structured(current)
        current = entry.get("base") if entry else None
    return False


def _check_primitive(type_name: str, value: Any, where: str) -> list[str]:
    if type_name == "Edm.String":
        return [] if isinstance(value, str) else [f"{where}: expected a string"]
    if type_name == "Edm.Boolean":
        return [] if isinstance(value, bool) else [f"{where}: expected true or false"]
    if type_name == "Edm.Guid":
        if isinstance(value, str) and _GUID.match(value):
            return []
        return [f"{where}: {value!r} is not a valid GUID"]
    if type_name == "Edm.Binary":
        if not isinstance(value, str) or not _BASE64.match(value) or len(value) % 4:
            return [f"{where}: not valid base64"]
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return [f"{where}: not valid base64"]
        return []
    if type_name == "Edm.DateTimeOffset":
        if isinstance(value, str) and _DATETIME.match(value):
            try:
                datetime.fromisoformat(value.replace("Z", "+00:00"))
                return []
            except ValueError:
                pass
        return [f"{where}: {value!r} is not an ISO 8601 date and time with a time zone"]
    if type_name in ("Edm.Int32", "Edm.Int64", "Edm.Int16", "Edm.Byte"):
        if isinstance(value, int) and not isinstance(value, bool):
            if type_name == "Edm.Int32" and not -(2**31) <= value < 2**31:
                return [f"{where}: out of range for Edm.Int32"]
            return []
        return [f"{where}: expected an integer"]
    if type_name in ("Edm.Double", "Edm.Single", "Edm.Decimal"):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return []
        return [f"{where}: expected a number"]
    return []  # other Edm types are not used by our bodies; accept them


def _check_value(type_name: str, value: Any, where: str) -> list[str]:
    if type_name.startswith("Edm."):
        return _check_primitive(type_name, value, where)
    enums = load_schema()["enumTypes"]
    if type_name in enums:
        members = enums[type_name]["members"]
        if not isinstance(value, str):
            return [f"{where}: expected one of {', '.join(members)}"]
        parts = [p.strip() for p in value.split(",")] if enums[type_name]["flags"] else [value]
        bad = [p for p in parts if p not in members]
        return [f"{where}: {b!r} is not one of {', '.join(members)}" for b in bad]
    if _structured(type_name) is not None:
        if not isinstance(value, dict):
            return [f"{where}: expected an object of type {type_name}"]
        return _check_object(type_name, value, where, partial=True)
    return []


def _check_object(type_name: str, body: dict[str, Any], where: str, *, partial: bool) -> list[str]:
    props, navigation = _properties(type_name)
    problems: list[str] = []
    for key, value in body.items():
        path = f"{where}.{key}" if where else key
        if key == "@odata.type":
            declared = _short(str(value))
            if not isinstance(value, str) or not _derives_from(declared, type_name):
                problems.append(f"{path}: {value!r} is not {type_name} or a type derived from it")
            continue
        if key.endswith("@odata.bind"):
            if key[: -len("@odata.bind")] not in navigation:
                problems.append(f"Property '{key}' does not bind a navigation property of "
                                f"{type_name}.")
            continue
        if key in navigation:
            problems.append(f"{path}: navigation property '{key}' cannot be set in the body")
            continue
        spec = props.get(key)
        if spec is None:
            problems.append(
                f"Property '{key}' does not exist as a declared property or extension "
                f"property of microsoft.graph.{type_name}."
            )
            continue
        if value is None:
            if not spec["nullable"]:
                problems.append(f"{path}: cannot be null")
            continue
        problems += _check_declared(spec, value, path)
    if not partial:
        for key in REQUIRED_ON_CREATE.get(type_name, ()):
            if body.get(key) in (None, ""):
                problems.append(f"{where + '.' if where else ''}{key}: required")
    return problems


def _check_declared(spec: dict[str, Any], value: Any, path: str) -> list[str]:
    """Problems of a non-null value of a declared property or action parameter (a single
    value or a collection of its type)."""
    if not spec["collection"]:
        return _check_value(spec["type"], value, path)
    if not isinstance(value, list):
        return [f"{path}: expected a collection (JSON array)"]
    problems: list[str] = []
    for i, item in enumerate(value):
        problems += _check_value(spec["type"], item, f"{path}[{i}]")
    return problems


def validate_entity(type_name: str, body: dict[str, Any], *, partial: bool = False) -> list[str]:
    """Problems of a request body for a Graph entity type (empty list = valid).

    Args:
        type_name: ``application``, ``microsoft.graph.servicePrincipal`` or any type of the
            extract (complex types too).
        body: The JSON object a client sends.
        partial: True for PATCH bodies (no required keys).
    """
    name = _short(type_name)
    if _structured(name) is None:
        raise KeyError(f"type {type_name!r} is not in the schema extract")
    if not isinstance(body, dict):
        return ["the body must be a JSON object"]
    return _check_object(name, body, "", partial=partial)


def validate_action(binding: str, action: str, body: Any) -> list[str]:
    """Problems of the body of a bound action (``application``, ``addKey``); empty = valid.

    Every parameter the CSDL declares non-nullable is required; unknown names are refused.
    """
    spec = load_schema()["actions"].get(f"{_short(binding)}.{action}")
    if spec is None:
        raise KeyError(f"action {binding}.{action} is not in the schema extract")
    if not isinstance(body, dict):
        return ["the body must be a JSON object"]
    params: dict[str, Any] = spec["parameters"]
    problems = [f"'{k}' is not a parameter of the action {action}." for k in body
                if k not in params]
    for name, param in params.items():
        value = body.get(name)
        if value is None:
            if not param["nullable"]:
                problems.append(f"{name}: required")
            continue
        problems += _check_declared(param, value, name)
    return problems


def validate_batch_envelope(body: dict[str, Any]) -> list[str]:
    """Problems of a JSON ``$batch`` request body (empty list = valid).

    Checks: a ``requests`` array of 1–20 objects, unique string ``id``s, a known ``method``,
    a relative ``url``, ``dependsOn`` naming other requests of the batch, and a
    ``Content-Type`` header on every request that has a ``body``.
    """
    if not isinstance(body, dict):
        return ["the body must be a JSON object"]
    extra = sorted(set(body) - {"requests"})
    problems = [f"unknown top-level property '{k}'" for k in extra]
    requests = body.get("requests")
    if not isinstance(requests, list) or not requests:
        return problems + ["'requests' must be a non-empty array"]
    if len(requests) > MAX_BATCH_REQUESTS:
        problems.append(
            f"Number of batch requests {len(requests)} exceeds the limit of {MAX_BATCH_REQUESTS}."
        )
    ids: list[str] = []
    for i, req in enumerate(requests):
        where = f"requests[{i}]"
        if not isinstance(req, dict):
            problems.append(f"{where}: must be an object")
            continue
        unknown = sorted(set(req) - {"id", "method", "url", "headers", "body", "dependsOn"})
        problems += [f"{where}: unknown property '{k}'" for k in unknown]
        rid = req.get("id")
        if not isinstance(rid, str) or not rid:
            problems.append(f"{where}: 'id' must be a non-empty string")
        elif rid in ids:
            problems.append(f"{where}: duplicate id '{rid}'")
        else:
            ids.append(rid)
        method = req.get("method")
        if not isinstance(method, str) or method.upper() not in BATCH_METHODS:
            problems.append(f"{where}: 'method' must be one of {', '.join(sorted(BATCH_METHODS))}")
        url = req.get("url")
        if not isinstance(url, str) or not url:
            problems.append(f"{where}: 'url' is required")
        elif "://" in url or url.startswith("//"):
            problems.append(f"{where}: 'url' must be relative (e.g. /users), got an absolute URL")
        elif url.lstrip("/").startswith(("v1.0/", "beta/")):
            problems.append(f"{where}: 'url' must not repeat the version segment")
        headers = req.get("headers")
        if headers is not None and not (
            isinstance(headers, dict) and all(isinstance(v, str) for v in headers.values())
        ):
            problems.append(f"{where}: 'headers' must map names to strings")
        if "body" in req and req["body"] is not None:
            names = {k.lower() for k in headers} if isinstance(headers, dict) else set()
            if "content-type" not in names:
                problems.append(f"{where}: a request with a body needs a Content-Type header")
    for i, req in enumerate(requests):
        if not isinstance(req, dict) or "dependsOn" not in req:
            continue
        deps = req["dependsOn"]
        if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
            problems.append(f"requests[{i}]: 'dependsOn' must be an array of ids")
            continue
        for dep in deps:
            if dep not in ids or dep == req.get("id"):
                problems.append(f"requests[{i}]: dependsOn '{dep}' is not another request of "
                                "the batch")
    return problems
