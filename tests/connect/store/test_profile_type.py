"""The typed profile: a hand-edited field of the wrong type reads as missing, once, in the
store; fields this version does not model survive a write."""

from __future__ import annotations

import json
from pathlib import Path

from vdc_tui.connect.store.profile import Profile
from vdc_tui.connect.store.profiles import ProfileStore

TENANT = "2a1d5a8e-6f3c-4b7e-9d21-c0ff5e7d1a42"
APP = "11111111-2222-4333-8444-555555555555"


def document(**changes: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "schema_version": 1,
        "tenant": {"id": TENANT, "name": "Contoso", "default_domain": "contoso.com",
                   "cloud": "global"},
        "mode": "automatic", "plan": "flex", "signed_in_admin": "admin@contoso.com",
        "app": {"app_id": APP, "object_id": "o1", "created_by_tool": True},
        "certificate": {"sha1": "ab" * 20, "not_after": "2027-01-01T00:00:00+00:00",
                        "key_size": 2048, "key_file": "certificate.pfx"},
        "services": {"selected": ["sharepoint", "exchange"], "available": ["exchange"]},
        "permissions": {"granted": ["Microsoft Graph: User.Read.All"], "missing": [],
                        "catalog_version": "2026-11"},
        "renewed_at": "2026-12-01T00:00:00+00:00",
    }
    doc.update(changes)
    return doc


def test_every_field_reads_typed() -> None:
    profile = Profile.from_json(document())
    assert profile.tenant.name == "Contoso" and profile.app_id == APP
    assert profile.certificate.thumbprint == "AB" * 20
    assert profile.certificate.expires is not None and profile.certificate.expires.year == 2027
    assert profile.services.backed_up == ("exchange", "sharepoint")
    assert profile.permissions.catalog_version == "2026-11"
    assert profile.fact("renewed_at") == "2026-12-01T00:00:00+00:00"
    assert not profile.manual


def test_a_field_of_the_wrong_type_reads_as_missing() -> None:
    profile = Profile.from_json(document(app=["not", "a", "record"], mode=7,
                                         certificate={"sha1": 5, "not_after": "soon",
                                                      "key_size": True},
                                         services={"selected": "exchange"}))
    assert profile.app_id == "" and profile.mode is None
    assert profile.certificate.thumbprint is None and profile.certificate.expires is None
    assert profile.certificate.key_size is None
    assert profile.services.selected == () and profile.services.backed_up == ("exchange",)


def test_the_first_releases_top_level_app_id_is_still_read() -> None:
    doc = document(app_id=APP)
    del doc["app"]
    assert Profile.from_json(doc).app_id == APP


def test_a_store_update_keeps_the_fields_it_does_not_model(tmp_path: Path) -> None:
    folder = tmp_path / "connections" / TENANT
    folder.mkdir(parents=True, mode=0o700)
    tmp_path.chmod(0o700)
    (tmp_path / "connections").chmod(0o700)
    doc = document(future_field={"kept": True})
    (folder / "profile.json").write_text(json.dumps(doc), encoding="utf-8")
    store = ProfileStore(tmp_path)
    store.record_verified(TENANT, granted=["Microsoft Graph: Sites.Read.All"],
                          catalog_version="2026-12", verified_at="2026-12-04T00:00:00+00:00",
                          sharepoint_url="https://contoso.sharepoint.com")
    saved = json.loads((folder / "profile.json").read_text(encoding="utf-8"))
    assert saved["future_field"] == {"kept": True}
    assert saved["services"]["sharepoint_url"] == "https://contoso.sharepoint.com"
    assert saved["services"]["selected"] == ["sharepoint", "exchange"]
    loaded = store.load(TENANT)
    assert loaded.permissions.granted == ("Microsoft Graph: Sites.Read.All",)
    assert loaded.services.sharepoint_url == "https://contoso.sharepoint.com"
    assert loaded.to_json()["future_field"] == {"kept": True}


def test_no_module_outside_the_store_reads_a_profile_document() -> None:
    root = Path(__file__).resolve().parents[3] / "vdc_tui"
    store = root / "connect" / "store"
    digging = ('profile.get("', "profile.get('", 'profile["', "(entry.profile or {})")
    found = [f"{path.relative_to(root)}: {needle}"
             for path in sorted(root.rglob("*.py")) if store not in path.parents
             for needle in digging if needle in path.read_text(encoding="utf-8")]
    assert found == []
