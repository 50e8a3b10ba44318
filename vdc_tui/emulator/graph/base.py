"""What every Graph handler module shares: the call, the route, and the answers it builds.

A handler module subclasses :class:`Handlers` and lists its routes in :meth:`Handlers.routes`;
:data:`vdc_tui.emulator.graph.api.HANDLERS` names each module's class once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vdc_tui.emulator import shapes
from vdc_tui.emulator.core import EmulatorCore, GraphResult
from vdc_tui.emulator.graph import odata
from vdc_tui.emulator.schema import validate_entity
from vdc_tui.emulator.state import ServicePrincipal, Tenant

#: An object id in a path, and the ``(appId='…')`` alternate key.
ID = r"([0-9A-Za-z-]+)"
ALT = r"\(appId='([^']*)'\)"
#: The item type of a collection (by its context), for checking ``$select``.
ENTITY_OF = {
    "applications": "application",
    "servicePrincipals": "servicePrincipal",
    "appRoleAssignments": "appRoleAssignment",
    "roleManagement/directory/roleAssignments": "unifiedRoleAssignment",
    "oauth2PermissionGrants": "oAuth2PermissionGrant",
}


@dataclass
class GraphCall:
    """One Graph request (plain or inside a batch), after authentication."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    client_request_id: str | None
    claims: dict[str, Any]
    tenant: Tenant


Handler = Callable[[GraphCall, "re.Match[str]"], GraphResult]


@dataclass(frozen=True)
class Route:
    """One route: method, path pattern, the permission name it needs
    (:data:`~vdc_tui.emulator.graph.permissions.PERMISSIONS`; ``None``: the handler decides,
    as for an application rolling its own keys), and its handler."""

    method: str
    pattern: re.Pattern[str]
    permission: str | None
    handler: Handler


def route(method: str, path: str, permission: str | None, handler: Handler) -> Route:
    """A :class:`Route` for the path regex ``path`` (matched in full)."""
    return Route(method, re.compile(path), permission, handler)


class Handlers:
    """Base of the handlers of one kind of resource, over one :class:`EmulatorCore`."""

    def __init__(self, core: EmulatorCore) -> None:
        self.core = core

    def routes(self) -> list[Route]:
        """The routes this module serves."""
        raise NotImplementedError

    # -- answers ---------------------------------------------------------------------------
    def _ok(self, status: int, body: Any) -> GraphResult:
        return GraphResult(status, body)

    def _created(self, call: GraphCall, entity: str, object_id: str,
                 body: dict[str, Any]) -> GraphResult:
        """The 201 of a create, with Graph's ``Location`` (``shapes.location``: the v2
        directory URL) and the body's ``@odata.context`` first."""
        return GraphResult(201, body, {"Location": shapes.location(
            self.core.graph_url, call.tenant.id, entity, object_id)})

    def _not_found(self, call: GraphCall, what: str) -> GraphResult:
        return self.core.graph_error(
            404, "Request_ResourceNotFound",
            f"Resource '{what}' does not exist or one of its queried reference-property objects "
            "are not present.", client_request_id=call.client_request_id)

    def _bad(self, call: GraphCall, message: str, *,
             details: list[dict[str, Any]] | None = None) -> GraphResult:
        return self.core.graph_error(400, "Request_BadRequest", message,
                                     client_request_id=call.client_request_id, details=details)

    def _invalid_body(self, call: GraphCall, problems: list[str]) -> GraphResult:
        return self._bad(call, problems[0], details=[
            {"code": "InvalidValue", "message": p, "target": p.split(":")[0].split("'")[-2]
             if p.startswith("Property '") else p.split(":")[0]} for p in problems])

    def _context(self, what: str) -> str:
        return f"{self.core.graph_url}/v1.0/$metadata#{what}"

    def _json_body(self, call: GraphCall, entity: str, *,
                   partial: bool = False) -> dict[str, Any] | GraphResult:
        """The request's JSON object, checked against ``entity``'s schema, or the 400."""
        body = call.body if isinstance(call.body, dict) else None
        if body is None:
            return self._bad(call, "A JSON object body is required.")
        problems = validate_entity(entity, body, partial=partial)
        if problems:
            return self._invalid_body(call, problems)
        return body

    def _collection(self, call: GraphCall, items: list[dict[str, Any]],
                    context: str) -> GraphResult:
        return odata.collection(self.core, call.path, call.query, call.client_request_id,
                                items, self._context(context), ENTITY_OF.get(context))

    def _select(self, call: GraphCall, item: dict[str, Any]) -> dict[str, Any]:
        return odata.select(call.query, item)

    def _entity(self, call: GraphCall, what: str, entity: str | None,
                item: dict[str, Any]) -> GraphResult:
        """The 200 of one entity: ``item`` under ``$select``, its ``@odata.context`` first
        (``what``: the entity set, e.g. ``applications``)."""
        context = odata.selected_context(self._context(f"{what}/$entity"), call.query, entity)
        return self._ok(200, {"@odata.context": context, **self._select(call, item)})

    def _select_problem(self, call: GraphCall, entity: str) -> GraphResult | None:
        """The 400 for a ``$select`` of a property ``entity`` does not have, or ``None``."""
        return odata.select_problem(self.core, call.query, call.client_request_id, entity)

    # -- lookups ---------------------------------------------------------------------------
    def _visible(self, obj: Any) -> bool:
        return self.core.directory.visible(obj, self.core.now())

    def _sp(self, call: GraphCall, object_id: str | None,
            app_id: str | None = None) -> ServicePrincipal | None:
        for sp in self.core.directory.service_principals.group(call.tenant.id):
            if not self._visible(sp):
                continue
            if (object_id and sp.id == object_id) or (
                    app_id is not None and sp.app_id.lower() == app_id.lower()):
                return sp
        return None
