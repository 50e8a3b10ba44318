"""The profile store: layout, permissions, damaged files, lookup, removal and locking."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
from support.factories import KEY, KEY_BYTES, OTHER, TENANT
from support.factories import make_result as cli_result

from vdc_tui.connect.errors import InvalidInput
from vdc_tui.connect.models import CheckEvent, CheckStatus, ConnectionResult
from vdc_tui.connect.store.profile import SCHEMA_VERSION
from vdc_tui.connect.store.profiles import ProfileStore, vdc_home

PFX_BYTES = KEY_BYTES


def make_result(
    tenant_id: str = TENANT,
    name: str = "Contoso Ltd",
    domain: str = "contoso.com",
    pfx: bytes = PFX_BYTES,
) -> ConnectionResult:
    """The command-line tests' connection, as a run that created its app and saw a warning."""
    result: ConnectionResult = replace(
        cli_result(tenant_id, name, domain),
        app_object_id="66666666-2222-3333-4444-555555555555",
        certificate_pfx=pfx,
        warnings=(CheckEvent("verify", "Verified", CheckStatus.WARN, "took 3 attempts"),),
        created_app=True,
    )
    return result


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_vdc_home_follows_the_environment_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VDC_TUI_HOME", str(tmp_path / "h"))
    assert vdc_home() == tmp_path / "h"
    monkeypatch.delenv("VDC_TUI_HOME")
    assert vdc_home().name == "vdc-tui"


def test_save_writes_the_record_and_the_key_file(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path / "home")
    path = store.save(make_result(), ["exchange", "sharepoint"], plan="flex", cloud="global")

    assert path == tmp_path / "home" / "connections" / TENANT / "profile.json"
    record = json.loads(path.read_text())
    assert record["schema_version"] == SCHEMA_VERSION
    assert record["tenant"] == {
        "id": TENANT,
        "name": "Contoso Ltd",
        "default_domain": "contoso.com",
        "cloud": "global",
    }
    assert record["mode"] == "automatic" and record["plan"] == "flex"
    assert record["signed_in_admin"] == "admin@contoso.com"
    assert record["app"]["app_id"] == "11111111-2222-3333-4444-555555555555"
    assert record["app"]["object_id"].startswith("66666666")
    assert record["certificate"]["sha1"] == "A" * 40
    assert record["certificate"]["key_file"] == "certificate.pfx"
    assert record["services"]["selected"] == ["exchange", "sharepoint"]
    assert record["services"]["available"] == ["exchange", "sharepoint"]
    assert record["permissions"]["granted"] == ["Microsoft Graph: Sites.Read.All"]
    assert record["warnings"] == ["Verified: took 3 attempts"]
    assert record["created_at"] and record["verified_at"]
    assert (path.parent / "certificate.pfx").read_bytes() != PFX_BYTES  # encrypted
    assert store.read_key(TENANT).info.sha1 == KEY.info.sha1
    assert b"secret-key-material" not in path.read_bytes()


def test_saved_files_are_private(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path / "home")
    path = store.save(make_result(), ["exchange"], plan="flex", cloud="global")
    assert mode_of(tmp_path / "home") == 0o700
    assert mode_of(path.parent) == 0o700
    assert mode_of(path) == 0o600
    assert mode_of(path.parent / "certificate.pfx") == 0o600
    assert store.warnings == []


def test_an_open_folder_is_reported_not_silently_fixed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    os.chmod(home, 0o755)
    store = ProfileStore(home)
    store.save(make_result(), ["exchange"], plan="flex", cloud="global")
    assert mode_of(home) == 0o755
    assert any("chmod 700" in w and str(home) in w for w in store.warnings)


def test_saving_again_keeps_the_creation_time(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    first = json.loads(
        store.save(make_result(), ["exchange"], plan="flex", cloud="global").read_text()
    )
    record = json.loads(
        store.save(
            make_result(), ["exchange", "sharepoint"], plan="premium", cloud="global"
        ).read_text()
    )
    assert record["created_at"] == first["created_at"]
    assert record["plan"] == "premium"
    assert [e.tenant_id for e in store.list()] == [TENANT]


def test_list_reports_a_damaged_profile_and_lists_the_rest(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    store.save(make_result(), ["exchange"], plan="flex", cloud="global")
    damaged = store.tenant_dir(OTHER)
    damaged.mkdir(parents=True)
    (damaged / "profile.json").write_text('{"tenant": {"id": ')

    entries = {e.tenant_id: e for e in store.list()}
    assert entries[TENANT].profile is not None and entries[TENANT].name == "Contoso Ltd"
    assert entries[OTHER].profile is None
    assert "not valid JSON" in (entries[OTHER].error or "")


def test_a_profile_is_found_by_id_domain_or_name(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    store.save(make_result(), ["exchange"], plan="flex", cloud="global")
    for key in (TENANT, TENANT.upper(), "contoso.com", "CONTOSO LTD"):
        assert store.load(key).tenant.id == TENANT


def test_an_ambiguous_name_asks_for_the_id(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    store.save(make_result(TENANT, "Same"), ["exchange"], plan="flex", cloud="global")
    store.save(make_result(OTHER, "Same", "other.com"), ["exchange"], plan="flex", cloud="global")
    with pytest.raises(InvalidInput) as caught:
        store.load("same")
    assert TENANT in caught.value.message and OTHER in caught.value.message
    assert store.load("other.com").tenant.id == OTHER


def test_an_unknown_tenant_is_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        ProfileStore(tmp_path).load("fabrikam.com")
    assert caught.value.exit_code == 2


def test_a_path_is_never_taken_for_a_tenant_id(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        ProfileStore(tmp_path).tenant_dir("../../etc")


def test_remove_deletes_the_profile_and_its_key(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    path = store.save(make_result(), ["exchange"], plan="flex", cloud="global")
    removed = store.remove("contoso.com")
    assert path in removed and path.parent / "certificate.pfx" in removed
    assert not path.parent.exists()
    assert store.list() == []


def test_a_damaged_profile_can_be_removed_by_id(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    folder = store.tenant_dir(OTHER)
    folder.mkdir(parents=True)
    (folder / "profile.json").write_bytes(b"\xff\xfe garbage")
    with pytest.raises(InvalidInput, match="damaged"):
        store.load(OTHER)
    store.remove(OTHER)
    assert not folder.exists()


def test_the_lock_is_reentrant_within_one_store(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    with store.lock(TENANT):
        store.save(make_result(), ["exchange"], plan="flex", cloud="global")
    with store.lock(TENANT):  # released cleanly: it can be taken again
        pass


def test_a_second_run_on_the_same_tenant_is_refused_naming_the_first(tmp_path: Path) -> None:
    holder = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from vdc_tui.connect.store.profiles import ProfileStore
        with ProfileStore(Path({str(tmp_path)!r})).lock({TENANT!r}):
            print("locked", flush=True)
            sys.stdin.readline()
    """)
    proc = subprocess.Popen(
        [sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        store = ProfileStore(tmp_path)
        with pytest.raises(InvalidInput) as caught:
            store.save(make_result(), ["exchange"], plan="flex", cloud="global")
        assert f"process {proc.pid}" in caught.value.message
        assert "Wait for that run" in caught.value.remediation
        with store.lock(OTHER):  # other tenants are not blocked
            pass
    finally:
        assert proc.stdin is not None
        proc.stdin.write("\n")
        proc.stdin.close()
        proc.wait(timeout=30)
    # Once the first run ends, the tenant is free again.
    ProfileStore(tmp_path).save(make_result(), ["exchange"], plan="flex", cloud="global")


def test_folders_made_on_the_way_are_private_and_raise_no_warning(tmp_path: Path) -> None:
    from vdc_tui.connect.store.fsutil import ensure_private_dir

    store = ProfileStore(tmp_path / "fresh" / "home")
    # Provisioning creates the tenant folder (for its journal) before the profile is saved.
    assert ensure_private_dir(store.tenant_dir(TENANT)) == []
    for folder in (tmp_path / "fresh", store.root, store.connections_dir):
        assert mode_of(folder) == 0o700
    store.save(make_result(), ["exchange"], plan="flex", cloud="global")
    assert store.warnings == []
