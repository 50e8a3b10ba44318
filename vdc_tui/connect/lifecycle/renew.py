"""Certificate renewal without an admin: the app rolls its own key (addKey/removeKey).

One renewal, step by step (checklist ids):

1. ``current``: the saved certificate is still valid and signs in; its app-only tokens
   carry every permission of the profile's services (otherwise repair comes first).
2. ``application``: the app's object id and the key id of the saved certificate.
3. ``generate``: a new key pair and self-signed certificate (the policy of automatic
   mode), written as the pending renewal key, then the journal.
4. ``add``: ``addKey`` with a proof of possession signed by the current key. A tenant
   policy that limits credential lifetimes is answered by a shorter certificate.
5. ``verify``: the new certificate signs in and its tokens carry every permission
   (polling through replication, like onboarding).
6. ``save``: the key file and the profile point at the new certificate (both keys are on
   the app at this moment, so the profile's key is on the app whatever happens).
7. ``remove_old``: ``removeKey`` of the old certificate, with a proof signed by the new key.

The journal (``provisioning.json``, the record automatic mode keeps, with ``pending =
"renewal"``) is written before every change. A run killed at any point is finished by the
next one: it looks at which keys the app really has and continues from there.

The profile is saved *before* the old key is removed (the issue lists them the other way
round): a profile whose key is not on the app must never exist, even for a moment.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from vdc_tui.connect.entra.application import app_not_in_tenant
from vdc_tui.connect.entra.journal import JOURNAL_NAME, Journal
from vdc_tui.connect.entra.pacing import Pacing
from vdc_tui.connect.entra.proof import add_key_body, remove_key_body
from vdc_tui.connect.entra.verification import Verifier
from vdc_tui.connect.errors import (
    CertificateProblem,
    DiagnosedProblem,
    InvalidInput,
    ProvisioningFailed,
    ServiceUnavailable,
    VdcError,
    scrub,
)
from vdc_tui.connect.microsoft.graph import GraphClient, GraphError
from vdc_tui.connect.models import CertificateInfo, ProgressCallback, days_left, ignore_progress
from vdc_tui.connect.permissions import PermissionCatalog, load_catalog, roles_in_tokens
from vdc_tui.connect.progress import Checklist, Clock, Sleep

if TYPE_CHECKING:
    from vdc_tui.connect.certificates import LoadedPfx
    from vdc_tui.connect.microsoft.clouds import Endpoints
    from vdc_tui.connect.microsoft.identity import AppToken, IdentityClient
    from vdc_tui.connect.store.profiles import ProfileStore

RENEW_STEPS = {
    "current": "Current certificate",
    "application": "App registration",
    "generate": "New key and certificate",
    "add": "Add the new certificate (addKey, proof of possession)",
    "verify": "New certificate signs in with every permission",
    "save": "Profile points at the new certificate",
    "remove_old": "Remove the old certificate (removeKey)",
}
PENDING = "renewal"
#: Lifetimes tried, longest first, when a tenant policy refuses the default (2 years).
POLICY_LIFETIMES_DAYS = (365, 180, 90, 30)
DEFAULT_LIFETIME_DAYS = 730


@dataclass(frozen=True)
class RenewOutcome:
    """A finished renewal.

    Attributes:
        tenant_id: The tenant.
        app_id: The app's Application (client) ID.
        certificate: The new certificate.
        previous_sha1: Thumbprint of the certificate it replaced.
        lifetime_days: Lifetime of the new certificate.
        policy_limited: A tenant policy refused the default lifetime (``lifetime_days`` is
            what it allowed).
        resumed: ``True`` when this run finished a renewal an earlier run left unfinished.
        old_key_removed: The old certificate is off the app (``False``: it was already gone).
        profile: Path of the profile.
        mode: ``automatic`` or ``manual`` (the operator's app: its other users need the
            new certificate too).
    """

    tenant_id: str
    app_id: str
    certificate: CertificateInfo
    previous_sha1: str
    lifetime_days: int
    policy_limited: bool
    resumed: bool
    old_key_removed: bool
    profile: str
    mode: str = "automatic"

    def summary(self) -> str:
        """What the renewal did, in one sentence (CLI and dashboard)."""
        said = (f"Renewed {self.tenant_id}: new certificate SHA-1 {self.certificate.sha1}, "
                f"valid until {self.certificate.not_after:%Y-%m-%d}")
        if self.policy_limited:
            said += (f" ({self.lifetime_days} days: the tenant's app management policy "
                     "refused a longer certificate)")
        if self.resumed:
            said += "; finished a renewal an earlier run left unfinished"
        return said + "."


@dataclass
class _Progress:
    """What the journal's ``restore.renewal`` record says (and what this run knows)."""

    application_id: str
    app_id: str
    old_sha1: str
    old_key_id: str | None
    new_sha1: str | None = None
    new_key_id: str | None = None
    lifetime_days: int = DEFAULT_LIFETIME_DAYS
    policy_limited: bool = False

    def record(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_record(cls, raw: Any) -> _Progress | None:
        if not isinstance(raw, dict):
            return None
        try:
            return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})
        except TypeError:
            return None


class Renewer:
    """Renews the certificate of one saved connection (no admin sign-in)."""

    def __init__(
        self,
        endpoints: Endpoints,
        identity: IdentityClient,
        profiles: ProfileStore,
        *,
        verify_timeout: float = 300.0,
        catalog: PermissionCatalog | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
        now: Any = None,
    ) -> None:
        self._endpoints = endpoints
        self._identity = identity
        self._profiles = profiles
        self._pacing = Pacing(verify=verify_timeout, sleep=sleep, clock=clock)
        self._catalog = catalog or load_catalog()
        self._now = now or (lambda: datetime.now(UTC))

    async def run(self, tenant: str, *, include_manual: bool = False,
                  on_progress: ProgressCallback = ignore_progress) -> RenewOutcome:
        """Renew (or finish renewing) the certificate of ``tenant`` (id, domain or name).

        Raises:
            InvalidInput: a manual-mode connection without ``include_manual``; another run
                of an unfinished automatic-mode provisioning owns the tenant.
            CertificateProblem: ``certificate_expired`` (only an admin can help then).
            DiagnosedProblem: ``missing_permissions``, ``proof_rejected``,
                ``credential_lifetime_policy``, ``certificate_not_registered``, …
            ProvisioningFailed: ``renewal_incomplete`` (replication did not finish in time;
                the next run finishes).
            ServiceUnavailable: Graph or the token endpoint kept failing (throttling).
        """
        entry = self._profiles.find(tenant)
        tenant_id = entry.tenant_id
        profile = self._profiles.load(tenant_id)
        if profile.get("mode") == "manual" and not include_manual:
            raise InvalidInput(
                "invalid_argument",
                f"Tenant {tenant_id} was connected in manual mode with the operator's own app.",
                "Renew it with --include-manual (the new certificate then has to reach the "
                "operator's other systems too: `vdc-tui connections export`).",
                {"tenant_id": tenant_id, "mode": "manual"})
        checklist = Checklist(RENEW_STEPS, on_progress)
        with self._profiles.lock(tenant_id):
            try:
                return await self._renew(tenant_id, profile, checklist)
            except ServiceUnavailable as error:
                # Throttling (429 after every retry) or an outage: say what it means here.
                again = ServiceUnavailable(
                    error.message,
                    "Microsoft Graph is throttling or unavailable. Run the same command later: "
                    "the current certificate keeps working, and the next run finishes this "
                    "renewal.", dict(error.details))
                checklist.failed(checklist.current or "current", again)
                raise again from error
            except VdcError as error:
                checklist.failed(checklist.current or "current", error)
                raise

    # -- the run -----------------------------------------------------------------------
    async def _renew(self, tenant_id: str, profile: dict[str, Any],
                     checklist: Checklist) -> RenewOutcome:
        journal_path = self._profiles.tenant_dir(tenant_id) / JOURNAL_NAME
        journal = Journal.read(journal_path, tenant_id)
        progress: _Progress | None = None
        if journal is not None:
            if journal.pending != PENDING:
                raise InvalidInput(
                    "invalid_argument",
                    f"An automatic-mode run for tenant {tenant_id} did not finish.",
                    "Run `vdc-tui connect auto` for the tenant first: it finishes or undoes "
                    "that run. Renew afterwards.", {"journal": str(journal_path)})
            progress = _Progress.from_record((journal.restore or {}).get("renewal"))
        if journal is None or progress is None:
            journal = Journal(journal_path, tenant_id, uuid.uuid4().hex, pending=PENDING)
        current = self._read_key(tenant_id)
        services = list((profile.get("services") or {}).get("selected") or ["exchange"])
        required = self._catalog.required_for(services)
        resumed = progress is not None
        pending_key = self._pending_key(tenant_id, progress)

        # 1. The key that can prove possession: the saved one (or, when an earlier run
        # already saved the new one, that).
        checklist.running("current")
        self._check_not_expired(current.info, tenant_id)
        token = await self._app_token(tenant_id, profile, current)
        checklist.passed("current", f"SHA-1 {current.info.sha1}, valid until "
                                    f"{current.info.not_after:%Y-%m-%d}")
        async with GraphClient(self._endpoints, token.access_token) as graph:
            checklist.running("application")
            app = await _read_app(graph, str((profile.get("app") or {}).get("app_id") or ""))
            keys = {_sha1(k): k for k in app.get("keyCredentials") or []}
            if progress is None:
                old = keys.get(current.info.sha1)
                progress = _Progress(application_id=str(app["id"]), app_id=str(app["appId"]),
                                     old_sha1=current.info.sha1,
                                     old_key_id=str(old["keyId"]) if old else None)
                if old is None:
                    raise DiagnosedProblem(
                        "certificate_not_registered",
                        "The saved certificate is not on the app registration any more.",
                        f"Run `vdc-tui connections repair {tenant_id}`: a Global "
                        "Administrator signs in once and the saved certificate is registered "
                        "on the app again.",
                        {"sha1": current.info.sha1, "app_id": app.get("appId")})
            checklist.passed("application", f"{app.get('displayName') or progress.app_id} "
                             f"({progress.application_id})")
            if progress.new_sha1 and current.info.sha1 == progress.new_sha1:
                # Killed after the key file was replaced: the profile may still name the old
                # certificate (killed between the two writes), and the old key may be left.
                if str((profile.get("certificate") or {}).get("sha1") or "").upper() != (
                        current.info.sha1):
                    self._save(tenant_id, progress, current, journal, checklist)
                return await self._finish(graph, tenant_id, progress, current, keys,
                                          checklist, resumed=True, token=None)
            sharepoint_url = await _sharepoint_url(graph)
            try:
                await self._baseline(tenant_id, progress.app_id, current, required,
                                     sharepoint_url)
            except DiagnosedProblem as problem:
                if problem.code != "missing_permissions" or not progress.new_sha1:
                    raise
                # An earlier run stopped because the new key's tokens lacked a permission,
                # and the saved key's lack it too now: the grant is gone, not replicating.
                # Take the new key off the app again; repair comes first, then a renewal.
                raise await self._abandon(graph, tenant_id, progress, keys, current,
                                          journal, problem) from problem
            new = pending_key if pending_key is not None and progress.new_sha1 and (
                pending_key.info.sha1 == progress.new_sha1) else None
            if new is None and progress.new_sha1 and progress.new_sha1 in keys:
                # An earlier run's key reached the app but its private half is lost: take
                # it off again (proof from the current key) and start over.
                await self._remove(graph, progress.application_id,
                                   str(keys[progress.new_sha1]["keyId"]), current)
                progress.new_sha1 = None
            if new is not None and progress.new_sha1 in keys:
                checklist.passed("generate", "the unfinished renewal's key is reused")
                checklist.passed("add", "already on the app")
            else:
                if new is None:
                    new = self._generate(tenant_id, progress, current, journal, checklist)
                else:
                    checklist.passed("generate", "the unfinished renewal's key is reused")
                new = await self._add(graph, tenant_id, progress, current, new, journal,
                                      checklist)
            tokens = await self._verify(tenant_id, progress, new, required, sharepoint_url,
                                        checklist)
            self._save(tenant_id, progress, new, journal, checklist)
            async with GraphClient(self._endpoints, tokens["graph"].access_token) as new_graph:
                return await self._finish(new_graph, tenant_id, progress, new, keys, checklist,
                                          resumed=resumed, token=tokens["graph"])

    # -- steps -------------------------------------------------------------------------
    def _read_key(self, tenant_id: str) -> LoadedPfx:
        return self._profiles.read_key(tenant_id)

    def _pending_key(self, tenant_id: str, progress: _Progress | None) -> LoadedPfx | None:
        if progress is None or not progress.new_sha1:
            return None
        try:
            return self._profiles.read_key(tenant_id, renewal=True)
        except VdcError:
            return None

    def _check_not_expired(self, info: CertificateInfo, tenant_id: str) -> None:
        if info.not_after <= self._now():
            raise CertificateProblem(
                "certificate_expired",
                f"The certificate of tenant {tenant_id} expired on "
                f"{info.not_after:%Y-%m-%d %H:%M} UTC: it can no longer prove possession, so "
                "the app cannot roll its own key.",
                f"Run `vdc-tui connections repair {tenant_id}`: a Global Administrator signs "
                "in once and a new certificate goes on the same app (then give the backup "
                f"service the new PFX: `vdc-tui connections export {tenant_id}`); renew before "
                "expiry from then on (`vdc-tui connections renew --all --within 30` in cron).",
                {"tenant_id": tenant_id, "sha1": info.sha1,
                 "not_after": info.not_after.isoformat()})

    async def _app_token(self, tenant_id: str, profile: dict[str, Any],
                         pfx: LoadedPfx) -> AppToken:
        app_id = str((profile.get("app") or {}).get("app_id") or "")
        return await self._identity.app_token(tenant_id, app_id, pfx.credential(),
                                              self._endpoints.graph_scope)

    async def _baseline(self, tenant_id: str, app_id: str, current: LoadedPfx,
                        required: Any, sharepoint_url: str | None) -> None:
        """The current certificate's tokens must carry every permission: a renewal cannot
        verify the new one against less (a missing permission is repair's job)."""
        from vdc_tui.connect.microsoft.clouds import sharepoint_scope

        wanted = self._catalog.by_resource(required)
        scopes = {"graph": self._endpoints.graph_scope,
                  "exchange": self._endpoints.exchange_scope}
        if sharepoint_url:
            scopes["sharepoint"] = sharepoint_scope(sharepoint_url)
        tokens: dict[str, AppToken | None] = {}
        for key, scope in scopes.items():
            if key in wanted:
                tokens[key] = await self._identity.app_token(tenant_id, app_id,
                                                             current.credential(), scope)
        missing = [p.display for p in roles_in_tokens(required, tokens).missing]
        if missing:
            raise DiagnosedProblem(
                "missing_permissions",
                "The app lacks permissions it needs: " + ", ".join(missing) + ".",
                f"Run `vdc-tui connections repair {tenant_id}` (a Global Administrator signs "
                "in once), then renew.", {"missing": missing})

    def _generate(self, tenant_id: str, progress: _Progress, current: LoadedPfx,
                  journal: Journal, checklist: Checklist,
                  lifetime_days: int | None = None) -> LoadedPfx:
        from vdc_tui.connect.certificates import generate_self_signed

        checklist.running("generate")
        days = lifetime_days or progress.lifetime_days
        common_name = _common_name(current.info.subject) or "vdc-tui"
        new = generate_self_signed(common_name, lifetime=timedelta(days=days))
        # The key is on disk before the journal names it, and both before addKey: a kill
        # after addKey leaves a key on the app whose private half we still have.
        self._profiles.write_key(tenant_id, new, renewal=True)
        progress.new_sha1 = new.info.sha1
        progress.new_key_id = None
        progress.lifetime_days = days
        self._write_journal(journal, progress)
        checklist.passed("generate", f"SHA-1 {new.info.sha1}, {days} days, valid until "
                                     f"{new.info.not_after:%Y-%m-%d}")
        return new

    def _write_journal(self, journal: Journal, progress: _Progress) -> None:
        journal.pending = PENDING
        journal.application_id = progress.application_id
        journal.app_id = progress.app_id
        journal.restore = {"application_id": progress.application_id, "app_id": progress.app_id,
                           "key_credentials": [], "new_key_id": progress.new_key_id,
                           "renewal": progress.record()}
        journal.write()

    async def _add(self, graph: GraphClient, tenant_id: str, progress: _Progress,
                   current: LoadedPfx, new: LoadedPfx, journal: Journal,
                   checklist: Checklist) -> LoadedPfx:
        """``addKey``; on a lifetime policy, shorter certificates until one is allowed."""
        lifetimes = [d for d in POLICY_LIFETIMES_DAYS if d < progress.lifetime_days]
        while True:
            checklist.running("add")
            body = add_key_body(new, current, progress.application_id)
            try:
                added = await graph.post(f"/applications/{progress.application_id}/addKey",
                                         body)
            except GraphError as err:
                if err.code == "CredentialInvalidLifetimeAsPerAppPolicy" and lifetimes:
                    days = lifetimes.pop(0)
                    checklist.running("add", f"the tenant's app management policy refused "
                                             f"{progress.lifetime_days} days; trying {days}")
                    progress.policy_limited = True
                    new = self._generate(tenant_id, progress, current, journal, checklist,
                                         lifetime_days=days)
                    continue
                if err.code == "CredentialInvalidLifetimeAsPerAppPolicy":
                    raise self._undo_pending(tenant_id, journal, DiagnosedProblem(
                        "credential_lifetime_policy",
                        "The tenant's app management policy refuses certificates even "
                        f"{progress.lifetime_days} days long.",
                        "Ask the customer's admin which credential lifetime the policy "
                        "allows (Entra admin centre → App management policies), or exempt "
                        "the app from it.", {"graph_code": err.code})) from err
                if err.code == "Authentication_MissingOrMalformed" or err.status == 401:
                    raise self._undo_pending(tenant_id, journal, DiagnosedProblem(
                        "proof_rejected",
                        "Microsoft Graph rejected the proof of possession signed with the "
                        "saved certificate.",
                        "Check this machine's clock (`vdc-tui doctor`) and that the saved "
                        "certificate is still on the app; if it is not, a Global "
                        "Administrator signs in with `vdc-tui connect auto`.",
                        {"graph_code": err.code})) from err
                # The request may have been carried out anyway: look before failing.
                if await _has_key(graph, progress.application_id, new.info.sha1):
                    added = {}
                else:
                    raise _graph_failure(err) from err
            except ServiceUnavailable:
                if await _has_key(graph, progress.application_id, new.info.sha1):
                    added = {}
                else:
                    raise
            progress.new_key_id = str(added.get("keyId") or "") or None
            self._write_journal(journal, progress)
            limited = (f"; the tenant's policy allowed {progress.lifetime_days} days"
                       if progress.policy_limited else "")
            checklist.passed("add", f"key {progress.new_key_id or 'added'}{limited}")
            return new

    async def _remove(self, graph: GraphClient, application_id: str, key_id: str,
                      signer: LoadedPfx) -> bool:
        """``removeKey`` with a proof signed by ``signer``; False when it was already gone."""
        body = remove_key_body(key_id, signer, application_id)
        try:
            await graph.post(f"/applications/{application_id}/removeKey", body)
        except GraphError as err:
            if err.status == 404:
                return False
            if err.status == 401:
                raise DiagnosedProblem(
                    "proof_rejected",
                    "Microsoft Graph rejected the proof of possession for removeKey; the "
                    "certificate is still on the app.",
                    "Run the same renew command again in a few minutes (a new key may still "
                    "be replicating); it finishes the renewal.",
                    {"graph_code": err.code}) from err
            raise _graph_failure(err) from err
        return True

    async def _abandon(self, graph: GraphClient, tenant_id: str, progress: _Progress,
                       keys: dict[str, dict[str, Any]], current: LoadedPfx, journal: Journal,
                       problem: DiagnosedProblem) -> VdcError:
        """Undo an unfinished renewal (its new key off the app, the pending key and the
        journal gone): the app and the profile keep the saved certificate only."""
        pending = keys.get(progress.new_sha1 or "")
        if pending is not None:
            await self._remove(graph, progress.application_id, str(pending["keyId"]), current)
        return self._undo_pending(tenant_id, journal, DiagnosedProblem(
            "missing_permissions", problem.message,
            problem.remediation + " The unfinished renewal was undone: its new certificate "
            "is off the app again, the saved one still works.",
            {**problem.details, "renewal_undone": True}))

    def _undo_pending(self, tenant_id: str, journal: Journal, error: VdcError) -> VdcError:
        """Nothing reached the app: forget the pending key and the journal."""
        self._profiles.drop_renewal_key(tenant_id)
        journal.remove()
        return error

    async def _verify(self, tenant_id: str, progress: _Progress, new: LoadedPfx,
                      required: Any, sharepoint_url: str | None,
                      checklist: Checklist) -> dict[str, AppToken]:
        verifier = Verifier(self._endpoints, self._identity, self._pacing, self._catalog,
                            required)
        try:
            tokens, _ = await verifier.confirm(tenant_id, progress.app_id, new.credential(),
                                               sharepoint_url, checklist)
        except ProvisioningFailed as exc:
            # The new key signs in (or not yet) but its tokens lack a permission when time
            # runs out: replication still going, or a grant removed meanwhile. Either way
            # the saved certificate stays in the profile and on the app.
            raise ProvisioningFailed(
                "renewal_incomplete",
                "The new certificate is on the app but its tokens do not carry every "
                f"permission yet ({scrub(exc.message, limit=300)}).",
                "Nothing is broken: the old certificate still works and stays in the "
                "profile. Run the same renew command again in a few minutes: it finishes "
                "this renewal, or undoes it if a permission is really gone (then "
                f"`vdc-tui connections repair {tenant_id}` first).",
                dict(exc.details)) from exc
        return tokens

    def _save(self, tenant_id: str, progress: _Progress, new: LoadedPfx, journal: Journal,
              checklist: Checklist) -> None:
        checklist.running("save")
        self._write_journal(journal, progress)
        self._profiles.write_key(tenant_id, new)
        self._profiles.record_certificate(
            tenant_id, new.info, renewed_at=self._now().isoformat(),
            previous_certificate={"sha1": progress.old_sha1})
        checklist.passed("save", f"SHA-1 {new.info.sha1}")

    async def _finish(self, graph: GraphClient, tenant_id: str, progress: _Progress,
                      new: LoadedPfx, keys: dict[str, dict[str, Any]], checklist: Checklist,
                      *, resumed: bool, token: AppToken | None) -> RenewOutcome:
        checklist.running("remove_old")
        removed = False
        old = keys.get(progress.old_sha1)
        old_key_id = str(old["keyId"]) if old else progress.old_key_id
        if old_key_id and (old is not None or token is not None):
            removed = await self._remove(graph, progress.application_id, old_key_id, new)
        checklist.passed("remove_old", f"SHA-1 {progress.old_sha1} removed" if removed
                         else "already gone")
        self._profiles.drop_renewal_key(tenant_id)
        path = self._profiles.tenant_dir(tenant_id) / JOURNAL_NAME
        Journal(path, tenant_id, "").remove()
        return RenewOutcome(
            tenant_id=tenant_id, app_id=progress.app_id, certificate=new.info,
            previous_sha1=progress.old_sha1, lifetime_days=progress.lifetime_days,
            policy_limited=progress.policy_limited, resumed=resumed, old_key_removed=removed,
            profile=str(self._profiles.tenant_dir(tenant_id) / "profile.json"),
            mode=str(self._profiles.load(tenant_id).get("mode") or "automatic"))


def _common_name(subject: str) -> str | None:
    for part in subject.split(","):
        name, _, value = part.strip().partition("=")
        if name.upper() == "CN" and value:
            return value
    return None


def _sha1(key: dict[str, Any]) -> str:
    return str(key.get("customKeyIdentifier") or "").upper()


async def _read_app(graph: GraphClient, app_id: str) -> dict[str, Any]:
    try:
        return await graph.get(f"/applications(appId='{app_id}')",
                               params={"$select": "id,appId,displayName,keyCredentials"})
    except GraphError as err:
        if err.status == 404:
            raise app_not_in_tenant(app_id) from err
        raise _graph_failure(err) from err


async def _sharepoint_url(graph: GraphClient) -> str | None:
    """The tenant's SharePoint root (to verify the SharePoint token too), if it has one."""
    try:
        site = await graph.get("/sites/root", params={"$select": "id,webUrl"})
    except (GraphError, ServiceUnavailable):
        return None
    url = str(site.get("webUrl") or "")
    return url or None


async def _has_key(graph: GraphClient, application_id: str, sha1: str) -> bool:
    try:
        app = await graph.get(f"/applications/{application_id}",
                              params={"$select": "id,keyCredentials"})
    except (GraphError, ServiceUnavailable):
        return False
    return any(_sha1(k) == sha1 for k in app.get("keyCredentials") or [])


def _graph_failure(err: GraphError) -> VdcError:
    return ServiceUnavailable(
        f"Microsoft Graph refused the request: {scrub(err.message, limit=300)} ({err.code}).",
        "Run the same command again later; an unfinished renewal is finished by the next run.",
        {"graph_code": err.code, "status": err.status})






@dataclass(frozen=True)
class RenewalCandidate:
    """A saved connection considered by ``renew --all``.

    Attributes:
        tenant_id: The tenant.
        name: Its display name (may be ``None``).
        days_left: Whole days until the certificate expires (negative: expired), counted
            as the check counts them (:func:`~vdc_tui.connect.models.days_left`).
        due: It expires within the window and may be renewed.
        skip_reason: Why it is not renewed (``None`` when due).
    """

    tenant_id: str
    name: str | None
    days_left: int | None
    due: bool
    skip_reason: str | None


def renewal_candidates(profiles: ProfileStore, *, within_days: float, include_manual: bool,
                       now: datetime | None = None) -> list[RenewalCandidate]:
    """Every saved connection, with whether ``renew --all --within DAYS`` renews it."""
    moment = now or datetime.now(UTC)
    out: list[RenewalCandidate] = []
    for entry in profiles.list():
        profile = entry.profile
        if profile is None:
            out.append(RenewalCandidate(entry.tenant_id, None, None, False,
                                        f"damaged profile: {entry.error}"))
            continue
        try:
            not_after = datetime.fromisoformat(str(profile["certificate"]["not_after"]))
        except (KeyError, TypeError, ValueError):
            out.append(RenewalCandidate(entry.tenant_id, entry.name, None, False,
                                        "the profile has no certificate end date"))
            continue
        days = days_left(not_after, moment)
        if profile.get("mode") == "manual" and not include_manual:
            reason: str | None = "manual mode (renewed only with --include-manual)"
        elif days > within_days:
            reason = f"not due: {days} days left"
        else:
            reason = None
        out.append(RenewalCandidate(entry.tenant_id, entry.name, days, reason is None, reason))
    return out


__all__ = ["RENEW_STEPS", "RenewOutcome", "RenewalCandidate", "Renewer", "renewal_candidates"]
