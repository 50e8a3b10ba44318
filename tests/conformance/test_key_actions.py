"""The addKey/removeKey parameters of the extract against Microsoft's CSDL, and the bodies
renewal sends against them."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from vdc_tui.connect.certificates import generate_self_signed
from vdc_tui.connect.entra.proof import add_key_body, remove_key_body
from vdc_tui.emulator.schema import load_schema, validate_action

from .csdl import EDM, csdl_path

OBJECT_ID = "0f6a1c3e-2b4d-4e8f-9a1b-2c3d4e5f6a7b"


def _csdl_action(binding: str, name: str) -> dict[str, tuple[str, bool]]:
    """``{parameter: (type, nullable)}`` of a bound action, read straight from the XML."""
    root = ET.parse(csdl_path()).getroot()
    for action in root.iter(f"{EDM}Action"):
        params = action.findall(f"{EDM}Parameter")
        if action.get("Name") == name and params and params[0].get("Type") == f"graph.{binding}":
            return {p.get("Name", ""): (p.get("Type", ""), p.get("Nullable", "true") != "false")
                    for p in params[1:]}
    raise AssertionError(f"{binding}.{name} not in the CSDL")


def test_extracted_key_actions_agree_with_the_csdl() -> None:
    for qualified, entry in load_schema()["actions"].items():
        binding, name = qualified.split(".")
        want = _csdl_action(binding, name)
        got = {k: (("Collection(" if v["collection"] else "")
                   + (v["type"] if v["type"].startswith("Edm.") else "graph." + v["type"])
                   + (")" if v["collection"] else ""), v["nullable"])
               for k, v in entry["parameters"].items()}
        assert got == want, qualified


def test_the_key_bodies_renewal_sends_are_valid() -> None:
    current, new = generate_self_signed("current"), generate_self_signed("next")
    body = add_key_body(new, current, OBJECT_ID)
    assert validate_action("application", "addKey", body) == []
    assert validate_action("application", "removeKey",
                           remove_key_body(OBJECT_ID, new, OBJECT_ID)) == []


def test_a_remove_key_body_without_a_guid_is_refused() -> None:
    problems = validate_action("application", "removeKey", {"keyId": "old", "proof": "x"})
    assert problems and "GUID" in problems[0]
