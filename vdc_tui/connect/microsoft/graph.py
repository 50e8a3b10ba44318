"""A small Microsoft Graph client: retries, typed errors and JSON batching.

One :class:`GraphClient` per connection (one ``httpx.AsyncClient``, one token source).
Throttling (429) and the transient 503/504 are retried, honouring ``Retry-After`` when the
service sends one and otherwise backing off exponentially with jitter, capped. Every other
error answer becomes a :class:`GraphError` carrying Graph's own ``code``, ``message`` and
``request-id`` (``research/identity.md`` §5). When retries run out, or the service cannot
be reached, the caller gets :class:`~vdc_tui.connect.errors.ServiceUnavailable`.

The sleep function is injectable so that tests can record the waits instead of taking them.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from vdc_tui.connect.errors import ServiceUnavailable, scrub
from vdc_tui.connect.microsoft.clouds import Endpoints
from vdc_tui.connect.microsoft.http import ResponseTooLarge, aread_bounded, make_async_client

TokenSource = str | Callable[[], Awaitable[str]]
Sleep = Callable[[float], Awaitable[None]]

#: Statuses that mean "try again later" (throttled, or a transient service failure).
RETRYABLE_STATUSES = frozenset({429, 503, 504})
#: Graph's limit of requests in one ``$batch``.
MAX_BATCH = 20
#: A ``Retry-After`` beyond this is not waited for in full (the run would look hung).
MAX_RETRY_AFTER = 300.0
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


class GraphError(Exception):
    """An error answer from Microsoft Graph.

    Attributes:
        status: HTTP status.
        code: Graph's error code (``Request_ResourceNotFound``, ``Authorization_RequestDenied``…).
        message: Graph's message, scrubbed of control characters and tokens.
        request_id: ``innerError.request-id``, to quote to Microsoft support.
        details: ``error.details`` entries (``code``, ``message``, ``target``), scrubbed.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        request_id: str | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.details = details or []
        super().__init__(f"HTTP {status} {code}: {message}")

    @classmethod
    def from_body(
        cls, status: int, body: Any, headers: Mapping[str, str] | None = None
    ) -> GraphError:
        """Build from a Graph error body (``{"error": {...}}``), tolerating anything else."""
        error = body.get("error") if isinstance(body, Mapping) else None
        if not isinstance(error, Mapping):
            text = body if isinstance(body, str) else ""
            request_id = _header(headers, "request-id")
            return cls(
                status,
                f"HTTP{status}",
                scrub(text, limit=300) or f"HTTP {status}",
                scrub(request_id, limit=100) if request_id else None,
            )
        inner = error.get("innerError") or error.get("innererror") or {}
        request_id = None
        if isinstance(inner, Mapping):
            request_id = inner.get("request-id") or inner.get("requestId")
        request_id = request_id or _header(headers, "request-id")
        details: list[dict[str, Any]] = []
        raw_details = error.get("details")
        if isinstance(raw_details, list):
            for entry in raw_details:
                if isinstance(entry, Mapping):
                    details.append(
                        {
                            k: scrub(str(entry[k]), limit=300)
                            for k in ("code", "message", "target")
                            if entry.get(k) is not None
                        }
                    )
        return cls(
            status,
            scrub(str(error.get("code") or f"HTTP{status}"), limit=100),
            scrub(str(error.get("message") or ""), limit=1000),
            scrub(str(request_id), limit=100) if request_id else None,
            details,
        )


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    for key, value in headers.items():
        if key.lower() == name:
            return str(value)
    return None


@dataclass(frozen=True)
class BatchRequest:
    """One request of a ``$batch``.

    Attributes:
        id: Unique within the batch.
        method: HTTP method.
        url: Path relative to the version root (``/organization``).
        body: JSON body, if any (``Content-Type: application/json`` is added).
        headers: Extra headers.
        depends_on: Ids that must succeed first (same chunk of 20).
    """

    id: str
    method: str
    url: str
    body: dict[str, Any] | None = None
    headers: dict[str, str] | None = None
    depends_on: tuple[str, ...] = ()

    def to_json(self, *, within: frozenset[str]) -> dict[str, Any]:
        """The wire form; dependencies outside ``within`` (already done) are dropped."""
        out: dict[str, Any] = {"id": self.id, "method": self.method.upper(), "url": self.url}
        headers = dict(self.headers or {})
        if self.body is not None:
            out["body"] = self.body
            if not any(k.lower() == "content-type" for k in headers):
                headers["Content-Type"] = "application/json"
        if headers:
            out["headers"] = headers
        depends = [d for d in self.depends_on if d in within]
        if depends:
            out["dependsOn"] = depends
        return out


@dataclass(frozen=True)
class BatchResponse:
    """One answer of a ``$batch`` (answers come in any order; match them by ``id``)."""

    id: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None

    def error(self) -> GraphError | None:
        """The error of a failed request, ``None`` on success."""
        if self.status < 400:
            return None
        return GraphError.from_body(self.status, self.body, self.headers)


def parse_retry_after(headers: Mapping[str, str] | httpx.Headers | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), at most
    :data:`MAX_RETRY_AFTER`; the identity client reads the sign-in answers' with it too."""
    if not headers:
        return None
    value = None
    for key, item in headers.items():
        if key.lower() == "retry-after":
            value = str(item).strip()
            break
    if not value:
        return None
    try:
        return max(0.0, min(MAX_RETRY_AFTER, float(value)))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, min(MAX_RETRY_AFTER, (when - datetime.now(UTC)).total_seconds()))



class GraphClient:
    """Microsoft Graph v1.0 over one ``httpx.AsyncClient``.

    Args:
        endpoints: Where Graph is (``endpoints.graph_v1``).
        token: A bearer token, or an async callable returning a current one.
        client: An HTTP client to use (not closed by :meth:`aclose`); one is made otherwise.
        max_attempts: Tries per request (and rounds per throttled batch request).
        backoff_cap: Longest wait between tries when the service names none.
        sleep: Waits between tries (tests inject a recorder).
    """

    def __init__(
        self,
        endpoints: Endpoints,
        token: TokenSource,
        *,
        client: httpx.AsyncClient | None = None,
        max_attempts: int = 6,
        backoff_cap: float = 30.0,
        sleep: Sleep = asyncio.sleep,
        timeout: float = 30.0,
    ) -> None:
        self.endpoints = endpoints
        self._token = token
        self._own_client = client is None
        self._client = (
            client if client is not None else make_async_client(endpoints, timeout=timeout)
        )
        self.max_attempts = max(1, max_attempts)
        self.backoff_cap = backoff_cap
        self._sleep = sleep
        self._random = random.Random()
        #: Requests sent on the wire (a ``$batch`` counts once); bench and tests read it.
        self.request_count = 0

    def __repr__(self) -> str:
        return f"GraphClient({self.endpoints.graph_url!r}, requests={self.request_count})"

    # --- plumbing ------------------------------------------------------------------

    async def _bearer(self) -> str:
        token = self._token if isinstance(self._token, str) else await self._token()
        return f"Bearer {token}"

    def _url(self, path: str) -> str:
        if not path.startswith("/") and "://" in path:
            return self._own_link(path)
        if not path.startswith("/"):
            raise ValueError(f"Graph paths start with '/': {path!r}")
        return f"{self.endpoints.graph_v1}{path}"

    def _own_link(self, link: str) -> str:
        """A link Graph gave (``@odata.nextLink``), if it points at our own Graph root.

        The bearer token goes with every request: a link to any other scheme, host or
        port (or one carrying a user name) is refused, never followed.
        """
        root = httpx.URL(self.endpoints.graph_v1)
        try:
            url = httpx.URL(link)
        except (httpx.InvalidURL, ValueError):
            url = None
        if (
            url is None
            or url.scheme != "https"
            or url.host != root.host
            or url.port != root.port
            or url.userinfo
            or not url.path.startswith(root.path + "/")
        ):
            host = url.host if url is not None else ""
            raise ServiceUnavailable(
                "Microsoft Graph returned a link to another host; refusing to follow it.",
                details={"host": scrub(host, limit=200)},
            )
        return str(url)

    def backoff(self, attempt: int) -> float:
        """Wait before try ``attempt + 2`` when the service names none: capped, jittered."""
        ceiling = min(self.backoff_cap, float(2.0**attempt))
        return ceiling * (0.5 + self._random.random() / 2)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send with retries; returns a 2xx/3xx answer or raises."""
        url = self._url(path)
        last = ""
        sent = 0
        for attempt in range(self.max_attempts):
            request_headers = {
                "Authorization": await self._bearer(),
                "Accept": "application/json",
                "client-request-id": str(uuid.uuid4()),
                **(headers or {}),
            }
            wait: float | None
            try:
                self.request_count += 1
                sent += 1
                request = self._client.build_request(
                    method,
                    url,
                    params=dict(params) if params else None,
                    json=body,
                    headers=request_headers,
                )
                response = await aread_bounded(await self._client.send(request, stream=True))
            except httpx.HTTPError as exc:
                last = type(exc).__name__
                # A request that may have reached the service is repeated only when
                # repeating it is harmless; an oversized answer would only come again.
                if isinstance(exc, ResponseTooLarge) or not (
                    isinstance(exc, httpx.ConnectError) or method.upper() in _IDEMPOTENT
                ):
                    raise self._unavailable(method, path, last, sent) from None
                wait = None
            else:
                if response.status_code not in RETRYABLE_STATUSES:
                    if response.status_code >= 400:
                        raise GraphError.from_body(
                            response.status_code, _body_of(response), response.headers
                        )
                    return response
                last = f"HTTP {response.status_code}"
                wait = parse_retry_after(response.headers)
            if attempt + 1 >= self.max_attempts:
                break
            await self._sleep(wait if wait is not None else self.backoff(attempt))
        raise self._unavailable(method, path, last, sent)

    def _unavailable(self, method: str, path: str, last: str, sent: int) -> ServiceUnavailable:
        """Graph kept failing: says how many times the request was really sent."""
        if sent == 1 and method.upper() not in _IDEMPOTENT:
            # Not repeated blindly: the change may have been made without an answer.
            told = f"sent once and not repeated, since it may have taken effect ({last})"
        else:
            told = f"after {sent} {'try' if sent == 1 else 'tries'} ({last})"
        return ServiceUnavailable(
            f"Microsoft Graph did not answer {method.upper()} {_path_only(path)} {told}.",
            details={
                "method": method.upper(), "path": _path_only(path), "last": last, "tries": sent,
            },
        )

    # --- verbs ---------------------------------------------------------------------

    async def get(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """GET a JSON object."""
        return _json_object(await self._send("GET", path, params=params, headers=headers))

    async def get_all(
        self, path: str, *, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """GET a collection, following ``@odata.nextLink`` to the end."""
        items: list[dict[str, Any]] = []
        page = await self.get(path, params=params)
        while True:
            values = page.get("value")
            if not isinstance(values, list):
                # Read as "none" it would become a wrong diagnosis (no licences, no app).
                raise ServiceUnavailable(
                    f"Microsoft Graph answered GET {_path_only(path)} without a list of "
                    "results.",
                    details={"path": _path_only(path)},
                )
            items.extend(v for v in values if isinstance(v, dict))
            link = page.get("@odata.nextLink")
            if not isinstance(link, str) or not link:
                return items
            page = await self.get(link)  # the link carries the query already

    async def post(
        self, path: str, body: dict[str, Any], *, headers: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """POST JSON; returns the created object (``{}`` for 204)."""
        return _json_object(await self._send("POST", path, body=body, headers=headers))

    async def patch(self, path: str, body: dict[str, Any]) -> None:
        """PATCH JSON."""
        await self._send("PATCH", path, body=body)

    async def delete(self, path: str) -> None:
        """DELETE."""
        await self._send("DELETE", path)

    async def batch(
        self, requests: Sequence[BatchRequest], *, concurrent: bool = False
    ) -> dict[str, BatchResponse]:
        """Send requests through ``$batch``: chunks of 20, ``dependsOn`` kept together.

        With ``concurrent``, the chunks go out at the same time (for independent writes,
        such as grants); otherwise one after the other.

        A request throttled inside a batch (429/503/504) is sent again on its own in a
        later batch, after the ``Retry-After`` it was given, together with any request
        that failed only because it depended on it (424).

        Returns:
            The answers keyed by request id.

        Raises:
            ValueError: duplicate ids, an unknown ``dependsOn`` id, or a chain of
                dependent requests longer than 20.
            ServiceUnavailable: a request stayed throttled after every try.
        """
        by_id: dict[str, BatchRequest] = {}
        for request in requests:
            if request.id in by_id:
                raise ValueError(f"duplicate batch request id {request.id!r}")
            by_id[request.id] = request
        for request in requests:
            for dep in request.depends_on:
                if dep not in by_id:
                    raise ValueError(f"request {request.id!r} depends on unknown {dep!r}")
        results: dict[str, BatchResponse] = {}
        chunks = _chunks(list(requests))
        if concurrent:
            # Chunks never split a dependsOn chain, so they are independent of each other.
            for part in await asyncio.gather(*(self._batch_chunk(c) for c in chunks)):
                results.update(part)
            return results
        for chunk in chunks:
            results.update(await self._batch_chunk(chunk))
        return results

    async def _batch_chunk(self, chunk: list[BatchRequest]) -> dict[str, BatchResponse]:
        results: dict[str, BatchResponse] = {}
        pending = chunk
        for attempt in range(self.max_attempts):
            within = frozenset(r.id for r in pending)
            answer = _json_object(
                await self._send(
                    "POST",
                    "/$batch",
                    body={"requests": [r.to_json(within=within) for r in pending]},
                )
            )
            if not isinstance(answer.get("responses"), list):
                # Not a batch answer at all (a proxy's page, a broken body): retrying
                # would only repeat the writes it may have carried out.
                raise ServiceUnavailable(
                    "Microsoft Graph answered a batch request with something that is not a "
                    "batch answer.",
                    details={"requests": [f"{r.method.upper()} {_path_only(r.url)}"
                                          for r in pending]},
                )
            got = _batch_responses(answer)
            retry: list[BatchRequest] = []
            waits: list[float] = []
            retry_ids: set[str] = set()
            for request in pending:  # in order, so a dependent follows what it depends on
                response = got.get(request.id)
                if response is None:
                    # An answer the service left out is treated like a throttled one.
                    retry.append(request)
                    retry_ids.add(request.id)
                elif response.status in RETRYABLE_STATUSES:
                    retry.append(request)
                    retry_ids.add(request.id)
                    seconds = parse_retry_after(response.headers)
                    waits.append(seconds if seconds is not None else self.backoff(attempt))
                elif response.status == 424 and any(d in retry_ids for d in request.depends_on):
                    retry.append(request)
                    retry_ids.add(request.id)
                else:
                    results[request.id] = response
            if not retry:
                return results
            if attempt + 1 >= self.max_attempts:
                break
            await self._sleep(max(waits) if waits else self.backoff(attempt))
            pending = retry
        raise ServiceUnavailable(
            f"Microsoft Graph kept throttling {len(pending)} request(s) of a batch after "
            f"{self.max_attempts} tries.",
            details={"requests": [f"{r.method.upper()} {_path_only(r.url)}" for r in pending]},
        )

    async def aclose(self) -> None:
        """Close the HTTP client if this object made it."""
        if self._own_client:
            await self._client.aclose()

    async def __aenter__(self) -> GraphClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _chunks(requests: list[BatchRequest]) -> list[list[BatchRequest]]:
    """Chunks of at most 20 that never split a group of requests linked by ``dependsOn``."""
    parent = {r.id: r.id for r in requests}

    def root(item: str) -> str:
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    for request in requests:
        for dep in request.depends_on:
            parent[root(request.id)] = root(dep)
    groups: dict[str, list[BatchRequest]] = {}
    for request in requests:  # keeps the caller's order inside each group
        groups.setdefault(root(request.id), []).append(request)
    chunks: list[list[BatchRequest]] = []
    current: list[BatchRequest] = []
    for group in groups.values():
        if len(group) > MAX_BATCH:
            raise ValueError(
                f"{len(group)} requests are linked by dependsOn; a batch holds {MAX_BATCH}"
            )
        if len(current) + len(group) > MAX_BATCH:
            chunks.append(current)
            current = []
        current.extend(group)
    if current:
        chunks.append(current)
    return chunks


def _batch_responses(answer: Mapping[str, Any]) -> dict[str, BatchResponse]:
    out: dict[str, BatchResponse] = {}
    responses = answer.get("responses")
    if not isinstance(responses, list):
        return out
    for item in responses:
        if not isinstance(item, Mapping) or "id" not in item:
            continue
        headers = item.get("headers")
        try:
            status = int(item.get("status") or 0)
        except (TypeError, ValueError):
            status = 0
        out[str(item["id"])] = BatchResponse(
            id=str(item["id"]),
            status=status,
            headers={str(k): str(v) for k, v in headers.items()}
            if isinstance(headers, Mapping)
            else {},
            body=item.get("body"),
        )
    return out


def _body_of(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text


def _json_object(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of a successful answer (``{}`` for an empty one, as in 204).

    Raises:
        ServiceUnavailable: the body is not a JSON object (a proxy's HTML page, a body cut
            off in transit): nothing in it can be trusted.
    """
    if not response.content:
        return {}
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        kind = response.headers.get("content-type", "").split(";", 1)[0].strip() or "unknown"
        raise ServiceUnavailable(
            f"Microsoft Graph answered {response.request.method} "
            f"{_path_only(response.request.url.path)} with something that is not a JSON "
            f"object ({scrub(kind, limit=80)}).",
            "Check for a proxy or firewall that intercepts HTTPS (`vdc-tui doctor`), then "
            "try again.",
            details={"status": response.status_code, "content_type": scrub(kind, limit=80)},
        )
    return body


def _path_only(path: str) -> str:
    """A path for messages: no query string (it may carry ids or filters), scrubbed."""
    return scrub(path.split("?", 1)[0], limit=200)
