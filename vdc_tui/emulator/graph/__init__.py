"""The Microsoft Graph v1.0 subset (research/identity.md §5), with auth and ``$batch``.

Requests go through :meth:`GraphApi.dispatch`, the same path for a plain HTTP call and for
each request inside a ``$batch``. The permission a route needs is data
(:data:`~.permissions.PERMISSIONS`).

- :mod:`.api`: authentication, routing, the list of handler modules (:data:`~.api.HANDLERS`).
- :mod:`.base`: :class:`~.base.GraphCall`, routes, and the answers every handler builds
  (including the request-body check, written once).
- :mod:`.odata`: ``$filter``, ``$select``, paging.
- :mod:`.directory`, :mod:`.applications`, :mod:`.principals`, :mod:`.roles`: handlers by
  resource.
- :mod:`.batch`: ``$batch``.
"""

from __future__ import annotations

from vdc_tui.emulator.graph.api import ACCESS_DENIED, GRAPH_APP_ID, HANDLERS, GraphApi
from vdc_tui.emulator.graph.base import GraphCall, Handlers, Route, route
from vdc_tui.emulator.graph.odata import PAGE_SIZE
from vdc_tui.emulator.graph.permissions import PERMISSIONS, Permission

__all__ = [
    "ACCESS_DENIED",
    "GRAPH_APP_ID",
    "HANDLERS",
    "PAGE_SIZE",
    "PERMISSIONS",
    "GraphApi",
    "GraphCall",
    "Handlers",
    "Permission",
    "Route",
    "route",
]
