"""One discovery per tenant: the MSAL applications of an IdentityClient share it.

Every ``app_token`` builds a fresh MSAL application (a 400 from the token endpoint is
replayed from an application's own cache for 60 s); without sharing, each would fetch the
tenant's OpenID configuration again before its token request. These tests run real MSAL
against a scripted identity platform (in-process transport), where every request is seen.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import pytest

from connect.microsoft.identity.test_identity_scripted import (
    APP,
    ENDPOINTS,
    SCOPE,
    TENANT,
    FakeEntra,
    aad_error,
    app_token_if_assertion_is_a_jwt,
)
from vdc_tui.connect.certificates import generate_self_signed
from vdc_tui.connect.errors import VdcError
from vdc_tui.connect.microsoft.http import MsalHttpClient
from vdc_tui.connect.microsoft.identity import (
    CertificateCredential,
    IdentityClient,
    SharedDiscoveryHttp,
)

DISCOVERY = f"GET /{TENANT}/v2.0/.well-known/openid-configuration"
TOKEN = f"POST /{TENANT}/oauth2/v2.0/token"


@pytest.fixture(scope="module")
def credential() -> CertificateCredential:
    return generate_self_signed("vdc-discovery-test").credential()


def client(fake: FakeEntra) -> IdentityClient:
    http = MsalHttpClient(ENDPOINTS, transport=httpx.MockTransport(fake))
    return IdentityClient(ENDPOINTS, client_id=APP, http_client=http)


async def test_second_app_token_for_a_tenant_sends_only_the_token_request(
    credential: CertificateCredential,
) -> None:
    fake = FakeEntra(token_answers=[app_token_if_assertion_is_a_jwt] * 2)
    identity = client(fake)
    try:
        await identity.app_token(TENANT, APP, credential, SCOPE)
        assert fake.paths == [DISCOVERY, TOKEN]
        del fake.paths[:]
        await identity.app_token(TENANT, APP, credential, SCOPE)
    finally:
        await identity.aclose()
    assert fake.paths == [TOKEN]


async def test_retry_after_app_not_found_still_reaches_the_token_endpoint(
    credential: CertificateCredential,
) -> None:
    # The 400 (AADSTS700016, "not replicated yet") must not be shared the way discovery is.
    def not_yet(form: dict[str, str]) -> httpx.Response:
        answer: httpx.Response = aad_error(
            400, "unauthorized_client", 700016, f"Application '{APP}' not found."
        )
        return answer

    fake = FakeEntra(token_answers=[not_yet, not_yet, app_token_if_assertion_is_a_jwt])
    identity = client(fake)
    try:
        for _ in range(2):
            with pytest.raises(VdcError) as caught:
                await identity.app_token(TENANT, APP, credential, SCOPE)
            assert caught.value.code == "app_not_found_in_tenant"
        token = await identity.app_token(TENANT, APP, credential, SCOPE)
    finally:
        await identity.aclose()
    assert token.roles
    assert fake.paths == [DISCOVERY, TOKEN, TOKEN, TOKEN]


async def test_parallel_first_token_requests_share_one_discovery(
    credential: CertificateCredential,
) -> None:
    fake = FakeEntra(token_answers=[app_token_if_assertion_is_a_jwt] * 3)
    identity = client(fake)
    try:
        await asyncio.gather(
            *(identity.app_token(TENANT, APP, credential, SCOPE) for _ in range(3))
        )
    finally:
        await identity.aclose()
    assert fake.paths.count(DISCOVERY) == 1
    assert fake.paths.count(TOKEN) == 3


async def test_prepare_tenant_takes_discovery_off_the_token_path(
    credential: CertificateCredential,
) -> None:
    fake = FakeEntra(token_answers=[app_token_if_assertion_is_a_jwt])
    identity = client(fake)
    try:
        await identity.prepare_tenant(TENANT)
        assert fake.paths == [DISCOVERY]
        await identity.app_token(TENANT, APP, credential, SCOPE)
    finally:
        await identity.aclose()
    assert fake.paths == [DISCOVERY, TOKEN]


async def test_prepare_tenant_of_an_unknown_tenant_is_quiet_and_not_remembered(
    credential: CertificateCredential,
) -> None:
    fake = FakeEntra()
    identity = client(fake)
    try:
        await identity.prepare_tenant("fabrikam.com")  # no error: best effort
        with pytest.raises(VdcError) as caught:
            await identity.app_token("fabrikam.com", APP, credential, SCOPE)
    finally:
        await identity.aclose()
    assert caught.value.code == "tenant_not_found"
    # The failed answer was asked for again, not replayed.
    assert fake.paths.count("GET /fabrikam.com/v2.0/.well-known/openid-configuration") == 2


def test_shared_answers_expire_after_their_time() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={"n": len(seen)})

    now = [100.0]
    shared = SharedDiscoveryHttp(
        MsalHttpClient(ENDPOINTS, transport=httpx.MockTransport(answer)),
        ttl=60.0,
        clock=lambda: now[0],
    )
    url = "https://login.test/t/v2.0/.well-known/openid-configuration"
    first = shared.get(url)
    assert shared.get(url).text == first.text
    now[0] += 61.0
    assert shared.get(url).text != first.text
    assert len(seen) == 2


def test_posts_are_never_shared() -> None:
    calls: list[bytes] = []
    lock = threading.Lock()

    def answer(request: httpx.Request) -> Any:
        with lock:
            calls.append(request.content)
        return httpx.Response(400, json={"error": "invalid_grant"})

    shared = SharedDiscoveryHttp(MsalHttpClient(ENDPOINTS, transport=httpx.MockTransport(answer)))
    for _ in range(2):
        answer_ = shared.post("https://login.test/t/oauth2/v2.0/token", data={"a": "1"})
        assert answer_.status_code == 400
    assert len(calls) == 2


def test_closing_waits_for_a_request_still_in_flight() -> None:
    # A cancelled call's request keeps running in its thread; closing the pool under it
    # would leave that thread blocked on its socket until the server hangs up.
    started, release = threading.Event(), threading.Event()

    def slow(request: httpx.Request) -> httpx.Response:
        started.set()
        release.wait(10)
        return httpx.Response(200, json={})

    shared = SharedDiscoveryHttp(MsalHttpClient(ENDPOINTS, transport=httpx.MockTransport(slow)))
    statuses: list[int] = []
    request = threading.Thread(
        target=lambda: statuses.append(shared.post("https://login.test/t/token").status_code)
    )
    request.start()
    assert started.wait(10)
    closer = threading.Thread(target=shared.close_when_idle, args=(10.0,))
    closer.start()
    closer.join(0.2)
    assert closer.is_alive()  # still waiting: the request has not been answered
    release.set()
    request.join(10)
    closer.join(10)
    assert not closer.is_alive() and statuses == [200]


async def test_app_sign_in_asks_each_resource_on_one_application_and_one_assertion(
    credential: CertificateCredential,
) -> None:
    scopes = ["https://graph.test/.default", "https://outlook.test/.default",
              "https://contoso.sharepoint.test/.default"]
    fake = FakeEntra(token_answers=[app_token_if_assertion_is_a_jwt] * 3)
    identity = client(fake)
    try:
        sign_in = identity.app_sign_in(TENANT, APP, credential)
        tokens = [await sign_in.token(scope) for scope in scopes]
    finally:
        await identity.aclose()
    assert all(t.roles for t in tokens)
    assert fake.paths == [DISCOVERY, TOKEN, TOKEN, TOKEN]
    assert [f["scope"] for f in fake.forms] == scopes
    # Signed once: the same client assertion goes with every token request.
    assert len({f["client_assertion"] for f in fake.forms}) == 1


async def test_app_sign_in_reports_a_refusal_like_app_token(
    credential: CertificateCredential,
) -> None:
    def not_found(form: dict[str, str]) -> httpx.Response:
        answer: httpx.Response = aad_error(
            400, "unauthorized_client", 700016, f"Application '{APP}' not found.")
        return answer

    fake = FakeEntra(token_answers=[not_found])
    identity = client(fake)
    try:
        with pytest.raises(VdcError) as caught:
            await identity.app_sign_in(TENANT, APP, credential).token(SCOPE)
    finally:
        await identity.aclose()
    assert caught.value.code == "app_not_found_in_tenant"
