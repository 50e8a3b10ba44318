"""Repair: one admin sign-in fixes whatever an admin can fix, keeping the app and its app id.

A Global Administrator signs in (device code). The run reads the tenant like automatic mode
does (the same first ``$batch`` and checks: admin role, the APIs' principals and the roles
they publish), then, step by step (checklist ids):

1. ``app``: the saved app registration. Deleted (it is in the tenant's deleted items for 30
   days) → restored, same ``id`` and ``appId``; past those days → ``app_not_restorable``,
   at once.
2. ``certificate``: the saved certificate as the app's ``keyCredentials`` list it (decided
   from that list, never by waiting for a sign-in to fail). Not on the app, or its key
   credential ended while the certificate is valid → the **saved** certificate is registered
   again (a ``PATCH`` that keeps the other keys): the PFX the backup service holds works
   again. The certificate itself expired or about to (no valid key can prove possession) →
   a new certificate goes on the same app next to the old one.
3. ``principal``: the app's service principal, created again if it is gone (a restored app
   comes back without it).
4. ``application`` / ``grants`` / ``directory_role`` / ``required_access``: only the missing
   grants, Global Reader if it was removed, and ``requiredResourceAccess`` extended.
5. ``verify``: app-only tokens signed by the certificate on the app carry every required
   permission of the selected services (SharePoint at the host the profile recorded, or the
   tenant's root site); SharePoint that cannot be reached to check is a named error, not a
   success. The wait is bounded by the verify time limit.
6. ``save``: the profile records what was verified (and, after a new certificate, the key
   file and profile point at it).
7. ``old_key``: after a new certificate, the old one is taken off the app.

A new certificate is written as the pending key and named in ``repair.json`` before it goes
on the app, so a run killed at any point is finished by the next one (the same app, the
pending key reused, nothing made twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from vdc_tui.connect.entra.application import (
    access_set,
    required_resource_access,
)
from vdc_tui.connect.entra.consent import ConsentCleanup, remove_sign_in_consent
from vdc_tui.connect.entra.grants import grant
from vdc_tui.connect.entra.keys import find_key, judge_key, keys_body, without_keys
from vdc_tui.connect.entra.pacing import Pacing
from vdc_tui.connect.entra.restore import (
    create_principal,
    find_deleted,
    find_principal,
    not_restorable,
    restore_application,
)
from vdc_tui.connect.entra.tenant import (
    check_admin,
    check_resources,
    check_signed_in_tenant,
    read_tenant,
)
from vdc_tui.connect.entra.verification import Verifier
from vdc_tui.connect.errors import DiagnosedProblem, InvalidInput, ServiceUnavailable, VdcError
from vdc_tui.connect.inputs import is_guid
from vdc_tui.connect.microsoft.graph import GraphClient, GraphError
from vdc_tui.connect.models import ProgressCallback, ignore_progress
from vdc_tui.connect.permissions import GLOBAL_READER_ROLE, PermissionCatalog, load_catalog
from vdc_tui.connect.progress import Checklist, Clock, Sleep
from vdc_tui.connect.steps import CONSENT_STEP, CONSENT_TITLE
from vdc_tui.connect.store.fsutil import atomic_write

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from vdc_tui.connect.certificates import LoadedPfx
    from vdc_tui.connect.entra.tenant import FirstReads
    from vdc_tui.connect.microsoft.clouds import Endpoints
    from vdc_tui.connect.microsoft.identity import DelegatedToken, IdentityClient
    from vdc_tui.connect.models import CertificateInfo
    from vdc_tui.connect.permissions import RequiredPermission
    from vdc_tui.connect.store.profile import Profile
    from vdc_tui.connect.store.profiles import ProfileStore

REPAIR_STEPS = {
    "admin": "Signed-in administrator",
    "resource_principals": "Microsoft APIs in the tenant",
    "app": "App registration in the tenant",
    "certificate": "Certificate on the app registration",
    "principal": "App's service principal",
    "application": "App registration and its grants",
    "grants": "Grant the missing permissions",
    "directory_role": "Global Reader role",
    "required_access": "App's requiredResourceAccess",
    "verify": "Permissions present in app-only tokens",
    "save": "Profile records the verified permissions",
    "old_key": "Previous certificate off the app",
    CONSENT_STEP: CONSENT_TITLE,
}
#: The record of an unfinished certificate replacement (next to the profile).
STATE_FILE = "repair.json"
#: The kinds of ``fixed`` entries (design.md).
FIX_KINDS = ("certificate_registered", "certificate_replaced", "app_restored",
             "principal_created", "permissions_granted", "global_reader_assigned")


@dataclass(frozen=True)
class RepairOutcome:
    """What repair did.

    Attributes:
        tenant_id: The tenant.
        app_id: The app's Application (client) ID (the same before and after).
        granted: Permissions granted by this run (``API: permission``).
        already: Permissions that were there already.
        global_reader_assigned: Global Reader was missing and was assigned again.
        required_access_updated: ``requiredResourceAccess`` was extended.
        verified: Permissions the app-only tokens carried afterwards.
        catalog_version: The catalog version the profile now records.
        fixed: What was repaired, in order: ``{"kind": one of FIX_KINDS, …}``.
        certificate: The certificate the profile names now (the one on the app):
            ``sha1``, ``sha256``, ``not_after`` (ISO), plain data (the audit record keeps it).
        export_needed: A new certificate replaced the saved one: the backup service needs
            the new PFX (``connections export``).
    """

    tenant_id: str
    app_id: str
    granted: tuple[str, ...]
    already: tuple[str, ...]
    global_reader_assigned: bool
    required_access_updated: bool
    verified: tuple[str, ...]
    catalog_version: str
    fixed: tuple[dict[str, Any], ...] = ()
    certificate: dict[str, str] | None = None
    export_needed: bool = False
    delegated_consent: ConsentCleanup | None = None

    def summary(self) -> str:
        """What the repair did, in one sentence or two (CLI and dashboard)."""
        done = [_FIX_WORDS[f["kind"]](f) for f in self.fixed]
        what = "; ".join(done) if done else "nothing was broken"
        said = (f"Repaired {self.tenant_id} (app {self.app_id}): {what}; "
                f"{len(self.verified)} permissions verified in app-only tokens.")
        if self.export_needed:
            said += (" The backup service needs the new certificate: export it with "
                     f"`vdc-tui connections export {self.tenant_id} --pfx FILE` and upload "
                     "it there.")
        return said

    def to_json(self) -> dict[str, Any]:
        """The repair-specific part of ``repair --json`` (design.md)."""
        return {
            "fixed": [dict(f) for f in self.fixed],
            "app_id": self.app_id,
            "certificate": None if self.certificate is None else dict(self.certificate),
            "export_needed": self.export_needed,
        }


_FIX_WORDS: dict[str, Callable[[dict[str, Any]], str]] = {
    "app_restored": lambda f: "restored the app registration from deleted items",
    "certificate_registered": lambda f: f"registered the saved certificate {f['sha1']} on the "
                                        "app again",
    "certificate_replaced": lambda f: f"replaced certificate {f['previous_sha1']} with "
                                      f"{f['sha1']}",
    "principal_created": lambda f: "created the app's service principal again",
    "permissions_granted": lambda f: f"granted {len(f['permissions'])} missing permission(s)",
    "global_reader_assigned": lambda f: "assigned Global Reader again",
}


@dataclass
class _Pending:
    """``repair.json``: a new certificate on its way to the app (kill-and-rerun safe)."""

    path: Path
    application_id: str = ""
    old_sha1: str = ""
    new_sha1: str = ""
    fixes: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def read(cls, path: Path) -> _Pending | None:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(raw, dict) or not raw.get("new_sha1"):
            return None
        fixes = raw.get("fixes")
        if not isinstance(fixes, list):
            fixes = []
        return cls(path, str(raw.get("application_id") or ""), str(raw.get("old_sha1") or ""),
                   str(raw.get("new_sha1") or "").upper(),
                   [f for f in fixes if isinstance(f, dict) and f.get("kind") in FIX_KINDS])

    def write(self) -> None:
        record = {"application_id": self.application_id, "old_sha1": self.old_sha1,
                  "new_sha1": self.new_sha1, "fixes": self.fixes,
                  "updated_at": datetime.now(UTC).isoformat()}
        atomic_write(self.path, (json.dumps(record, indent=1) + "\n").encode(), mode=0o600)

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


@dataclass
class _Run:
    """What one repair run has found and done so far."""

    tenant_id: str
    app_id: str
    signer: LoadedPfx
    fixed: list[dict[str, Any]] = field(default_factory=list)
    new_key: LoadedPfx | None = None
    pending: _Pending | None = None
    application: dict[str, Any] = field(default_factory=dict)
    #: This run (or the unfinished one it continues) put the signing key on the app.
    key_changed: bool = False

    def fix(self, kind: str, **facts: Any) -> None:
        self.fixed.append({"kind": kind, **facts})


class Repairer:
    """Fixes a saved connection with one admin token, then verifies it app-only."""

    def __init__(self, endpoints: Endpoints, identity: IdentityClient, profiles: ProfileStore,
                 *, verify_timeout: float = 300.0, replication_timeout: float = 300.0,
                 catalog: PermissionCatalog | None = None, sleep: Sleep = asyncio.sleep,
                 clock: Clock = time.monotonic, now: Callable[[], datetime] | None = None,
                 keep_consent: bool = False) -> None:
        self._keep_consent = keep_consent
        self._endpoints = endpoints
        self._identity = identity
        self._profiles = profiles
        self._pacing = Pacing(verify=verify_timeout, replication=replication_timeout,
                              sleep=sleep, clock=clock)
        self._catalog = catalog or load_catalog()
        self._now = now or (lambda: datetime.now(UTC))

    async def run(self, tenant: str, token: DelegatedToken,
                  on_progress: ProgressCallback = ignore_progress) -> RepairOutcome:
        """Repair the connection of ``tenant`` with the admin's ``token``.

        Raises:
            SignInError: ``user_not_in_tenant``.
            DiagnosedProblem: ``not_global_admin``, ``app_not_restorable``.
            DiagnosedProblem: ``missing_permissions`` (SharePoint could not be verified),
                ``enterprise_app_not_registration`` (the app's registration lives in another
                tenant), a refused sign-in of a key repair did not change.
            ProvisioningFailed: a grant was refused, or replication did not finish in time.
            InvalidInput: the profile names no valid app id.
            ServiceUnavailable: Graph kept failing.
        """
        entry = self._profiles.find(tenant)
        tenant_id = entry.tenant_id
        profile = self._profiles.load(tenant_id)
        checklist = Checklist(REPAIR_STEPS, on_progress)
        app_id = profile.app_id
        services = list(profile.services.backed_up)
        required = self._catalog.required_for(services)
        try:
            if not is_guid(app_id):
                raise InvalidInput(
                    "invalid_argument",
                    f"The profile of tenant {tenant_id} names no valid app id.",
                    "Connect the tenant again with `vdc-tui connect auto`.",
                    {"tenant_id": tenant_id})
            check_signed_in_tenant(token, tenant_id)
            current = self._profiles.read_key(tenant_id)
            with self._profiles.lock(tenant_id):
                run = _Run(tenant_id, app_id, current)
                run.pending = _Pending.read(self._profiles.tenant_dir(tenant_id) / STATE_FILE)
                async with GraphClient(self._endpoints, token.access_token,
                                       sleep=self._pacing.sleep) as graph:
                    found = await self._repair(graph, token, run, profile, required, checklist)
                    verified = await self._verify(run, required, found.pop("sharepoint_url"),
                                                  checklist)
                    version = self._save(run, profile, verified, found, checklist)
                    await self._remove_old_key(graph, run, checklist)
                    # The run's last step: work that follows a verified, saved repair goes
                    # here, with the admin's ``graph`` client (a failure of it must not undo
                    # the repair).
                    cleanup = await remove_sign_in_consent(graph, token, self._catalog,
                                                           checklist, keep=self._keep_consent)
        except VdcError as error:
            checklist.failed(checklist.current or "admin", error)
            raise
        replaced = any(f["kind"] == "certificate_replaced" for f in run.fixed)
        return RepairOutcome(tenant_id=tenant_id, app_id=app_id, verified=tuple(verified),
                             catalog_version=version, fixed=tuple(run.fixed),
                             certificate=_certificate_facts(run.signer.info),
                             export_needed=replaced, delegated_consent=cleanup, **found)

    # -- the tenant side -----------------------------------------------------------------
    async def _repair(self, graph: GraphClient, token: DelegatedToken, run: _Run,
                      profile: Profile, required: tuple[RequiredPermission, ...],
                      checklist: Checklist) -> dict[str, Any]:
        checklist.running("admin")
        first = await read_tenant(graph, token, self._catalog, None, run.app_id)
        check_admin(token, first, checklist)
        resources = check_resources(self._catalog, required, first, checklist)
        app = await self._application(graph, first, run, checklist)
        await self._certificate(graph, app, run, checklist)
        sp_id, created = await self._principal(graph, run, checklist)

        checklist.running("application")
        # A principal made just now holds nothing (and may not be readable yet).
        assignments = [] if created else await graph.get_all(
            f"/servicePrincipals/{sp_id}/appRoleAssignments")
        have = {(str(a.get("resourceId")), str(a.get("appRoleId"))) for a in assignments}
        missing = [p for p in required
                   if (resources[p.resource.key].principal_id, p.id) not in have]
        already = [p.display for p in required if p not in missing]
        roles = [] if created else await graph.get_all(
            "/roleManagement/directory/roleAssignments",
            params={"$filter": f"principalId eq '{sp_id}'"})
        reader = any(r.get("roleDefinitionId") == GLOBAL_READER_ROLE for r in roles)
        checklist.passed("application", f"{len(already)}/{len(required)} permissions granted; "
                         f"Global Reader {'assigned' if reader else 'missing'}")
        if missing or not reader:
            await grant(graph, self._pacing, sp_id, missing, resources, checklist,
                        directory_role=not reader)
        else:
            checklist.passed("grants", "nothing missing")
        if missing:
            run.fix("permissions_granted", permissions=[p.display for p in missing])
        if reader:
            checklist.passed("directory_role", "already assigned")
        else:
            run.fix("global_reader_assigned", role_definition_id=GLOBAL_READER_ROLE)
        checklist.running("required_access")
        current = list(app.get("requiredResourceAccess") or [])
        wanted = required_resource_access(required)
        updated = not access_set(wanted) <= access_set(current)
        if updated:
            await graph.patch(f"/applications/{app['id']}",
                              {"requiredResourceAccess": _merged(current, wanted)})
            checklist.passed("required_access", "missing permissions added")
        else:
            checklist.passed("required_access", "already lists every permission")
        return {"granted": tuple(p.display for p in missing), "already": tuple(already),
                "global_reader_assigned": not reader, "required_access_updated": updated,
                "sharepoint_url": self._sharepoint_url(profile, first)}

    async def _application(self, graph: GraphClient, first: FirstReads, run: _Run,
                           checklist: Checklist) -> dict[str, Any]:
        """The saved app, read with its keys; restored from deleted items if it was deleted."""
        checklist.running("app")
        app = first.body("saved_app")
        if app is None:
            if first.status("saved_app") not in (404, None):
                first.raise_for("saved_app")
            if await find_principal(graph, run.app_id) is not None:
                # Entra deletes an app's principal with it: a principal without the app
                # here is an enterprise app of a registration in another tenant.
                raise DiagnosedProblem(
                    "enterprise_app_not_registration",
                    f"The app {run.app_id} is an enterprise application here; its "
                    "registration (and so its certificates) lives in another tenant.",
                    "Fix the certificate on the registration in its own tenant, or connect "
                    "this tenant with `vdc-tui connect auto` (an app of its own).",
                    {"app_id": run.app_id})
            deleted = await find_deleted(graph, run.app_id)
            if deleted is None:
                raise not_restorable(run.app_id)
            checklist.running("app", "restoring the app registration from deleted items")
            app = await restore_application(graph, self._pacing, deleted, checklist, "app")
            run.fix("app_restored", object_id=str(app.get("id")),
                    deleted_at=deleted.get("deletedDateTime"))
            run.key_changed = True  # its keys come back with it, replicating like it
            checklist.passed("app", f"restored from deleted items ({app.get('id')}), same "
                                    f"app id {run.app_id}")
        else:
            checklist.passed("app", f"{app.get('displayName') or run.app_id} ({app.get('id')})")
        run.application = app
        return app

    async def _certificate(self, graph: GraphClient, app: dict[str, Any], run: _Run,
                           checklist: Checklist) -> None:
        """Make the app list a valid certificate whose private key this machine holds."""
        checklist.running("certificate")
        application_id = str(app["id"])
        keys = app.get("keyCredentials") or []
        pending = run.pending
        if pending is not None and pending.application_id == application_id:
            if run.signer.info.sha1 == pending.new_sha1:
                # Killed after the key file was switched: make the profile say so too.
                self._record(run, pending)
                run.new_key = run.signer
                run.key_changed = True
                run.fixed.extend({**f, "resumed": True} for f in pending.fixes)
                checklist.passed("certificate", f"the new certificate {pending.new_sha1} "
                                                "(an earlier run's) is saved")
                return
            new = self._pending_key(run.tenant_id, pending)
            if new is not None:
                run.fixed.extend({**f, "resumed": True} for f in pending.fixes)
                if find_key(keys, new.info.sha1) is None:
                    await self._patch(graph, application_id, keys_body(app, new))
                run.signer = run.new_key = new
                run.key_changed = True
                checklist.passed("certificate", f"the new certificate {new.info.sha1} (an "
                                                "earlier run's) is on the app")
                return
        stale = [pending.new_sha1] if pending is not None else []
        state = judge_key(app, run.signer.info, now=self._now())
        sha1 = run.signer.info.sha1
        if state.verdict == "valid" and not stale:
            checklist.passed("certificate", f"SHA-1 {sha1} on the app until "
                                            f"{state.ends:%Y-%m-%d}")
            return
        if state.verdict == "valid":
            await self._patch(graph, application_id, without_keys(app, stale))
            checklist.passed("certificate", f"SHA-1 {sha1} on the app; an unfinished earlier "
                                            "run's key removed")
            return
        if state.verdict in ("not_on_app", "ended_on_app"):
            # The saved certificate is good: put it back, so the PFX the backup service
            # holds works again (every other key stays; an ended entry of it is replaced).
            await self._patch(graph, application_id, keys_body(app, run.signer, drop=stale))
            run.key_changed = True
            why = ("was not on the app" if state.verdict == "not_on_app" else
                   "had an ended key credential on the app")
            run.fix("certificate_registered", sha1=sha1,
                    not_after=run.signer.info.not_after.isoformat(), reason=state.verdict)
            checklist.passed("certificate", f"SHA-1 {sha1} {why}: registered again "
                                            f"(valid until {run.signer.info.not_after:%Y-%m-%d})")
            return
        # Expired (or about to): a new certificate on the same app, next to the old one.
        new = self._generate(run.signer)
        pending = _Pending(self._profiles.tenant_dir(run.tenant_id) / STATE_FILE,
                           application_id, sha1, new.info.sha1)
        pending.fixes = [*run.fixed, {"kind": "certificate_replaced",
                                      "previous_sha1": sha1, "sha1": new.info.sha1,
                                      "not_after": new.info.not_after.isoformat(),
                                      "export_needed": True}]
        # The key is on disk before the record names it, and both before the app lists
        # it: a kill after the PATCH leaves a key on the app whose private half we have.
        self._profiles.write_key(run.tenant_id, new, renewal=True)
        pending.write()
        run.pending = pending
        await self._patch(graph, application_id, keys_body(app, new, drop=stale))
        run.fixed = list(pending.fixes)
        run.signer = run.new_key = new
        run.key_changed = True
        checklist.passed("certificate", f"SHA-1 {sha1} expired on "
                                        f"{state.ends:%Y-%m-%d}: new certificate "
                                        f"{new.info.sha1} on the app (valid until "
                                        f"{new.info.not_after:%Y-%m-%d})")

    async def _principal(self, graph: GraphClient, run: _Run,
                         checklist: Checklist) -> tuple[str, bool]:
        """The app's principal id, and whether this run created it."""
        checklist.running("principal")
        sp_id = await find_principal(graph, run.app_id)
        if sp_id is not None:
            checklist.passed("principal", f"principal {sp_id}")
            return sp_id, False
        sp_id = await create_principal(graph, self._pacing, run.app_id, checklist, "principal")
        run.fix("principal_created", id=sp_id)
        checklist.passed("principal", f"created again: principal {sp_id}")
        return sp_id, True

    async def _patch(self, graph: GraphClient, application_id: str,
                     body: dict[str, Any]) -> None:
        """``PATCH`` the app's keys (retried while a restored app may be replicating)."""
        from vdc_tui.connect.microsoft.answers import is_replication_lag

        backoff = self._pacing.backoff(self._pacing.replication)
        while True:
            try:
                await graph.patch(f"/applications/{application_id}", body)
                return
            except GraphError as err:
                if not (is_replication_lag(err) and await backoff.wait()):
                    raise

    # -- this machine's side -------------------------------------------------------------
    def _generate(self, current: LoadedPfx) -> LoadedPfx:
        from cryptography.x509.oid import NameOID

        from vdc_tui.connect.certificates import generate_self_signed

        names = current.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        common_name = str(names[0].value) if names else "vdc-tui"
        return generate_self_signed(common_name or "vdc-tui")

    def _pending_key(self, tenant_id: str, pending: _Pending) -> LoadedPfx | None:
        try:
            key = self._profiles.read_key(tenant_id, renewal=True)
        except VdcError:
            return None
        return key if key.info.sha1 == pending.new_sha1 else None

    def _record(self, run: _Run, pending: _Pending) -> None:
        """The key file holds the new certificate: the profile names it too."""
        named = self._profiles.load(run.tenant_id).certificate.thumbprint
        if named != run.signer.info.sha1.upper():
            self._profiles.record_certificate(
                run.tenant_id, run.signer.info, renewed_at=self._now().isoformat(),
                previous_certificate={"sha1": pending.old_sha1})

    def _sharepoint_url(self, profile: Profile, first: FirstReads) -> str | None:
        """The tenant's SharePoint root: as the profile recorded it, else the root site the
        admin read, else what the SharePoint principal names."""
        recorded = profile.services.sharepoint_url or ""
        if recorded.startswith("https://"):
            return recorded
        site = first.body("site") or {}
        web_url = str(site.get("webUrl") or "")
        if web_url.startswith("https://"):
            return web_url
        return first.sharepoint_hint(self._endpoints)

    async def _verify(self, run: _Run, required: tuple[RequiredPermission, ...],
                      sharepoint_url: str | None, checklist: Checklist) -> list[str]:
        """Every required permission in app-only tokens signed by the key on the app.

        With SharePoint selected and its host unknown, the app's own Graph token (once it
        carries its roles) asks ``GET /sites/root``; a host still unknown is a named error.
        """
        checklist.running("verify")
        started = self._pacing.clock()
        # A key this run did not put on the app was judged valid there: its refusal is a
        # break to name now, not replication to wait out.
        settled = not run.key_changed
        verifier = Verifier(self._endpoints, self._identity, self._pacing, self._catalog,
                            required, key_settled=settled)
        credential = run.signer.credential()
        needs_sharepoint = any(p.resource.key == "sharepoint" for p in required)
        tokens = await verifier.verify(run.tenant_id, run.app_id, credential, sharepoint_url,
                                       checklist)
        if needs_sharepoint and not sharepoint_url:
            sharepoint_url = await _root_site(self._endpoints, tokens["graph"].access_token)
            if not sharepoint_url:
                raise DiagnosedProblem(
                    "missing_permissions",
                    "The SharePoint permissions cannot be verified: the tenant's SharePoint "
                    "host is not known (no root site, and the profile recorded none).",
                    "Check that SharePoint Online is provisioned in the tenant, then run the "
                    "same repair again; or connect it without SharePoint.",
                    {"resource": "sharepoint"})
            sharepoint_only = [p for p in required if p.resource.key == "sharepoint"]
            more = await Verifier(self._endpoints, self._identity, self._pacing,
                                  self._catalog, sharepoint_only, key_settled=settled).verify(
                run.tenant_id, run.app_id, credential, sharepoint_url, checklist)
            tokens["sharepoint"] = more["sharepoint"]
        run.application["sharepoint_url"] = sharepoint_url
        return verifier.report(tokens, self._pacing.clock() - started, checklist)

    def _save(self, run: _Run, profile: Profile, verified: list[str],
              found: dict[str, Any], checklist: Checklist) -> str:
        checklist.running("save")
        if run.new_key is not None and run.pending is not None:
            # Verified: the key file and the profile point at the new certificate.
            self._profiles.write_key(run.tenant_id, run.new_key)
            self._record(run, run.pending)
        version = self._catalog.version
        url = run.application.get("sharepoint_url")
        object_id = run.application.get("id")
        self._profiles.record_verified(
            run.tenant_id, granted=verified, catalog_version=version,
            verified_at=self._now().isoformat(), sharepoint_url=str(url) if url else None,
            object_id=str(object_id) if object_id else None)
        checklist.passed("save", f"catalog {version}" + (
            f"; certificate {run.signer.info.sha1}" if run.new_key is not None else ""))
        return version

    async def _remove_old_key(self, graph: GraphClient, run: _Run,
                              checklist: Checklist) -> None:
        """After a verified new certificate: the old one off the app, the record gone."""
        pending = run.pending
        if run.new_key is None or pending is None:
            checklist.skipped("old_key", "the certificate was not replaced")
            return
        checklist.running("old_key")
        removed = False
        try:
            app = await graph.get(f"/applications/{pending.application_id}",
                                  params={"$select": "id,keyCredentials"})
            if find_key(app.get("keyCredentials") or [], pending.old_sha1) is not None:
                await graph.patch(f"/applications/{pending.application_id}",
                                  without_keys(app, [pending.old_sha1]))
                removed = True
        except (GraphError, ServiceUnavailable) as err:
            # The new certificate works and is saved: a leftover expired key is tidiness.
            checklist.warn("old_key", f"The previous certificate {pending.old_sha1} could not "
                           f"be removed from the app ({getattr(err, 'code', '')}).",
                           "Run the same repair again, or remove it in the Entra admin centre "
                           "(App registrations → Certificates & secrets).")
        else:
            checklist.passed("old_key", f"SHA-1 {pending.old_sha1} removed" if removed
                             else "already gone")
        for fix in run.fixed:
            if fix["kind"] == "certificate_replaced":
                fix["old_key_removed"] = removed or fix.get("old_key_removed", False)
        self._profiles.drop_renewal_key(run.tenant_id)
        pending.remove()


def _certificate_facts(info: CertificateInfo) -> dict[str, str]:
    return {"sha1": info.sha1, "sha256": info.sha256, "not_after": info.not_after.isoformat()}


async def _root_site(endpoints: Endpoints, access_token: str) -> str | None:
    """``webUrl`` of the tenant's root site, read with the app's own Graph token."""
    try:
        async with GraphClient(endpoints, access_token) as graph:
            site = await graph.get("/sites/root", params={"$select": "id,webUrl"})
    except (GraphError, ServiceUnavailable):
        return None
    url = str(site.get("webUrl") or "")
    return url if url.startswith("https://") else None


def _merged(current: list[dict[str, Any]], wanted: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``current`` plus every entry of ``wanted`` it lacks (nothing is taken away)."""
    out: list[dict[str, Any]] = []
    for api in current:
        access: list[dict[str, Any]] = list(api.get("resourceAccess") or [])
        out.append({"resourceAppId": api.get("resourceAppId"), "resourceAccess": access})
    for api in wanted:
        target = next((a for a in out if a["resourceAppId"] == api["resourceAppId"]), None)
        if target is None:
            out.append({"resourceAppId": api["resourceAppId"],
                        "resourceAccess": list(api["resourceAccess"])})
            continue
        entries: list[dict[str, Any]] = target["resourceAccess"]
        ids = {(e.get("id"), e.get("type")) for e in entries}
        entries += [e for e in api["resourceAccess"] if (e["id"], e["type"]) not in ids]
    return out


__all__ = ["FIX_KINDS", "REPAIR_STEPS", "STATE_FILE", "RepairOutcome", "Repairer"]
