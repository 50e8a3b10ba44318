"""The required-permission catalog, loaded from ``data/permissions.json``.

The table is data (``research/domain.md`` §2–3): which API, which application permission,
its app-role id, and which services need it. Code asks the catalog, it never lists ids.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Protocol

GLOBAL_ADMINISTRATOR_ROLE = "62e90394-69f5-4237-9190-012177145e10"
GLOBAL_READER_ROLE = "f2ef992c-3afb-46b9-b7cf-a126ee74c451"

#: Microsoft Graph Command Line Tools: a public client Microsoft pre-registers in every tenant
#: that supports dynamic consent to any Graph delegated scope (research/identity.md §6). The
#: Azure CLI's client id cannot ask for RoleManagement.ReadWrite.Directory. Service providers
#: should register their own multi-tenant public client and pass it with ``--client-id``.
#: The sign-in's ``delegated_sign_in_scopes`` are consented to it (the consent cleanup and the
#: ``delegated_consent`` check look at its grants).
DEFAULT_PUBLIC_CLIENT_ID = "14d82eec-204b-4c2f-b7e8-296a70dab67e"


@dataclass(frozen=True)
class ResourceApi:
    """An API whose app roles the app needs (Microsoft Graph, Exchange, SharePoint)."""

    key: str
    name: str
    app_id: str


@dataclass(frozen=True)
class RequiredPermission:
    """One application permission of the catalog.

    Attributes:
        resource: The API that publishes it.
        value: The app role's value (``Sites.Read.All``), as it appears in ``roles``.
        id: The app role's id.
        services: Services that need it.
        use: Why the backup service needs it.
    """

    resource: ResourceApi
    value: str
    id: str
    services: frozenset[str]
    use: str

    @property
    def display(self) -> str:
        """``API: permission``, the form used in lists and JSON."""
        return f"{self.resource.name}: {self.value}"


@dataclass(frozen=True)
class PermissionCatalog:
    """The whole catalog."""

    resources: tuple[ResourceApi, ...]
    permissions: tuple[RequiredPermission, ...]
    delegated_sign_in_scopes: tuple[str, ...]

    def resource(self, key: str) -> ResourceApi:
        """The API with this key (``graph``, ``exchange``, ``sharepoint``)."""
        for res in self.resources:
            if res.key == key:
                return res
        raise KeyError(key)

    def find(self, resource_key: str, value: str) -> RequiredPermission | None:
        """The permission named ``value`` on the API ``resource_key``, or ``None``."""
        for perm in self.permissions:
            if perm.resource.key == resource_key and perm.value == value:
                return perm
        return None

    def by_role_id(self, resource_key: str, role_id: str) -> RequiredPermission | None:
        """The permission whose app role is ``role_id`` *on the API* ``resource_key``.

        Always by the pair: one id can be two resources' roles (``df021288…`` is
        ``User.Read.All`` on Microsoft Graph and on SharePoint Online), so an id alone
        names no permission.
        """
        wanted = role_id.lower()
        for perm in self.permissions:
            if perm.resource.key == resource_key and perm.id.lower() == wanted:
                return perm
        return None

    def required_for(self, services: Iterable[str]) -> tuple[RequiredPermission, ...]:
        """Permissions needed by the given services (Exchange Online is always included)."""
        wanted = set(services) | {"exchange"}
        return tuple(p for p in self.permissions if p.services & wanted)

    def by_resource(
        self, permissions: Iterable[RequiredPermission]
    ) -> dict[str, tuple[RequiredPermission, ...]]:
        """Group permissions by resource key, in catalog order."""
        out: dict[str, list[RequiredPermission]] = {}
        for perm in permissions:
            out.setdefault(perm.resource.key, []).append(perm)
        return {k: tuple(v) for k, v in out.items()}

    @property
    def version(self) -> str:
        """A short, stable fingerprint of what the catalog asks for (permission ids and the
        services needing them): a release that asks for more has another version, so a
        profile that records the version it was verified against shows it needs repair."""
        items = sorted(f"{p.resource.key}:{p.id}:{','.join(sorted(p.services))}"
                       for p in self.permissions)
        import hashlib  # OpenSSL's library, ~2 ms: not before the wizard's first frame

        return "sha256:" + hashlib.sha256("\n".join(items).encode("utf-8")).hexdigest()[:16]


class CarriesRoles(Protocol):
    """An app-only token, as far as permissions go: its ``roles`` claim."""

    @property
    def roles(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class RolesFound:
    """Required permissions sorted by what the app-only tokens carried (catalog order)."""

    granted: tuple[RequiredPermission, ...]
    missing: tuple[RequiredPermission, ...]
    unchecked: tuple[RequiredPermission, ...]


def roles_in_tokens(
    required: Iterable[RequiredPermission], tokens: Mapping[str, CarriesRoles | None]
) -> RolesFound:
    """The one rule for "is this permission in the tokens" (onboarding's verification, the
    manual check, renewal's baseline and the fleet health check).

    ``tokens`` maps a resource key (``graph``, ``exchange``, ``sharepoint``) to its app-only
    token: a permission whose role is in it is granted; one whose resource's token lacks the
    role, or is ``None`` (the resource refused a token), is missing; one whose resource has
    no entry (no token was asked for, e.g. a tenant without SharePoint) is unchecked.
    """
    granted: list[RequiredPermission] = []
    missing: list[RequiredPermission] = []
    unchecked: list[RequiredPermission] = []
    for perm in required:
        key = perm.resource.key
        if key not in tokens:
            unchecked.append(perm)
            continue
        token = tokens[key]
        (granted if token is not None and perm.value in token.roles else missing).append(perm)
    return RolesFound(tuple(granted), tuple(missing), tuple(unchecked))


@cache
def load_catalog() -> PermissionCatalog:
    """Load the catalog shipped with the package."""
    raw = json.loads(
        resources.files("vdc_tui.connect").joinpath("data/permissions.json").read_text("utf-8")
    )
    res = {r["key"]: ResourceApi(r["key"], r["name"], r["app_id"]) for r in raw["resources"]}
    perms = tuple(
        RequiredPermission(
            resource=res[p["resource"]],
            value=p["value"],
            id=p["id"],
            services=frozenset(p["services"]),
            use=p["use"],
        )
        for p in raw["permissions"]
    )
    return PermissionCatalog(
        resources=tuple(res.values()),
        permissions=perms,
        delegated_sign_in_scopes=tuple(raw["delegated_sign_in_scopes"]),
    )
