"""The fleet generator writes scenarios the emulator loads, one tenant per kind."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from vdc_tui.emulator import load_scenario
from vdc_tui.emulator.fleet import ALL_KINDS, write_fleet


def test_every_kind_becomes_a_tenant_of_a_loadable_scenario(tmp_path: Path) -> None:
    files = write_fleet(tmp_path, list(ALL_KINDS))
    scenario = load_scenario(str(files.scenario))
    assert len(scenario.tenants) == len(ALL_KINDS)
    manifest = json.loads(files.manifest.read_text())["tenants"]
    assert [t["kind"] for t in manifest] == list(ALL_KINDS)
    assert all((tmp_path / t["pfx"]).stat().st_mode & 0o077 == 0 for t in manifest)


def test_app_deleted_tenant_has_no_app_and_key_removed_app_has_no_key(tmp_path: Path) -> None:
    files = write_fleet(tmp_path, ["app_deleted", "key_removed"])
    deleted, removed = load_scenario(str(files.scenario)).tenants
    # In deleted items (two days ago), without a principal.
    assert [a.deleted_days_ago for a in deleted.applications] == [2]
    assert deleted.service_principals == []
    assert removed.applications[0].certificates == []


def test_app_purged_is_past_deleted_items_and_key_expired_on_app_has_an_ended_key(
        tmp_path: Path) -> None:
    files = write_fleet(tmp_path, ["app_purged", "key_expired_on_app"])
    purged, ended = load_scenario(str(files.scenario)).tenants
    assert [a.deleted_days_ago for a in purged.applications] == [40]
    assert purged.service_principals == []
    key = ended.applications[0].certificates[0]
    assert key.key_end is not None
    ended_at = dt.datetime.fromisoformat(key.key_end.replace("Z", "+00:00"))
    assert ended_at < dt.datetime.now(dt.UTC)  # while the certificate itself is valid
    assert ended.service_principals[0].directory_roles == ["Global Reader"]


def test_throttled_tenant_throttles_only_its_token_endpoint(tmp_path: Path) -> None:
    files = write_fleet(tmp_path, ["healthy", "throttled"])
    faults = load_scenario(str(files.scenario)).faults
    throttled = files.tenants[1]["tenant_id"]
    assert faults["throttle_path"] == f"/{throttled}/oauth2/v2.0/token"
    assert faults["throttle_every"] == 2


@pytest.mark.parametrize("kinds", [["healthy", "on_fire"], ["throttled", "throttled"]])
def test_unknown_kind_or_two_throttled_tenants_are_refused(tmp_path: Path,
                                                           kinds: list[str]) -> None:
    with pytest.raises(ValueError):
        write_fleet(tmp_path, kinds)
