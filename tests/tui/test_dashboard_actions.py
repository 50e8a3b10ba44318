"""The dashboard's actions on a tenant — ``e`` export, ``r`` renew, ``p`` repair, ``x``
offboard — and its store passphrase prompt: Pilot tests against the emulator's fleet, and
snapshots of the export dialog and the offboarding confirmation."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import pkcs12
from textual.pilot import Pilot
from textual.widgets import DataTable, Input

from bench.fleet import save_profiles, synthetic_home
from vdc_tui.connect.microsoft.clouds import server_endpoints
from vdc_tui.connect.store.keystore import PassphraseProvider
from vdc_tui.connect.store.profiles import ProfileStore
from vdc_tui.dashboard import DashboardApp
from vdc_tui.emulator import EmulatorServer
from vdc_tui.emulator.fleet import write_fleet
from vdc_tui.screens.dashboard import DashboardScreen
from vdc_tui.screens.dialogs import ConfirmDialog
from vdc_tui.screens.export import ExportScreen
from vdc_tui.screens.lifecycle import ActionScreen, AdminSignInScreen, OffboardDialog
from vdc_tui.screens.passphrase import PassphraseScreen

from .conftest import screen_name, type_text, wait_until

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
KINDS = ["healthy", "expiring", "grant_revoked"]


def frozen() -> datetime:
    return NOW


@pytest.fixture(scope="module")
def fleet_files(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A small fleet: one healthy tenant, one whose certificate expires soon, one whose
    Graph grant was revoked (written once; each test serves it from a fresh emulator)."""
    return write_fleet(tmp_path_factory.mktemp("actions-fleet"), KINDS)


@pytest.fixture
def emu(fleet_files: Any) -> Iterator[EmulatorServer]:
    """The fleet's emulator, started for one test (the actions change its state)."""
    with EmulatorServer(str(fleet_files.scenario)) as server:
        yield server


@pytest.fixture
def store(fleet_files: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ProfileStore:
    """A saved profile for every tenant of the fleet, in a fresh VDC_TUI_HOME."""
    home = tmp_path / "home"
    monkeypatch.setenv("VDC_TUI_HOME", str(home))
    return save_profiles(fleet_files.manifest, home)


def tenant(fleet_files: Any, kind: str) -> dict[str, Any]:
    return next(t for t in fleet_files.tenants if t["kind"] == kind)


def the_app(emu: EmulatorServer, tenant_id: str) -> Any:
    """The emulator's app registration of ``tenant_id``."""
    apps = [a for a in emu.state.applications.values() if a.tenant_id == tenant_id]
    assert len(apps) == 1, apps
    return apps[0]


def dashboard(store: ProfileStore, emu: EmulatorServer) -> DashboardApp:
    return DashboardApp(store, server_endpoints(emu), clock=frozen)


def board(app: DashboardApp) -> DashboardScreen:
    screen = next(s for s in app.screen_stack if isinstance(s, DashboardScreen))
    return screen


def row_of(app: DashboardApp, tenant_id: str) -> list[str] | None:
    table = board(app).query_one("#dashboard-table", DataTable)
    try:
        index = table.get_row_index(tenant_id)
    except Exception:
        return None
    return [cell.plain for cell in table.get_row_at(index)]


async def select(pilot: Pilot[Any], app: DashboardApp, tenant_id: str) -> None:
    await wait_until(pilot, lambda: screen_name(app) == "DashboardScreen")
    table = board(app).query_one("#dashboard-table", DataTable)
    table.move_cursor(row=table.get_row_index(tenant_id))
    await pilot.pause()
    assert board(app).selected_tenant() == tenant_id


async def action_done(pilot: Pilot[Any], app: DashboardApp, timeout: float = 60) -> ActionScreen:
    await wait_until(pilot, lambda: isinstance(app.screen, ActionScreen), timeout=timeout)
    screen = app.screen
    assert isinstance(screen, ActionScreen)
    await wait_until(pilot, lambda: not screen.busy, timeout=timeout)
    await pilot.pause()
    return screen


async def back_and_recheck(pilot: Pilot[Any], app: DashboardApp, tenant_id: str) -> None:
    """Enter leaves the action's screen; the tenant is checked again."""
    await pilot.press("enter")
    await wait_until(pilot, lambda: screen_name(app) == "DashboardScreen")
    dash = board(app)
    await wait_until(pilot, lambda: tenant_id in dash.results and not dash._checking
                     and dash.actions.acting is None, timeout=60)
    await pilot.pause()


async def sign_in(pilot: Pilot[Any], app: DashboardApp, emu: EmulatorServer, upn: str) -> None:
    """The wizard's device-code screen shows a code; the tenant's admin approves it."""
    await wait_until(pilot, lambda: isinstance(app.screen, AdminSignInScreen))
    await wait_until(pilot, lambda: bool(emu.pending_user_codes()))
    emu.approve_device_code(emu.pending_user_codes()[0], upn)


# --- r: renew ---------------------------------------------------------------------------------


async def test_r_renews_an_expiring_certificate_and_the_row_turns_healthy(
        store: ProfileStore, emu: EmulatorServer, fleet_files: Any) -> None:
    expiring = tenant(fleet_files, "expiring")
    tid = expiring["tenant_id"]
    before = store.load(tid)["certificate"]["sha1"]
    app = dashboard(store, emu)
    async with app.run_test(size=(100, 30)) as pilot:
        await select(pilot, app, tid)
        await pilot.press("r")
        done = await action_done(pilot, app)
        assert done.error is None and done.outcome is not None
        await back_and_recheck(pilot, app, tid)
        assert board(app).results[tid].health == "healthy"
        row = row_of(app, tid)
        assert row is not None and row[0] == "✔ healthy"
    after = store.load(tid)["certificate"]["sha1"]
    assert after != before
    thumbprints = {k.sha1.hex().upper() for k in the_app(emu, tid).key_credentials}
    assert thumbprints == {after.upper()}


async def test_r_on_an_expired_certificate_shows_the_error_code_and_remediation(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = write_fleet(tmp_path / "fleet", ["expired"])
    home = tmp_path / "home"
    monkeypatch.setenv("VDC_TUI_HOME", str(home))
    store = save_profiles(files.manifest, home)
    with EmulatorServer(str(files.scenario)) as emu:
        app = dashboard(store, emu)
        async with app.run_test(size=(100, 30)) as pilot:
            await select(pilot, app, files.tenants[0]["tenant_id"])
            await pilot.press("r")
            done = await action_done(pilot, app)
            assert done.error is not None and done.error.code == "certificate_expired"
            status = str(done.query_one("#action-status").render())
            assert "certificate_expired" in status
            assert done.error.remediation[:30] in status.replace("\n", " ")


@pytest.mark.parametrize("key", ["escape", "ctrl+c"])
async def test_cancelling_a_renewal_keeps_the_current_certificate_working(
        store: ProfileStore, fleet_files: Any, key: str) -> None:
    tid = tenant(fleet_files, "expiring")["tenant_id"]
    before = store.load(tid)["certificate"]["sha1"]
    with EmulatorServer(str(fleet_files.scenario), faults={"latency": 0.4}) as emu:
        app = dashboard(store, emu)
        async with app.run_test(size=(100, 30)) as pilot:
            await select(pilot, app, tid)
            await pilot.press("r")
            await wait_until(pilot, lambda: isinstance(app.screen, ActionScreen))
            screen = app.screen
            assert isinstance(screen, ActionScreen) and screen.busy
            await pilot.press(key)
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
            await pilot.press("y")
            await wait_until(pilot, lambda: screen_name(app) == "DashboardScreen", timeout=30)
            assert screen.outcome is None
        # The profile still names a certificate that is on the app and signs in.
        profile = store.load(tid)
        assert profile["certificate"]["sha1"] == before
        on_app = {k.sha1.hex().upper() for k in the_app(emu, tid).key_credentials}
        assert before.upper() in on_app


async def test_quitting_during_a_renewal_asks_then_cancels_it(
        store: ProfileStore, fleet_files: Any) -> None:
    tid = tenant(fleet_files, "expiring")["tenant_id"]
    before = store.load(tid)["certificate"]["sha1"]
    with EmulatorServer(str(fleet_files.scenario), faults={"latency": 0.4}) as emu:
        app = dashboard(store, emu)
        async with app.run_test(size=(100, 30)) as pilot:
            await select(pilot, app, tid)
            await pilot.press("r")
            await wait_until(pilot, lambda: isinstance(app.screen, ActionScreen))
            await pilot.press("ctrl+q")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog)
                             and app.screen.id == "quit-confirm")
            assert isinstance(app.screen_stack[-2], ActionScreen)  # asked first
            await pilot.press("y")
            await wait_until(pilot, lambda: app._exit, timeout=30)
        assert store.load(tid)["certificate"]["sha1"] == before
        on_app = {k.sha1.hex().upper() for k in the_app(emu, tid).key_credentials}
        assert before.upper() in on_app


async def test_r_on_a_manual_connection_asks_first(
        store: ProfileStore, emu: EmulatorServer, fleet_files: Any) -> None:
    import json

    tid = tenant(fleet_files, "expiring")["tenant_id"]
    path = store.tenant_dir(tid) / "profile.json"
    profile = json.loads(path.read_text(encoding="utf-8"))
    profile["mode"] = "manual"
    path.write_text(json.dumps(profile), encoding="utf-8")
    before = profile["certificate"]["sha1"]
    app = dashboard(store, emu)
    async with app.run_test(size=(100, 30)) as pilot:
        await select(pilot, app, tid)
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog)
                         and app.screen.id == "renew-manual")
        await pilot.press("n")
        await wait_until(pilot, lambda: board(app).actions.acting is None)
        assert store.load(tid)["certificate"]["sha1"] == before
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        done = await action_done(pilot, app)
        assert done.error is None, done.error
    assert store.load(tid)["certificate"]["sha1"] != before


async def test_r_on_the_detail_screen_renews_that_tenant_and_the_detail_follows(
        store: ProfileStore, emu: EmulatorServer, fleet_files: Any) -> None:
    from vdc_tui.screens.health_detail import HealthDetailScreen

    tid = tenant(fleet_files, "expiring")["tenant_id"]
    app = dashboard(store, emu)
    async with app.run_test(size=(100, 30)) as pilot:
        await select(pilot, app, tid)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, HealthDetailScreen))
        detail = app.screen
        await pilot.press("r")
        done = await action_done(pilot, app)
        assert done.error is None, done.error
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is detail)
        await wait_until(pilot, lambda: "healthy" in str(
            detail.query_one("#detail-heading").render()), timeout=60)


# --- p: repair --------------------------------------------------------------------------------


async def test_p_repairs_a_revoked_grant_after_the_admin_signs_in(
        store: ProfileStore, emu: EmulatorServer, fleet_files: Any) -> None:
    revoked = tenant(fleet_files, "grant_revoked")
    tid = revoked["tenant_id"]
    app = dashboard(store, emu)
    async with app.run_test(size=(100, 30)) as pilot:
        await select(pilot, app, tid)
        await pilot.press("p")
        await sign_in(pilot, app, emu, revoked["admin"])
        done = await action_done(pilot, app)
        assert done.error is None, done.error
        await back_and_recheck(pilot, app, tid)
        assert board(app).results[tid].health == "healthy"
        assert board(app).results[tid].missing == ()


async def test_esc_on_the_sign_in_of_repair_changes_nothing(
        store: ProfileStore, emu: EmulatorServer, fleet_files: Any) -> None:
    tid = tenant(fleet_files, "grant_revoked")["tenant_id"]
    before = store.load(tid)
    app = dashboard(store, emu)
    async with app.run_test(size=(100, 30)) as pilot:
        await select(pilot, app, tid)
        await pilot.press("p")
        await wait_until(pilot, lambda: isinstance(app.screen, AdminSignInScreen))
        await wait_until(pilot, lambda: bool(emu.pending_user_codes()))
        await pilot.press("escape")
        await wait_until(pilot, lambda: screen_name(app) == "DashboardScreen")
        await wait_until(pilot, lambda: board(app).actions.acting is None)
        assert not any(isinstance(s, ActionScreen) for s in app.screen_stack)
    assert store.load(tid) == before


# --- x: offboard ------------------------------------------------------------------------------


async def test_x_offboards_the_tenant_its_row_and_app_disappear(
        store: ProfileStore, emu: EmulatorServer, fleet_files: Any) -> None:
    healthy = tenant(fleet_files, "healthy")
    tid = healthy["tenant_id"]
    app_object = the_app(emu, tid).id
    app = dashboard(store, emu)
    async with app.run_test(size=(100, 30)) as pilot:
        await select(pilot, app, tid)
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, OffboardDialog))
        await pilot.press("y")
        await sign_in(pilot, app, emu, healthy["admin"])
        done = await action_done(pilot, app)
        assert done.error is None, done.error
        await pilot.press("enter")
        await wait_until(pilot, lambda: row_of(app, tid) is None)
        assert tid not in board(app).entries
        assert app.sub_title == f"{len(KINDS) - 1} saved"
    assert app_object not in emu.state.applications
    assert app_object in emu.state.deleted_applications  # restorable: not purged
    assert not (store.connections_dir / tid).exists()


async def test_x_with_purge_removes_the_app_from_deleted_items(
        store: ProfileStore, emu: EmulatorServer, fleet_files: Any) -> None:
    healthy = tenant(fleet_files, "healthy")
    tid = healthy["tenant_id"]
    app_object = the_app(emu, tid).id
    app = dashboard(store, emu)
    async with app.run_test(size=(100, 30)) as pilot:
        await select(pilot, app, tid)
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, OffboardDialog))
        await pilot.press("p", "y")
        await sign_in(pilot, app, emu, healthy["admin"])
        done = await action_done(pilot, app)
        assert done.error is None, done.error
    assert app_object not in emu.state.applications
    assert app_object not in emu.state.deleted_applications


async def test_answering_no_to_offboarding_deletes_nothing(
        store: ProfileStore, emu: EmulatorServer, fleet_files: Any) -> None:
    tid = tenant(fleet_files, "healthy")["tenant_id"]
    app = dashboard(store, emu)
    async with app.run_test(size=(100, 30)) as pilot:
        await select(pilot, app, tid)
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, OffboardDialog))
        await pilot.press("n")
        await wait_until(pilot, lambda: screen_name(app) == "DashboardScreen")
        await wait_until(pilot, lambda: board(app).actions.acting is None)
        assert not emu.pending_user_codes()
        assert row_of(app, tid) is not None
    assert (store.connections_dir / tid / "profile.json").exists()
    the_app(emu, tid)  # still there


async def test_the_offboard_confirmation_of_a_manual_connection_keeps_its_app(
        tmp_path: Path) -> None:
    store = synthetic_home(tmp_path / "home", 3, now=NOW)
    tid = store.list()[0].tenant_id
    profile = store.load(tid)
    profile["mode"] = "manual"
    dialog = OffboardDialog(profile, tid, store.tenant_dir(tid))
    assert "kept" in str(dialog._plan_text())
    assert dialog.check_action("toggle_delete_app", ()) is True
    dialog.delete_app = True
    assert "deleted" in str(dialog._plan_text()).split("• On this machine")[0]


# --- e: export --------------------------------------------------------------------------------


async def open_export(pilot: Pilot[Any], app: DashboardApp, tid: str) -> ExportScreen:
    await select(pilot, app, tid)
    await pilot.press("e")
    await wait_until(pilot, lambda: isinstance(app.screen, ExportScreen))
    screen = app.screen
    assert isinstance(screen, ExportScreen)
    await pilot.pause()
    return screen


async def set_path(pilot: Pilot[Any], screen: ExportScreen, path: Path) -> None:
    field = screen.query_one("#export-path", Input)
    field.value = ""
    field.focus()
    await pilot.pause()
    await type_text(pilot, str(path))


async def test_e_writes_a_pfx_that_opens_with_the_typed_password(
        store: ProfileStore, emu: EmulatorServer, fleet_files: Any, tmp_path: Path) -> None:
    healthy = tenant(fleet_files, "healthy")
    out = tmp_path / "handover.pfx"
    app = dashboard(store, emu)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_export(pilot, app, healthy["tenant_id"])
        await set_path(pilot, screen, out)
        await pilot.press("enter")
        await type_text(pilot, "correct horse battery")
        await pilot.press("enter")
        await type_text(pilot, "correct horse battery")
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.exported is not None, timeout=30)
        exported = screen.exported
        assert exported is not None
        assert exported.app_id == healthy["app_id"]
        assert exported.admin_email == healthy["admin"]
        await pilot.press("escape")
        await wait_until(pilot, lambda: screen_name(app) == "DashboardScreen")
    assert os.stat(out).st_mode & 0o777 == 0o600
    key, cert, _ = pkcs12.load_key_and_certificates(out.read_bytes(), b"correct horse battery")
    assert key is not None and cert is not None
    assert cert.fingerprint(hashes.SHA1()).hex().upper() == exported.thumbprint.upper()


async def test_e_with_empty_passwords_generates_one_shown_once(
        store: ProfileStore, emu: EmulatorServer, fleet_files: Any, tmp_path: Path,
        stable_terminal: list[str]) -> None:
    out = tmp_path / "generated.pfx"
    app = dashboard(store, emu)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_export(pilot, app, tenant(fleet_files, "healthy")["tenant_id"])
        await set_path(pilot, screen, out)
        await pilot.press("enter", "enter")
        await wait_until(pilot, lambda: screen.exported is not None, timeout=30)
        generated = screen._generated
        assert generated and len(generated) >= 24
        shown = " ".join(str(s.render()) for s in screen.query("#export-rows Static"))
        assert generated in shown
        await pilot.press("c")
        assert generated in stable_terminal
    pkcs12.load_key_and_certificates(out.read_bytes(), generated.encode())


async def test_e_asks_before_replacing_an_existing_file(
        store: ProfileStore, emu: EmulatorServer, fleet_files: Any, tmp_path: Path) -> None:
    out = tmp_path / "exists.pfx"
    out.write_bytes(b"keep me")
    app = dashboard(store, emu)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_export(pilot, app, tenant(fleet_files, "healthy")["tenant_id"])
        await set_path(pilot, screen, out)
        await pilot.press("enter", "enter")
        await wait_until(pilot, lambda: screen_name(app) == "ConfirmDialog")
        await pilot.press("n")
        await wait_until(pilot, lambda: app.screen is screen)
        assert out.read_bytes() == b"keep me" and screen.exported is None
        await pilot.press("enter", "enter")  # the path has the focus again
        await wait_until(pilot, lambda: screen_name(app) == "ConfirmDialog")
        await pilot.press("y")
        await wait_until(pilot, lambda: screen.exported is not None, timeout=30)
    assert out.read_bytes() != b"keep me"


async def test_esc_closes_the_export_without_writing(
        store: ProfileStore, emu: EmulatorServer, fleet_files: Any, tmp_path: Path) -> None:
    out = tmp_path / "never.pfx"
    app = dashboard(store, emu)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_export(pilot, app, tenant(fleet_files, "healthy")["tenant_id"])
        await set_path(pilot, screen, out)
        await pilot.press("escape")
        await wait_until(pilot, lambda: screen_name(app) == "DashboardScreen")
    assert not out.exists()


# --- the store passphrase -------------------------------------------------------------------


def no_passphrase_source(store: ProfileStore, monkeypatch: pytest.MonkeyPatch) -> ProfileStore:
    """The same store, opened the way `vdc-tui connections` does with no env, file or
    keyring: the dashboard has to ask."""
    monkeypatch.delenv("VDC_TUI_KEY_PASSPHRASE_FILE", raising=False)
    return ProfileStore(store.root, passphrase=PassphraseProvider(use_keyring=False))


def passphrase_asked(app: Any, problem: str = "") -> bool:
    """The passphrase screen is on top, its field has the focus (typing goes there, not to
    the dashboard's filter underneath) and its status line says ``problem``."""
    screen = app.screen
    if not isinstance(screen, PassphraseScreen):
        return False
    field = screen.query("#passphrase")
    if not field or app.focused is not field.first():
        return False
    return problem in str(screen.query_one("#passphrase-status").render())


async def test_a_check_asks_the_passphrase_on_its_screen_and_again_when_wrong(
        store: ProfileStore, emu: EmulatorServer, fleet_files: Any,
        monkeypatch: pytest.MonkeyPatch, key_passphrase_file: Path) -> None:
    right = key_passphrase_file.read_text(encoding="utf-8").strip()
    asking = no_passphrase_source(store, monkeypatch)
    tid = tenant(fleet_files, "healthy")["tenant_id"]
    app = dashboard(asking, emu)
    async with app.run_test(size=(80, 24)) as pilot:
        await select(pilot, app, tid)
        await pilot.press("c")
        await wait_until(pilot, lambda: passphrase_asked(app))
        await type_text(pilot, "not the passphrase at all")
        await pilot.press("enter")
        await wait_until(pilot, lambda: passphrase_asked(app, "Wrong passphrase"))
        await type_text(pilot, right)
        await pilot.press("enter")
        dash = board(app)
        await wait_until(pilot, lambda: tid in dash.results and not dash._checking, timeout=30)
        assert dash.results[tid].health == "healthy"
        # Once per session: the next check does not ask again.
        await pilot.press("c")
        await pilot.pause()
        assert not isinstance(app.screen, PassphraseScreen)


async def test_cancelling_the_passphrase_checks_nothing(
        store: ProfileStore, emu: EmulatorServer, fleet_files: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    asking = no_passphrase_source(store, monkeypatch)
    app = dashboard(asking, emu)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: screen_name(app) == "DashboardScreen")
        await pilot.press("C")
        await wait_until(pilot, lambda: isinstance(app.screen, PassphraseScreen))
        await pilot.press("escape")
        dash = board(app)
        await wait_until(pilot, lambda: app.screen is dash and not dash._checking)
        assert dash.results == {}
        assert {r[0] for r in (row_of(app, t["tenant_id"]) or [""]
                               for t in fleet_files.tenants)} == {"· unchecked"}


def test_the_dashboard_gets_no_terminal_prompt_for_the_passphrase() -> None:
    from vdc_tui.cli.main import build_parser
    from vdc_tui.cli.session import key_passphrase

    provider = key_passphrase(build_parser().parse_args(["connections"]))
    assert provider._asker is None


def test_the_wizard_opened_with_n_keeps_the_passphrase_typed_in_the_dashboard() -> None:
    from vdc_tui.cli.main import build_parser
    from vdc_tui.cli.session import connect_settings, key_passphrase
    from vdc_tui.connect.microsoft.clouds import resolve_endpoints

    ns = build_parser().parse_args(["connections"])
    provider = key_passphrase(ns)
    assert connect_settings(ns, resolve_endpoints("global")).key_passphrase is provider


# --- snapshots ----------------------------------------------------------------------------------


@pytest.fixture
def synthetic_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DashboardApp:
    monkeypatch.setenv("HOME", str(tmp_path))  # paths on screen read ~/home/…
    store = synthetic_home(tmp_path / "home", 12, now=NOW)
    from vdc_tui.connect.microsoft.clouds import resolve_endpoints

    endpoints = resolve_endpoints("global", authority_host="https://127.0.0.1:9",
                                  graph_url="https://127.0.0.1:9")
    return DashboardApp(store, endpoints, clock=frozen)


def test_export_dialog_snapshot_80x24(synthetic_app: DashboardApp, snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await wait_until(pilot, lambda: screen_name(pilot.app) == "DashboardScreen")
        await pilot.press("e")
        await wait_until(pilot, lambda: screen_name(pilot.app) == "ExportScreen")
        await pilot.pause()

    assert snap_compare(synthetic_app, terminal_size=(80, 24), run_before=run_before)


def test_offboard_confirmation_snapshot_80x24(synthetic_app: DashboardApp,
                                              snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await wait_until(pilot, lambda: screen_name(pilot.app) == "DashboardScreen")
        await pilot.press("x")
        await wait_until(pilot, lambda: screen_name(pilot.app) == "OffboardDialog")
        await pilot.pause()

    assert snap_compare(synthetic_app, terminal_size=(80, 24), run_before=run_before)
