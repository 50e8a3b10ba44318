"""Is a saved connection still healthy? One tenant's checks, app-only, no admin, no browser.

With the profile's own certificate the check signs in as the app (Graph, Exchange Online
and the tenant's own SharePoint host), reads the live state with one Graph ``$batch``, and
judges:

- ``certificate``: the key file loads, holds the certificate the profile names, and is
  inside its validity (warning within :data:`~.certificates.EXPIRY_WARNING_DAYS` days);
  the ``endDateTime`` of the app's key credential of that certificate (what Entra
  enforces) counts when it ends first;
- ``sign_in_graph`` / ``sign_in_exchange`` / ``sign_in_sharepoint``: an app-only token for
  each, a refusal diagnosed by identity's AADSTS mapping (the one manual mode uses);
- ``permissions``: the ``roles`` **in the tokens** against the current permission catalog,
  never against what the profile remembers;
- ``global_reader``: the app's principal still holds the Global Reader role;
- ``services``: the selected services are still licensed (``subscribedSkus``);
- ``delegated_consent``: no delegated permission grant of the sign-in client on Microsoft
  Graph still holds an onboarding scope (a warning, ``standing_delegated_consent``; read
  app-only, "not checked" when the app may not read grants).

Each problem carries the remediation that fixes it (which ``vdc-tui`` command). The verdict
of a tenant is the worst of its checks: ``healthy``, ``warning`` or ``broken``.

The results and the last result per tenant are in :mod:`.health`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from vdc_tui.connect.errors import ServiceUnavailable, VdcError
from vdc_tui.connect.fleet.health import (
    CHECK_NAMES,
    FAIL,
    OK,
    SKIPPED,
    WARN,
    Check,
    TenantHealth,
    now_iso,
    remedy,
    verdict,
)
from vdc_tui.connect.inputs import is_guid
from vdc_tui.connect.microsoft.clouds import Endpoints, sharepoint_scope
from vdc_tui.connect.permissions import (
    DEFAULT_PUBLIC_CLIENT_ID,
    GLOBAL_READER_ROLE,
    PermissionCatalog,
    load_catalog,
    roles_in_tokens,
)

if TYPE_CHECKING:
    import httpx

    from vdc_tui.connect.certificates import LoadedPfx
    from vdc_tui.connect.microsoft.answers import BatchAnswers
    from vdc_tui.connect.microsoft.graph import BatchRequest
    from vdc_tui.connect.microsoft.identity import AppSignIn, AppToken, IdentityClient
    from vdc_tui.connect.store.profile import Profile
    from vdc_tui.connect.store.profiles import ProfileEntry


KeyReader = Callable[[str], "LoadedPfx"]


class HealthChecker:
    """Checks saved connections, one tenant per :meth:`check` call (safe to run many at once).

    Args:
        endpoints: The cloud (or emulator) the connections live in.
        identity: Signs in as each tenant's app; one client (one HTTPS pool, one MSAL
            ``http_client``) serves every tenant.
        http: The HTTPS client Graph calls share across tenants (not closed here).
        read_key: Loads a tenant's certificate and private key.
        catalog: The current permission catalog (default: the shipped one).
        clock: The current time (tests move it).
    """

    def __init__(
        self,
        endpoints: Endpoints,
        identity: IdentityClient,
        http: httpx.AsyncClient,
        read_key: KeyReader,
        *,
        catalog: PermissionCatalog | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.endpoints = endpoints
        self.identity = identity
        self.http = http
        self.read_key = read_key
        self.catalog = catalog or load_catalog()
        self.clock = clock
        self._domains: dict[str, str] = {}

    async def check(self, entry: ProfileEntry, *, http: httpx.AsyncClient | None = None
                    ) -> TenantHealth:
        """Every check of one saved connection; never raises for what it finds.

        ``http``: the HTTPS client for this tenant's Graph reads (default: the checker's).
        """
        tid = entry.tenant_id
        profile = entry.profile
        if profile is None:
            code = "profile_damaged"
            return self._done(entry, [Check(
                "profile", FAIL, f"The profile cannot be read: {entry.error}.",
                remedy(code, tid, None), code)])
        mode = profile.mode
        self._domains[tid] = entry.default_domain or tid
        app_id = profile.app_id
        selected = frozenset(profile.services.backed_up)
        checks: list[Check] = []
        facts: dict[str, Any] = {}

        # 1. certificate
        try:
            pfx = await asyncio.to_thread(self.read_key, tid)
        except VdcError as exc:
            checks.append(Check("certificate", FAIL, exc.message,
                                remedy(exc.code, tid, mode, exc.remediation), exc.code))
            return self._done(entry, checks + self._skipped("sign_in_graph"), **facts)
        checks.append(self._certificate(pfx, profile, tid, mode, facts))
        if not app_id:
            checks.append(Check("sign_in_graph", FAIL, "The profile names no app id.",
                                remedy("profile_damaged", tid, mode), "profile_damaged"))
            return self._done(entry, checks + self._skipped("sign_in_exchange"), **facts)

        # 2. sign-in to Graph (proves the tenant, the app and its certificate)
        # One MSAL application for the tenant's three tokens: one key parse, one signed
        # client assertion. Each resource is asked once, so MSAL's replay of a 400 never
        # stands in for an answer.
        signer = self.identity.app_sign_in(tid, app_id, pfx.credential())
        try:
            graph_token = await signer.token(self.endpoints.graph_scope)
        except VdcError as exc:
            checks.append(self._sign_in_failed("sign_in_graph", exc, tid, mode, pfx))
            unreachable = isinstance(exc, ServiceUnavailable)
            return self._done(entry, checks + self._skipped("sign_in_exchange"),
                              unreachable=unreachable, **facts)
        checks.append(Check("sign_in_graph", OK, f"App {app_id} signed in to Microsoft Graph."))

        # 3. one batch of reads, with the Exchange token alongside
        reads, exchange = await asyncio.gather(
            self._reads(graph_token, http or self.http),
            self._token(signer, self.endpoints.exchange_scope),
        )
        checks.append(self._token_check("sign_in_exchange", "Exchange Online", exchange,
                                        tid, mode, pfx))
        # The key as Entra enforces it: the app's key credential may end before notAfter.
        on_app = self._key_on_app(reads, pfx, tid, mode, facts)
        if on_app is not None and checks[0].name == "certificate" and checks[0].status != FAIL:
            checks[0] = on_app
        from vdc_tui.connect.entra.services import detection_from

        detection = detection_from(reads)
        tokens: dict[str, AppToken | None] = {
            "graph": graph_token,
            "exchange": exchange if not isinstance(exchange, VdcError) else None,
        }
        # 4. SharePoint, at the tenant's own host (the live root site, else the principal's)
        required = self.catalog.required_for(selected)
        needs_sharepoint = any(p.resource.key == "sharepoint" for p in required)
        if needs_sharepoint:
            from vdc_tui.connect.entra.services import sharepoint_root_from_principal

            root = detection.sharepoint_url or sharepoint_root_from_principal(
                reads.body("sp_sharepoint"), self.endpoints)
            if root is None:
                checks.append(Check(
                    "sign_in_sharepoint", WARN,
                    "The tenant's SharePoint host could not be found "
                    f"({reads.problem('site')}); its token was not checked.",
                    "Check that SharePoint Online is provisioned in the tenant."))
            else:
                sharepoint = await self._token(signer, sharepoint_scope(root))
                tokens["sharepoint"] = sharepoint if not isinstance(sharepoint, VdcError) else None
                checks.append(self._token_check(
                    "sign_in_sharepoint", f"SharePoint Online ({root})", sharepoint, tid, mode,
                    pfx))
        else:
            checks.append(Check("sign_in_sharepoint", SKIPPED,
                                "SharePoint Online is not selected for this tenant."))

        # 5. permissions: the live roles of the tokens against the current catalog
        found = roles_in_tokens(required, tokens)
        missing = [p.display for p in found.missing]
        unchecked = [p.display for p in found.unchecked]
        facts["missing"] = tuple(missing)
        if missing:
            by_api: dict[str, list[str]] = {}
            for item in missing:
                api, _, value = item.partition(": ")
                by_api.setdefault(api, []).append(value)
            text = "; ".join(f"{api}: {', '.join(v)}" for api, v in by_api.items())
            checks.append(Check(
                "permissions", FAIL,
                f"{len(missing)} of {len(required)} required permissions are not in the "
                f"tokens — {text}.",
                remedy("missing_permissions", tid, mode), "missing_permissions"))
        elif unchecked:
            checks.append(Check(
                "permissions", WARN,
                f"{len(required) - len(unchecked)} permissions in the tokens; not checked "
                f"(no SharePoint token): {', '.join(unchecked)}.",
                "Check that SharePoint Online is provisioned in the tenant."))
        else:
            checks.append(Check(
                "permissions", OK, f"All {len(required)} required permissions are in the tokens."))

        # 6. Global Reader
        checks.append(self._global_reader(reads, tid, mode))
        # 7. services still licensed
        checks.append(self._services(detection.services, selected, tid, mode))
        # 8. no standing delegated consent of the sign-in
        checks.append(await self._delegated_consent(graph_token, reads, http or self.http,
                                                    tid, mode))
        return self._done(entry, checks, **facts)

    # -- pieces ---------------------------------------------------------------------

    def _certificate(
        self, pfx: LoadedPfx, profile: Profile, tid: str, mode: str | None,
        facts: dict[str, Any],
    ) -> Check:
        from vdc_tui.connect.certificates import check_validity
        from vdc_tui.connect.models import days_left

        info = pfx.info
        now = self.clock()
        facts["sha1"] = info.sha1
        facts["not_after"] = now_iso(info.not_after.astimezone(UTC))
        facts["days_left"] = days_left(info.not_after, now)
        recorded = profile.certificate.thumbprint or ""
        try:
            warnings = check_validity(info, now=now)
        except VdcError as exc:
            return Check("certificate", FAIL, exc.message,
                         remedy(exc.code, tid, mode, exc.remediation), exc.code)
        if recorded and recorded != info.sha1.upper():
            return Check(
                "certificate", WARN,
                f"The key file holds certificate {info.sha1}; the profile names {recorded}.",
                "The key file was replaced outside vdc-tui; if sign-in works, nothing else "
                "needs doing.", "certificate_mismatch")
        if warnings:
            return Check("certificate", WARN, " ".join(warnings),
                         remedy("certificate_expiring", tid, mode), "certificate_expiring")
        return Check(
            "certificate", OK,
            f"{info.sha1}, valid until {info.not_after:%Y-%m-%d} ({facts['days_left']} days).")

    def _key_on_app(self, reads: BatchAnswers, pfx: LoadedPfx, tid: str, mode: str | None,
                    facts: dict[str, Any]) -> Check | None:
        """The certificate check judged by the ``endDateTime`` of the app's key credential
        of the saved certificate, when that ends before the certificate does."""
        from vdc_tui.connect.certificates import EXPIRY_WARNING_DAYS
        from vdc_tui.connect.entra.keys import find_key, parse_time

        app = reads.body("app")
        if app is None:
            return None
        entry = find_key(app.get("keyCredentials") or (), pfx.info.sha1)
        ends = parse_time(entry.get("endDateTime")) if entry is not None else None
        if ends is None or ends >= pfx.info.not_after:
            return None
        now = self.clock()
        facts["not_after"] = now_iso(ends.astimezone(UTC))
        facts["days_left"] = int((ends - now).total_seconds() / 86400)
        said = (f"{pfx.info.sha1}: the certificate is valid until {pfx.info.not_after:%Y-%m-%d}, "
                f"but its key credential on the app ends {ends:%Y-%m-%d %H:%M} UTC")
        if ends <= now:
            return Check("certificate", FAIL, said + " (ended: the app cannot sign in).",
                         remedy("certificate_expired", tid, mode), "certificate_expired")
        if ends - now < timedelta(days=EXPIRY_WARNING_DAYS):
            return Check("certificate", WARN, said + f" ({facts['days_left']} days).",
                         remedy("certificate_expiring", tid, mode), "certificate_expiring")
        return Check("certificate", OK, said + f" ({facts['days_left']} days).")

    def _sign_in_failed(
        self, name: str, exc: VdcError, tid: str, mode: str | None, pfx: LoadedPfx
    ) -> Check:
        from vdc_tui.connect.onboard.manual import with_certificate_facts

        domain = self._domains.get(tid) or tid
        exc = with_certificate_facts(exc, tid, domain, pfx.info.sha1, pfx.info.sha256)
        return Check(name, FAIL, exc.message, remedy(exc.code, tid, mode, exc.remediation),
                     exc.code)

    def _token_check(
        self, name: str, label: str, token: AppToken | VdcError, tid: str, mode: str | None,
        pfx: LoadedPfx,
    ) -> Check:
        if isinstance(token, VdcError):
            return self._sign_in_failed(name, token, tid, mode, pfx)
        return Check(name, OK, f"Signed in to {label}; {len(token.roles)} roles in the token.")

    async def _token(self, signer: AppSignIn, scope: str) -> AppToken | VdcError:
        try:
            return await signer.token(scope)
        except VdcError as exc:
            return exc

    async def _reads(self, token: AppToken, http: httpx.AsyncClient) -> BatchAnswers:
        # Here, not at the top: the dashboard reads last results (this module) before its
        # first frame, and a check's answers are only needed once a check runs.
        from vdc_tui.connect.microsoft.answers import BatchAnswers
        from vdc_tui.connect.microsoft.graph import BatchRequest, GraphClient, GraphError

        graph = GraphClient(self.endpoints, token.access_token, client=http)
        oid = str(token.claims.get("oid") or "")
        app_id = str(token.claims.get("appid") or token.claims.get("azp") or "")
        requests = [
            BatchRequest("skus", "GET", "/subscribedSkus"),
            BatchRequest("site", "GET", "/sites/root"),
            BatchRequest("sp_sharepoint", "GET", "/servicePrincipals(appId='"
                         + self.catalog.resource("sharepoint").app_id + "')"),
        ]
        requests += self._consent_reads()
        if is_guid(app_id):
            # The app's own key credentials (Directory.Read.All): what Entra enforces.
            requests.append(BatchRequest(
                "app", "GET", f"/applications(appId='{app_id}')?$select=id,keyCredentials"))
        if oid:
            requests.append(BatchRequest(
                "roles", "GET",
                f"/roleManagement/directory/roleAssignments?$filter=principalId eq '{oid}'"))
        try:
            return BatchAnswers(await graph.batch(requests))
        except (VdcError, GraphError):
            return BatchAnswers({})
        finally:
            await graph.aclose()

    def _global_reader(self, reads: BatchAnswers, tid: str, mode: str | None) -> Check:
        assignments = reads.value_list("roles")
        if assignments is None:
            return Check("global_reader", WARN,
                         f"The app's directory roles could not be read ({reads.problem('roles')}).",
                         remedy("global_reader_missing", tid, mode))
        if any(str(a.get("roleDefinitionId") or "").lower() == GLOBAL_READER_ROLE
               for a in assignments):
            return Check("global_reader", OK, "The app holds the Global Reader role.")
        return Check("global_reader", WARN,
                     "The app no longer holds the Global Reader role (Exchange Online "
                     "PowerShell needs it).",
                     remedy("global_reader_missing", tid, mode), "global_reader_missing")

    def _services(
        self, services: tuple[Any, ...], selected: frozenset[str], tid: str, mode: str | None
    ) -> Check:
        from vdc_tui.connect.models import (
            Availability,  # with a check, not the last results (first frame)
        )

        lapsed = [s for s in services
                  if s.service in selected and s.availability is Availability.NOT_LICENSED]
        unknown = [s for s in services
                   if s.service in selected and s.availability is Availability.UNKNOWN]
        if lapsed:
            return Check("services", WARN,
                         "No longer licensed: " + "; ".join(f"{s.label} ({s.reason})"
                                                           for s in lapsed),
                         remedy("service_not_licensed", tid, mode), "service_not_licensed")
        if unknown:
            return Check("services", WARN,
                         "; ".join(f"{s.label}: {s.reason}" for s in unknown),
                         "Check the tenant's subscriptions in the Microsoft 365 admin centre.")
        labels = [s.label for s in services if s.service in selected]
        return Check("services", OK, "Licensed: " + ", ".join(labels) + ".")

    def _consent_reads(self) -> list[BatchRequest]:
        """The ``delegated_consent`` check's part of the one batch: the object ids of the
        sign-in client's principal and of Microsoft Graph's."""
        from vdc_tui.connect.microsoft.graph import BatchRequest

        return [
            BatchRequest("sp_sign_in_client", "GET",
                         f"/servicePrincipals(appId='{DEFAULT_PUBLIC_CLIENT_ID}')?$select=id"),
            BatchRequest("sp_graph", "GET", "/servicePrincipals(appId='"
                         + self.catalog.resource("graph").app_id + "')?$select=id"),
        ]

    async def _delegated_consent(self, token: AppToken, reads: BatchAnswers,
                                 http: httpx.AsyncClient, tid: str, mode: str | None) -> Check:
        """Grants of the sign-in client on Microsoft Graph still holding an onboarding scope
        (``GET /oauth2PermissionGrants?$filter=clientId eq '…'``, app-only). What cannot be
        read is "not checked", never broken."""
        from vdc_tui.connect.microsoft.answers import describe_failure
        from vdc_tui.connect.microsoft.graph import GraphClient, GraphError

        name = "delegated_consent"
        client, resource = reads.body("sp_sign_in_client"), reads.body("sp_graph")
        if reads.status("sp_sign_in_client") == 404:
            return Check(name, OK, "The sign-in client has no principal in the tenant: no "
                         "delegated consent of it stands.")
        if client is None or resource is None:
            failed = "sp_sign_in_client" if client is None else "sp_graph"
            return Check(name, SKIPPED, f"Not checked ({reads.problem(failed)}).")
        onboarding = set(self.catalog.delegated_sign_in_scopes)
        graph = GraphClient(self.endpoints, token.access_token, client=http)
        try:
            grants = await graph.get_all(
                "/oauth2PermissionGrants",
                params={"$filter": f"clientId eq '{client.get('id')}'"})
        except GraphError as err:
            why = ("the app may not read delegated permission grants (Directory.Read.All)"
                   if err.status == 403 else describe_failure(err))
            return Check(name, SKIPPED, f"Not checked: {why}.")
        except VdcError as exc:
            return Check(name, SKIPPED, f"Not checked: {exc.message}")
        finally:
            await graph.aclose()
        standing = []
        for g in grants:
            if str(g.get("resourceId")) != str(resource.get("id")):
                continue
            held = [s for s in str(g.get("scope") or "").split() if s in onboarding]
            if held:
                who = ("everyone (AllPrincipals)" if g.get("consentType") == "AllPrincipals"
                       else "one user (Principal)")
                standing.append(f"{who}: {' '.join(held)}")
        if standing:
            return Check(name, WARN,
                         "The sign-in client (Microsoft Graph Command Line Tools) still holds "
                         f"onboarding scopes for {'; '.join(standing)}.",
                         remedy("standing_delegated_consent", tid, mode),
                         "standing_delegated_consent")
        return Check(name, OK, "No onboarding scope stands in the sign-in client's grants.")

    def _skipped(self, first: str) -> list[Check]:
        names = list(CHECK_NAMES)
        return [Check(n, SKIPPED, "Not checked (an earlier check failed).")
                for n in names[names.index(first):] if n not in ("profile",)]

    def _done(self, entry: ProfileEntry, checks: list[Check], *, unreachable: bool = False,
              **facts: Any) -> TenantHealth:
        return TenantHealth(
            tenant_id=entry.tenant_id,
            name=entry.name,
            default_domain=entry.default_domain,
            mode=entry.mode,
            health=verdict(checks),
            checks=tuple(checks),
            sha1=facts.get("sha1"),
            not_after=facts.get("not_after"),
            days_left=facts.get("days_left"),
            missing=tuple(facts.get("missing") or ()),
            checked_at=now_iso(self.clock()),
            unreachable=unreachable,
        )


__all__ = ["HealthChecker", "KeyReader"]
