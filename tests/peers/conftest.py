"""Fixtures of the oidc-provider peer: one Node process for the whole test session.

The peer gets a tenant GUID (plus the ``organizations`` alias, which is how our device flow
addresses Entra), a test CA and server certificate, two app certificates made here (one it
knows, one it does not), and three public clients with different device-code lifetimes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from vdc_tui.connect.microsoft.clouds import Endpoints, resolve_endpoints
from vdc_tui.connect.permissions import load_catalog

from .oidc_peer import OidcPeer, PeerSetupError, ScriptedPerson, start_peer
from .pki import AppCertificate, make_app_certificate, make_tls

GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
GRAPH = "https://graph.microsoft.com"


@dataclass(frozen=True)
class PeerWorld:
    """Everything the peer was configured with, for tests to use.

    Attributes:
        peer: The running provider.
        endpoints: Our ``Endpoints`` pointing at it (Graph root stays the global one, so
            scopes are exactly what production asks for).
        device_client: Public client whose codes live two minutes.
        short_lived_client: Public client whose codes live 2 s (honest ``expires_in``).
        early_expiry_client: Public client whose codes live 2 s but are advertised with a
            30 s ``expires_in``, so a client polls after the death and sees ``expired_token``.
        app_id: Confidential client registered with :attr:`registered`'s certificate.
        registered: The certificate the peer knows for :attr:`app_id`.
        unregistered: A certificate the peer has never seen.
        app_roles: App roles the peer puts into :attr:`app_id`'s tokens.
        admin_upn: The account the scripted person signs in as.
        admin_oid: Its object id.
    """

    peer: OidcPeer
    endpoints: Endpoints
    device_client: str
    short_lived_client: str
    early_expiry_client: str
    app_id: str
    registered: AppCertificate
    unregistered: AppCertificate
    app_roles: tuple[str, ...]
    admin_upn: str
    admin_oid: str
    delegated_scopes: tuple[str, ...] = field(default=())

    @property
    def tenant(self) -> str:
        """The peer's tenant GUID."""
        return self.peer.tenant

    def person(self) -> ScriptedPerson:
        """The administrator at the browser."""
        return ScriptedPerson(self.peer, self.admin_upn)


@pytest.fixture(scope="session")
def peer_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PeerWorld]:
    """Start the peer once per session; stop it by PID at the end."""
    work: Path = tmp_path_factory.mktemp("oidc-peer")
    tls = make_tls(work)
    registered = make_app_certificate(work, "registered-app-cert", "registered-pw-1")
    unregistered = make_app_certificate(work, "unregistered-app-cert", "other-pw-2")
    tenant = str(uuid.uuid4())
    ids = {k: str(uuid.uuid4()) for k in ("device", "short", "early", "app", "admin")}
    admin_upn = "admin@contoso.example"
    roles = ("Directory.Read.All", "Sites.Read.All")
    delegated = load_catalog().delegated_sign_in_scopes
    config = {
        "tenant": tenant,
        "aliases": ["organizations"],
        "tls": {"key": str(tls.server_key_pem), "cert": str(tls.server_cert_pem)},
        "graph_resource": GRAPH,
        "graph_scopes": list(delegated),
        # Entra advertises 5 s; a short interval keeps the approval tests quick.
        "interval": 1,
        "device_clients": [
            {"client_id": ids["device"], "ttl": 120},
            {"client_id": ids["short"], "ttl": 2},
            {"client_id": ids["early"], "ttl": 2, "advertised_expires_in": 30},
        ],
        "apps": [
            {
                "client_id": ids["app"],
                "certificate_pem": registered.certificate_pem,
                "roles": list(roles),
            }
        ],
        "users": {
            admin_upn: {
                "upn": admin_upn,
                "oid": ids["admin"],
                "name": "Peer Admin",
                "wids": [GLOBAL_ADMINISTRATOR],
            }
        },
    }
    problem: str | None = None
    try:
        peer = start_peer(config, work, tls.ca_pem)
    except PeerSetupError as exc:
        problem = str(exc)
    if problem is not None:
        # Not a skip: the peer is part of the suite, and a missing tool must be visible.
        pytest.fail(problem, pytrace=False)
    try:
        yield PeerWorld(
            peer=peer,
            endpoints=resolve_endpoints(
                "global", authority_host=peer.authority_host, ca_bundle=tls.ca_pem
            ),
            device_client=ids["device"],
            short_lived_client=ids["short"],
            early_expiry_client=ids["early"],
            app_id=ids["app"],
            registered=registered,
            unregistered=unregistered,
            app_roles=roles,
            admin_upn=admin_upn,
            admin_oid=ids["admin"],
            delegated_scopes=tuple(f"{GRAPH}/{s}" for s in delegated),
        )
    finally:
        peer.stop()
