"""The emulator's persistent world (``vdc_tui/emulator/world.py``): kept, restored, refused."""

from __future__ import annotations

import json
import ssl
import stat
from pathlib import Path

import httpx
import pytest

from vdc_tui.emulator.scenario import load_scenario
from vdc_tui.emulator.world import World, WorldError, WorldServer, seed

TENANT = "2a1d5a8e-6f3c-4b7e-9d21-c0ff5e7d1a42"  # the demo scenario's Contoso


def _token(emu: WorldServer) -> str:
    """A delegated Graph token of Contoso's Global Administrator (device code)."""
    with httpx.Client(verify=ssl.create_default_context(cafile=str(emu.ca_bundle))) as client:
        started = client.post(f"{emu.authority_host}/organizations/oauth2/v2.0/devicecode",
                              data={"client_id": "14d82eec-204b-4c2f-b7e8-296a70dab67e",
                                    "scope": f"{emu.graph_url}/.default"}).json()
        emu.approve_device_code(started["user_code"], "admin@contoso.com")
        answer = client.post(f"{emu.authority_host}/organizations/oauth2/v2.0/token", data={
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "client_id": "14d82eec-204b-4c2f-b7e8-296a70dab67e",
            "device_code": started["device_code"]}).json()
    token = answer["access_token"]
    assert isinstance(token, str)
    return token


@pytest.fixture
def world(tmp_path: Path) -> World:
    folder = tmp_path / "world"
    target = World(folder)
    seed(target, load_scenario("demo"))
    return target


def test_a_seeded_world_is_private(world: World) -> None:
    assert stat.S_IMODE(world.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(world.folder.stat().st_mode) == 0o700


def test_an_app_made_through_graph_is_there_next_run(world: World) -> None:
    with WorldServer(world) as emu:
        token = _token(emu)
        with httpx.Client(verify=ssl.create_default_context(cafile=str(emu.ca_bundle))) as client:
            made = client.post(f"{emu.graph_url}/v1.0/applications",
                               headers={"Authorization": f"Bearer {token}"},
                               json={"displayName": "Kept between runs"})
        assert made.status_code == 201, made.text
        app_id = made.json()["appId"]
        first_ids = {emu.state.new_id() for _ in range(3)}
    with WorldServer(world) as again:
        app = again.state.application_by_app_id(app_id, now=None)
        assert app is not None and app.display_name == "Kept between runs"
        # The seeded random source went on where it stopped: no id is made twice.
        assert not first_ids & {again.state.new_id() for _ in range(3)}


def test_deleted_items_and_keys_survive_a_restart(tmp_path: Path) -> None:
    scenario = load_scenario("demo")
    manual = scenario.tenants[0].applications[0]
    target = World(tmp_path / "w")
    seed(target, scenario, soft_deleted=[str(manual.id)])
    with WorldServer(target) as emu:
        [(app, _)] = emu.state.deleted_applications.values()
        assert app.app_id == manual.app_id and app.key_credentials
        assert emu.state.application_by_app_id(str(manual.app_id), now=None) is None
        sha1 = app.key_credentials[0].sha1
    with WorldServer(target) as again:
        [(kept, _)] = again.state.deleted_applications.values()
        assert kept.key_credentials[0].sha1 == sha1


def test_a_damaged_file_is_refused_with_its_path(world: World) -> None:
    world.path.write_text('{"format": 1, "scenario": {"tenants": [', encoding="utf-8")
    with pytest.raises(WorldError, match="cannot be read"):
        WorldServer(world)


def test_a_file_of_another_format_is_refused(world: World) -> None:
    document = json.loads(world.path.read_text(encoding="utf-8"))
    world.path.write_text(json.dumps({**document, "format": 99}), encoding="utf-8")
    with pytest.raises(WorldError, match="format"):
        WorldServer(world)


def test_the_simulated_admin_approves_as_the_expected_tenants_admin(world: World) -> None:
    with WorldServer(world, approve_after=0) as emu:
        assert emu.admin_for("organizations") == "admin@contoso.com"
        assert emu.admin_for(TENANT) == "admin@contoso.com"
        emu.expect_admin_of("no-such-tenant.example")
        # An unknown hint falls back to the scenario's approver, and is used once.
        assert emu.admin_for("organizations") == "admin@contoso.com"
