"""Reading Microsoft Graph's answers: what an error means, and the answers of a ``$batch``.

Shared by automatic mode and manual validation (and what later reuses their pieces), so a
Graph error is classified, and a batch answer read, in one way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from vdc_tui.connect.errors import VdcError, scrub

if TYPE_CHECKING:
    from vdc_tui.connect.microsoft.graph import BatchResponse, GraphError


def describe_failure(exc: BaseException) -> str:
    """A short, safe description of why a Graph call failed (status and code only)."""
    status = getattr(exc, "status", None)
    code = getattr(exc, "code", None)
    if isinstance(exc, VdcError):
        return scrub(exc.code)
    if status is not None:
        return scrub(f"HTTP {status} {code or ''}".strip(), limit=120)
    return scrub(type(exc).__name__, limit=120)


def graph_error_text(err: GraphError) -> str:
    """``HTTP 400 Request_BadRequest: message`` with the server text scrubbed."""
    return scrub(f"HTTP {err.status} {err.code}: {err.message}", limit=300)


def _error_blob(err: GraphError) -> str:
    parts = [err.code or "", err.message or ""]
    for detail in err.details or ():
        parts.extend(str(v) for v in detail.values())
    return " ".join(parts).lower()


def is_replication_lag(err: GraphError) -> bool:
    """The error means an object we just created is not visible here yet."""
    blob = _error_blob(err)
    return (
        err.status == 404
        or "nobackingapplicationobject" in blob
        or "does not reference a valid application object" in blob
        or "not a valid reference" in blob
        or "does not exist" in blob
        or "request_resourcenotfound" in blob
    )


def is_duplicate(err: GraphError) -> bool:
    """The error says the thing we asked for is already there (which is success)."""
    blob = _error_blob(err)
    return err.status in (400, 409) and (
        "already exists" in blob
        or "conflicting object" in blob
        or "already in use" in blob
        or "multipleobjectswithsamekeyvalue" in blob
    )


class BatchAnswers:
    """The answers of one ``$batch``, by request id."""

    def __init__(self, answers: Mapping[str, BatchResponse]) -> None:
        self._answers: dict[str, BatchResponse] = dict(answers)

    def status(self, rid: str) -> int | None:
        """The HTTP status of the answer, ``None`` when there is none."""
        answer = self._answers.get(rid)
        return None if answer is None else int(answer.status)

    def body(self, rid: str) -> dict[str, Any] | None:
        """The body of a successful answer that is an object, else ``None``."""
        answer = self._answers.get(rid)
        if answer is None or not 200 <= answer.status < 300 or not isinstance(answer.body, dict):
            return None
        return dict(answer.body)

    def value_list(self, rid: str) -> list[dict[str, Any]] | None:
        """The objects of a successful collection answer's ``value``, else ``None``."""
        body = self.body(rid)
        if body is None:
            return None
        return [v for v in body.get("value") or [] if isinstance(v, dict)]

    def problem(self, rid: str) -> str:
        """Why the answer has no usable body: its error, or ``no answer``."""
        answer = self._answers.get(rid)
        err = answer.error() if answer is not None else None
        return describe_failure(err) if err is not None else "no answer"

    def raise_for(self, rid: str) -> None:
        """Raise the answer's :class:`GraphError`, if it is one."""
        answer = self._answers.get(rid)
        err = answer.error() if answer is not None else None
        if err is not None:
            raise err

    def replace(self, rid: str, body: dict[str, Any]) -> None:
        """Put a successful answer in place of ``rid``'s (read another way)."""
        from vdc_tui.connect.microsoft.graph import BatchResponse

        self._answers[rid] = BatchResponse(rid, 200, {}, body)


__all__ = ["BatchAnswers", "describe_failure", "graph_error_text", "is_duplicate",
           "is_replication_lag"]
