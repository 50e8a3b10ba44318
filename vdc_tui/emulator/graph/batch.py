"""``POST /$batch``: each request goes through the same dispatch as a plain call, with
``dependsOn``, 424 for a failed dependency, per-request throttling and shuffled answers."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from vdc_tui.emulator import shapes
from vdc_tui.emulator.core import EmulatorCore, GraphResult
from vdc_tui.emulator.graph.base import GraphCall
from vdc_tui.emulator.schema import validate_batch_envelope
from vdc_tui.emulator.state import Tenant

#: Answers one Graph call, as a plain request would be answered (``GraphApi.dispatch``).
Dispatch = Callable[[GraphCall], GraphResult]


class BatchRunner:
    """Runs the requests of one ``$batch`` through the dispatch of plain calls."""

    def __init__(self, core: EmulatorCore, dispatch: Dispatch) -> None:
        self.core = core
        self.dispatch = dispatch

    def run(self, body: Any, claims: dict[str, Any], tenant: Tenant,
              crid: str | None) -> GraphResult:
        """``POST /$batch``: dependsOn, 424, per-request throttling, shuffled answers."""
        core = self.core
        problems = validate_batch_envelope(body) if isinstance(body, dict) else [
            "the body must be a JSON object"]
        if problems:
            return core.graph_error(400, "BadRequest", problems[0], client_request_id=crid)
        requests: list[dict[str, Any]] = body["requests"]
        results: dict[str, GraphResult] = {}
        pending = list(requests)
        while pending:
            progressed = False
            for req in list(pending):
                deps = req.get("dependsOn") or []
                if any(d not in results for d in deps):
                    continue
                pending.remove(req)
                progressed = True
                if any(results[d].status >= 400 for d in deps):
                    results[req["id"]] = core.graph_error(
                        424, "FailedDependency", "Request was not executed because a request it "
                        "depends on failed.", client_request_id=crid)
                    continue
                results[req["id"]] = self._inner(req, claims, tenant, crid)
            if not progressed:  # a dependency cycle
                for req in pending:
                    results[req["id"]] = core.graph_error(
                        424, "FailedDependency", "Circular dependsOn.", client_request_id=crid)
                break
        answers = []
        for req in requests:
            result = results[req["id"]]
            answer: dict[str, Any] = {"id": req["id"], "status": result.status,
                                      "headers": {
                                          **shapes.content_headers(
                                              result.status, result.body is not None),
                                          **(result.headers or {})}}
            if result.body is not None:
                answer["body"] = result.body
            answers.append(answer)
        with core.log_lock:
            core.batch_count += 1
            order = random.Random(core.scenario.seed * 7919 + core.batch_count)
        order.shuffle(answers)
        return GraphResult(200, {"responses": answers})

    def _inner(self, req: dict[str, Any], claims: dict[str, Any], tenant: Tenant,
               crid: str | None) -> GraphResult:
        core = self.core
        parts = urlsplit("/" + req["url"].lstrip("/"))
        path = parts.path
        headers = {k.lower(): v for k, v in (req.get("headers") or {}).items()}
        inner_crid = headers.get("client-request-id") or crid
        faults = core.faults
        if core.counters.hit("throttle", faults.throttle_every, faults.throttle_path,
                             "/v1.0" + path):
            result = core.graph_error(429, "TooManyRequests", "Too many requests.",
                                      client_request_id=inner_crid,
                                      headers={"Retry-After": str(faults.retry_after)})
            core.log(req["method"].upper(), "/v1.0" + path + " ($batch)", 429)
            return result
        call = GraphCall(req["method"].upper(), path,
                         dict(parse_qsl(parts.query, keep_blank_values=True)),
                         req.get("body"), inner_crid, claims, tenant)
        result = self.dispatch(call)
        core.log(call.method, "/v1.0" + path + " ($batch)", result.status)
        return result
