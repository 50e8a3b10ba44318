"""Demo mode for headless commands: the built-in emulator, in this process.

Demo profiles live in their own folder (``<home>/demo``), so a rehearsal never mixes with
real customers' connections.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vdc_tui.connect.errors import InvalidInput
from vdc_tui.connect.microsoft.clouds import server_endpoints
from vdc_tui.connect.store.home import vdc_home
from vdc_tui.settings import DEFAULT_DEMO_PORT

if TYPE_CHECKING:
    from vdc_tui.connect.microsoft.clouds import Endpoints

DEMO_SCENARIO = "demo"


def demo_home(home: Path | None = None) -> Path:
    """The profile folder of demo runs: ``demo`` under the (given or default) home."""
    return (home or vdc_home()) / "demo"


@dataclass(frozen=True)
class DemoFacts:
    """What a script needs to onboard the demo tenant in manual mode.

    The demo PFX and its password ship with the package as a public fixture of the demo
    scenario: they protect nothing.
    """

    tenant_id: str
    tenant_name: str
    default_domain: str
    admin_email: str
    manual_app_id: str | None
    pfx_path: str | None
    pfx_password: str | None

    def to_json(self) -> dict[str, Any]:
        """The facts as printed by ``vdc-tui emulator --print-demo``."""
        return {
            "scenario": DEMO_SCENARIO,
            "tenant": {"id": self.tenant_id, "name": self.tenant_name,
                       "default_domain": self.default_domain},
            "admin_email": self.admin_email,
            "manual": {"app_id": self.manual_app_id, "pfx": self.pfx_path,
                       "pfx_password": self.pfx_password},
        }


def demo_facts(scenario: str | Path = DEMO_SCENARIO) -> DemoFacts:
    """Read the demo tenant, its Global Administrator and its manual app from a scenario."""
    from vdc_tui.emulator.scenario import DIRECTORY_ROLES, load_scenario

    loaded = load_scenario(scenario)
    tenant = loaded.tenants[0]
    admin_names = {"Global Administrator", DIRECTORY_ROLES["Global Administrator"]}
    admin = next((u.upn for u in tenant.users if admin_names & set(u.roles)),
                 tenant.users[0].upn if tenant.users else f"admin@{tenant.domains[0]}")
    app_id = pfx_path = password = None
    for app in tenant.applications:
        cert = next((c for c in app.certificates if c.pfx and c.registered), None)
        if cert is not None and cert.pfx:
            app_id = app.app_id
            base = loaded.base_dir or Path.cwd()
            pfx_path = str((base / cert.pfx).resolve())
            password = cert.password
            break
    return DemoFacts(
        tenant_id=tenant.id,
        tenant_name=tenant.display_name,
        default_domain=tenant.default_domain or tenant.domains[0],
        admin_email=admin,
        manual_app_id=app_id,
        pfx_path=pfx_path,
        pfx_password=password,
    )


@contextmanager
def demo_emulator(approve_after: float | None, *,
                  port: int = DEFAULT_DEMO_PORT) -> Iterator[Any]:
    """Run the demo scenario's emulator on a loopback port for one command.

    Args:
        approve_after: Seconds after which the emulator approves a device code as the demo
            Global Administrator; ``None`` leaves approval to the device-login page.
        port: The port to listen on (fixed, so scripts and recordings see the same
            addresses); when it is taken, any free port (the caller compares ``emu.port``).
            0 = any free port.
    """
    try:
        from vdc_tui.emulator import load_scenario
        from vdc_tui.emulator.launch import start_for_demo
    except ImportError as exc:  # a broken install, not an operator error
        raise InvalidInput(
            "invalid_argument",
            f"The built-in emulator cannot start ({exc.name or 'import failed'}).",
            "Reinstall vdc-tui; demo mode needs its emulator package.",
        ) from None
    # A script is waiting, not a person: when the emulator approves, poll every second.
    emu = start_for_demo(load_scenario(DEMO_SCENARIO), port, approve_after=approve_after,
                         poll_interval=1 if approve_after is not None else None)
    with emu:
        yield emu


def emulator_endpoints(emu: Any) -> Endpoints:
    """The endpoints of a running emulator."""
    endpoints: Endpoints = server_endpoints(emu)
    return endpoints
