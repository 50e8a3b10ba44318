"""The async client whose requests a blocking client sends from worker threads (fleet checks)."""

from __future__ import annotations

import gzip
import json

import httpx
import pytest

from connect.microsoft.identity.test_identity_scripted import ENDPOINTS
from vdc_tui.connect.microsoft.http import (
    ResponseTooLarge,
    aread_bounded,
    make_threaded_async_client,
)


async def test_a_request_goes_out_whole_and_its_answer_comes_back_decoded() -> None:
    seen: list[httpx.Request] = []

    def server(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = gzip.compress(json.dumps({"echo": json.loads(request.content)}).encode())
        return httpx.Response(200, content=body, headers={"Content-Encoding": "gzip",
                                                          "request-id": "r-1"})

    client = make_threaded_async_client(ENDPOINTS, transport=httpx.MockTransport(server))
    try:
        request = client.build_request("POST", "https://graph.test/v1.0/$batch",
                                       json={"requests": [1, 2]},
                                       headers={"Authorization": "Bearer t"})
        response = await aread_bounded(await client.send(request, stream=True))
    finally:
        await client.aclose()
    assert response.status_code == 200
    assert response.json() == {"echo": {"requests": [1, 2]}}
    assert response.headers["request-id"] == "r-1"
    assert seen[0].headers["Authorization"] == "Bearer t"


async def test_an_oversized_answer_is_a_transport_error_read_no_further() -> None:
    from vdc_tui.connect.microsoft import http as http_module

    sent: list[int] = []

    class Chunks(httpx.SyncByteStream):
        def __iter__(self):  # type: ignore[no-untyped-def]
            for _ in range(64):  # 64 KiB on offer; reading stops past the limit
                sent.append(1)
                yield b"x" * 1024

    def server(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Chunks())

    client = make_threaded_async_client(ENDPOINTS, transport=httpx.MockTransport(server))
    client._transport._limit = 1024  # type: ignore[attr-defined]
    try:
        with pytest.raises(ResponseTooLarge):
            await client.get("https://graph.test/v1.0/organization")
    finally:
        await client.aclose()
    assert len(sent) < 64
    assert issubclass(ResponseTooLarge, httpx.HTTPError)
    assert http_module.MAX_RESPONSE_BYTES > 1024


async def test_a_refused_connection_is_an_httpx_connect_error() -> None:
    def server(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = make_threaded_async_client(ENDPOINTS, transport=httpx.MockTransport(server))
    try:
        with pytest.raises(httpx.ConnectError):
            await client.get("https://graph.test/v1.0/organization")
    finally:
        await client.aclose()
