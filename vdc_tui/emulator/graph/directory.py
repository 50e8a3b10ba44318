"""Handlers of the tenant itself: organization, subscriptions, users, the signed-in user and
its memberships, and the SharePoint root site."""

from __future__ import annotations

import re
from typing import Any

from vdc_tui.emulator.core import GraphResult
from vdc_tui.emulator.graph.base import GraphCall, Handlers, Route, route
from vdc_tui.emulator.scenario import ROLE_NAMES, stable_id
from vdc_tui.emulator.shapes import full_entity
from vdc_tui.emulator.state import iso


class DirectoryHandlers(Handlers):
    """``/organization``, ``/subscribedSkus``, ``/me``, ``/users``, ``/sites/root``."""

    def routes(self) -> list[Route]:
        return [
            route("GET", r"/organization", "organization", self.organization),
            route("GET", r"/subscribedSkus", "subscribedSkus", self.subscribed_skus),
            route("GET", r"/me", "me", self.me),
            route("GET", r"/me/(memberOf|transitiveMemberOf)", "me", self.member_of),
            route("GET", r"/users", "users", self.list_users),
            route("GET", r"/users/([^/]+)", "users", self.get_user),
            route("GET", r"/sites/root", "sites", self.site_root),
        ]

    def organization(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``GET /organization``."""
        spec = call.tenant.spec
        default = spec.default_domain or spec.domains[0]
        plans = []
        for sku in spec.skus:
            for plan in sku.service_plans:
                service = ("exchange" if plan.name.startswith("EXCHANGE") else
                           "SharePoint" if plan.name.startswith(("SHAREPOINT", "ONEDRIVE")) else
                           "TeamspaceAPI" if plan.name.startswith("TEAMS") else plan.name)
                plans.append({"assignedDateTime": "2024-01-01T00:00:00Z",
                              "capabilityStatus": sku.capability_status, "service": service,
                              "servicePlanId": plan.id})
        org = full_entity("organization", {
            "id": spec.id, "displayName": spec.display_name, "tenantType": "AAD",
            "countryLetterCode": "US", "createdDateTime": "2019-01-01T00:00:00Z",
            "assignedPlans": plans,
            "verifiedDomains": [
                {"capabilities": "Email, OfficeCommunicationsOnline", "isDefault": d == default,
                 "isInitial": d == spec.initial_domain, "name": d, "type": "Managed"}
                for d in spec.domains
            ],
        })
        return self._collection(call, [org], "organization")

    def subscribed_skus(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``GET /subscribedSkus``."""
        spec = call.tenant.spec
        items = [
            {"accountId": spec.id, "accountName": spec.display_name, "appliesTo": "User",
             "capabilityStatus": s.capability_status, "consumedUnits": s.consumed_units,
             "id": f"{spec.id}_{s.sku_id}", "skuId": s.sku_id,
             "skuPartNumber": s.sku_part_number, "subscriptionIds": [],
             "prepaidUnits": {"enabled": s.enabled_units, "lockedOut": 0, "suspended": 0,
                              "warning": 0},
             "servicePlans": [{"servicePlanId": p.id, "servicePlanName": p.name,
                               "provisioningStatus": p.provisioning_status,
                               "appliesTo": p.applies_to} for p in s.service_plans]}
            for s in spec.skus
        ]
        return self._collection(call, items, "subscribedSkus")

    def me(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``GET /me``."""
        user = call.tenant.users.get(str(call.claims.get("oid")))
        if user is None:
            return self._not_found(call, str(call.claims.get("oid")))
        return self._ok(200, {"@odata.context": self._context("users/$entity"),
                              **self._select(call, user.to_graph())})

    def member_of(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``GET /me/memberOf`` and ``/me/transitiveMemberOf``."""
        user = call.tenant.users.get(str(call.claims.get("oid")))
        if user is None:
            return self._not_found(call, str(call.claims.get("oid")))
        transitive = match.group(1) == "transitiveMemberOf"
        tid = call.tenant.id

        def role(rid: str) -> dict[str, Any]:
            return {"@odata.type": "#microsoft.graph.directoryRole",
                    "id": stable_id(tid, "directoryRole", rid),
                    "displayName": ROLE_NAMES.get(rid, rid), "description": None,
                    "roleTemplateId": rid}

        items = [role(r) for r in user.roles]
        for group in user.groups:
            items.append({"@odata.type": "#microsoft.graph.group", "id": group.id,
                          "displayName": group.display_name, "securityEnabled": True})
        if transitive:
            seen = set(user.roles)
            for group in user.groups:
                for rid in group.roles:
                    if rid not in seen:
                        seen.add(rid)
                        items.append(role(rid))
        return self._collection(call, items, "directoryObjects")

    def list_users(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``GET /users``."""
        return self._collection(call, [u.to_graph() for u in call.tenant.users.values()],
                                "users")

    def get_user(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``GET /users/{id | userPrincipalName}``."""
        key = match.group(1)
        user = call.tenant.users.get(key) or call.tenant.user_by_upn(key)
        if user is None:
            return self._not_found(call, key)
        return self._ok(200, {"@odata.context": self._context("users/$entity"),
                              **self._select(call, user.to_graph())})

    def site_root(self, call: GraphCall, match: re.Match[str]) -> GraphResult:
        """``GET /sites/root`` (404 when the tenant has no SharePoint)."""
        host = call.tenant.spec.sharepoint
        if not host:
            return self.core.graph_error(404, "itemNotFound", "Requested site could not be found",
                                         client_request_id=call.client_request_id)
        site = stable_id(call.tenant.id, "site")
        web = stable_id(call.tenant.id, "web")
        return self._ok(200, self._select(call, {
            "@odata.context": self._context("sites/$entity"),
            "createdDateTime": iso(self.core.now() - 86400 * 365),
            "description": "", "id": f"{host},{site},{web}", "lastModifiedDateTime":
            iso(self.core.now()), "name": "", "webUrl": f"https://{host}",
            "displayName": "Communication site", "root": {},
            "siteCollection": {"hostname": host},
        }))
