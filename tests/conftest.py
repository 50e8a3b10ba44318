"""Fixtures shared by the whole suite: emulators over real HTTPS on 127.0.0.1.

- ``start_emulator(scenario_or_name="demo", *, clock=None, state_dir=None, **faults)``
  starts an :class:`EmulatorServer` (stopped at teardown). ``emulator`` is the same factory.
- ``demo_emulator``: one demo emulator for the whole session. Read-only use only: a test that
  changes state or faults must start its own.
- ``health_fleet``: one tenant of every kind of ``vdc_tui.emulator.fleet`` (session-wide),
  and ``fleet_store``: a fresh VDC_TUI_HOME with a saved profile for each of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support.commands import home, manual_args, run  # noqa: F401  (fixtures of every folder)

from vdc_tui.connect.microsoft.clouds import server_endpoints
from vdc_tui.emulator import EmulatorServer, Scenario

StartEmulator = Callable[..., EmulatorServer]

#: The store passphrase of the suite's key stores (see ``_key_passphrase``).
TEST_KEY_PASSPHRASE = "suite store passphrase, long enough"


@pytest.fixture(scope="session")
def key_passphrase_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An owner-only file holding :data:`TEST_KEY_PASSPHRASE`."""
    path = tmp_path_factory.mktemp("keys") / "passphrase"
    path.write_text(TEST_KEY_PASSPHRASE + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


@pytest.fixture(scope="session", autouse=True)
def _key_passphrase(key_passphrase_file: Path) -> Iterator[None]:
    """Every test (and the processes it starts) saves keys like an unattended run: with
    ``VDC_TUI_KEY_PASSPHRASE_FILE``, and never in the developer's own OS keyring. Session
    scope, so module-scoped fixtures see it too; tests of the other sources unset or
    override these with ``monkeypatch`` (restored after each test)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VDC_TUI_KEY_PASSPHRASE_FILE", str(key_passphrase_file))
        patch.setenv("VDC_TUI_KEYRING", "off")
        yield


@pytest.fixture(autouse=True)
def _fresh_passphrase_checks() -> None:
    """Each test starts without the per-process memory of checked passphrases."""
    from vdc_tui.connect.store.keystore import forget_unlocked

    forget_unlocked()


@pytest.fixture
def start_emulator() -> Iterator[StartEmulator]:
    """Factory: ``start_emulator("demo", replication_delay=5) -> EmulatorServer``."""
    started: list[EmulatorServer] = []

    def start(scenario: Scenario | str | Path | dict[str, Any] = "demo", *,
              clock: Callable[[], float] | None = None, state_dir: Path | None = None,
              **faults: Any) -> EmulatorServer:
        emu = EmulatorServer(scenario, clock=clock, state_dir=state_dir, faults=faults or None)
        started.append(emu)
        return emu.start()

    yield start
    for emu in started:
        emu.stop()


@pytest.fixture
def emulator(start_emulator: StartEmulator) -> StartEmulator:
    """The same factory as ``start_emulator``."""
    return start_emulator


@pytest.fixture(scope="session")
def demo_emulator() -> Iterator[EmulatorServer]:
    """The demo scenario, shared by the session (do not change its state or faults)."""
    with EmulatorServer("demo") as emu:
        yield emu


# --- fleets of saved connections (connections check, the dashboard) ----------------------


@dataclass(frozen=True)
class HealthFleet:
    """A fleet scenario with one tenant of every kind, served by its emulator."""

    files: Any
    emu: EmulatorServer

    def tenant(self, kind: str) -> dict[str, Any]:
        """The manifest entry of the tenant of ``kind``."""
        return next(t for t in self.files.tenants if t["kind"] == kind)

    def args(self) -> list[str]:
        """The common options that point vdc-tui at this emulator."""
        return ["--authority-host", self.emu.authority_host, "--graph-url", self.emu.graph_url,
                "--ca-bundle", str(server_endpoints(self.emu).ca_bundle)]


@pytest.fixture(scope="session")
def health_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HealthFleet]:
    """Every kind of ``vdc_tui.emulator.fleet`` (healthy and each broken way), served once."""
    from vdc_tui.emulator.fleet import KINDS, REPAIR_KINDS, write_fleet

    files = write_fleet(tmp_path_factory.mktemp("fleet"), [*KINDS, *REPAIR_KINDS])
    with EmulatorServer(str(files.scenario)) as emu:
        yield HealthFleet(files, emu)


@pytest.fixture
def fleet_store(health_fleet: HealthFleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                ) -> Any:
    """A fresh VDC_TUI_HOME holding a saved profile for every tenant of the fleet."""
    from bench.fleet import save_profiles

    folder = tmp_path / "fleet-home"
    monkeypatch.setenv("VDC_TUI_HOME", str(folder))
    return save_profiles(health_fleet.files.manifest, folder)
