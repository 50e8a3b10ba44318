"""The persistent demo world: every ``connections`` action with ``--demo``, in-process.

The world (Contoso and the demo fleet) is seeded once per session into a template demo
home and copied for each test, so each test starts from the first demo run's state.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.commands import Outcome

from vdc_tui.demo import DEMO_FLEET, demo_home, seed_demo_world

Run = Callable[..., Outcome]
DEMO = ("--demo", "--demo-port", "0")


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo home as the first demo run leaves it (seeded once per session)."""
    home = tmp_path_factory.mktemp("demo-template") / "demo"
    seed_demo_world(home)
    return home


@pytest.fixture
def world(home: Path, seeded_template: Path) -> Path:
    """This test's demo home, a copy of the freshly seeded one."""
    target = demo_home(home)
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    shutil.copytree(seeded_template, target)
    return target


def _by_name(document: dict[str, object]) -> dict[str, str]:
    connections = document["connections"]
    assert isinstance(connections, list)
    return {c["name"]: c["health"] for c in connections}


def test_the_first_demo_run_seeds_the_fleet_with_its_profiles(run: Run, home: Path) -> None:
    listed = run("connections", "list", "--demo", "--json")
    assert listed.code == 0, listed.err
    names = {c["name"] for c in listed.json()["connections"]}
    assert names == {r.name for r in DEMO_FLEET}
    folder = demo_home(home)
    world_file = folder / "world" / "world.json"
    assert stat.S_IMODE(world_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(world_file.parent.stat().st_mode) == 0o700
    # No unencrypted key of the seeding is left behind; real connections stay empty.
    assert not list(folder.glob(".seed-*"))
    assert run("connections", "list", "--json").json()["connections"] == []


def test_the_demo_fleet_has_a_dozen_tenants_each_in_its_own_state() -> None:
    assert len(DEMO_FLEET) >= 12
    assert "standing_consent" in {r.kind for r in DEMO_FLEET}
    broken_or_warning = {r.kind for r in DEMO_FLEET} - {"healthy"}
    assert len(broken_or_warning) >= 10


def test_check_all_finds_every_verdict(run: Run, world: Path) -> None:
    checked = run("connections", "check", "--all", *DEMO, "--json")
    assert checked.code == 3, checked.err
    document = checked.json()
    health = _by_name(document)
    assert len(health) >= 8
    assert set(health.values()) == {"healthy", "warning", "broken"}
    assert health["Northwind Traders"] == "healthy"
    assert health["Tailspin Toys"] == "warning"        # expiring
    assert health["Wide World Importers"] == "broken"  # expired
    assert health["Margie's Travel"] == "warning"      # standing onboarding consent
    assert health["Adventure Works"] == "broken"       # key removed
    assert health["Litware, Inc."] == "broken"         # app deleted
    assert health["Proseware"] == "broken"             # consent revoked
    assert health["Woodgrove Bank"] == "warning"       # Global Reader removed
    assert health["Alpine Ski House"] == "warning"     # licence lapsed
    assert health["Coho Winery"] == "healthy"          # throttled, then answered
    assert health["Lucerne Publishing"] == "healthy"   # manual mode


def test_a_connection_made_in_the_demo_checks_healthy_in_a_later_run(run: Run,
                                                                      world: Path) -> None:
    connected = run("connect", "auto", *DEMO, "--json")
    assert connected.code == 0, connected.err
    app_id = connected.json()["app_id"]
    later = run("connections", "check", "contoso.com", *DEMO, "--json")
    assert later.code == 0, later.err
    assert _by_name(later.json()) == {"Contoso Ltd": "healthy"}
    # The app is in the saved world, with the key the profile holds.
    saved = (world / "world" / "world.json").read_text(encoding="utf-8")
    assert app_id in saved


def test_repair_is_approved_by_the_tenants_administrator_and_kept(run: Run,
                                                                  world: Path) -> None:
    repaired = run("connections", "repair", "proseware.onmicrosoft.com", *DEMO, "--json")
    assert repaired.code == 0, repaired.err
    assert repaired.json()["permissions"]["granted_now"]
    assert "admin@proseware.onmicrosoft.com" in repaired.err
    again = run("connections", "check", "Proseware", *DEMO, "--json")
    assert _by_name(again.json()) == {"Proseware": "healthy"}


def test_renew_all_renews_the_expiring_one_and_names_the_expired_one(run: Run,
                                                                     world: Path) -> None:
    renewed = run("connections", "renew", "--all", *DEMO, "--json")
    rows = {r["name"]: r for r in renewed.json()["connections"]}
    assert rows["Tailspin Toys"]["status"] == "renewed"
    # An expired certificate can no longer prove possession: connect again (exit 3).
    assert rows["Wide World Importers"]["status"] == "failed"
    assert rows["Wide World Importers"]["error"]["code"] == "certificate_expired"
    assert rows["Lucerne Publishing"]["status"] == "skipped"  # manual mode
    assert renewed.code == 3
    after = run("connections", "check", "Tailspin Toys", *DEMO, "--json")
    assert _by_name(after.json()) == {"Tailspin Toys": "healthy"}


def test_offboard_deletes_the_app_in_the_world(run: Run, world: Path) -> None:
    gone = run("connections", "remove", "Northwind Traders", "--offboard", "--yes", *DEMO,
               "--json")
    assert gone.code == 0, gone.err
    assert gone.json()["status"] == "offboarded"
    names = {c["name"] for c in run("connections", "list", "--demo", "--json").json()[
        "connections"]}
    assert "Northwind Traders" not in names


def test_export_writes_a_pfx_of_a_demo_connection(run: Run, world: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPORT_PW", "rehearsal-only")
    out = tmp_path / "fabrikam.pfx"
    exported = run("connections", "export", "fabrikam.onmicrosoft.com", "--demo", "--pfx",
                   str(out), "--pfx-password-env", "EXPORT_PW", "--json")
    assert exported.code == 0, exported.err
    assert out.is_file() and stat.S_IMODE(out.stat().st_mode) == 0o600


def test_a_damaged_world_names_the_reset_command(run: Run, world: Path) -> None:
    (world / "world" / "world.json").write_text('{"format": 1, "scen', encoding="utf-8")
    failed = run("connections", "check", "--all", *DEMO, "--json")
    assert failed.code == 2
    error = failed.json()["error"]
    assert error["code"] == "demo_world_damaged"
    assert "vdc-tui --demo-reset" in error["remediation"]


def test_reset_says_what_it_deletes_and_the_next_run_seeds_again(run: Run,
                                                                 world: Path) -> None:
    reset = run("--demo-reset")
    assert reset.code == 0, reset.err
    assert f"Deleted the demo ({world})" in reset.err
    assert f"{world / 'world'}: the emulator's world" in reset.err
    assert f"{world / 'connections'}: {len(DEMO_FLEET)} demo connection profile(s)" in (
        reset.err)
    assert not world.exists()
    listed = run("connections", "list", "--demo", "--json")
    assert len(listed.json()["connections"]) == len(DEMO_FLEET)


def test_demo_profiles_are_refused_against_a_real_cloud(run: Run, world: Path,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    monkeypatch.setenv("VDC_TUI_HOME", str(world))  # the demo home as if it were real
    refused = run("connections", "renew", "Tailspin Toys", "--json")
    assert refused.code == 2
    assert refused.json()["error"]["code"] == "demo_profile_real_cloud"


@pytest.fixture
def standalone(home: Path, world: Path) -> Iterator[dict[str, str]]:
    """``vdc-tui emulator --scenario fleet`` as a real process; its first line."""
    env = {**os.environ, "VDC_TUI_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "vdc_tui", "emulator", "--scenario",
                             "fleet", "--port", "0"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else ""
        yield json.loads(line)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        assert proc.returncode == 0


def test_the_standalone_fleet_emulator_serves_the_same_world(run: Run, world: Path,
                                                             standalone: dict[str, str],
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    assert Path(standalone["home"]) == world
    monkeypatch.setenv("VDC_TUI_HOME", standalone["home"])
    args = ["--authority-host", standalone["authority_host"], "--graph-url",
            standalone["graph_url"], "--ca-bundle", standalone["ca_bundle"]]
    monkeypatch.setenv("DEMO_PASSPHRASE", "vdc-tui-demo-passphrase")
    checked = run("connections", "check", "--all", *args, "--key-passphrase-env",
                  "DEMO_PASSPHRASE", "--json")
    assert checked.code == 3, checked.err
    assert set(_by_name(checked.json()).values()) == {"healthy", "warning", "broken"}


def test_fleet_n_serves_a_world_of_n_tenants(tmp_path: Path) -> None:
    from vdc_tui.demo import ensure_demo_world, fleet_home
    from vdc_tui.emulator.world import WorldServer

    folder = fleet_home("fleet:3", tmp_path)
    assert folder == tmp_path / "demo" / "fleet-3"
    started = time.monotonic()
    world = ensure_demo_world(folder, count=3)
    assert time.monotonic() - started < 60
    with WorldServer(world) as emu:
        names = {t.spec.display_name for t in emu.state.tenants.values()}
    assert names == {"Contoso Ltd", "Northwind Traders", "Fabrikam, Inc.", "Tailspin Toys"}


def test_the_demo_dashboard_checks_and_repairs_at_80x24(home: Path, world: Path) -> None:
    """A real process in a real 80×24 terminal: the DEMO badge, C, then p on a broken row."""
    from bench.terminal import PtyTerminal

    argv = [sys.executable, "-m", "vdc_tui", "connections", *DEMO]
    with PtyTerminal(argv, cols=80, rows=24, env={"VDC_TUI_HOME": str(home)}) as term:
        term.wait_for_text("DEMO", "demo world", "Proseware", timeout=60)
        term.press("C")
        term.wait_for_text("13 connections · 4 broken · 4 warning · 5 healthy", timeout=60)
        assert "DEMO" in term.text()
        assert any("Proseware" in line and "✘ broken" in line
                   for line in term.text().splitlines())
        term.press("/", "Proseware", "enter")
        term.wait_for(lambda s: "Northwind" not in s and "Proseware" in s, 20,
                      "the filtered table")
        term.press("p")
        term.wait_for_text("Repaired", "admin@proseware.onmicrosoft.com", timeout=60)
        assert "DEMO" in term.text()
        term.press("enter")
        term.wait_for(lambda s: any("Proseware" in line and "healthy" in line
                                    for line in s.splitlines()), 60, "Proseware healthy")
        term.press("ctrl+q")
        assert term.close(timeout=20).returncode == 0


def test_a_large_fleet_has_unique_domains_and_one_throttled_tenant() -> None:
    from vdc_tui.demo import fleet_rows

    rows = fleet_rows(40)
    assert len(rows) == 40
    assert len({r.domain_label for r in rows}) == 40
    assert len({r.name for r in rows}) == 40
    assert [r.kind for r in rows].count("throttled") == 1


def test_the_standalone_fleet_emulator_refuses_a_taken_port(run: Run, world: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        busy = taken.getsockname()[1]
        outcome = run("emulator", "--scenario", "fleet", "--port", str(busy))
    assert outcome.code == 2
    assert f"127.0.0.1:{busy}" in outcome.err and "--port 0" in outcome.err
