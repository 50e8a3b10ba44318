"""Handlers of service principals and their app-role assignments (grants)."""

from __future__ import annotations

import re

from vdc_tui.emulator.core import GraphResult
from vdc_tui.emulator.graph.base import ALT, ID, GraphCall, Handlers, Route, route
from vdc_tui.emulator.shapes import assignment_id
from vdc_tui.emulator.state import AppRoleAssignment, ServicePrincipal

_GRANTS = rf"/servicePrincipals/{ID}/(appRoleAssignedTo|appRoleAssignments)"


class PrincipalHandlers(Handlers):
    """``/servicePrincipals`` and ``…/appRoleAssignedTo`` / ``…/appRoleAssignments``."""

    def routes(self) -> list[Route]:
        return [
            route("POST", r"/servicePrincipals", "applications.write", self.create_principal),
            route("GET", r"/servicePrincipals", "applications.read", self.list_principals),
            route("GET", rf"/servicePrincipals(?:/{ID}|{ALT})", "applications.read",
                  self.get_principal),
            route("DELETE", rf"/servicePrincipals(?:/{ID}|{ALT})", "applications.write",
                  self.delete_principal),
            route("POST", _GRANTS, "grants.write", self.create_grant),
            route("GET", _GRANTS, "grants.read", self.list_grants),
            route("DELETE", _GRANTS + r"/([^/]+)", "grants.write", self.delete_grant),
        ]

    def create_principal(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``POST /servicePrincipals`` (NoBackingApplicationObject while the app replicates)."""
        body = self._json_body(call, "servicePrincipal")
        if isinstance(body, GraphResult):
            return body
        directory = self.core.directory
        app_id = body["appId"]
        app = directory.application_by_app_id(app_id, now=self.core.now())
        if app is None:
            message = (f"The appId '{app_id}' of the service principal does not reference a "
                       "valid application object.")
            return self._bad(call, message, details=[
                {"code": "NoBackingApplicationObject", "message": message, "target": "appId"}])
        if app.tenant_id != call.tenant.id and app.sign_in_audience == "AzureADMyOrg":
            return self._bad(call, "When using this permission, the backing application of the "
                             "service principal being created must in the local tenant")
        if directory.principal_by_app_id(call.tenant.id, app_id, now=None) is not None:
            return self.core.graph_error(
                409, "Request_MultipleObjectsWithSameKeyValue",
                "The service principal cannot be created, updated, or restored because the "
                "service principal name "
                f"{app_id} is already in use.", client_request_id=call.client_request_id)
        sp = ServicePrincipal(
            id=directory.new_id(), app_id=app.app_id, tenant_id=call.tenant.id,
            display_name=app.display_name, app_owner_tenant_id=app.tenant_id,
            service_principal_names=[app.app_id, *app.props.get("identifierUris", [])],
            tags=list(body.get("tags") or []), visible_at=self.core.replication_visible_at(),
            sign_in_audience=app.sign_in_audience, created=self.core.now(),
        )
        directory.service_principals[sp.id] = sp
        # The principal's create answers whole seconds (research/recordings.md C2).
        return self._created(call, "servicePrincipal", sp.id, {
            "@odata.context": self._context("servicePrincipals/$entity"), **sp.to_graph()})

    def list_principals(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``GET /servicePrincipals`` (``$filter`` on appId, displayName)."""
        sps = [sp.to_graph() for sp in self.core.directory.service_principals.group(
            call.tenant.id) if self._visible(sp)]
        return self._collection(call, sps, "servicePrincipals")

    def get_principal(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``GET /servicePrincipals/{id}`` or ``(appId='…')``."""
        sp = self._sp(call, match.group(1), match.group(2))
        if sp is None:
            return self._not_found(call, match.group(1) or match.group(2))
        problem = self._select_problem(call, "servicePrincipal")
        if problem is not None:
            return problem
        return self._entity(call, "servicePrincipals", "servicePrincipal", sp.to_graph())

    def delete_principal(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``DELETE /servicePrincipals/{id}`` (its grants go too)."""
        sp = self._sp(call, match.group(1), match.group(2))
        if sp is None:
            return self._not_found(call, match.group(1) or match.group(2))
        directory = self.core.directory
        del directory.service_principals[sp.id]
        for a in [a for a in directory.app_role_assignments.of_tenant(sp.tenant_id)
                  if sp.id in (a.principal_id, a.resource_id)]:
            del directory.app_role_assignments[a.id]
        return GraphResult(204)

    def create_grant(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``POST /servicePrincipals/{id}/appRoleAssignedTo`` (or ``/appRoleAssignments``)."""
        body = self._json_body(call, "appRoleAssignment")
        if isinstance(body, GraphResult):
            return body
        sp_id, kind = match.group(1), match.group(2)
        anchor = self._sp(call, sp_id)
        if anchor is None:
            return self._not_found(call, sp_id)
        if kind == "appRoleAssignedTo" and body["resourceId"] != sp_id:
            return self._bad(call, "The resourceId must be the service principal in the URL.")
        if kind == "appRoleAssignments" and body["principalId"] != sp_id:
            return self._bad(call, "The principalId must be the service principal in the URL.")
        principal = self._sp(call, body["principalId"])
        if principal is None:
            return self._not_found(call, body["principalId"])
        resource = self._sp(call, body["resourceId"])
        if resource is None:
            return self._not_found(call, body["resourceId"])
        if not any(r["id"] == body["appRoleId"] for r in resource.app_roles):
            return self._bad(call, "Permission being assigned was not found on application "
                             f"'{resource.app_id}'.")
        directory = self.core.directory
        if directory.find_assignment(principal.id, resource.id, body["appRoleId"]) is not None:
            return self._bad(call, "Permission being assigned already exists on the object.")
        grant = AppRoleAssignment(assignment_id(principal.id, directory.new_id()),
                                  call.tenant.id, principal.id, resource.id,
                                  body["appRoleId"], self.core.now(),
                                  self.core.replication_visible_at())
        directory.app_role_assignments[grant.id] = grant
        return GraphResult(201, {"@odata.context": self._context(
            f"servicePrincipals('{sp_id}')/{kind}/$entity"),
            **grant.to_graph(directory, fresh=True)})

    def list_grants(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``GET /servicePrincipals/{id}/appRoleAssignedTo`` or ``/appRoleAssignments``."""
        sp_id, kind = match.group(1), match.group(2)
        if self._sp(call, sp_id) is None:
            return self._not_found(call, sp_id)
        directory = self.core.directory
        field_name = "resource_id" if kind == "appRoleAssignedTo" else "principal_id"
        items = [a.to_graph(directory) for a in directory.app_role_assignments.of_tenant(
                     call.tenant.id) if getattr(a, field_name) == sp_id and self._visible(a)]
        return self._collection(call, items, "appRoleAssignments")

    def delete_grant(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``DELETE /servicePrincipals/{id}/appRoleAssignedTo/{assignmentId}``."""
        directory = self.core.directory
        grant = directory.app_role_assignments.get(match.group(3))
        if grant is None or match.group(1) not in (grant.principal_id, grant.resource_id):
            return self._not_found(call, match.group(3))
        del directory.app_role_assignments[grant.id]
        return GraphResult(204)
