"""Bad input and bad answers get a clear, typed error: never a hang, a crash or a leak.

PFX paths that are not files, endpoint URLs that are not roots, a home folder that cannot
hold profiles, and server answers that are not what Microsoft sends (HTML pages, cut-off
JSON, objects without their fields, huge bodies, links to another host).
"""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import httpx
import pytest

from vdc_tui.connect.certificates import MAX_PFX_BYTES, load_pfx
from vdc_tui.connect.errors import CertificateProblem, InvalidInput, ServiceUnavailable
from vdc_tui.connect.microsoft.clouds import resolve_endpoints
from vdc_tui.connect.microsoft.graph import BatchRequest, GraphClient
from vdc_tui.connect.microsoft.http import MAX_RESPONSE_BYTES, MsalHttpClient
from vdc_tui.connect.microsoft.identity import IdentityClient
from vdc_tui.connect.store.profiles import ProfileStore

ENDPOINTS = resolve_endpoints("global", graph_url="https://graph.test")
TOKEN = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJl"


# --- PFX paths ----------------------------------------------------------------------------


async def test_a_named_pipe_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "cert.pfx"
    os.mkfifo(fifo)
    # Opening a FIFO for reading blocks until someone writes: bound the wait so a
    # regression fails instead of hanging the suite.
    with pytest.raises(CertificateProblem) as caught:
        await asyncio.wait_for(asyncio.to_thread(load_pfx, fifo, None), timeout=10)
    assert caught.value.code == "pfx_unreadable"
    assert "named pipe" in caught.value.message
    assert caught.value.details["field"] == "pfx_path"


def test_a_device_is_refused_before_reading_it() -> None:
    with pytest.raises(CertificateProblem) as caught:
        load_pfx("/dev/zero", None)
    assert caught.value.code == "pfx_unreadable"
    assert "not a regular file (a device)" in caught.value.message


def test_a_socket_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "s.pfx"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        with pytest.raises(CertificateProblem) as caught:
            load_pfx(path, None)
    finally:
        server.close()
    assert caught.value.code == "pfx_unreadable"


def test_one_byte_over_a_mebibyte_is_too_large(tmp_path: Path) -> None:
    path = tmp_path / "big.pfx"
    with path.open("wb") as handle:
        handle.truncate(MAX_PFX_BYTES + 1)
    with pytest.raises(CertificateProblem) as caught:
        load_pfx(path, None)
    assert caught.value.code == "pfx_too_large"
    assert caught.value.details["size"] == MAX_PFX_BYTES + 1


def test_a_symlink_loop_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "a.pfx").symlink_to(tmp_path / "b.pfx")
    (tmp_path / "b.pfx").symlink_to(tmp_path / "a.pfx")
    with pytest.raises(CertificateProblem) as caught:
        load_pfx(tmp_path / "a.pfx", None)
    assert caught.value.code == "pfx_unreadable"
    assert "symbolic links" in caught.value.message


# --- endpoint URLs ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("http://login.example.com", "https URL"),
        ("https://login.example.com/tenant", "no path"),
        ("https://login.example.com?x=1", "no path"),
        ("https://user:secret@login.example.com", "user name or password"),
        ("https://[::1", "not a valid URL"),
        ("https://login.example.com:99999", "not a valid URL"),
        ("https://login.example.com:0", "not a valid URL"),
        ("https://exa mple.com", "no valid host"),
        ("https://evil\x1b[2J.com", "not a valid URL"),
        ("https://evil\x1b.com", "no valid host"),
    ],
)
def test_a_bad_authority_host_is_invalid_input(url: str, said: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        resolve_endpoints("global", authority_host=url)
    assert caught.value.code == "invalid_argument"
    assert said in caught.value.message
    assert "secret" not in caught.value.message and "\x1b" not in caught.value.message


def test_good_roots_are_kept() -> None:
    endpoints = resolve_endpoints("global", authority_host="https://[::1]:8443/",
                                  graph_url="https://graph.example.com:443")
    assert endpoints.authority_host == "https://[::1]:8443"
    assert endpoints.graph_url == "https://graph.example.com:443"


# --- the home folder ----------------------------------------------------------------------


def test_a_home_that_is_a_file_is_a_clear_invalid_input(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.write_text("not a folder")
    with pytest.raises(InvalidInput) as caught:
        ProfileStore(home).check_usable()
    assert caught.value.details["field"] == "home"
    assert "not a folder" in caught.value.message
    assert home.read_text() == "not a folder"  # nothing replaced


def test_a_home_below_a_file_is_a_clear_invalid_input(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidInput) as caught:
        ProfileStore(tmp_path / "file" / "home").check_usable()
    assert "Not a directory" in caught.value.message


def test_a_dangling_home_link_is_named_as_such(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.symlink_to(tmp_path / "gone")
    with pytest.raises(InvalidInput) as caught:
        ProfileStore(home).check_usable()
    assert "symbolic link to a missing folder" in caught.value.message


def test_a_home_linked_to_a_real_folder_is_used(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir(mode=0o700)
    (tmp_path / "home").symlink_to(tmp_path / "real")
    store = ProfileStore(tmp_path / "home")
    store.check_usable()
    assert (tmp_path / "real" / "connections").is_dir()
    assert list((tmp_path / "real" / "connections").iterdir()) == []  # the probe is gone


def test_the_lock_of_an_unusable_home_is_invalid_input_not_an_os_error(tmp_path: Path) -> None:
    (tmp_path / "home").write_text("x")
    store = ProfileStore(tmp_path / "home")
    with pytest.raises(InvalidInput), store.lock("8f3b6a52-0c1d-4e5f-9a7b-2c4d6e8f0a1b"):
        pass


# --- Graph answers ------------------------------------------------------------------------


async def no_sleep(seconds: float) -> None:
    return None


def graph_answering(*answers: httpx.Response) -> tuple[GraphClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return queue.pop(0)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return GraphClient(ENDPOINTS, TOKEN, client=client, sleep=no_sleep), seen


@pytest.mark.parametrize(
    "link",
    [
        "http://graph.test/v1.0/users?$skiptoken=a",  # the token in clear text
        "HTTPS://evil.test/v1.0/users",
        "https://graph.test.evil.test/v1.0/users",
        "https://graph.test:8443/v1.0/users",
        "https://user@graph.test/v1.0/users",
        "https://graph.test/beta/users",
        "ftp://graph.test/v1.0/users",
    ],
)
async def test_a_next_link_elsewhere_is_refused_and_the_token_stays_home(link: str) -> None:
    graph, seen = graph_answering(
        httpx.Response(200, json={"value": [{"id": 1}], "@odata.nextLink": link}))
    with pytest.raises(ServiceUnavailable) as caught:
        await graph.get_all("/users")
    assert len(seen) == 1, "the link was followed"
    assert TOKEN not in str(caught.value.to_json())


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, html="<html><body>Sign in to the proxy</body></html>"),
        httpx.Response(200, text='{"id": "0b2d7e3c-8a41', headers={"content-type":
                                                               "application/json"}),
        httpx.Response(200, json=[1, 2, 3]),
        httpx.Response(201, text="created"),
    ],
)
async def test_a_success_that_is_not_a_json_object_is_service_unavailable(
    answer: httpx.Response,
) -> None:
    graph, _ = graph_answering(answer)
    with pytest.raises(ServiceUnavailable) as caught:
        await graph.post("/applications", {"displayName": "x"})
    assert "not a JSON object" in caught.value.message


async def test_an_empty_success_is_an_empty_object() -> None:
    graph, _ = graph_answering(httpx.Response(204))
    assert await graph.post("/servicePrincipals/x/appRoleAssignedTo", {}) == {}


async def test_a_collection_without_a_value_list_is_not_read_as_empty() -> None:
    graph, _ = graph_answering(httpx.Response(200, json={}))
    with pytest.raises(ServiceUnavailable) as caught:
        await graph.get_all("/subscribedSkus")
    assert "without a list" in caught.value.message


async def test_a_batch_answer_without_responses_is_not_retried() -> None:
    graph, seen = graph_answering(httpx.Response(200, json={"unexpected": True}))
    with pytest.raises(ServiceUnavailable) as caught:
        await graph.batch([BatchRequest("a", "POST", "/applications", {"displayName": "x"})])
    assert len(seen) == 1
    assert "not a batch answer" in caught.value.message


async def test_a_huge_graph_answer_is_not_read_whole() -> None:
    chunk = b"x" * (1024 * 1024)
    sent = 0

    async def stream() -> object:
        nonlocal sent
        for _ in range(MAX_RESPONSE_BYTES // len(chunk) + 8):
            sent += len(chunk)
            yield chunk

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=stream())  # type: ignore[arg-type]

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    graph = GraphClient(ENDPOINTS, TOKEN, client=client, sleep=no_sleep)
    with pytest.raises(ServiceUnavailable) as caught:
        await graph.get("/organization")
    assert "ResponseTooLarge" in caught.value.message
    assert sent <= MAX_RESPONSE_BYTES + 2 * len(chunk), "reading went on past the limit"
    assert graph.request_count == 1, "an oversized answer is not asked for again"


# --- identity-platform answers ------------------------------------------------------------

HOST = "https://login.test"
TENANT = "8f3b6a52-0c1d-4e5f-9a7b-2c4d6e8f0a1b"
APP = "0b2d7e3c-8a41-4f6e-9c5d-1e2f3a4b5c6d"
ID_ENDPOINTS = resolve_endpoints("global", authority_host=HOST, graph_url="https://graph.test")


def identity_answering(answer: httpx.Response) -> IdentityClient:
    def handler(request: httpx.Request) -> httpx.Response:
        tenant = request.url.path.split("/")[1]
        if request.url.path.endswith("/.well-known/openid-configuration"):
            base = f"{HOST}/{tenant}"
            return httpx.Response(200, json={
                "issuer": f"{HOST}/{TENANT}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode"})
        return answer

    http = MsalHttpClient(ID_ENDPOINTS, transport=httpx.MockTransport(handler))
    return IdentityClient(ID_ENDPOINTS, client_id=APP, http_client=http)


@pytest.fixture(scope="module")
def credential() -> object:
    from vdc_tui.connect.certificates import generate_self_signed

    return generate_self_signed("hostile answers").credential()


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, json={"token_type": "Bearer", "expires_in": 3599}),
        httpx.Response(200, json={"access_token": {"not": "a string"}, "expires_in": 3599}),
        httpx.Response(200, json=["access_token"]),
        httpx.Response(200, html="<html>proxy</html>"),
        httpx.Response(200, text='{"access_token": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ0ZXN0In0.c2'),
        httpx.Response(502, html="<html>Bad gateway</html>"),
    ],
)
async def test_a_token_endpoint_answer_without_a_token_is_service_unavailable(
    answer: httpx.Response, credential: object
) -> None:
    identity = identity_answering(answer)
    try:
        with pytest.raises(ServiceUnavailable) as caught:
            await identity.app_token(TENANT, APP, credential,  # type: ignore[arg-type]
                                     "https://graph.test/.default")
    finally:
        await identity.aclose()
    assert "eyJ" not in str(caught.value.to_json())


async def test_a_device_code_answer_without_a_code_is_service_unavailable() -> None:
    identity = identity_answering(httpx.Response(200, json={"interval": 5}))
    try:
        with pytest.raises(ServiceUnavailable) as caught:
            await identity.start_device_flow(["https://graph.test/.default"])
    finally:
        await identity.aclose()
    assert "without a code" in caught.value.message
