"""A persistent emulator world: the directory's state kept in one file between runs.

The demo's emulator (``vdc-tui --demo``, every ``connections … --demo`` action and
``vdc-tui emulator --scenario fleet``) keeps what its tenants hold in ``world.json``: the
scenario's tenants (users, licences, faults) and everything made or changed through Graph
since (app registrations and their keys, principals, grants, directory roles, deleted
items), and the position of the seeded random source, so ids made in a later run never
repeat an earlier one. The file is written atomically (temporary file, then rename; 0600 in
a 0700 folder) after every Graph request that may change the directory, and once more at
stop.

Device codes and refresh tokens are not kept: a sign-in belongs to one run.

:data:`PERSISTED` names the :class:`~vdc_tui.emulator.state.Directory` collections that are
kept; a new kind of directory object (a dataclass of ``state.py``) is kept by adding its
collection there and its class to :data:`PERSISTED_TYPES`.

The emulator's own view only: nothing here reads the client's code or data.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from vdc_tui.emulator import state as state_module
from vdc_tui.emulator.scenario import (
    GLOBAL_ADMINISTRATOR,
    Scenario,
    ScenarioError,
    load_scenario,
    scenario_from_dict,
)
from vdc_tui.emulator.server import EmulatorServer
from vdc_tui.emulator.state import Directory

#: The file's format; a file of another format is refused (reset the world).
WORLD_FORMAT = 1
WORLD_FILE = "world.json"

#: The directory's collections kept between runs (attribute names of ``Directory``).
PERSISTED: tuple[str, ...] = (
    "applications",
    "service_principals",
    "app_role_assignments",
    "role_assignments",
    "deleted_applications",
    "delegated_grants",
)
#: The dataclasses those collections hold (by class name in the file).
PERSISTED_TYPES: tuple[type[Any], ...] = (
    state_module.KeyCredential,
    state_module.Application,
    state_module.ServicePrincipal,
    state_module.AppRoleAssignment,
    state_module.RoleAssignment,
    state_module.DelegatedGrant,
)

#: Methods of a Graph request that may change the directory (the world is saved after
#: them). A sign-in changes what is kept only when it records consent (a delegated grant,
#: and the client's service principal on its first sign-in): saved then too.
_CHANGING = frozenset({"POST", "PATCH", "PUT", "DELETE"})
_GRAPH = "/v1.0/"


class WorldError(ValueError):
    """The world file cannot be read (damaged, of another format, or not ours)."""


# -- encoding ------------------------------------------------------------------------------

def _encode(value: Any) -> Any:
    if isinstance(value, x509.Certificate):
        # Hex, not base64: a certificate holds the public half of its key, and base64 of
        # it would match the probes that look for base64 of a private key in a home folder.
        return {"$x509": value.public_bytes(serialization.Encoding.DER).hex()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {"$type": type(value).__name__}
        for f in dataclasses.fields(value):
            out[f.name] = _encode(getattr(value, f.name))
        return out
    if isinstance(value, tuple):
        return {"$tuple": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {"$map": {str(k): _encode(v) for k, v in value.items()}}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"cannot keep a {type(value).__name__} in the world file")


def _decode(value: Any, types: dict[str, type[Any]]) -> Any:
    if isinstance(value, list):
        return [_decode(v, types) for v in value]
    if not isinstance(value, dict):
        return value
    if "$x509" in value:
        return x509.load_der_x509_certificate(bytes.fromhex(value["$x509"]))
    if "$tuple" in value:
        return tuple(_decode(v, types) for v in value["$tuple"])
    if "$map" in value:
        return {k: _decode(v, types) for k, v in value["$map"].items()}
    name = value.get("$type")
    cls = types.get(name) if isinstance(name, str) else None
    if cls is None:
        raise WorldError(f"unknown object type {name!r}")
    known = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: _decode(v, types) for k, v in value.items() if k in known})


def _scenario_document(scenario: Scenario) -> dict[str, Any]:
    """The scenario's tenants without their apps and principals (those are in the state)."""
    raw = dataclasses.asdict(scenario)
    raw.pop("base_dir", None)
    for tenant in raw["tenants"]:
        tenant["applications"] = []
        tenant["service_principals"] = []
        tenant["delegated_grants"] = []
        for user in tenant["users"]:
            user.pop("_comment", None)
    return raw


def snapshot(directory: Directory) -> dict[str, Any]:
    """Everything :data:`PERSISTED` of ``directory``, and its random source, as JSON."""
    with directory.lock:
        collections = {name: {key: _encode(obj) for key, obj in getattr(directory, name).items()}
                       for name in PERSISTED}
        version, internal, gauss = directory.rng.getstate()
        return {"collections": collections,
                "rng": [version, list(internal), gauss]}


def restore(directory: Directory, saved: dict[str, Any]) -> None:
    """Put a :func:`snapshot` back into a directory loaded from the same tenants.

    Raises:
        WorldError: the snapshot is malformed.
    """
    types = {cls.__name__: cls for cls in PERSISTED_TYPES}
    try:
        collections = saved["collections"]
        with directory.lock:
            for name in PERSISTED:
                target = getattr(directory, name)
                target.clear()
                for key, raw in collections.get(name, {}).items():
                    target[key] = _decode(raw, types)
            version, internal, gauss = saved["rng"]
            directory.rng.setstate((version, tuple(internal), gauss))
    except WorldError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise WorldError(
            f"the saved directory is malformed ({type(exc).__name__}: {exc})") from None


# -- the file ------------------------------------------------------------------------------

def _private_dir(folder: Path) -> None:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)


def _atomic_write(path: Path, text: str) -> None:
    _private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=".world-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class World:
    """The world file of one folder (``<folder>/world.json``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / WORLD_FILE

    def exists(self) -> bool:
        """Whether a world was seeded here."""
        return self.path.is_file()

    def read(self) -> tuple[Scenario, dict[str, Any]]:
        """The scenario (tenants only) and the saved directory state.

        Raises:
            WorldError: the file is unreadable, damaged or of another format.
        """
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise WorldError(f"{self.path} cannot be read ({type(exc).__name__})") from None
        if not isinstance(document, dict) or document.get("format") != WORLD_FORMAT:
            raise WorldError(f"{self.path} is not a world file of format {WORLD_FORMAT}")
        try:
            scenario = scenario_from_dict(document["scenario"], name=document.get("name"))
        except (KeyError, TypeError, ScenarioError) as exc:
            raise WorldError(f"{self.path}: its tenants are malformed ({exc})") from None
        state = document.get("state")
        if not isinstance(state, dict):
            raise WorldError(f"{self.path}: no saved directory")
        return scenario, state

    def write(self, scenario: Scenario, directory: Directory) -> None:
        """Save the world (atomically, 0600)."""
        document = {"format": WORLD_FORMAT, "name": scenario.name,
                    "scenario": _scenario_document(scenario), "state": snapshot(directory)}
        _atomic_write(self.path, json.dumps(document, separators=(",", ":")) + "\n")


def seed(world: World, scenario: Scenario | dict[str, Any] | str | Path, *,
         soft_deleted: Iterable[str] = (), now: float | None = None) -> None:
    """Make a new world from a scenario and save it.

    Args:
        world: Where to write.
        scenario: The starting state (apps, principals and grants included).
        soft_deleted: Object ids of the scenario's apps to delete at once, the way Graph's
            ``DELETE /applications/{id}`` does: they wait in deleted items (restorable).
        now: The moment of the seeding (default: now).
    """
    loaded = load_scenario(scenario)
    moment = time.time() if now is None else now
    with tempfile.TemporaryDirectory(prefix="vdc-world-") as scratch:
        directory = Directory(loaded, now=moment, state_dir=Path(scratch))
        for object_id in soft_deleted:
            app = directory.applications.get(object_id)
            if app is None:
                raise ScenarioError(f"no application {object_id} to delete")
            directory.delete_application(app, now=moment)
        world.write(loaded, directory)


class WorldServer(EmulatorServer):
    """An :class:`EmulatorServer` that starts from a world file and keeps it up to date.

    It also plays the customer's administrators: ``approve_after`` seconds after a device
    code is issued, a Global Administrator of the code's tenant approves it, as a person at
    the sign-in page would. A multi-tenant sign-in (``organizations``) is approved by the
    administrator of the tenant named by :meth:`expect_admin_of` (once), else by the
    scenario's ``auto_approve_user``: the person who signs in picks the account of the
    tenant the operator is working on.

    Raises:
        WorldError: the world file is damaged (from the constructor).
    """

    def __init__(self, world: World, *, port: int = 0,
                 approve_after: float | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        scenario, saved = world.read()
        super().__init__(scenario, port=port, clock=clock)
        restore(self.state, saved)
        self.world = world
        self.approve_after = approve_after
        self._save_lock = threading.Lock()
        self._approver_stop = threading.Event()
        self._approver: threading.Thread | None = None
        self._expected_tenant: str | None = None

    def expect_admin_of(self, tenant: str | None) -> None:
        """The next multi-tenant sign-in is for ``tenant`` (id or domain): its Global
        Administrator approves it."""
        with self.state.lock:
            self._expected_tenant = tenant

    def save(self) -> None:
        """Write the world now."""
        with self._save_lock:
            self.world.write(self.scenario, self.state)

    def _consent_facts(self) -> tuple[int, tuple[tuple[str, str], ...]]:
        """What a sign-in may change that the world keeps: the principals' count and every
        delegated grant's scope."""
        state = self.state
        with state.lock:
            return (len(state.service_principals),
                    tuple(sorted((g.id, g.scope) for g in state.delegated_grants.values())))

    def _build_app(self) -> Any:
        inner = super()._build_app()
        server = self

        async def app(scope: Any, receive: Any, send: Any) -> None:
            path = str(scope.get("path", ""))
            changing = scope.get("type") == "http" and scope.get("method") in _CHANGING
            consent = server._consent_facts() if changing and path.endswith("/token") else None
            try:
                await inner(scope, receive, send)
            finally:
                if changing and (path.startswith(_GRAPH) or (
                        consent is not None and consent != server._consent_facts())):
                    server.save()

        return app

    def start(self) -> WorldServer:
        super().start()
        if self.approve_after is not None and self._approver is None:
            self._approver = threading.Thread(target=self._approve_loop,
                                              name="vdc-world-admin", daemon=True)
            self._approver.start()
        return self

    def __enter__(self) -> WorldServer:
        return self.start()

    def stop(self) -> None:
        self._approver_stop.set()
        if self._approver is not None:
            self._approver.join(timeout=5)
            self._approver = None
        started = self._thread is not None
        super().stop()
        if started:
            self.save()

    # -- the simulated administrators ----------------------------------------------------
    def admin_for(self, tenant: str) -> str | None:
        """The UPN that approves a code issued for ``tenant`` (id, domain or a
        multi-tenant name)."""
        directory = self.state
        found = directory.resolve_tenant(tenant)
        if found is None and self._expected_tenant is not None:
            with directory.lock:
                found = directory.resolve_tenant(self._expected_tenant)
                self._expected_tenant = None
        if found is None:
            return self.scenario.device_code.auto_approve_user or next(
                (u.upn for t in directory.tenants.values() for u in t.users.values()
                 if GLOBAL_ADMINISTRATOR in u.all_roles), None)
        return next((u.upn for u in found.users.values() if GLOBAL_ADMINISTRATOR in u.all_roles),
                    None)

    def _approve_loop(self) -> None:
        assert self.approve_after is not None
        while not self._approver_stop.wait(0.2):
            now = self.now()
            with self.state.lock:
                due = [(f.user_code, f.tenant) for f in self.state.device_flows.values()
                       if f.status == "pending" and f.created + self.approve_after <= now
                       and f.expires_at > now]
            for user_code, tenant in due:
                upn = self.admin_for(tenant)
                if upn is None:
                    continue
                with contextlib.suppress(ValueError):  # taken, declined or expired meanwhile
                    self.approve_device_code(user_code, upn)


__all__ = ["PERSISTED", "PERSISTED_TYPES", "World", "WorldError", "WorldServer", "restore",
           "seed", "snapshot"]
