"""No standing privilege after an admin sign-in: the consent cleanup.

The device-code sign-in asks Microsoft Graph Command Line Tools (or ``--client-id``) for the
onboarding scopes by name. Entra records that consent in a cumulative
``oAuth2PermissionGrant`` of the client's service principal on Microsoft Graph: the admin's
own (``Principal``) or, when they consented for the organization, ``AllPrincipals``. Left
there, any later token of that client carries those scopes without a prompt
(research/consent-audit-recordings.md §1).

:func:`remove_sign_in_consent` is the last step of every run that signs an admin in
(automatic mode, repair, offboarding): with the same delegated token it removes the
onboarding scopes (the catalog's ``delegated_sign_in_scopes``) from every such grant, PATCHing
the remaining scopes (replaced whole, as Graph documents) or DELETEing a grant left empty.
Scopes consented before (``User.Read Mail.Read`` of the admin's own Graph PowerShell use) stay.
A failure never undoes the run: it is a warning naming the exact fix.

The ``delegated_consent`` check of ``connections check`` (fleet/check.py) reads the same
grants app-only.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vdc_tui.connect.errors import VdcError, scrub
from vdc_tui.connect.microsoft.graph import BatchRequest, GraphError
from vdc_tui.connect.steps import CONSENT_STEP, CONSENT_TITLE

if TYPE_CHECKING:
    from vdc_tui.connect.microsoft.graph import GraphClient
    from vdc_tui.connect.microsoft.identity import DelegatedToken
    from vdc_tui.connect.permissions import PermissionCatalog
    from vdc_tui.connect.progress import Checklist

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConsentCleanup:
    """What the cleanup did (the ``delegated_consent`` object of the JSON answers).

    Attributes:
        client_id: The sign-in client's Application (client) ID.
        removed: Onboarding scopes removed from the grants.
        kept: Scopes the grants keep (consented before, for other uses).
        grants: ``{"id", "consent_type", "action": "patched" | "deleted"}`` per grant.
        skipped: ``--keep-consent``: nothing was changed on purpose.
        standing: Onboarding scopes left in place (skipped, or the cleanup failed).
        error: Why the cleanup failed (a warning; the run itself succeeded).
    """

    client_id: str
    removed: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    grants: tuple[dict[str, str], ...] = ()
    skipped: bool = False
    standing: tuple[str, ...] = ()
    error: dict[str, Any] | None = field(default=None)

    def to_json(self) -> dict[str, Any]:
        """The contract's ``delegated_consent`` object (design.md)."""
        out: dict[str, Any] = {"client_id": self.client_id, "removed": list(self.removed),
                               "kept": list(self.kept), "grants": [dict(g) for g in self.grants]}
        if self.skipped:
            out["skipped"] = "keep_consent"
            out["standing"] = list(self.standing)
        if self.error is not None:
            out["error"] = dict(self.error)
            out["standing"] = list(self.standing)
        return out


def cleanup_fix(tenant_id: str, grant_ids: Sequence[str] = ()) -> str:
    """The exact fix of a standing consent (the warning's remediation)."""
    ids = f" (grant {', '.join(grant_ids)})" if grant_ids else ""
    return (f"Run `vdc-tui connections repair {tenant_id}`: its last step removes the "
            "onboarding scopes from the sign-in client's delegated permission grants"
            f"{ids}; or remove them with Graph: PATCH /oauth2PermissionGrants/{{id}} with the "
            "remaining scopes, DELETE when none remain.")


def _scopes(grant: dict[str, Any]) -> list[str]:
    return str(grant.get("scope") or "").split()


async def _client_and_graph_ids(graph: GraphClient, client_app_id: str,
                                graph_app_id: str) -> tuple[str, str] | None:
    """The object ids of the client's principal and of Microsoft Graph's (one ``$batch``),
    or ``None`` when the tenant has no principal of the client (then it holds no grant)."""
    answers = await graph.batch([
        BatchRequest("client", "GET", f"/servicePrincipals(appId='{client_app_id}')?$select=id"),
        BatchRequest("graph", "GET", f"/servicePrincipals(appId='{graph_app_id}')?$select=id"),
    ])
    client, resource = answers["client"], answers["graph"]
    if client.status == 404:
        return None
    for answer in (client, resource):
        error = answer.error()
        if error is not None:
            raise error
    return str(client.body["id"]), str(resource.body["id"])


async def sign_in_grants(graph: GraphClient, client_app_id: str, graph_app_id: str,
                         principal_id: str | None) -> list[dict[str, Any]]:
    """The client's grants on Microsoft Graph that a sign-in of ``principal_id`` uses: that
    user's ``Principal`` grant and any ``AllPrincipals`` one (``principal_id=None``: every
    user's, for the app-only check). ``principalId`` is filtered here: Graph documents
    ``$filter`` only on ``clientId`` and ``consentType``."""
    ids = await _client_and_graph_ids(graph, client_app_id, graph_app_id)
    if ids is None:
        return []
    client_sp, graph_sp = ids
    grants = await graph.get_all("/oauth2PermissionGrants",
                                 params={"$filter": f"clientId eq '{client_sp}'"})
    out = []
    for g in grants:
        if str(g.get("resourceId")) != graph_sp:
            continue
        kind = str(g.get("consentType"))
        if kind == "AllPrincipals" or (
                kind == "Principal"
                and (principal_id is None or str(g.get("principalId")) == principal_id)):
            out.append(g)
    return out


def sign_in_client(token: DelegatedToken) -> str:
    """The client the admin signed in with, from the token itself (``appid``, v2 ``azp``)."""
    return str(token.claims.get("appid") or token.claims.get("azp") or "")


async def remove_sign_in_consent(graph: GraphClient, token: DelegatedToken,
                                 catalog: PermissionCatalog, checklist: Checklist, *,
                                 keep: bool = False) -> ConsentCleanup:
    """The run's last step (module docstring), for the client ``token`` was issued to.
    Never raises for Graph's refusals or an unreachable Graph: the onboarding stands, and
    the checklist warns with the fix."""
    return await remove_onboarding_scopes(
        graph, token, client_app_id=sign_in_client(token),
        graph_app_id=catalog.resource("graph").app_id,
        onboarding=catalog.delegated_sign_in_scopes, checklist=checklist, keep=keep)


async def remove_onboarding_scopes(graph: GraphClient, token: DelegatedToken, *,
                                   client_app_id: str, graph_app_id: str,
                                   onboarding: Sequence[str], checklist: Checklist,
                                   keep: bool = False) -> ConsentCleanup:
    """:func:`remove_sign_in_consent` with every input named (tests, other clients)."""
    wanted = set(onboarding)
    tenant_id = token.tenant_id
    checklist.running(CONSENT_STEP)
    if not client_app_id:
        fix = cleanup_fix(tenant_id)
        checklist.warn(CONSENT_STEP, "not removed: the sign-in token names no client", fix)
        return ConsentCleanup("", error={"code": "standing_delegated_consent",
                                         "message": "the sign-in token names no client",
                                         "remediation": fix})
    grant_ids: list[str] = []
    # Until the grants are read, what the sign-in asked for is taken to stand.
    standing: list[str] = list(onboarding)
    try:
        grants = await sign_in_grants(graph, client_app_id, graph_app_id,
                                      token.admin.object_id)
        standing = []
        for g in grants:
            standing += [s for s in _scopes(g) if s in wanted and s not in standing]
        if keep:
            checklist.skipped(
                CONSENT_STEP,
                "kept (--keep-consent): " + (" ".join(standing) or "no onboarding scope")
                + f" stay(s) granted to {client_app_id}; any later sign-in of this client "
                "gets them without a prompt")
            return ConsentCleanup(client_app_id, skipped=True, standing=tuple(standing))
        removed: list[str] = []
        kept: list[str] = []
        actions: list[dict[str, str]] = []
        for g in grants:
            scopes = _scopes(g)
            remaining = [s for s in scopes if s not in wanted]
            gone = [s for s in scopes if s in wanted]
            if not gone:
                continue
            gid = str(g["id"])
            grant_ids.append(gid)
            if remaining:
                await graph.patch(f"/oauth2PermissionGrants/{gid}",
                                  {"scope": " ".join(remaining)})
                action = "patched"
            else:
                await _delete(graph, gid)
                action = "deleted"
            actions.append({"id": gid, "consent_type": str(g.get("consentType")),
                            "action": action})
            removed += [s for s in gone if s not in removed]
            kept += [s for s in remaining if s not in kept]
            standing = [s for s in standing if s not in gone]
    except (GraphError, VdcError) as err:
        message = (f"{err.status} {err.code}: {scrub(err.message, limit=200)}"
                   if isinstance(err, GraphError) else err.message)
        code = err.code if isinstance(err, VdcError) else "standing_delegated_consent"
        _log.warning("consent cleanup failed: %s", message)
        fix = cleanup_fix(tenant_id, grant_ids)
        checklist.warn(CONSENT_STEP, f"not removed ({message}); "
                       + (" ".join(standing) or "the onboarding scopes")
                       + " may stay granted to the sign-in client", fix)
        return ConsentCleanup(client_app_id, standing=tuple(standing),
                              error={"code": code, "message": message, "remediation": fix})
    if actions:
        checklist.passed(CONSENT_STEP, f"removed {' '.join(removed)} from "
                         + ", ".join(f"{a['consent_type']} ({a['action']})" for a in actions)
                         + (f"; kept {' '.join(kept)}" if kept else ""))
    else:
        checklist.passed(CONSENT_STEP, "no onboarding scope was left in the sign-in client's "
                         "grants")
    return ConsentCleanup(client_app_id, tuple(removed), tuple(kept), tuple(actions))


async def _delete(graph: GraphClient, grant_id: str) -> None:
    try:
        await graph.delete(f"/oauth2PermissionGrants/{grant_id}")
    except GraphError as err:
        if err.status != 404:  # already gone (a rerun after a cut connection): fine
            raise


__all__ = ["CONSENT_STEP", "CONSENT_TITLE", "ConsentCleanup", "cleanup_fix",
           "remove_onboarding_scopes", "remove_sign_in_consent", "sign_in_client",
           "sign_in_grants"]
