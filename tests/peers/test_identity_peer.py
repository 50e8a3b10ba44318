"""Our identity layer against an OpenID provider nobody here wrote (oidc-provider, RFC 8628).

Everything goes through ``vdc_tui.connect.microsoft.identity.IdentityClient`` exactly as the wizard
uses it, with ``Endpoints`` whose authority host is the peer. Where a test leans on Entra
behaviour that a standard provider does not have, its name says ``entra_shaped`` and the
peer's ``server.mjs`` marks the emulated behaviour ``ENTRA-SHAPED``. Where the peer speaks
plain RFC 8628 / RFC 7523 and Entra speaks otherwise (``access_denied`` vs Entra's
``authorization_declined``, no AADSTS codes, 404 for an unknown tenant), the test checks that
our mapping still lands on the right stable code.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from vdc_tui.connect.certificates import load_pfx
from vdc_tui.connect.errors import Cancelled, CertificateProblem, VdcError
from vdc_tui.connect.microsoft.identity import IdentityClient, decode_jwt_claims

from .conftest import GRAPH, PeerWorld

pytestmark = pytest.mark.peer

#: Upper bound for any single sign-in in these tests (the peer answers in milliseconds).
DEADLINE = 30.0


async def _identity(world: PeerWorld, client_id: str) -> IdentityClient:
    # "organizations", as the wizard signs in; the peer serves it as an alias of its tenant.
    identity = IdentityClient(world.endpoints, client_id=client_id, tenant="organizations")
    await identity.prepare()
    return identity


@pytest.fixture
async def device_identity(peer_world: PeerWorld) -> AsyncIterator[IdentityClient]:
    """Our identity client for the peer's long-lived device-flow client."""
    identity = await _identity(peer_world, peer_world.device_client)
    try:
        yield identity
    finally:
        await identity.aclose()


# --------------------------------------------------------------------------------------------
# Device authorization grant


async def test_device_code_is_what_the_peer_issued(
    peer_world: PeerWorld, device_identity: IdentityClient
) -> None:
    session = await device_identity.start_device_flow(list(peer_world.delegated_scopes))
    try:
        code = session.code
        # oidc-provider's base-20 charset, 9 characters as configured (Entra's are 9 too).
        assert len(code.user_code) == 9 and code.user_code.isalpha()
        assert code.verification_uri == peer_world.peer.url("/organizations/devicelogin")
        assert code.interval == 1
        assert code.expires_in == 120
        assert code.user_code in code.message and code.verification_uri in code.message
    finally:
        session.cancel()


async def test_device_flow_approved_on_peer_pages_yields_entra_shaped_delegated_token(
    peer_world: PeerWorld, device_identity: IdentityClient
) -> None:
    # ENTRA-SHAPED: the peer adds tid/oid/upn/wids to the access token, which Entra's
    # delegated Graph tokens carry and a standard provider does not; our SignedInAdmin is
    # built from them.
    session = await device_identity.start_device_flow(list(peer_world.delegated_scopes))
    person = peer_world.person()
    code = session.code
    token, final_page = await asyncio.wait_for(
        asyncio.gather(
            device_identity.wait_for_sign_in(session),
            asyncio.to_thread(person.approve, code.verification_uri, code.user_code),
        ),
        DEADLINE,
    )
    assert "Sign-in Success" in final_page
    assert token.tenant_id == peer_world.tenant
    assert token.admin.upn == peer_world.admin_upn
    assert token.admin.object_id == peer_world.admin_oid
    assert token.admin.tenant_id == peer_world.tenant
    claims = decode_jwt_claims(token.access_token)
    assert claims["aud"] == GRAPH
    assert claims["iss"] == peer_world.peer.issuer
    # The scopes granted are the Graph delegated scopes the wizard asked for.
    granted = set(claims["scope"].split())
    assert granted == set(peer_world.delegated_scopes)
    assert token.access_token not in repr(token)


async def test_device_flow_declined_rfc8628_access_denied_maps_to_sign_in_declined(
    peer_world: PeerWorld, device_identity: IdentityClient
) -> None:
    # The peer answers RFC 8628's `access_denied`; Entra answers `authorization_declined`.
    # Both must become sign_in_declined.
    session = await device_identity.start_device_flow(list(peer_world.delegated_scopes))
    person = peer_world.person()
    wait = asyncio.ensure_future(device_identity.wait_for_sign_in(session))
    await asyncio.to_thread(person.decline, session.code.verification_uri, session.code.user_code)
    with pytest.raises(VdcError) as caught:
        await asyncio.wait_for(wait, DEADLINE)
    assert caught.value.code == "sign_in_declined"


async def test_device_code_pending_until_expiry_maps_to_device_code_expired(
    peer_world: PeerWorld,
) -> None:
    # The code lives 2 s and nobody approves it: MSAL stops at its own expiry with the last
    # `authorization_pending` (research/anchors.md §3a gotcha 3), which is an expiry.
    identity = await _identity(peer_world, peer_world.short_lived_client)
    try:
        session = await identity.start_device_flow(list(peer_world.delegated_scopes))
        assert session.code.expires_in == 2
        started = time.monotonic()
        with pytest.raises(VdcError) as caught:
            await asyncio.wait_for(identity.wait_for_sign_in(session), DEADLINE)
        assert caught.value.code == "device_code_expired"
        assert time.monotonic() - started < 15
    finally:
        await identity.aclose()


async def test_device_code_rfc8628_expired_token_maps_to_device_code_expired(
    peer_world: PeerWorld,
) -> None:
    # The peer advertises 30 s but kills the code after 2 s, so the client's next poll gets
    # RFC 8628's `expired_token` from the server (Entra: AADSTS70020) well before its own
    # deadline.
    identity = await _identity(peer_world, peer_world.early_expiry_client)
    try:
        session = await identity.start_device_flow(list(peer_world.delegated_scopes))
        assert session.code.expires_in == 30
        started = time.monotonic()
        with pytest.raises(VdcError) as caught:
            await asyncio.wait_for(identity.wait_for_sign_in(session), DEADLINE)
        assert caught.value.code == "device_code_expired"
        # It ended on the server's answer, not on the advertised 30 s.
        assert time.monotonic() - started < 20
    finally:
        await identity.aclose()


async def test_cancel_stops_waiting_for_the_peer_promptly(
    peer_world: PeerWorld, device_identity: IdentityClient
) -> None:
    session = await device_identity.start_device_flow(list(peer_world.delegated_scopes))
    wait = asyncio.ensure_future(device_identity.wait_for_sign_in(session))
    # Let the first poll reach the peer before cancelling.
    await asyncio.sleep(0.3)
    started = time.monotonic()
    session.cancel()
    with pytest.raises(Cancelled):
        await asyncio.wait_for(wait, DEADLINE)
    assert time.monotonic() - started < 3.0


# --------------------------------------------------------------------------------------------
# Certificate credential (private_key_jwt, RFC 7523)


async def test_pfx_certificate_credential_gets_app_token_with_roles_entra_shaped_x5t_s256(
    peer_world: PeerWorld, device_identity: IdentityClient
) -> None:
    # ENTRA-SHAPED: the peer insists that the assertion's x5t#S256 header names the
    # registered certificate (Entra's key lookup), and adds `roles` to the token. The
    # certificate sign-in also proves that the client assertion goes on the wire as text,
    # not as the `b'…'` rendering of bytes (design.md).
    pfx = load_pfx(peer_world.registered.pfx_path, peer_world.registered.password)
    assert pfx.info.sha256 == peer_world.registered.sha256_hex
    token = await asyncio.wait_for(
        device_identity.app_token(
            peer_world.tenant, peer_world.app_id, pfx.credential(), f"{GRAPH}/.default"
        ),
        DEADLINE,
    )
    assert set(token.roles) == set(peer_world.app_roles)
    assert token.audience == GRAPH
    assert token.claims["tid"] == peer_world.tenant
    assert token.claims["client_id"] == peer_world.app_id
    assert token.access_token not in repr(token)


async def test_certificate_the_peer_does_not_know_maps_to_certificate_not_registered(
    peer_world: PeerWorld, device_identity: IdentityClient
) -> None:
    # The peer answers 401 `invalid_client` with no AADSTS code (Entra: AADSTS700027
    # "The key was not found"); certificate_not_registered is the honest reading of a
    # rejected assertion for an app that exists.
    pfx = load_pfx(peer_world.unregistered.pfx_path, peer_world.unregistered.password)
    with pytest.raises(VdcError) as caught:
        await asyncio.wait_for(
            device_identity.app_token(
                peer_world.tenant, peer_world.app_id, pfx.credential(), f"{GRAPH}/.default"
            ),
            DEADLINE,
        )
    assert caught.value.code == "certificate_not_registered"
    assert caught.value.details.get("error") == "invalid_client"


def test_wrong_pfx_password_is_pfx_wrong_password(peer_world: PeerWorld) -> None:
    with pytest.raises(CertificateProblem) as caught:
        load_pfx(peer_world.registered.pfx_path, "not the password")
    assert caught.value.code == "pfx_wrong_password"
    assert caught.value.details.get("field") == "pfx_password"
    assert "not the password" not in str(caught.value.to_json())


async def test_unknown_client_without_entra_aadsts_700016_reads_as_certificate_not_registered(
    peer_world: PeerWorld, device_identity: IdentityClient
) -> None:
    # Entra tells an unknown app (AADSTS700016 → app_not_found_in_tenant) from an unknown
    # key (AADSTS700027). A standard provider answers both with a bare `invalid_client`;
    # our reading names both possibilities and points at the certificate field.
    pfx = load_pfx(peer_world.registered.pfx_path, peer_world.registered.password)
    stranger = "0f0e0d0c-0b0a-4909-8807-060504030201"
    with pytest.raises(VdcError) as caught:
        await asyncio.wait_for(
            device_identity.app_token(
                peer_world.tenant, stranger, pfx.credential(), f"{GRAPH}/.default"
            ),
            DEADLINE,
        )
    assert caught.value.code == "certificate_not_registered"
    assert "app is not registered" in caught.value.message
    assert caught.value.details["app_id"] == stranger


async def test_unknown_tenant_path_404_without_entra_aadsts_90002_maps_to_tenant_not_found(
    peer_world: PeerWorld,
) -> None:
    # Entra answers discovery for an unknown tenant with 400 invalid_tenant (AADSTS90002). A
    # standard provider has no tenants: the unknown path is simply 404 (the peer answers so
    # for any first segment it does not serve), and our layer reads that as the tenant.
    identity = IdentityClient(
        peer_world.endpoints, client_id=peer_world.device_client, tenant="nosuch.example"
    )
    try:
        with pytest.raises(VdcError) as caught:
            await asyncio.wait_for(identity.prepare(), DEADLINE)
        assert caught.value.code == "tenant_not_found"
        assert "nosuch.example" in caught.value.message
    finally:
        await identity.aclose()
