"""The CSDL-based body validator, on its own (no server)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vdc_tui.emulator.schema import validate_batch_envelope, validate_entity

GUID = "00000003-0000-0000-c000-000000000000"
ROOT = Path(__file__).resolve().parents[2]


def test_a_real_application_body_is_valid() -> None:
    body = {
        "displayName": "Backup", "signInAudience": "AzureADMyOrg", "tags": ["x"],
        "requiredResourceAccess": [{"resourceAppId": GUID,
                                    "resourceAccess": [{"id": GUID, "type": "Role"}]}],
        "keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": "AAEC",
                            "displayName": "CN=x", "startDateTime": "2026-01-01T00:00:00Z",
                            "endDateTime": "2028-01-01T00:00:00.123+01:00"}],
        "publicClient": {"redirectUris": ["http://localhost"]},
        "isFallbackPublicClient": True,
    }
    assert validate_entity("application", body) == []
    assert validate_entity("microsoft.graph.application", body) == []


@pytest.mark.parametrize(("body", "fragment"), [
    ({"displayName": "x", "requiredResourceAcess": []}, "requiredResourceAcess"),
    ({"signInAudience": "AzureADMyOrg"}, "displayName: required"),
    ({"displayName": "x", "keyCredentials": [{"key": "not base64!"}]}, "base64"),
    ({"displayName": "x", "keyCredentials": [{"keyId": "nope"}]}, "GUID"),
    ({"displayName": "x", "keyCredentials": [{"endDateTime": "2026-01-01"}]}, "time zone"),
    ({"displayName": "x", "isFallbackPublicClient": "yes"}, "true or false"),
    ({"displayName": "x", "tags": "one"}, "collection"),
    ({"displayName": "x", "requiredResourceAccess": [{"resourceAccess": [{"typ": "Role"}]}]},
     "typ"),
    ({"displayName": "x", "nativeAuthenticationApisEnabled": "sometimes"}, "not one of"),
    ({"displayName": "x", "owners": []}, "navigation"),
    ({"displayName": "x", "@odata.type": "#microsoft.graph.user"}, "not application"),
])
def test_application_problems(body: dict[str, object], fragment: str) -> None:
    problems = validate_entity("application", body)
    assert any(fragment in p for p in problems), problems


def test_patch_bodies_need_no_required_keys() -> None:
    assert validate_entity("application", {"tags": []}, partial=True) == []


def test_other_types_and_their_required_keys() -> None:
    assert validate_entity("servicePrincipal", {"appId": GUID}) == []
    assert validate_entity("servicePrincipal", {}) == ["appId: required"]
    assert validate_entity("appRoleAssignment", {"principalId": GUID, "resourceId": GUID,
                                                 "appRoleId": GUID}) == []
    missing = validate_entity("appRoleAssignment", {"principalId": GUID})
    assert missing == ["resourceId: required", "appRoleId: required"]
    assert validate_entity("unifiedRoleAssignment", {
        "@odata.type": "#microsoft.graph.unifiedRoleAssignment", "roleDefinitionId": GUID,
        "principalId": GUID, "directoryScopeId": "/"}) == []
    assert validate_entity("appRoleAssignment", {"principalId": "x", "resourceId": GUID,
                                                 "appRoleId": GUID}) != []


def test_owners_bind_is_allowed() -> None:
    body = {"displayName": "x",
            "owners@odata.bind": ["https://graph.microsoft.com/v1.0/directoryObjects/1"]}
    assert validate_entity("application", body) == []


def test_batch_envelope() -> None:
    good = {"requests": [
        {"id": "1", "method": "GET", "url": "/organization"},
        {"id": "2", "method": "POST", "url": "/applications", "body": {"displayName": "x"},
         "headers": {"Content-Type": "application/json"}, "dependsOn": ["1"]}]}
    assert validate_batch_envelope(good) == []
    assert validate_batch_envelope({"requests": []})
    no_type = {"requests": [{"id": "1", "method": "POST", "url": "/x", "body": {}}]}
    assert any("Content-Type" in p for p in validate_batch_envelope(no_type))
    bad_dep = {"requests": [{"id": "1", "method": "GET", "url": "/x", "dependsOn": ["9"]}]}
    assert any("dependsOn" in p for p in validate_batch_envelope(bad_dep))
    too_many = {"requests": [{"id": str(i), "method": "GET", "url": "/x"} for i in range(21)]}
    assert any("exceeds" in p for p in validate_batch_envelope(too_many))
    assert validate_batch_envelope({"requests": [{"id": "1", "method": "FETCH", "url": "/x"}]})


def test_schema_module_imports_on_its_own() -> None:
    code = ("import sys; from vdc_tui.emulator.schema import validate_entity; "
            "print(validate_entity('appRoleAssignment', "
            "{'principalId': 'x', 'resourceId': 'y', 'appRoleId': 'z'})); "
            "print(sorted(m for m in ('starlette', 'uvicorn', 'textual') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout.splitlines()
    assert "GUID" in out[0]
    assert out[1] == "[]"


def test_extract_script_reproduces_the_committed_json(tmp_path: Path) -> None:
    metadata = ROOT.parent / "shared" / "reference" / "graph" / "v1.0-cleanMetadata.xml"
    if not metadata.exists():  # the reference CSDL sits next to the checkout in this project
        metadata = ROOT / "reference" / "graph" / "v1.0-cleanMetadata.xml"
    out = tmp_path / "schema.json"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "extract_graph_schema.py"),
                    "--metadata", str(metadata), "--out", str(out)], check=True,
                   capture_output=True)
    committed = ROOT / "vdc_tui" / "emulator" / "data" / "graph_schema.json"
    assert json.loads(out.read_text()) == json.loads(committed.read_text())
