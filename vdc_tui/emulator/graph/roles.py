"""Handlers of directory role assignments (``/roleManagement/directory/roleAssignments``)."""

from __future__ import annotations

import re

from vdc_tui.emulator.core import GraphResult
from vdc_tui.emulator.graph.base import ID, GraphCall, Handlers, Route, route
from vdc_tui.emulator.scenario import ROLE_NAMES
from vdc_tui.emulator.state import RoleAssignment

_ASSIGNMENTS = r"/roleManagement/directory/roleAssignments"


class RoleHandlers(Handlers):
    """Directory role assignments at the directory scope ``/``."""

    def routes(self) -> list[Route]:
        return [
            route("POST", _ASSIGNMENTS, "roles.write", self.create_role_assignment),
            route("GET", _ASSIGNMENTS, "roles.read", self.list_role_assignments),
            route("DELETE", rf"{_ASSIGNMENTS}/{ID}", "roles.write", self.delete_role_assignment),
        ]

    def create_role_assignment(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``POST /roleManagement/directory/roleAssignments``."""
        body = self._json_body(call, "unifiedRoleAssignment")
        if isinstance(body, GraphResult):
            return body
        rid = body["roleDefinitionId"]
        if rid not in ROLE_NAMES:
            return self._not_found(call, rid)
        if body["directoryScopeId"] != "/":
            return self._bad(call, "Only the directory scope '/' is supported by this emulator.")
        principal_id = body["principalId"]
        if self._sp(call, principal_id) is None and principal_id not in call.tenant.users:
            return self._not_found(call, principal_id)
        directory = self.core.directory
        for existing in directory.role_assignments.group(principal_id):
            if (existing.role_definition_id, existing.via_group) == (rid, None):
                return self._bad(call, "A conflicting object with one or more of the specified "
                                 "property values is present in the directory.")
        ra = RoleAssignment(directory.new_id(), call.tenant.id, principal_id, rid, "/",
                            self.core.replication_visible_at())
        directory.role_assignments[ra.id] = ra
        return GraphResult(201, {"@odata.context": self._context(
            "roleManagement/directory/roleAssignments/$entity"), **ra.to_graph()})

    def list_role_assignments(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``GET /roleManagement/directory/roleAssignments`` (``$filter`` principalId)."""
        items = [ra.to_graph() for ra in self.core.directory.role_assignments.of_tenant(
                     call.tenant.id) if ra.via_group is None and self._visible(ra)]
        return self._collection(call, items, "roleManagement/directory/roleAssignments")

    def delete_role_assignment(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``DELETE /roleManagement/directory/roleAssignments/{id}``."""
        directory = self.core.directory
        ra = directory.role_assignments.get(match.group(1))
        if ra is None or ra.tenant_id != call.tenant.id:
            return self._not_found(call, match.group(1))
        del directory.role_assignments[ra.id]
        return GraphResult(204)
