"""GraphClient: retries, typed errors and $batch, against a scripted transport."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from vdc_tui.connect.errors import ServiceUnavailable
from vdc_tui.connect.microsoft.clouds import resolve_endpoints
from vdc_tui.connect.microsoft.graph import BatchRequest, GraphClient, GraphError

ENDPOINTS = resolve_endpoints("global", graph_url="https://graph.test")
TOKEN = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJl"

Handler = Callable[[httpx.Request], httpx.Response]


class Waits:
    """An injected sleep that records the waits instead of taking them."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def graph(handler: Handler, waits: Waits, **kwargs: Any) -> GraphClient:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return GraphClient(ENDPOINTS, TOKEN, client=client, sleep=waits, **kwargs)


def scripted(*answers: httpx.Response) -> tuple[Handler, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue: Iterator[httpx.Response] = iter(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return next(queue)

    return handler, seen


def graph_error(status: int, code: str, message: str, **extra: Any) -> httpx.Response:
    body = {"error": {"code": code, "message": message, "innerError": {"request-id": "req-1"}}}
    body["error"].update(extra)
    return httpx.Response(status, json=body)


# --- plain requests ----------------------------------------------------------------------


async def test_get_sends_the_bearer_token_to_the_v1_root() -> None:
    handler, seen = scripted(httpx.Response(200, json={"id": "org"}))
    client = graph(handler, Waits())
    assert await client.get("/organization", params={"$select": "id"}) == {"id": "org"}
    assert str(seen[0].url) == "https://graph.test/v1.0/organization?%24select=id"
    assert seen[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert client.request_count == 1


async def test_token_source_may_be_an_async_callable() -> None:
    handler, seen = scripted(httpx.Response(204))
    issued = iter(["first-token"])

    async def token() -> str:
        return next(issued)

    client = GraphClient(
        ENDPOINTS,
        token,
        client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        sleep=Waits(),
    )
    await client.delete("/applications/1")
    assert seen[0].headers["Authorization"] == "Bearer first-token"


async def test_throttling_honours_retry_after() -> None:
    waits = Waits()
    handler, seen = scripted(
        httpx.Response(429, headers={"Retry-After": "7"}, json={"error": {"code": "TooMany"}}),
        httpx.Response(429, headers={"Retry-After": "2"}),
        httpx.Response(200, json={"value": []}),
    )
    client = graph(handler, waits)
    assert await client.get("/subscribedSkus") == {"value": []}
    assert waits.calls == [7.0, 2.0]
    assert client.request_count == 3 == len(seen)


async def test_503_and_504_are_retried_with_capped_jittered_backoff() -> None:
    waits = Waits()
    handler, _ = scripted(
        httpx.Response(503), httpx.Response(504), httpx.Response(503), httpx.Response(200, json={})
    )
    client = graph(handler, waits, backoff_cap=3.0)
    await client.get("/organization")
    assert len(waits.calls) == 3
    # Exponential (1, 2, 4 s) halved at most by jitter, and never above the cap.
    for attempt, wait in enumerate(waits.calls):
        ceiling = min(3.0, 2.0**attempt)
        assert ceiling / 2 <= wait <= ceiling


async def test_giving_up_raises_service_unavailable() -> None:
    waits = Waits()
    handler, seen = scripted(*[httpx.Response(503) for _ in range(3)])
    client = graph(handler, waits, max_attempts=3)
    with pytest.raises(ServiceUnavailable) as caught:
        await client.get("/organization?$select=id")
    assert caught.value.code == "service_unavailable"
    assert len(seen) == 3 and len(waits.calls) == 2
    assert "HTTP 503" in caught.value.message
    assert "$select" not in caught.value.message  # no query strings in messages


async def test_connection_failures_of_a_get_are_retried_then_reported() -> None:
    waits = Waits()
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ReadTimeout("stalled", request=request)

    client = graph(handler, waits, max_attempts=2)
    with pytest.raises(ServiceUnavailable) as caught:
        await client.get("/organization")
    assert calls == 2
    assert "ReadTimeout" in caught.value.message


async def test_a_post_that_may_have_arrived_is_not_repeated() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ReadTimeout("stalled", request=request)

    with pytest.raises(ServiceUnavailable):
        await graph(handler, Waits()).post("/applications", {"displayName": "x"})
    assert calls == 1


async def test_error_body_becomes_a_typed_graph_error_at_once() -> None:
    waits = Waits()
    handler, seen = scripted(
        graph_error(
            400,
            "Request_BadRequest",
            "The appId of the service principal does not reference a valid application.",
            details=[{"code": "NoBackingApplicationObject", "target": "appId"}],
        )
    )
    with pytest.raises(GraphError) as caught:
        await graph(handler, waits).post("/servicePrincipals", {"appId": "x"})
    error = caught.value
    assert (error.status, error.code, error.request_id) == (400, "Request_BadRequest", "req-1")
    assert any(d.get("code") == "NoBackingApplicationObject" for d in error.details)
    assert error.details == [{"code": "NoBackingApplicationObject", "target": "appId"}]
    assert len(seen) == 1 and waits.calls == []


async def test_error_text_is_scrubbed_of_control_characters_and_tokens() -> None:
    handler, _ = scripted(
        graph_error(403, "Authorization_RequestDenied", f"\x1b[31mno\x07 {TOKEN}")
    )
    with pytest.raises(GraphError) as caught:
        await graph(handler, Waits()).get("/me")
    assert "\x1b" not in caught.value.message and "\x07" not in caught.value.message
    assert TOKEN not in caught.value.message


async def test_non_json_error_still_gives_a_graph_error() -> None:
    handler, _ = scripted(httpx.Response(502, text="<html>Bad gateway</html>"))
    with pytest.raises(GraphError) as caught:
        await graph(handler, Waits()).get("/organization")
    assert caught.value.status == 502 and caught.value.code == "HTTP502"


async def test_get_all_follows_next_links_on_the_same_root_only() -> None:
    handler, seen = scripted(
        httpx.Response(
            200,
            json={
                "value": [{"id": 1}],
                "@odata.nextLink": "https://graph.test/v1.0/users?$skiptoken=a",
            },
        ),
        httpx.Response(200, json={"value": [{"id": 2}]}),
    )
    assert await graph(handler, Waits()).get_all("/users") == [{"id": 1}, {"id": 2}]
    assert seen[1].url.params["$skiptoken"] == "a"

    elsewhere, _ = scripted(
        httpx.Response(200, json={"value": [], "@odata.nextLink": "https://evil.test/v1.0/x"})
    )
    with pytest.raises(ServiceUnavailable):
        await graph(elsewhere, Waits()).get_all("/users")


# --- $batch ------------------------------------------------------------------------------


class BatchServer:
    """A scripted $batch endpoint: answers in reverse order, throttles on demand."""

    def __init__(self, throttle: dict[str, list[int]] | None = None) -> None:
        self.throttle = throttle or {}
        self.batches: list[list[dict[str, Any]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1.0/$batch"
        inner = json.loads(request.content)["requests"]
        assert len(inner) <= 20
        self.batches.append(inner)
        responses = []
        failed: set[str] = set()
        for item in inner:
            plan = self.throttle.get(item["id"])
            if any(dep in failed for dep in item.get("dependsOn", [])):
                failed.add(item["id"])
                responses.append(
                    {"id": item["id"], "status": 424, "body": {"error": {"code": "x"}}}
                )
            elif plan:
                failed.add(item["id"])
                responses.append(
                    {
                        "id": item["id"],
                        "status": 429,
                        "headers": {"Retry-After": str(plan.pop(0))},
                        "body": {"error": {"code": "TooManyRequests", "message": "slow down"}},
                    }
                )
            else:
                responses.append({"id": item["id"], "status": 200, "body": {"url": item["url"]}})
        return httpx.Response(200, json={"responses": list(reversed(responses))})


async def test_batch_chunks_by_20_and_answers_by_id_in_any_order() -> None:
    server = BatchServer()
    client = graph(server, Waits())
    requests = [BatchRequest(str(i), "GET", f"/users/{i}") for i in range(45)]
    answers = await client.batch(requests)
    assert [len(b) for b in server.batches] == [20, 20, 5]
    assert client.request_count == 3
    assert set(answers) == {str(i) for i in range(45)}
    assert answers["7"].status == 200 and answers["7"].body == {"url": "/users/7"}
    assert answers["7"].error() is None


async def test_batch_keeps_depends_on_chains_in_one_chunk() -> None:
    server = BatchServer()
    requests = [BatchRequest(f"a{i}", "GET", f"/a/{i}") for i in range(18)]
    requests += [
        BatchRequest("create", "POST", "/applications", body={"displayName": "x"}),
        BatchRequest(
            "sp", "POST", "/servicePrincipals", body={"appId": "y"}, depends_on=("create",)
        ),
        BatchRequest("grant", "POST", "/x", body={}, depends_on=("sp",)),
    ]
    await graph(server, Waits()).batch(requests)
    first, second = server.batches
    assert len(first) == 18
    assert [r["id"] for r in second] == ["create", "sp", "grant"]
    assert second[1]["dependsOn"] == ["create"]
    assert second[0]["headers"]["Content-Type"] == "application/json"
    assert "dependsOn" not in second[0]


async def test_batch_rejects_chains_longer_than_a_batch_and_unknown_ids() -> None:
    chain = [BatchRequest("0", "GET", "/x")]
    chain += [BatchRequest(str(i), "GET", "/x", depends_on=(str(i - 1),)) for i in range(1, 21)]
    with pytest.raises(ValueError):
        await graph(BatchServer(), Waits()).batch(chain)
    with pytest.raises(ValueError):
        await graph(BatchServer(), Waits()).batch(
            [BatchRequest("a", "GET", "/x", depends_on=("b",))]
        )


async def test_throttled_inner_request_is_retried_alone_after_its_retry_after() -> None:
    server = BatchServer(throttle={"b": [4]})
    waits = Waits()
    requests = [BatchRequest(i, "GET", f"/{i}") for i in ("a", "b", "c")]
    answers = await graph(server, waits).batch(requests)
    assert [[r["id"] for r in batch] for batch in server.batches] == [["a", "b", "c"], ["b"]]
    assert waits.calls == [4.0]
    assert {k: v.status for k, v in answers.items()} == {"a": 200, "b": 200, "c": 200}


async def test_dependents_of_a_throttled_request_follow_it() -> None:
    server = BatchServer(throttle={"sp": [1]})
    requests = [
        BatchRequest("app", "GET", "/app"),
        BatchRequest("sp", "GET", "/sp", depends_on=("app",)),
        BatchRequest("grant", "GET", "/grant", depends_on=("sp",)),
    ]
    answers = await graph(server, Waits()).batch(requests)
    retry = server.batches[1]
    assert [r["id"] for r in retry] == ["sp", "grant"]
    assert "dependsOn" not in retry[0]  # "app" is done and not in this batch
    assert retry[1]["dependsOn"] == ["sp"]
    assert all(a.status == 200 for a in answers.values())


async def test_inner_errors_are_returned_not_raised() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "responses": [
                    {
                        "id": "1",
                        "status": 404,
                        "body": {
                            "error": {
                                "code": "Request_ResourceNotFound",
                                "message": "gone",
                                "innerError": {"request-id": "r9"},
                            }
                        },
                    }
                ]
            },
        )

    answers = await graph(handler, Waits()).batch([BatchRequest("1", "GET", "/x")])
    error = answers["1"].error()
    assert error is not None
    assert (error.status, error.code, error.request_id) == (404, "Request_ResourceNotFound", "r9")


async def test_batch_that_stays_throttled_gives_up() -> None:
    server = BatchServer(throttle={"a": [1, 1, 1]})
    with pytest.raises(ServiceUnavailable) as caught:
        await graph(server, Waits(), max_attempts=3).batch([BatchRequest("a", "GET", "/a")])
    assert "GET /a" in caught.value.details["requests"]
