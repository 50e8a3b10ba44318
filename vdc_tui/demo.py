"""Demo mode: the built-in emulator's persistent world, in this process.

Demo profiles live in their own folder (``<home>/demo``), so a rehearsal never mixes with
real customers' connections. That folder also holds the emulator's world
(``<home>/demo/world/world.json``, :mod:`vdc_tui.emulator.world`): Contoso (the wizard's
tenant) and a demo fleet, one tenant in each state the check knows (:data:`DEMO_FLEET`),
seeded on the first demo run with their saved profiles, and kept up to date by every demo
command, so what one run made the next one finds.

A home holding a world is a demo home: its profiles are refused against anything but the
built-in emulator or an emulator on 127.0.0.1 (:func:`refuse_real_cloud`).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from vdc_tui.connect.errors import InvalidInput
from vdc_tui.connect.microsoft.clouds import server_endpoints
from vdc_tui.connect.store.home import vdc_home
from vdc_tui.settings import DEFAULT_DEMO_PORT

if TYPE_CHECKING:
    from vdc_tui.connect.microsoft.clouds import Endpoints
    from vdc_tui.emulator.world import World, WorldServer

DEMO_SCENARIO = "demo"
#: The world's folder inside the demo home.
WORLD_DIR = "world"
#: What the reset command is called (named by every error about the world).
RESET_COMMAND = "vdc-tui --demo-reset"


@dataclass(frozen=True)
class DemoTenant:
    """One row of the demo fleet: a believable customer in one state.

    Attributes:
        name: The tenant's display name.
        domain_label: ``<label>.onmicrosoft.com``.
        admin: Its Global Administrator's display name (the simulated customer).
        state: What the check finds, in words.
        kind: How the emulator holds that state (a kind of
            :mod:`vdc_tui.emulator.fleet`); ``None``: the emulator cannot hold it yet, the
            row is left out of the seed.
        via: How the state is made, where it is not the kind's plain meaning.
    """

    name: str
    domain_label: str
    admin: str
    state: str
    kind: str
    via: str = ""


#: The demo fleet beside Contoso, one tenant per state the check knows (each ``kind`` is one
#: of ``vdc_tui.emulator.fleet``'s). Data: a state the emulator learns later is one row.
DEMO_FLEET: tuple[DemoTenant, ...] = (
    DemoTenant("Northwind Traders", "northwindtraders", "Nestor Wilke", "healthy", "healthy"),
    DemoTenant("Fabrikam, Inc.", "fabrikam", "Diego Siciliani", "healthy", "healthy"),
    DemoTenant("Tailspin Toys", "tailspintoys", "Lynne Robbins", "certificate expiring",
               "expiring"),
    DemoTenant("Wide World Importers", "wideworldimporters", "Johanna Lorenz",
               "certificate expired", "expired"),
    DemoTenant("Adventure Works", "adventureworks", "Pradeep Gupta",
               "certificate removed from the app", "key_removed"),
    DemoTenant("Litware, Inc.", "litware", "Grady Archie", "app registration deleted",
               "app_deleted", via="in deleted items for 2 days (restorable)"),
    DemoTenant("Proseware", "proseware", "Adele Vance", "a permission's consent revoked",
               "grant_revoked"),
    DemoTenant("Woodgrove Bank", "woodgrovebank", "Miriam Graham", "Global Reader removed",
               "global_reader_removed"),
    DemoTenant("Alpine Ski House", "alpineskihouse", "Patti Fernandez", "SharePoint licence "
               "lapsed", "licence_removed"),
    DemoTenant("Coho Winery", "cohowinery", "Joni Sherman", "throttled (429, Retry-After)",
               "throttled"),
    DemoTenant("Lucerne Publishing", "lucernepublishing", "Henrietta Mueller",
               "connected in manual mode", "manual"),
    DemoTenant("Trey Research", "treyresearch", "Christie Cline", "healthy", "healthy"),
    DemoTenant("Margie's Travel", "margiestravel", "Isaiah Langer",
               "standing onboarding consent", "standing_consent",
               via="the onboarding's delegated scopes left on Graph Command Line Tools"),
)


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
def demo_emulator(approve_after: float | None, *, port: int = DEFAULT_DEMO_PORT,
                  home: Path | None = None) -> Iterator[Any]:
    """Serve the demo world (``<home>/world``, seeded on first use) for one command.

    Args:
        approve_after: Seconds after which the simulated customer (a Global Administrator
            of the code's tenant) approves a device code; ``None`` leaves approval to the
            device-login page.
        port: The port to listen on (fixed, so scripts and recordings see the same
            addresses); when it is taken, any free port (the caller compares ``emu.port``).
            0 = any free port.
        home: The demo home (default: :func:`demo_home`).

    Raises:
        DemoWorldDamaged: the world file cannot be read.
        InvalidInput: the demo home cannot be written (``details.field`` = ``home``).
    """
    try:
        import vdc_tui.emulator.world  # noqa: F401  (a broken install is said here)
    except ImportError as exc:  # a broken install, not an operator error
        raise InvalidInput(
            "invalid_argument",
            f"The built-in emulator cannot start ({exc.name or 'import failed'}).",
            "Reinstall vdc-tui; demo mode needs its emulator package.",
        ) from None
    from vdc_tui.connect.store.profiles import ProfileStore

    where = home or demo_home()
    # The world lives in the demo home: one that cannot be written (a file, read-only) is
    # said as the store says it, before anything starts.
    ProfileStore(where).check_usable()
    # A script is waiting, not a person: when the emulator approves, poll every second.
    emu = acquire_world_emulator(where, port=port, approve_after=approve_after,
                                 poll_interval=1 if approve_after is not None else None)
    try:
        yield emu
    finally:
        release_world_emulator(emu)


def emulator_endpoints(emu: Any) -> Endpoints:
    """The endpoints of a running emulator."""
    endpoints: Endpoints = server_endpoints(emu)
    return endpoints


# -- the world -----------------------------------------------------------------------------

def demo_world(home: Path) -> World:
    """The world file of the demo home ``home`` (``<home>/world/world.json``)."""
    from vdc_tui.emulator.world import World

    return World(home / WORLD_DIR)


def is_demo_home(home: Path) -> bool:
    """Whether ``home`` holds a demo world (its profiles are demo profiles)."""
    return (home / WORLD_DIR).is_dir()


def fleet_rows(count: int | None) -> list[DemoTenant]:
    """The demo fleet, or ``count`` tenants of its states in turn (numbered names)."""
    rows = list(DEMO_FLEET)
    if count is None:
        return rows
    out: list[DemoTenant] = []
    throttled = False
    for i in range(count):
        row = rows[i % len(rows)]
        if row.kind == "throttled":
            if throttled:  # one token-endpoint fault per world: the others answer
                row = replace(row, state="healthy", kind="healthy")
            throttled = True
        if i >= len(rows):
            row = DemoTenant(f"{row.name} {i // len(rows) + 1}",
                             f"{row.domain_label}{i // len(rows) + 1}", row.admin, row.state,
                             row.kind)
        out.append(row)
    return out


def seed_demo_world(home: Path, *, count: int | None = None) -> World:
    """Seed the demo home ``home``: Contoso and the demo fleet in the emulator's world, and
    a saved profile (key encrypted with the demo passphrase) for each fleet tenant.

    The world file is written last: a seeding cut short is done again next run.
    """
    from vdc_tui.connect.store.fsutil import ensure_private_dir
    from vdc_tui.emulator.fleet import FleetName, write_fleet
    from vdc_tui.emulator.scenario import scenario_dir, scenario_from_dict
    from vdc_tui.emulator.world import seed

    rows = fleet_rows(count)
    ensure_private_dir(home)
    scratch = Path(tempfile.mkdtemp(prefix=".seed-", dir=home))
    try:
        files = write_fleet(
            scratch, [str(r.kind) for r in rows], name="demo-fleet",
            names=[FleetName(r.name, r.domain_label, r.admin) for r in rows])
        demo = json.loads((scenario_dir() / f"{DEMO_SCENARIO}.json").read_text("utf-8"))
        fleet = json.loads(files.scenario.read_text("utf-8"))
        merged = {**demo, "name": "demo-world",
                  "description": "Contoso and the demo fleet (vdc_tui.demo.DEMO_FLEET).",
                  "tenants": demo["tenants"] + fleet["tenants"],
                  "faults": {**demo.get("faults", {}), **fleet.get("faults", {})}}
        scenario = scenario_from_dict(merged, base_dir=scratch, name="demo-world")
        _save_fleet_profiles(home, files.tenants, scratch)
        world = demo_world(home)
        seed(world, scenario)
        return world
    finally:
        shutil.rmtree(scratch, ignore_errors=True)  # the fleet's unencrypted PFX files


def _save_fleet_profiles(home: Path, tenants: Sequence[dict[str, Any]], folder: Path) -> None:
    from cryptography import x509

    from vdc_tui.connect.certificates import certificate_info
    from vdc_tui.connect.models import (
        Availability,
        ConnectionResult,
        PermissionStatus,
        ServiceAvailability,
        TenantInfo,
    )
    from vdc_tui.connect.store.keystore import PassphraseProvider
    from vdc_tui.connect.store.profiles import ProfileStore

    store = ProfileStore(home, passphrase=PassphraseProvider.demo())
    for item in tenants:
        pfx = folder / item["pfx"]
        cert = x509.load_pem_x509_certificate(pfx.with_suffix(".cer").read_bytes())
        result = ConnectionResult(
            mode="manual" if item.get("mode") == "manual" else "automatic",
            tenant=TenantInfo(item["tenant_id"], item["name"], item["domain"]),
            app_id=item["app_id"], app_object_id=item["app_object_id"],
            certificate=certificate_info(cert), certificate_pfx=pfx.read_bytes(),
            signed_in_as=item["admin"],
            services=tuple(ServiceAvailability(s, Availability.AVAILABLE,
                                               "licensed at onboarding")
                           for s in item["services"]),
            permissions=PermissionStatus(granted=("(all at onboarding)",)),
            created_app=item.get("mode") != "manual",
        )
        store.save(result, item["services"], plan="flex", cloud="global")


def ensure_demo_world(home: Path, *, count: int | None = None) -> World:
    """The demo home's world, seeded first if there is none."""
    world = demo_world(home)
    if not world.exists():
        world = seed_demo_world(home, count=count)
    return world


class DemoWorldDamaged(InvalidInput):
    """The demo world's file cannot be read."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(
            "demo_world_damaged",
            f"The demo world cannot be read ({why}).",
            f"Run `{RESET_COMMAND}` to delete the demo and start a new one "
            f"(it says what it deletes), or restore {path} from a backup.",
            {"path": str(path)})


_RUNNING: dict[Path, tuple[WorldServer, int]] = {}
_RUNNING_LOCK = threading.Lock()


def acquire_world_emulator(home: Path, *, port: int, approve_after: float | None,
                           poll_interval: int | None = None) -> WorldServer:
    """Start the demo world's emulator (seeding the world first), or share the one this
    process runs already (the dashboard's ``n`` opens the wizard while it serves).
    Give it back with :func:`release_world_emulator`.

    Raises:
        DemoWorldDamaged: the world file cannot be read.
    """
    from vdc_tui.emulator.world import WorldError, WorldServer

    key = home.resolve()
    with _RUNNING_LOCK:
        if key in _RUNNING:
            server, users = _RUNNING[key]
            _RUNNING[key] = (server, users + 1)
            return server
        world = ensure_demo_world(home)
        try:
            server = WorldServer(world, port=port, approve_after=approve_after)
            try:
                server.start()
            except OSError:
                server.stop()  # never started: nothing to save
                if not port:
                    raise
                server = WorldServer(world, port=0, approve_after=approve_after).start()
        except WorldError as exc:
            raise DemoWorldDamaged(world.path, str(exc)) from None
        if poll_interval is not None:
            server.faults.device_code_interval = poll_interval
        _RUNNING[key] = (server, 1)
        return server


def expect_admin_of(home: Path, tenant: str) -> None:
    """The simulated customer approves the next sign-in as a Global Administrator of
    ``tenant`` (id, domain or name of a saved demo connection), when this process serves
    the demo world of ``home``."""
    from vdc_tui.connect.errors import VdcError
    from vdc_tui.connect.store.profiles import ProfileStore

    with _RUNNING_LOCK:
        running = _RUNNING.get(home.resolve())
    if running is None:
        return
    try:
        tenant_id = ProfileStore(home).find(tenant).tenant_id
    except VdcError:  # an unknown name is said by the command itself
        tenant_id = tenant
    running[0].expect_admin_of(tenant_id)


def release_world_emulator(server: WorldServer) -> None:
    """Give back what :func:`acquire_world_emulator` returned; the last user stops it
    (which saves the world)."""
    with _RUNNING_LOCK:
        for key, (running, users) in list(_RUNNING.items()):
            if running is server:
                if users > 1:
                    _RUNNING[key] = (running, users - 1)
                    return
                del _RUNNING[key]
                break
    server.stop()


def reset_demo(home: Path) -> list[str]:
    """Delete the demo home (world, demo profiles and keys); what was there, one line each.

    Only the demo home (``<home>/demo``) is ever given here, never the home of real
    connections; a folder of another name is refused all the same.
    """
    if not home.exists():
        return []
    if home.name != "demo":
        raise InvalidInput("invalid_argument", f"{home} is not a demo home.",
                           "Only `<VDC_TUI_HOME>/demo` is reset.")
    said: list[str] = []
    world = home / WORLD_DIR
    if world.exists():
        said.append(f"{world}: the emulator's world (Contoso, the demo fleet, and every app "
                    "and key the demo made)")
    connections = home / "connections"
    if connections.is_dir():
        count = sum(1 for p in connections.iterdir() if p.is_dir())
        said.append(f"{connections}: {count} demo connection profile(s) and their keys")
    for other in sorted(home.iterdir()):
        if other.name not in (WORLD_DIR, "connections"):
            said.append(f"{other}")
    shutil.rmtree(home)
    return said


def refuse_real_cloud(home: Path, endpoints: Endpoints) -> None:
    """Demo profiles against a real cloud: refused (they belong to the built-in emulator).

    Raises:
        InvalidInput: ``home`` is a demo home and ``endpoints`` are not on 127.0.0.1.
    """
    if not is_demo_home(home):
        return
    hosts = {urlsplit(u).hostname for u in (endpoints.authority_host, endpoints.graph_url)}
    if hosts <= {"127.0.0.1", "localhost", "::1"}:
        return
    raise InvalidInput(
        "demo_profile_real_cloud",
        f"{home} holds demo profiles: they work only against the built-in emulator.",
        "Add --demo, or set VDC_TUI_HOME to the folder of your real connections.",
        {"home": str(home)})



#: The largest ``fleet:N`` world.
MAX_FLEET = 2000


def fleet_home(scenario: str, home: Path | None = None) -> Path:
    """The demo home a ``--scenario fleet`` or ``fleet:N`` world lives in: the demo home
    itself for ``fleet``, ``<demo home>/fleet-N`` for ``fleet:N``.

    Raises:
        InvalidInput: ``N`` is not a whole number from 1 to :data:`MAX_FLEET`.
    """
    base = demo_home(home)
    if scenario == "fleet":
        return base
    text = scenario.partition(":")[2]
    if not text.isdigit() or not 1 <= int(text) <= MAX_FLEET:
        raise InvalidInput("invalid_argument",
                           f"--scenario {scenario}: N must be a whole number from 1 to "
                           f"{MAX_FLEET}.", "Use --scenario fleet or --scenario fleet:N.",
                           {"field": "scenario"})
    return base / f"fleet-{int(text)}"


def serve_fleet(port: int, scenario: str, out: Any = None) -> int:
    """``vdc-tui emulator --scenario fleet|fleet:N``: serve a demo world standalone until
    SIGINT or SIGTERM. The first line is the emulator's connection JSON plus ``home``, the
    folder of the world's saved profiles (``VDC_TUI_HOME`` of commands that use them)."""
    import signal
    import sys
    from types import FrameType

    home = fleet_home(scenario)
    count = None if scenario == "fleet" else int(scenario.partition(":")[2])
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        ensure_demo_world(home, count=count)
        emu = acquire_world_emulator(home, port=port, approve_after=None)
        if port and emu.port != port:
            release_world_emulator(emu)
            raise InvalidInput(
                "invalid_argument", f"The emulator cannot listen on 127.0.0.1:{port} (in use).",
                "Choose another --port, or --port 0 for any free port.", {"field": "port"})
        try:
            info: dict[str, Any] = dict(emu.connection_info())
            info["home"] = str(home)
            stream = out or sys.stdout
            stream.write(json.dumps(info) + "\n")
            stream.flush()
            while not stop.wait(0.5):
                pass
        finally:
            release_world_emulator(emu)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
