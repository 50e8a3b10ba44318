"""Handlers of delegated permission grants (``oAuth2PermissionGrant``).

Written from Microsoft Graph's v1.0 reference (oauth2permissiongrant-list / -get / -update /
-delete, and the resource page): ``$filter`` with ``eq`` on ``clientId`` and ``consentType``
(joined with ``and``; the only properties documented as filterable), a ``PATCH`` whose
``scope`` *replaces* the list (at most 3850 characters) answering 204, a ``DELETE`` answering
204. Reading needs Directory.Read.All (least privileged, delegated and application);
writing DelegatedPermissionGrant.ReadWrite.All or Directory.ReadWrite.All, and a delegated
writer one of the roles of rbac-for-apis ``oauth2permissiongrant-apis-write``.
"""

from __future__ import annotations

import re
from typing import Any

from vdc_tui.emulator.core import GraphResult
from vdc_tui.emulator.graph.base import ID, GraphCall, Handlers, Route, route
from vdc_tui.emulator.graph.odata import filter_clause
from vdc_tui.emulator.state import DelegatedGrant

#: A grant id: base64url without padding (not a GUID).
GRANT_ID = r"([A-Za-z0-9_-]+)"
FILTERABLE = ("clientId", "consentType")
MAX_SCOPE = 3850
CONTEXT = "oauth2PermissionGrants"


class DelegatedGrantHandlers(Handlers):
    """``/oauth2PermissionGrants`` and ``/servicePrincipals/{id}/oauth2PermissionGrants``."""

    def routes(self) -> list[Route]:
        return [
            route("GET", r"/oauth2PermissionGrants", "delegated_grants.read", self.list_all),
            route("GET", rf"/oauth2PermissionGrants/{GRANT_ID}", "delegated_grants.read",
                  self.get_one),
            route("PATCH", rf"/oauth2PermissionGrants/{GRANT_ID}", "delegated_grants.write",
                  self.update),
            route("DELETE", rf"/oauth2PermissionGrants/{GRANT_ID}", "delegated_grants.write",
                  self.delete),
            route("GET", rf"/servicePrincipals/{ID}/oauth2PermissionGrants",
                  "delegated_grants.read", self.list_of_client),
        ]

    def _of_tenant(self, call: GraphCall) -> list[DelegatedGrant]:
        return [g for g in self.core.directory.delegated_grants.of_tenant(call.tenant.id)
                if self._visible(g)]

    def _filtered(self, call: GraphCall,
                  grants: list[DelegatedGrant]) -> list[dict[str, Any]] | GraphResult:
        items = [g.to_graph() for g in grants]
        text = call.query.get("$filter")
        if not text:
            return items
        for clause in re.split(r"\s+and\s+", text.strip()):
            m = re.match(r"\s*(\w+)", clause)
            test = filter_clause(clause.strip())
            if m is None or m.group(1) not in FILTERABLE or test is None:
                return self.core.graph_error(400, "Request_UnsupportedQuery",
                                             "Unsupported Query.",
                                             client_request_id=call.client_request_id)
            items = [i for i in items if test(i)]
        return items

    def _answer(self, call: GraphCall, grants: list[DelegatedGrant]) -> GraphResult:
        items = self._filtered(call, grants)
        if isinstance(items, GraphResult):
            return items
        return self._collection(call, items, CONTEXT)

    def list_all(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``GET /oauth2PermissionGrants``."""
        return self._answer(call, self._of_tenant(call))

    def list_of_client(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``GET /servicePrincipals/{id}/oauth2PermissionGrants``: the client's grants."""
        sp_id = match.group(1)
        if self._sp(call, sp_id) is None:
            return self._not_found(call, sp_id)
        return self._answer(call, [g for g in self._of_tenant(call) if g.client_id == sp_id])

    def _find(self, call: GraphCall, grant_id: str) -> DelegatedGrant | None:
        grant = self.core.directory.delegated_grants.get(grant_id)
        if grant is None or grant.tenant_id != call.tenant.id or not self._visible(grant):
            return None
        return grant

    def get_one(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``GET /oauth2PermissionGrants/{id}``."""
        problem = self._select_problem(call, "oAuth2PermissionGrant")
        if problem is not None:
            return problem
        grant = self._find(call, match.group(1))
        if grant is None:
            return self._not_found(call, match.group(1))
        return self._ok(200, {"@odata.context": self._context(f"{CONTEXT}/$entity"),
                              **self._select(call, grant.to_graph())})

    def update(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``PATCH /oauth2PermissionGrants/{id}``: ``scope`` replaced whole (204)."""
        grant = self._find(call, match.group(1))
        if grant is None:
            return self._not_found(call, match.group(1))
        body = self._json_body(call, "oAuth2PermissionGrant", partial=True)
        if isinstance(body, GraphResult):
            return body
        other = sorted(set(body) - {"scope"})
        if other:
            return self._bad(call, f"Property '{other[0]}' is read-only and cannot be set.")
        scope = body.get("scope")
        if not isinstance(scope, str):
            return self._bad(call, "Invalid value specified for property 'scope' of resource "
                             "'OAuth2PermissionGrant'.")
        if len(scope) > MAX_SCOPE:
            return self._bad(call, f"The scope may hold at most {MAX_SCOPE} characters.")
        grant.scope = " ".join(scope.split())
        return GraphResult(204)

    def delete(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``DELETE /oauth2PermissionGrants/{id}`` (204)."""
        grant = self._find(call, match.group(1))
        if grant is None:
            return self._not_found(call, match.group(1))
        del self.core.directory.delegated_grants[grant.id]
        return GraphResult(204)
