"""The emulated directory: tenants, users, apps, principals, grants and device codes.

Every object has a ``visible_at`` time (the emulator's clock): objects created through Graph
become visible only after the replication delay, where Entra shows the same lag
(research/identity.md §5). All access goes through :class:`Directory`, whose lock makes it
safe to touch from the server thread and from a test at once.

Why one file of ~770 lines: the object types and the :class:`Directory` that loads, links and
replicates them change together (a new kind of object needs its loading, its visibility and
its Graph shape at once: delegated grants and deleted items came in that way); split, each
half would be read only with the other open.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import random
import string
import threading
import uuid
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from vdc_tui.emulator.grouped import Grouped
from vdc_tui.emulator.scenario import (
    DIRECTORY_ROLES,
    GRAPH_CLI_APP_ID,
    ROLE_NAMES,
    CertificateSpec,
    Scenario,
    ScenarioError,
    TenantSpec,
    scenario_dir,
    stable_id,
)
from vdc_tui.emulator.shapes import assignment_id, full_entity, iso7, overlay


def iso(ts: float) -> str:
    """Graph's timestamp form (UTC, ``Z``)."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> float:
    """Parse an ISO 8601 time (``Z`` or offset) to epoch seconds."""
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.timestamp()


def role_id(name_or_id: str) -> str:
    """A directory role template id from a role name or id."""
    if name_or_id in DIRECTORY_ROLES:
        return DIRECTORY_ROLES[name_or_id]
    if name_or_id in ROLE_NAMES:
        return name_or_id
    raise ScenarioError(f"unknown directory role {name_or_id!r}")


@dataclass
class KeyCredential:
    """A certificate registered on an application."""

    key_id: str
    certificate: x509.Certificate
    start: float
    end: float
    display_name: str
    visible_at: float = 0.0

    @property
    def sha1(self) -> bytes:
        """SHA-1 of the DER certificate (``x5t``)."""
        return self.certificate.fingerprint(hashes.SHA1())  # Entra's thumbprint

    @property
    def sha256(self) -> bytes:
        """SHA-256 of the DER certificate (``x5t#S256``)."""
        return self.certificate.fingerprint(hashes.SHA256())

    @property
    def public_key(self) -> rsa.RSAPublicKey | None:
        """The RSA public key, or ``None`` for another key type."""
        key = self.certificate.public_key()
        return key if isinstance(key, rsa.RSAPublicKey) else None

    def to_graph(self, *, with_key: bool = False) -> dict[str, Any]:
        """The ``keyCredential`` JSON (``key`` only when selected, as in Graph)."""
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        return {
            "customKeyIdentifier": self.sha1.hex().upper(),
            "displayName": self.display_name,
            "endDateTime": iso(self.end),
            "key": base64.b64encode(der).decode("ascii") if with_key else None,
            "keyId": self.key_id,
            "startDateTime": iso(self.start),
            "type": "AsymmetricX509Cert",
            "usage": "Verify",
        }


@dataclass
class Application:
    """An app registration; ``props`` holds the other Graph properties as given."""

    id: str
    app_id: str
    tenant_id: str
    display_name: str
    sign_in_audience: str
    key_credentials: list[KeyCredential]
    props: dict[str, Any]
    created: float
    visible_at: float = 0.0
    #: The tenant's initial domain (Graph never answers it null).
    publisher_domain: str | None = None

    def to_graph(self, *, with_keys: bool = False, fresh: bool = False) -> dict[str, Any]:
        """The full ``application`` JSON (``fresh``: as the create answers it, its
        ``createdDateTime`` with 7 fractional digits)."""
        personal = self.sign_in_audience == "AzureADandPersonalMicrosoftAccount"
        out = full_entity("application", overlay({
            "id": self.id,
            "appId": self.app_id,
            "createdDateTime": iso7(self.created) if fresh else iso(self.created),
            "displayName": self.display_name,
            "publisherDomain": self.publisher_domain,
            "signInAudience": self.sign_in_audience,
            # Graph's default token version follows the audience (research/recordings.md C5)
            "api": {"requestedAccessTokenVersion": 2 if personal else None},
        }, self.props))
        out["keyCredentials"] = [k.to_graph(with_key=with_keys) for k in self.key_credentials]
        return out


@dataclass
class ServicePrincipal:
    """A service principal in a tenant (an app's instance there, or a resource API)."""

    id: str
    app_id: str
    tenant_id: str
    display_name: str
    app_owner_tenant_id: str
    service_principal_names: list[str]
    app_roles: list[dict[str, Any]] = field(default_factory=list)
    scopes: list[dict[str, Any]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    visible_at: float = 0.0
    #: The backing app's audience (a first-party resource: multi-tenant).
    sign_in_audience: str = "AzureADMultipleOrgs"
    #: Creation time; ``None`` for Microsoft's own principals (Graph answers null).
    created: float | None = None

    def to_graph(self) -> dict[str, Any]:
        """The full ``servicePrincipal`` JSON."""
        return full_entity("servicePrincipal", {
            "id": self.id,
            "appId": self.app_id,
            "appDisplayName": self.display_name,
            "appOwnerOrganizationId": self.app_owner_tenant_id,
            "createdDateTime": iso(self.created) if self.created is not None else None,
            "displayName": self.display_name,
            "servicePrincipalNames": list(self.service_principal_names),
            "signInAudience": self.sign_in_audience,
            "tags": list(self.tags),
            "appRoles": [dict(r) for r in self.app_roles],
            "oauth2PermissionScopes": [dict(s) for s in self.scopes],
        })


@dataclass
class AppRoleAssignment:
    """An application permission granted to a principal (what admin consent writes)."""

    id: str
    tenant_id: str
    principal_id: str
    resource_id: str
    app_role_id: str
    created: float
    visible_at: float = 0.0

    def to_graph(self, directory: Directory, *, fresh: bool = False) -> dict[str, Any]:
        """The full ``appRoleAssignment`` JSON (``fresh``: as the create answers it)."""
        principal = directory.service_principals.get(self.principal_id)
        resource = directory.service_principals.get(self.resource_id)
        return full_entity("appRoleAssignment", {
            "id": self.id,
            "appRoleId": self.app_role_id,
            "createdDateTime": iso7(self.created) if fresh else iso(self.created),
            "principalDisplayName": principal.display_name if principal else None,
            "principalId": self.principal_id,
            "principalType": "ServicePrincipal",
            "resourceDisplayName": resource.display_name if resource else None,
            "resourceId": self.resource_id,
        })


def grant_id(client_id: str, resource_id: str, principal_id: str | None) -> str:
    """An ``oAuth2PermissionGrant`` id as Entra forms it: base64url without padding of the
    client's, the resource's (and for ``Principal`` the user's) object ids, each GUID in
    its little-endian byte form (research/recordings.md §C.9)."""
    raw = b"".join(uuid.UUID(g).bytes_le for g in (client_id, resource_id, principal_id) if g)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclass
class DelegatedGrant:
    """An ``oAuth2PermissionGrant``: delegated scopes a client may use on a resource, for
    one user (``Principal``) or for everyone (``AllPrincipals``)."""

    id: str
    tenant_id: str
    client_id: str
    consent_type: str
    principal_id: str | None
    resource_id: str
    scope: str
    visible_at: float = 0.0

    @property
    def scopes(self) -> list[str]:
        """The space-separated ``scope`` as a list."""
        return self.scope.split()

    def to_graph(self) -> dict[str, Any]:
        """The ``oAuth2PermissionGrant`` JSON."""
        return {"clientId": self.client_id, "consentType": self.consent_type, "id": self.id,
                "principalId": self.principal_id, "resourceId": self.resource_id,
                "scope": self.scope}


@dataclass
class RoleAssignment:
    """A directory role held by a user or principal, at the tenant scope."""

    id: str
    tenant_id: str
    principal_id: str
    role_definition_id: str
    directory_scope_id: str = "/"
    visible_at: float = 0.0
    via_group: str | None = None

    def to_graph(self) -> dict[str, Any]:
        """The ``unifiedRoleAssignment`` JSON."""
        return {
            "id": self.id,
            "principalId": self.principal_id,
            "roleDefinitionId": self.role_definition_id,
            "directoryScopeId": self.directory_scope_id,
        }


@dataclass
class Group:
    """A group with the directory roles it holds."""

    id: str
    display_name: str
    roles: list[str]


@dataclass
class User:
    """A user of a tenant."""

    id: str
    tenant_id: str
    upn: str
    display_name: str
    roles: list[str]
    groups: list[Group]

    @property
    def all_roles(self) -> list[str]:
        """Role template ids held directly or through groups (``wids``)."""
        out = list(self.roles)
        for group in self.groups:
            out.extend(r for r in group.roles if r not in out)
        return out

    def to_graph(self) -> dict[str, Any]:
        """The ``user`` JSON (the default property set)."""
        given, _, surname = self.display_name.partition(" ")
        return full_entity("user", {
            "displayName": self.display_name,
            "givenName": given or None,
            "mail": self.upn,
            "preferredLanguage": "en-US",
            "surname": surname or None,
            "userPrincipalName": self.upn,
            "id": self.id,
        })


@dataclass
class Tenant:
    """A tenant and the data Graph reads about it."""

    spec: TenantSpec
    users: dict[str, User]

    @property
    def id(self) -> str:
        """Tenant GUID."""
        return self.spec.id

    def user_by_upn(self, upn: str) -> User | None:
        """A user by UPN (case-insensitive)."""
        for user in self.users.values():
            if user.upn.lower() == upn.lower():
                return user
        return None


@dataclass
class DeviceFlow:
    """One device code and its state."""

    device_code: str = field(repr=False)
    user_code: str
    client_id: str
    tenant: str
    scopes: list[str]
    created: float
    expires_at: float
    interval: int
    status: str = "pending"  # pending | approved | declined | redeemed
    user: User | None = None


def _load_resources() -> dict[str, Any]:
    """The emulator's own data of Microsoft's resource principals (``data/resources.json``):
    their app roles as Microsoft publishes them, never the client's permission catalog."""
    raw = json.loads(
        resources.files("vdc_tui.emulator").joinpath("data/resources.json").read_text("utf-8")
    )
    out = []
    for res in raw["resources"]:
        roles = {r["value"]: r["id"] for r in res["app_roles"]}
        out.append({**res, "roles": roles})
    return {"resources": out, "backup_app": list(raw["backup_app"])}


#: Display names of Microsoft's public clients a first consent creates a principal for.
PUBLIC_CLIENT_NAMES = {GRAPH_CLI_APP_ID: "Microsoft Graph Command Line Tools"}
MICROSOFT_SERVICES_TENANT = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"

_KEY_CACHE: dict[tuple[str, int], rsa.RSAPrivateKey] = {}
_KEY_LOCK = threading.Lock()


def _cached_key(name: str, key_size: int) -> rsa.RSAPrivateKey:
    # RSA generation dominates start-up; tests start many emulators with the same names.
    with _KEY_LOCK:
        key = _KEY_CACHE.get((name, key_size))
        if key is None:
            key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
            _KEY_CACHE[(name, key_size)] = key
        return key


class Directory:
    """The emulator's whole state (see module docstring).

    Attributes:
        tenants: By tenant id.
        applications: By object id (every tenant).
        service_principals: By object id (every tenant).
        app_role_assignments: By id.
        role_assignments: By id.
        deleted_applications: Soft-deleted apps by object id, with their deletion time.
        device_flows: By device code.
        generated_certificates: Name → PFX path of certificates made at load time.
    """

    def __init__(self, scenario: Scenario, *, now: float, state_dir: Path) -> None:
        self.scenario = scenario
        self.lock = threading.RLock()
        self.rng = random.Random(scenario.seed)
        self.tenants: dict[str, Tenant] = {}
        self.applications: Grouped[Application] = Grouped(lambda a: a.app_id.lower(),
                                                          lambda a: a.tenant_id)
        #: Grouped by tenant: a tenant's principals are what its requests look through.
        self.service_principals: Grouped[ServicePrincipal] = Grouped(lambda sp: sp.tenant_id)
        self.app_role_assignments: Grouped[AppRoleAssignment] = Grouped(
            lambda a: a.principal_id, lambda a: a.tenant_id)
        self.role_assignments: Grouped[RoleAssignment] = Grouped(
            lambda ra: ra.principal_id, lambda ra: ra.tenant_id)
        self.device_flows: dict[str, DeviceFlow] = {}
        self.refresh_tokens: dict[str, tuple[str, str, str]] = {}
        #: Soft-deleted applications by object id, with the time they were deleted.
        self.deleted_applications: dict[str, tuple[Application, float]] = {}
        #: Delegated permission grants (``oAuth2PermissionGrant``) by id.
        self.delegated_grants: Grouped[DelegatedGrant] = Grouped(lambda g: g.client_id,
                                                                 lambda g: g.tenant_id)
        self.generated_certificates: dict[str, Path] = {}
        self._state_dir = state_dir
        data = _load_resources()
        self._resources: list[dict[str, Any]] = data["resources"]
        self._backup_app: list[str] = data["backup_app"]
        self._load(now)

    # -- ids -------------------------------------------------------------------------------
    def new_id(self) -> str:
        """A GUID from the scenario's seeded RNG (deterministic ids of created objects)."""
        with self.lock:
            return str(_uuid4_from(self.rng))

    def new_user_code(self) -> str:
        """Nine upper-case letters and digits, as Entra's codes look."""
        alphabet = string.ascii_uppercase + string.digits
        with self.lock:
            return "".join(self.rng.choice(alphabet) for _ in range(9))

    def new_secret(self, length: int = 48) -> str:
        """An opaque random string (device codes, refresh tokens)."""
        alphabet = string.ascii_letters + string.digits + "-_"
        with self.lock:
            return "".join(self.rng.choice(alphabet) for _ in range(length))

    # -- loading ---------------------------------------------------------------------------
    def _load(self, now: float) -> None:
        for spec in self.scenario.tenants:
            if spec.id in self.tenants:
                raise ScenarioError(f"duplicate tenant id {spec.id}")
            users: dict[str, User] = {}
            for u in spec.users:
                uid = u.id or stable_id(spec.id, "user", u.upn.lower())
                groups = [
                    Group(g.id or stable_id(spec.id, "group", g.display_name), g.display_name,
                          [role_id(r) for r in g.roles])
                    for g in u.groups
                ]
                for r in u.eligible_roles:
                    role_id(r)  # validated; PIM-eligible roles are held nowhere
                users[uid] = User(uid, spec.id, u.upn, u.display_name or u.upn.split("@")[0],
                                  [role_id(r) for r in u.roles], groups)
            tenant = Tenant(spec, users)
            self.tenants[spec.id] = tenant
            for user in users.values():
                for rid in user.roles:
                    self._add_role(spec.id, user.id, rid, 0.0, None)
                for group in user.groups:
                    for rid in group.roles:
                        self._add_role(spec.id, user.id, rid, 0.0, group.id)
            for res in self._resources:
                self._add_resource_principal(tenant, res)
        for spec in self.scenario.tenants:
            for a in spec.applications:
                app_id = a.app_id or stable_id(spec.id, "appId", a.display_name)
                keys = [k for k in (self._key_from_spec(c, app_id, now) for c in a.certificates)
                        if k is not None]
                props: dict[str, Any] = {"tags": list(a.tags),
                                         "requiredResourceAccess": list(a.required_resource_access)}
                app = Application(
                    id=a.id or stable_id(spec.id, "application", app_id),
                    app_id=app_id, tenant_id=spec.id, display_name=a.display_name,
                    sign_in_audience=a.sign_in_audience, key_credentials=keys, props=props,
                    created=now - 86400, visible_at=now + a.visible_after,
                    publisher_domain=spec.initial_domain,
                )
                if a.deleted_days_ago is not None:
                    # Deleted before the scenario starts: in deleted items (restorable while
                    # younger than the 30-day retention, gone for good once older).
                    app.created = now - (a.deleted_days_ago + 1) * 86400
                    self.deleted_applications[app.id] = (app, now - a.deleted_days_ago * 86400)
                    continue
                self.applications[app.id] = app
        for spec in self.scenario.tenants:
            for s in spec.service_principals:
                self._load_principal(spec, s, now)
        for spec in self.scenario.tenants:
            tenant = self.tenants[spec.id]
            for g in spec.delegated_grants:
                grantee: User | None = None
                if g.principal is not None:
                    grantee = tenant.user_by_upn(g.principal)
                    if grantee is None:
                        raise ScenarioError(f"delegated grant for unknown user {g.principal}")
                self.consent(tenant, grantee, g.client_app_id,
                             self.resource_principal(spec.id, g.resource), g.scope.split(),
                             for_organization=grantee is None)

    def _add_resource_principal(self, tenant: Tenant, res: dict[str, Any]) -> None:
        names = [res["app_id"]]
        uris = res.get("identifier_uris") or {}
        uri = uris.get(tenant.spec.cloud) or uris.get("global")
        if uri:  # the emulator's own data, never the client's cloud table
            names += [uri, uri + "/"]
        elif res["key"] == "sharepoint" and tenant.spec.sharepoint:
            names += [f"https://{tenant.spec.sharepoint}", f"https://{tenant.spec.sharepoint}/"]
        microsoft_tenant = MICROSOFT_SERVICES_TENANT
        roles = [
            {"allowedMemberTypes": ["Application"], "description": value,
             "displayName": value, "id": rid, "isEnabled": True, "origin": "Application",
             "value": value}
            for value, rid in res["roles"].items()
        ]
        scopes = [
            {"adminConsentDescription": s["value"], "adminConsentDisplayName": s["value"],
             "id": s["id"], "isEnabled": True, "type": "Admin",
             "userConsentDescription": s["value"], "userConsentDisplayName": s["value"],
             "value": s["value"]}
            for s in res["scopes"]
        ]
        sp = ServicePrincipal(
            id=stable_id(tenant.id, "resource", res["app_id"]), app_id=res["app_id"],
            tenant_id=tenant.id, display_name=res["display_name"],
            app_owner_tenant_id=microsoft_tenant, service_principal_names=names,
            app_roles=roles, scopes=scopes,
        )
        self.service_principals[sp.id] = sp

    def _load_principal(self, spec: TenantSpec, s: Any, now: float) -> None:
        app = self.application_by_app_id(s.app_id, now=None)
        if app is None:
            raise ScenarioError(f"service principal for unknown app {s.app_id} in {spec.id}")
        sp = ServicePrincipal(
            id=s.id or stable_id(spec.id, "servicePrincipal", s.app_id), app_id=s.app_id,
            tenant_id=spec.id, display_name=s.display_name or app.display_name,
            app_owner_tenant_id=app.tenant_id, service_principal_names=[s.app_id],
            visible_at=now + s.visible_after, sign_in_audience=app.sign_in_audience,
            created=now - 3600,
        )
        self.service_principals[sp.id] = sp
        wanted: list[tuple[str, str]] = []
        for grant in s.grants:
            wanted += self._expand_grant(grant)
        revoked = set()
        for grant in s.revoked:
            revoked |= set(self._expand_grant(grant))
        for res_key, value in wanted:
            if (res_key, value) in revoked:
                continue
            resource = self.resource_principal(spec.id, res_key)
            role = next((r for r in resource.app_roles if r["value"] == value), None)
            if role is None:
                raise ScenarioError(f"{res_key} has no app role {value!r}")
            if self.find_assignment(sp.id, resource.id, role["id"]) is None:
                a = AppRoleAssignment(assignment_id(sp.id, self.new_id()), spec.id, sp.id,
                                      resource.id, role["id"],
                                      now - 3600, now + s.visible_after)
                self.app_role_assignments[a.id] = a
        for r in s.directory_roles:
            self._add_role(spec.id, sp.id, role_id(r), now + s.visible_after, None)

    def _expand_grant(self, grant: str) -> list[tuple[str, str]]:
        if grant == "catalog":
            # What Veeam documents for its backup app (the emulator's own list).
            return [(key, value) for key, _, value in (g.partition(":") for g in self._backup_app)]
        res_key, sep, value = grant.partition(":")
        if not sep or res_key not in ("graph", "exchange", "sharepoint"):
            raise ScenarioError(
                f"grant {grant!r}: use 'catalog' or 'graph|exchange|sharepoint:Value'")
        return [(res_key, value)]

    def _add_role(self, tenant_id: str, principal_id: str, rid: str, visible_at: float,
                  via_group: str | None) -> RoleAssignment:
        ra = RoleAssignment(stable_id(tenant_id, "roleAssignment", principal_id, rid, via_group),
                            tenant_id, principal_id, rid, "/", visible_at, via_group)
        self.role_assignments[ra.id] = ra
        return ra

    def _key_from_spec(self, c: CertificateSpec, app_id: str, now: float) -> KeyCredential | None:
        if c.pfx:
            password = c.password.encode() if c.password is not None else None
            try:
                data = self._scenario_file(c.pfx).read_bytes()
                _, cert, _ = pkcs12.load_key_and_certificates(data, password)
            except (OSError, ValueError) as exc:
                raise ScenarioError(f"certificate {c.pfx}: {exc}") from exc
            if cert is None:
                raise ScenarioError(f"certificate {c.pfx}: no certificate in the PFX")
        elif c.cert:
            data = self._scenario_file(c.cert).read_bytes()
            cert = (x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data
                    else x509.load_der_x509_certificate(data))
        elif c.generate:
            cert = self._generate(c, app_id, now)
        else:
            raise ScenarioError("a certificate needs 'pfx', 'cert' or 'generate'")
        if not c.registered:
            return None
        start = parse_iso(c.key_start) if c.key_start else cert.not_valid_before_utc.timestamp()
        end = parse_iso(c.key_end) if c.key_end else cert.not_valid_after_utc.timestamp()
        name = c.display_name or cert.subject.rfc4514_string()
        return KeyCredential(stable_id(app_id, "key", cert.fingerprint(hashes.SHA256()).hex()),
                             cert, start, end, name, now + c.visible_after)

    def _scenario_file(self, name: str) -> Path:
        """A file named by a scenario: next to it, else among the shipped scenarios."""
        base = self.scenario.base_dir or Path.cwd()
        path = base / name
        return path if path.exists() else scenario_dir() / name

    def _generate(self, c: CertificateSpec, app_id: str, now: float) -> x509.Certificate:
        assert c.generate is not None
        key = _cached_key(c.generate, c.key_size)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, c.generate)])
        start = dt.datetime.fromtimestamp(now + c.not_before_days * 86400, dt.UTC)
        end = dt.datetime.fromtimestamp(now + c.not_after_days * 86400, dt.UTC)
        if end <= start:
            start = end - dt.timedelta(days=1)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(int(stable_id(app_id, c.generate).replace("-", ""), 16) >> 2)
            .not_valid_before(start).not_valid_after(end)
            .sign(key, hashes.SHA256())
        )
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(c.password.encode())
            if c.password else serialization.NoEncryption()
        )
        pfx = pkcs12.serialize_key_and_certificates(c.generate.encode(), key, cert, None,
                                                    encryption)
        folder = self._state_dir / "certificates"
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = folder / f"{c.generate}.pfx"
        path.touch(mode=0o600)
        path.write_bytes(pfx)
        self.generated_certificates[c.generate] = path
        return cert

    # -- lookups ---------------------------------------------------------------------------
    @staticmethod
    def visible(obj: Any, now: float | None) -> bool:
        """Whether an object has replicated (``now=None`` ignores replication)."""
        return now is None or obj.visible_at <= now

    def resolve_tenant(self, name: str) -> Tenant | None:
        """A tenant by id or verified domain (case-insensitive)."""
        low = name.lower()
        with self.lock:
            if low in self.tenants:
                return self.tenants[low]
            for tenant in self.tenants.values():
                if tenant.id.lower() == low or low in (d.lower() for d in tenant.spec.domains):
                    return tenant
        return None

    def application_by_app_id(self, app_id: str, *, now: float | None) -> Application | None:
        """The app registration with this appId, in whatever tenant it lives."""
        for app in self.applications.group(app_id.lower()):
            if self.visible(app, now):
                return app
        return None

    def principal_by_app_id(self, tenant_id: str, app_id: str, *,
                            now: float | None) -> ServicePrincipal | None:
        """The service principal of an appId in a tenant."""
        low = app_id.lower()
        for sp in self.service_principals.group(tenant_id):
            if sp.app_id.lower() == low and self.visible(sp, now):
                return sp
        return None

    def resource_principal(self, tenant_id: str, key: str) -> ServicePrincipal:
        """One of the three resource principals of a tenant by key."""
        res = next(r for r in self._resources if r["key"] == key)
        return self.service_principals[stable_id(tenant_id, "resource", res["app_id"])]

    def find_assignment(self, principal_id: str, resource_id: str,
                        app_role_id: str) -> AppRoleAssignment | None:
        """An existing grant of one role, replicated or not."""
        for a in self.app_role_assignments.group(principal_id):
            if (a.resource_id, a.app_role_id) == (resource_id, app_role_id):
                return a
        return None

    def roles_of(self, principal_id: str, now: float | None) -> list[str]:
        """Directory role template ids a principal holds (visible assignments)."""
        return [ra.role_definition_id for ra in self.role_assignments.group(principal_id)
                if self.visible(ra, now)]

    def granted_role_values(self, principal_id: str, resource: ServicePrincipal,
                            now: float) -> list[str]:
        """The ``roles`` claim: values of visible grants of one resource to a principal."""
        by_id = {r["id"]: r["value"] for r in resource.app_roles}
        values = []
        for a in self.app_role_assignments.group(principal_id):
            if (a.resource_id == resource.id
                    and self.visible(a, now) and a.app_role_id in by_id):
                values.append(by_id[a.app_role_id])
        return sorted(set(values))

    def client_principal(self, tenant: Tenant, client_app_id: str) -> ServicePrincipal:
        """The service principal of a public client in a tenant, created when the tenant
        had none (what a user's first consent does: grant-consent-single-user.md)."""
        sp = self.principal_by_app_id(tenant.id, client_app_id, now=None)
        if sp is None:
            name = (PUBLIC_CLIENT_NAMES.get(client_app_id.lower()) or client_app_id)
            sp = ServicePrincipal(
                id=stable_id(tenant.id, "servicePrincipal", client_app_id.lower()),
                app_id=client_app_id, tenant_id=tenant.id, display_name=name,
                app_owner_tenant_id=MICROSOFT_SERVICES_TENANT,
                service_principal_names=[client_app_id])
            self.service_principals[sp.id] = sp
        return sp

    def consent(self, tenant: Tenant, user: User | None, client_app_id: str,
                resource: ServicePrincipal, scopes: list[str], *,
                for_organization: bool) -> DelegatedGrant:
        """Record a consent to delegated ``scopes``: the grant of the client on the resource
        (the user's ``Principal`` one, or ``AllPrincipals``) is created or extended; what was
        consented before stays (consent is cumulative)."""
        with self.lock:
            client = self.client_principal(tenant, client_app_id)
            principal = None if for_organization or user is None else user.id
            kind = "Principal" if principal else "AllPrincipals"
            gid = grant_id(client.id, resource.id, principal)
            grant = self.delegated_grants.get(gid)
            if grant is None:
                grant = DelegatedGrant(gid, tenant.id, client.id, kind, principal, resource.id,
                                       "")
                self.delegated_grants[gid] = grant
            have = grant.scopes
            grant.scope = " ".join(have + [s for s in scopes if s not in have])
            return grant

    def consented_scopes(self, tenant_id: str, user_id: str, client_app_id: str,
                         resource_id: str) -> list[str]:
        """Every scope a client holds for a user on a resource: the user's own grant and
        the organization's (tokens carry all of them, not only the ones asked for)."""
        client = self.principal_by_app_id(tenant_id, client_app_id, now=None)
        if client is None:
            return []
        out: list[str] = []
        for g in self.delegated_grants.group(client.id):
            if (g.resource_id == resource_id
                    and g.principal_id in (None, user_id)):
                out += [s for s in g.scopes if s not in out]
        return out

    def delete_application(self, app: Application, *, now: float) -> None:
        """Soft-delete an app: it moves to deleted items (restorable for 30 days); its
        principals and their grants go at once (as in Entra)."""
        del self.applications[app.id]
        self.deleted_applications[app.id] = (app, now)
        doomed = {sp.id for sp in self.service_principals.values() if sp.app_id == app.app_id}
        for sp_id in doomed:
            del self.service_principals[sp_id]
        for a in [a for a in self.app_role_assignments.values()
                  if a.principal_id in doomed or a.resource_id in doomed]:
            del self.app_role_assignments[a.id]
        for ra in [r for r in self.role_assignments.values() if r.principal_id in doomed]:
            del self.role_assignments[ra.id]
        for g in [g for g in self.delegated_grants.values()
                  if g.client_id in doomed or g.resource_id in doomed]:
            del self.delegated_grants[g.id]


def _uuid4_from(rng: random.Random) -> str:
    bits = rng.getrandbits(128)
    # Set the version (4) and variant bits so ids look like Entra's.
    bits &= ~(0xF000 << 64)
    bits |= 0x4000 << 64
    bits &= ~(0xC000 << 48)
    bits |= 0x8000 << 48
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
