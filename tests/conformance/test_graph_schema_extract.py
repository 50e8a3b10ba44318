"""The project's CSDL extract (``vdc_tui/emulator/data/graph_schema.json``) against the CSDL.

``vdc_tui.emulator.schema`` validates request bodies with a small JSON extract of Graph's
v1.0 CSDL, made by a script. These tests read Microsoft's XML directly (``csdl.py``, no
shared code) and check that the extract says the same thing for every type it holds, that
it holds every type a body of ours can reach, and that nothing nested is silently skipped.
"""

from __future__ import annotations

from typing import Any

import pytest

from vdc_tui.emulator import schema

from .csdl import Csdl, CsdlMissing, CsdlType, load_csdl

NS = "microsoft.graph."

#: The entity types our provisioning writes (identity.md §5, design.md) and the complex
#: types inside those bodies. Written here from the documents, not read from our code.
TYPES_WE_SEND: dict[str, tuple[str, ...]] = {
    "application": (
        "displayName",
        "signInAudience",
        "requiredResourceAccess",
        "keyCredentials",
        "tags",
        "notes",
        "description",
    ),
    "requiredResourceAccess": ("resourceAppId", "resourceAccess"),
    "resourceAccess": ("id", "type"),
    "keyCredential": (
        "type",
        "usage",
        "key",
        "displayName",
        "startDateTime",
        "endDateTime",
        "customKeyIdentifier",
        "keyId",
    ),
    "servicePrincipal": ("appId", "tags", "accountEnabled"),
    "appRoleAssignment": ("principalId", "resourceId", "appRoleId"),
    "unifiedRoleAssignment": ("principalId", "roleDefinitionId", "directoryScopeId"),
    "oAuth2PermissionGrant": ("scope",),
}


@pytest.fixture(scope="module")
def csdl() -> Csdl:
    try:
        return load_csdl()
    except CsdlMissing as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def extract() -> dict[str, Any]:
    return schema.load_schema()


def _short(full: str | None) -> str | None:
    return full.removeprefix(NS) if full else None


def _expected_entry(t: CsdlType) -> dict[str, Any]:
    """What the extract should say about a structured type, written from the XML."""
    props: dict[str, dict[str, Any]] = {}
    for p in t.properties.values():
        if p.navigation:
            continue
        element = p.element_type
        props[p.name] = {
            "type": element if element.startswith("Edm.") else _short(element),
            "collection": p.is_collection,
            "nullable": p.nullable,
        }
    return {
        "base": _short(t.base),
        "abstract": t.abstract,
        "open": t.open,
        "properties": props,
        "navigation": sorted(p.name for p in t.properties.values() if p.navigation),
    }


def _all_structured(extract: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {**extract["entityTypes"], **extract["complexTypes"]}


def test_every_extracted_structured_type_agrees_with_the_csdl(
    csdl: Csdl, extract: dict[str, Any]
) -> None:
    mismatches: list[str] = []
    for kind, group in (("EntityType", "entityTypes"), ("ComplexType", "complexTypes")):
        for name, entry in extract[group].items():
            t = csdl.types.get(NS + name)
            if t is None or t.kind != kind:
                mismatches.append(f"{name}: not a {kind} of the CSDL")
                continue
            want = _expected_entry(t)
            got = {
                "base": entry.get("base"),
                "abstract": entry.get("abstract"),
                "open": entry.get("open"),
                "properties": entry.get("properties"),
                "navigation": sorted(entry.get("navigation", [])),
            }
            for key in want:
                if want[key] != got[key]:
                    mismatches.append(f"{name}.{key}: extract {got[key]!r} != CSDL {want[key]!r}")
    assert not mismatches, "\n".join(mismatches)


def test_every_extracted_enum_agrees_with_the_csdl(csdl: Csdl, extract: dict[str, Any]) -> None:
    for name, entry in extract["enumTypes"].items():
        t = csdl.types[NS + name]
        assert t.kind == "EnumType"
        assert list(entry["members"]) == list(t.members), name
        assert entry["flags"] == t.flags, name


def test_extract_is_closed_under_property_types_and_bases(extract: dict[str, Any]) -> None:
    # The validator accepts any value of a type it does not know: a nested type missing from
    # the extract would silently escape every check.
    structured = _all_structured(extract)
    known = set(structured) | set(extract["enumTypes"])
    missing: set[str] = set()
    for name, entry in structured.items():
        if entry.get("base") and entry["base"] not in structured:
            missing.add(f"{entry['base']} (base of {name})")
        for prop, spec in entry["properties"].items():
            if not spec["type"].startswith("Edm.") and spec["type"] not in known:
                missing.add(f"{spec['type']} ({name}.{prop})")
    assert not missing, sorted(missing)


@pytest.mark.parametrize("type_name", sorted(TYPES_WE_SEND))
def test_types_we_send_are_in_the_extract_with_the_csdl_properties(
    csdl: Csdl, extract: dict[str, Any], type_name: str
) -> None:
    structured = _all_structured(extract)
    assert type_name in structured, f"{type_name} is missing from the extract"
    xml_props = csdl.all_properties(NS + type_name)
    for prop in TYPES_WE_SEND[type_name]:
        assert prop in xml_props, f"{type_name}.{prop} is not in Graph's CSDL"
        assert not xml_props[prop].navigation
        # Inherited properties are looked up along the extract's own base chain.
        current: str | None = type_name
        found: dict[str, Any] | None = None
        while current and found is None:
            found = structured[current]["properties"].get(prop)
            current = structured[current].get("base")
        assert found is not None, f"{type_name}.{prop} is missing from the extract"
        element = xml_props[prop].element_type
        assert found["type"] == (element if element.startswith("Edm.") else _short(element))
        assert found["collection"] == xml_props[prop].is_collection


def test_primitive_types_of_the_fields_that_matter_are_the_csdl_ones(csdl: Csdl) -> None:
    # Literal facts of the CSDL the validator's strictness rests on (a GUID is checked as a
    # GUID, a certificate as base64), so a regenerated XML that changed them is noticed.
    key = csdl.all_properties(NS + "keyCredential")
    assert key["key"].type == "Edm.Binary"
    assert key["customKeyIdentifier"].type == "Edm.Binary"
    assert key["keyId"].type == "Edm.Guid"
    assert key["startDateTime"].type == "Edm.DateTimeOffset"
    assignment = csdl.all_properties(NS + "appRoleAssignment")
    assert {assignment[p].type for p in ("principalId", "resourceId", "appRoleId")} == {"Edm.Guid"}
    assert csdl.all_properties(NS + "resourceAccess")["id"].type == "Edm.Guid"
    assert csdl.all_properties(NS + "requiredResourceAccess")["resourceAppId"].type == (
        "Edm.String"
    )
    assert csdl.all_properties(NS + "unifiedRoleAssignment")["principalId"].type == "Edm.String"
    assert csdl.is_open(NS + "application") and csdl.is_open(NS + "servicePrincipal")


def test_validator_rejects_misspelled_required_resource_access() -> None:
    body = {
        "displayName": "Contoso Backup",
        "requiredResourceAcess": [
            {
                "resourceAppId": "00000003-0000-0000-c000-000000000000",
                "resourceAccess": [{"id": "7ab1d382-f21e-4acd-a863-ba3e13f7da61", "type": "Role"}],
            }
        ],
    }
    problems = schema.validate_entity("application", body)
    assert len(problems) == 1 and "requiredResourceAcess" in problems[0]
    body["requiredResourceAccess"] = body.pop("requiredResourceAcess")
    assert schema.validate_entity("application", body) == []


@pytest.mark.parametrize(
    ("type_name", "body", "needle"),
    [
        (
            "appRoleAssignment",
            {
                "principalId": "nope",
                "resourceId": "7ab1d382-f21e-4acd-a863-ba3e13f7da61",
                "appRoleId": "7ab1d382-f21e-4acd-a863-ba3e13f7da61",
            },
            "principalId",
        ),
        ("application", {"displayName": "x", "keyCredentials": [{"key": "not base64!"}]}, "key"),
        ("application", {"displayName": "x", "keyCredentials": [{"usgae": "Verify"}]}, "usgae"),
        (
            "application",
            {
                "displayName": "x",
                "requiredResourceAccess": [
                    {"resourceAppId": "x", "resourceAccess": [{"id": "not-a-guid", "type": "Role"}]}
                ],
            },
            "id",
        ),
    ],
)
def test_validator_rejects_values_the_csdl_forbids(
    type_name: str, body: dict[str, Any], needle: str
) -> None:
    problems = schema.validate_entity(type_name, body)
    assert problems and any(needle in p for p in problems), problems
