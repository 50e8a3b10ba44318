"""Finding a deleted app in deleted items: by ``$filter`` on ``appId``, or, where a directory
refuses that filter, by listing them all."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from vdc_tui.connect.entra.restore import DELETED_APPS, find_deleted
from vdc_tui.connect.microsoft.graph import GraphError

APP = "5f0e4a1b-2c3d-4e5f-8a9b-0c1d2e3f4a5b"
OTHER = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


class RefusesFilter:
    """A Graph client whose deleted items answer 400 to ``$filter``."""

    def __init__(self, status: int = 400) -> None:
        self.status = status
        self.asked: list[dict[str, str] | None] = []

    async def get_all(self, path: str, params: dict[str, str] | None = None
                      ) -> list[dict[str, Any]]:
        assert path == DELETED_APPS
        self.asked.append(params)
        if params and "$filter" in params:
            raise GraphError(self.status, "Request_UnsupportedQuery", "Unsupported query.")
        return [{"id": "x", "appId": OTHER}, {"id": "y", "appId": APP.upper()}]


def test_a_refused_filter_falls_back_to_listing_every_deleted_app() -> None:
    graph = RefusesFilter()
    found = asyncio.run(find_deleted(graph, APP))  # type: ignore[arg-type]
    assert found is not None and found["id"] == "y"
    assert graph.asked == [{"$filter": f"appId eq '{APP}'"}, None]


def test_another_refusal_is_not_hidden() -> None:
    with pytest.raises(GraphError):
        asyncio.run(find_deleted(RefusesFilter(403), APP))  # type: ignore[arg-type]
