"""Automatic mode: from a Global Administrator's delegated token to a verified app.

The run, step by step (checklist ids of ``docs/architecture.md``):

1. ``admin`` / ``organization`` / ``resource_principals``: one ``$batch`` reads the tenant,
   the admin's roles (when the token's ``wids`` do not already show Global Administrator),
   an app this tool made before, the subscriptions, the SharePoint root site and the three
   resource principals, whose app roles are checked against the catalog *before* anything
   is created.
2. ``application``: reuse the app this tool made for the tenant (tag :data:`MANAGED_TAG`)
   or create one, with a fresh self-signed certificate either way.
3. ``service_principal``: create (or find) its principal, retrying while the directory has
   not caught up with the new application.
4. ``grants`` / ``directory_role``: every app role and the Global Reader role, in as few
   ``$batch`` round trips as Graph allows, retrying what the new principal is not yet
   visible for.
5. ``verify``: app-only tokens for Graph, Exchange and SharePoint, polled until their
   ``roles`` carry every required permission.
6. ``services``: which services the tenant has.

Waiting is always a bounded, adaptive backoff (:class:`Backoff`), never a fixed sleep.

A journal (``provisioning.json`` in the tenant's profile folder, 0600, no secrets) is written
before each create or change. A run that is killed outright leaves it behind, and the next run
for the tenant *resumes* the half-made app rather than deleting it: the app carries this tool's
tag and the journal's ids, so it is found even before directory reads see it, and everything
after creation is idempotent (a new certificate replaces the old one, whose private key died
with the killed process; existing grants count as granted). Resuming avoids a delete and a
create racing each other through replication. Until a run verifies, the resumed app counts
as created by it, so a failure deletes it.

Rollback (any failure or cancellation before verification succeeds):

- An app this run created is deleted (its principal goes with it). When the create was still
  in flight (no answer yet), the app is looked for by the run's tag for a short, bounded
  time, since the directory may still be finishing the create or replicating it; found, it
  is deleted; not found, the journal stays and the next run finds it by the tag.
- An app that an earlier, *verified* run made is never left worse than it was: the new
  certificate is added next to the existing keys, verified, and only then are the old keys
  removed — all but the saved profile's certificate, which stays until the next run because
  the new profile is written only when the operator finishes the wizard. The journal
  records the app's keys and required permissions as they were, and a
  failed run puts them back (so the saved connection keeps working); a killed run's journal
  lets the next run put them back.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

from .clouds import Endpoints, sharepoint_scope
from .errors import (
    DiagnosedProblem,
    ProvisioningFailed,
    ServiceUnavailable,
    SignInError,
    VdcError,
    scrub,
)
from .fsutil import atomic_write, ensure_private_dir
from .models import (
    Availability,
    CheckEvent,
    CheckStatus,
    ConnectionResult,
    PermissionStatus,
    ProgressCallback,
    TenantInfo,
)
from .permissions import (
    GLOBAL_ADMINISTRATOR_ROLE,
    GLOBAL_READER_ROLE,
    PermissionCatalog,
    load_catalog,
)
from .services import (
    ServiceDetection,
    combine_detection,
    describe_failure,
    detect,
    sharepoint_root_from_principal,
)

if TYPE_CHECKING:
    from .certificates import LoadedPfx
    from .graph import BatchRequest, BatchResponse, GraphClient, GraphError
    from .identity import AppToken, DelegatedToken, IdentityClient
    from .profiles import ProfileStore

_log = logging.getLogger(__name__)

#: Tag on every app registration this tool creates; how a rerun finds it again.
MANAGED_TAG = "vdc-tui:managed"
#: Tag prefix naming the run that created the app (matches the journal's ``run_id``).
RUN_TAG_PREFIX = "vdc-tui:run:"
#: Marker in the app's ``notes`` so an admin looking at it in the portal knows its owner.
NOTES_MARKER = "Managed by vdc-tui (automatic mode)."
JOURNAL_NAME = "provisioning.json"
#: Properties read of an app that may be reused: enough to pick it, and its keys with their
#: public certificates (``key`` comes back only when ``keyCredentials`` is selected on a
#: single object; research/identity.md §5), so they can be kept next to a new one.
REUSE_SELECT = "id,appId,displayName,tags,createdDateTime,keyCredentials,requiredResourceAccess"
#: Writable ``keyCredential`` properties sent back to keep a key (``customKeyIdentifier`` is
#: left to Graph, which derives it from the certificate).
_KEY_FIELDS = ("keyId", "type", "usage", "key", "displayName", "startDateTime", "endDateTime")

#: Token-endpoint codes that mean "the new app, principal or key has not replicated yet".
NOT_YET_AADSTS = frozenset({700016, 7000229, 700027})
NOT_YET_CODES = frozenset(
    {"app_not_found_in_tenant", "app_missing_service_principal", "certificate_not_registered"}
)

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]

AUTOMATIC_STEPS: dict[str, str] = {
    "admin": "Signed-in account is a Global Administrator",
    "organization": "Tenant",
    "resource_principals": "Microsoft APIs publish the required permissions",
    "application": "App registration and certificate",
    "service_principal": "Enterprise application (service principal)",
    "grants": "Application permissions granted (admin consent)",
    "directory_role": "Global Reader role for the app",
    "verify": "App-only sign-in carries every permission",
    "services": "Services in this tenant",
}


class Backoff:
    """A bounded, adaptive wait between attempts.

    Delays start at ``initial`` and grow by ``factor`` up to ``cap``; after ``total``
    seconds in all, :meth:`wait` says no. Short early delays catch the common case of a
    few seconds of lag; the cap keeps the detection latency low when the lag is long.
    """

    def __init__(
        self,
        *,
        initial: float,
        cap: float,
        total: float,
        factor: float = 1.6,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        self._sleep = sleep
        self._clock = clock
        self._next = initial
        self._cap = cap
        self._factor = factor
        self.started = clock()
        self.deadline = self.started + total
        self.attempt = 1

    @property
    def elapsed(self) -> float:
        """Seconds since the first attempt."""
        return self._clock() - self.started

    def describe(self) -> str:
        """``attempt 3, 4 s``: progress detail for the checklist."""
        return f"attempt {self.attempt}, {self.elapsed:.0f} s"

    async def wait(self) -> bool:
        """Sleep before the next attempt; ``False`` (without sleeping) when time is up."""
        remaining = self.deadline - self._clock()
        if remaining <= 0:
            return False
        delay = min(self._next, remaining)
        self._next = min(self._cap, self._next * self._factor)
        self.attempt += 1
        await self._sleep(delay)
        return True


class Checklist:
    """Reports the steps of a run as :class:`CheckEvent` s and keeps the warnings."""

    def __init__(self, titles: Mapping[str, str], on_progress: ProgressCallback) -> None:
        self._titles = titles
        self._on_progress = on_progress
        self.warnings: list[CheckEvent] = []
        self.current: str | None = None
        self._reported: set[int] = set()

    def _emit(
        self,
        step: str,
        status: CheckStatus,
        detail: str = "",
        remediation: str = "",
        code: str | None = None,
    ) -> CheckEvent:
        event = CheckEvent(
            step, self._titles.get(step, step), status, scrub(detail), scrub(remediation), code
        )
        self._on_progress(event)
        return event

    def running(self, step: str, detail: str = "") -> None:
        """The step started (or made progress)."""
        self.current = step
        self._emit(step, CheckStatus.RUNNING, detail)

    def passed(self, step: str, detail: str = "") -> None:
        """The step succeeded."""
        self._emit(step, CheckStatus.PASS, detail)

    def warn(self, step: str, detail: str, remediation: str) -> None:
        """The step passed with a warning (kept for the summary)."""
        self.warnings.append(self._emit(step, CheckStatus.WARN, detail, remediation))

    def skipped(self, step: str, detail: str) -> None:
        """The step did not apply."""
        self._emit(step, CheckStatus.SKIPPED, detail)

    def failed(self, step: str, error: VdcError) -> None:
        """The step failed with this error (its step is also put into ``details``).

        Reporting the same error object twice emits one event.
        """
        if id(error) in self._reported:
            return
        self._reported.add(id(error))
        error.details.setdefault("step", step)
        self._emit(step, CheckStatus.FAIL, error.message, error.remediation, error.code)


def graph_error_text(err: GraphError) -> str:
    """``HTTP 400 Request_BadRequest: message`` with the server text scrubbed."""
    return scrub(f"HTTP {err.status} {err.code}: {err.message}", limit=300)


def _error_blob(err: GraphError) -> str:
    parts = [err.code or "", err.message or ""]
    for detail in err.details or ():
        parts.extend(str(v) for v in detail.values())
    return " ".join(parts).lower()


def is_replication_lag(err: GraphError) -> bool:
    """The error means an object we just created is not visible here yet."""
    blob = _error_blob(err)
    return (
        err.status == 404
        or "nobackingapplicationobject" in blob
        or "does not reference a valid application object" in blob
        or "not a valid reference" in blob
        or "does not exist" in blob
        or "request_resourcenotfound" in blob
    )


def is_duplicate(err: GraphError) -> bool:
    """The error says the thing we asked for is already there (which is success)."""
    blob = _error_blob(err)
    return err.status in (400, 409) and ("already exists" in blob or "conflicting object" in blob)


# -- journal -------------------------------------------------------------------------------


@dataclass
class Journal:
    """What this run (or a killed earlier run) created; written before each create.

    Attributes:
        path: ``<tenant dir>/provisioning.json``.
        tenant_id: The tenant.
        run_id: Id of the run that started it; also a tag on the app it created.
        pending: The create about to be sent (``application``, ``service_principal``), so a
            kill between request and answer is still traceable (through the run tag).
        application_id: Object id of the app created by an unfinished run.
        app_id: Its Application (client) ID.
        state: ``in_progress`` or ``rollback_incomplete``.
        restore: For a run that changed an app an earlier run had verified: what to put
            back if it fails (``application_id``, ``app_id``, ``key_credentials`` as they
            were, with their public certificates; ``required_resource_access`` when the run
            changed it; ``new_key_id``, the key the run added).
    """

    path: Path
    tenant_id: str
    run_id: str
    pending: str | None = None
    application_id: str | None = None
    app_id: str | None = None
    state: str = "in_progress"
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    restore: dict[str, Any] | None = None

    @classmethod
    def read(cls, path: Path, tenant_id: str) -> Journal | None:
        """The journal a previous run left, or ``None`` (a damaged file counts as none)."""
        try:
            raw = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(raw, dict) or raw.get("tenant_id") != tenant_id:
            return None
        return cls(
            path=path,
            tenant_id=tenant_id,
            run_id=str(raw.get("run_id") or ""),
            pending=raw.get("pending"),
            application_id=raw.get("application_id"),
            app_id=raw.get("app_id"),
            state=str(raw.get("state") or "in_progress"),
            started_at=str(raw.get("started_at") or ""),
            restore=_restore_record(raw.get("restore")),
        )

    def write(self) -> None:
        """Write atomically, 0600 (ids only: nothing secret)."""
        ensure_private_dir(self.path.parent)
        data = {
            "version": 1,
            "tenant_id": self.tenant_id,
            "run_id": self.run_id,
            "state": self.state,
            "pending": self.pending,
            "application_id": self.application_id,
            "app_id": self.app_id,
            "started_at": self.started_at,
            "restore": self.restore,
            "note": "vdc-tui automatic provisioning in progress; the next run for this "
            "tenant resumes (or removes) the app named here, or puts back the certificates "
            "named under 'restore'.",
        }
        atomic_write(self.path, json.dumps(data, indent=2).encode("utf-8"))

    def remove(self) -> None:
        """Forget the journal (the run verified, or its rollback finished)."""
        with suppress(FileNotFoundError):
            self.path.unlink()


@dataclass
class _RunState:
    """What the current run has done, for the result and for rollback."""

    journal: Journal
    application_id: str | None = None
    app_id: str | None = None
    created: bool = False
    service_principal_id: str | None = None
    principal_created: bool = False
    verified: bool = False
    wrote_journal: bool = False
    new_key: dict[str, Any] | None = None
    old_keys_removed: bool = False

    def write_journal(self) -> None:
        """Write the journal and remember that this run owns the file now."""
        self.journal.write()
        self.wrote_journal = True


@dataclass(frozen=True)
class _Resource:
    key: str
    principal_id: str
    roles: Mapping[str, str]  # app-role id -> value


class AutomaticConnector:
    """Automatic mode after device-code sign-in (see the module docstring)."""

    def __init__(
        self,
        endpoints: Endpoints,
        identity: IdentityClient,
        profiles: ProfileStore,
        *,
        app_display_name: str,
        services: frozenset[str],
        verify_timeout: float = 300.0,
        replication_timeout: float = 300.0,
        rollback_timeout: float = 60.0,
        inflight_timeout: float = 30.0,
        catalog: PermissionCatalog | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        """Build a connector.

        Args:
            endpoints: Cloud endpoints.
            identity: The identity client (app-only tokens for verification).
            profiles: The profile store (tenant folder for the journal, and the lock).
            app_display_name: Display name of an app registration it creates.
            services: Services to grant permissions for (Exchange Online always included).
            verify_timeout: Seconds to wait for the grants to show in app-only tokens.
            replication_timeout: Seconds to wait for a new object to become usable.
            rollback_timeout: Seconds to keep trying to delete a new app (or to put back
                a reused app's certificates) on failure.
            inflight_timeout: Seconds to look for an app (or principal) whose create was
                still in flight when the run failed or was cancelled.
            catalog: The permission catalog (tests pass a modified one).
            sleep: Awaitable sleep (tests may observe it).
            clock: Monotonic clock for deadlines.
        """
        self._endpoints = endpoints
        self._identity = identity
        self._profiles = profiles
        self._display_name = app_display_name
        self._services = frozenset(services) | {"exchange"}
        self._verify_timeout = verify_timeout
        self._replication_timeout = replication_timeout
        self._rollback_timeout = rollback_timeout
        self._inflight_timeout = inflight_timeout
        self._catalog = catalog or load_catalog()
        self._sleep = sleep
        self._clock = clock
        self._required = self._catalog.required_for(self._services)

    def _backoff(self, total: float, *, initial: float = 1.0, cap: float = 2.5) -> Backoff:
        # Replication usually takes seconds and sometimes minutes. Growing quickly to a
        # 2.5 s cap keeps the delay between "visible" and "noticed" under ~3 s while the
        # number of requests stays a few dozen for a minute of lag.
        return Backoff(
            initial=initial, cap=cap, total=total, factor=1.5, sleep=self._sleep, clock=self._clock
        )

    async def run(self, token: DelegatedToken, on_progress: ProgressCallback) -> ConnectionResult:
        """Provision and verify; on any failure or cancellation, undo what this run made.

        Raises:
            DiagnosedProblem: ``not_global_admin``.
            ProvisioningFailed: ``provisioning_failed`` or ``rollback_incomplete``.
            ServiceUnavailable: Graph or the token endpoint kept failing.
            asyncio.CancelledError: cancelled (after the rollback).
        """
        from .graph import GraphClient

        checklist = Checklist(AUTOMATIC_STEPS, on_progress)
        tenant_id = token.tenant_id
        with self._profiles.lock(tenant_id):
            path = self._profiles.tenant_dir(tenant_id) / JOURNAL_NAME
            previous = Journal.read(path, tenant_id)
            state = _RunState(Journal(path, tenant_id, uuid.uuid4().hex))
            graph = GraphClient(self._endpoints, token.access_token, sleep=self._sleep)
            try:
                return await self._provision(token, graph, checklist, state, previous)
            except BaseException as exc:
                if state.verified:
                    raise
                failure = self._as_failure(exc, checklist)
                await self._rollback(graph, state, checklist, failure)
                if failure is exc or isinstance(exc, asyncio.CancelledError):
                    raise
                raise failure from exc
            finally:
                await graph.aclose()

    def _as_failure(self, exc: BaseException, checklist: Checklist) -> BaseException:
        """Turn an unexpected error into a ``provisioning_failed`` naming the step."""
        from .graph import GraphError

        step = checklist.current or "admin"
        if isinstance(exc, VdcError):
            checklist.failed(step, exc)
            return exc
        if isinstance(exc, GraphError):
            failure = ProvisioningFailed(
                "provisioning_failed",
                f"{AUTOMATIC_STEPS.get(step, step)} failed: {graph_error_text(exc)}",
                "Try again; if it keeps failing, create the app registration by hand and "
                "use manual mode.",
                {"step": step, "status": exc.status, "graph_code": scrub(exc.code or "")},
            )
            checklist.failed(step, failure)
            return failure
        if isinstance(exc, (KeyError, TypeError, ValueError, AttributeError, IndexError)):
            # An answer without a field it must have ("id" of a created object): the run
            # cannot go on, and it is rolled back like any other failure. Only the type
            # is shown; the log has the traceback.
            _log.warning("%s: malformed Graph answer", step, exc_info=exc)
            failure = ProvisioningFailed(
                "provisioning_failed",
                f"{AUTOMATIC_STEPS.get(step, step)} failed: Microsoft Graph answered with an "
                f"incomplete object ({type(exc).__name__}).",
                "Try again; if it keeps failing, create the app registration by hand and "
                "use manual mode.",
                {"step": step, "exception": type(exc).__name__},
            )
            checklist.failed(step, failure)
            return failure
        return exc

    # -- the run -------------------------------------------------------------------------

    async def _provision(
        self,
        token: DelegatedToken,
        graph: GraphClient,
        checklist: Checklist,
        state: _RunState,
        previous: Journal | None,
    ) -> ConnectionResult:
        from .certificates import generate_self_signed, key_credential

        checklist.running("admin", token.admin.upn)
        # The tenant's sign-in configuration is fetched alongside the first reads, so the
        # verification's token requests later go out at once.
        # Both are awaited to the end (no stray task), and the reads' error is the one raised.
        first, _ = await asyncio.gather(
            self._read_tenant(token, graph, previous),
            self._identity.prepare_tenant(token.tenant_id),
            return_exceptions=True,
        )
        if isinstance(first, BaseException):
            raise first
        self._check_admin(token, first, checklist)
        tenant = self._check_organization(token, first, checklist)
        resources = self._check_resources(first, checklist)

        checklist.running("application")
        pfx = await asyncio.to_thread(
            generate_self_signed, f"{self._display_name} ({tenant.default_domain or tenant.id})"
        )
        credential_entry = key_credential(pfx, f"CN={self._display_name}")
        # Our own key id: the key this run adds can be told from the others on the app.
        credential_entry["keyId"] = str(uuid.uuid4())
        state.new_key = credential_entry
        reuse = self._pick_existing(first, previous, checklist)

        async def application() -> None:
            if reuse is not None:
                await self._reuse_application(
                    graph, reuse, first, credential_entry, state, previous
                )
            else:
                await self._create_application(graph, credential_entry, state)
            checklist.passed(
                "application",
                f"{'Created' if state.created and reuse is None else 'Reusing'} "
                f"{self._display_name!r}: Application (client) ID {state.app_id}; "
                f"certificate SHA-1 {pfx.info.sha1}",
            )

        async def principal_and_grants() -> None:
            sp_id = await self._ensure_service_principal(
                graph, state, checklist, reuse is not None
            )
            state.service_principal_id = sp_id
            await self._grant(graph, sp_id, resources, checklist)

        if reuse is None:
            await application()
            await principal_and_grants()
        else:
            # The app exists: its principal and grants need its ids, not its new key, so
            # they go alongside the key change instead of after it.
            state.application_id = str(reuse["id"])
            state.app_id = str(reuse["appId"])
            await _together(application(), principal_and_grants())
        assert state.app_id is not None and state.application_id is not None

        detection = combine_detection(
            first.value_list("skus"),
            first.problem("skus"),
            first.body("site"),
            first.problem("site"),
        )
        hint = detection.sharepoint_url or first.sharepoint_hint(self._endpoints)
        started = self._clock()
        tokens = await self._verify(tenant.id, state.app_id, pfx, hint, checklist)
        granted = self._verified(tokens, self._clock() - started, checklist)
        if state.journal.restore is not None:
            # Only now that the new certificate is proven may the old ones go.
            await self._remove_old_keys(graph, state, checklist)
        state.verified = True
        state.journal.remove()

        checklist.running("services")
        if first.needs_app_read():
            # The admin's token could not read subscriptions or the root site (the sign-in
            # asks for no SharePoint scope); the app's own Graph token can.
            detection = await self._detect_as_app(tokens["graph"], detection)
        if (
            "sharepoint" in tokens
            and detection.sharepoint_url
            and _host(detection.sharepoint_url) != _host(hint or "")
        ):
            # The root site lives elsewhere than the directory suggested: check that host.
            again = await self._verify(
                tenant.id, state.app_id, pfx, detection.sharepoint_url, checklist
            )
            tokens["sharepoint"] = again["sharepoint"]
        self._report_services(detection, checklist)
        return ConnectionResult(
            mode="automatic",
            tenant=tenant,
            app_id=state.app_id,
            app_object_id=state.application_id,
            certificate=pfx.info,
            certificate_pfx=pfx.pfx_bytes,
            signed_in_as=token.admin.upn,
            services=detection.services,
            permissions=PermissionStatus(granted=tuple(granted), missing=()),
            warnings=tuple(checklist.warnings),
            created_app=state.created,
            extra={
                "service_principal_id": state.service_principal_id,
                "sharepoint_url": detection.sharepoint_url,
            },
        )

    # -- step 1: one batch of reads ------------------------------------------------------

    async def _read_tenant(
        self, token: DelegatedToken, graph: GraphClient, previous: Journal | None
    ) -> _Answers:
        from .graph import BatchRequest

        requests = [
            BatchRequest("org", "GET", "/organization"),
            BatchRequest("apps", "GET", _managed_apps_query()),
            BatchRequest("skus", "GET", "/subscribedSkus"),
            BatchRequest("site", "GET", "/sites/root"),
        ]
        if GLOBAL_ADMINISTRATOR_ROLE not in token.admin.role_template_ids:
            # The token's wids may be absent (or trimmed); ask the directory, transitive so
            # that a role held through a group counts as it does for the portal.
            requests.append(BatchRequest("me_roles", "GET", "/me/transitiveMemberOf"))
        select = f"?$select={REUSE_SELECT}"
        if previous is not None and previous.application_id:
            requests.append(
                BatchRequest(
                    "journal_app", "GET", f"/applications/{previous.application_id}{select}"
                )
            )
        restoring = (previous.restore or {}).get("application_id") if previous else None
        if restoring:
            # A killed rerun changed this app; it comes first, so its keys can be put right.
            requests.append(
                BatchRequest("restore_app", "GET", f"/applications/{restoring}{select}")
            )
        saved = self._saved_app_id(token.tenant_id)
        if saved and _is_guid(saved):  # it goes into a URL: a local file is not trusted blindly
            # The app a rerun most likely reuses, read with its keys now rather than later.
            requests.append(
                BatchRequest("saved_app", "GET", f"/applications(appId='{saved}'){select}")
            )
        for res in self._catalog.resources:
            requests.append(
                BatchRequest(f"sp_{res.key}", "GET", f"/servicePrincipals(appId='{res.app_id}')")
            )
        answers = _Answers(await graph.batch(requests))
        if answers.status("apps") == 400:
            # A directory that does not support filtering on tags: list and filter here.
            apps = await graph.get_all("/applications")
            answers.replace(
                "apps", {"value": [a for a in apps if MANAGED_TAG in (a.get("tags") or [])]}
            )
        return answers

    def _check_admin(self, token: DelegatedToken, first: _Answers, checklist: Checklist) -> None:
        upn = scrub(token.admin.upn, limit=200)
        if GLOBAL_ADMINISTRATOR_ROLE in token.admin.role_template_ids:
            checklist.passed("admin", f"{upn} is a Global Administrator")
            return
        roles = first.value_list("me_roles")
        if roles is None:
            first.raise_for("me_roles")
        held = {
            str(r.get("roleTemplateId") or "")
            for r in roles or ()
            if str(r.get("@odata.type", "")).endswith("directoryRole")
        }
        if GLOBAL_ADMINISTRATOR_ROLE in held:
            checklist.passed("admin", f"{upn} is a Global Administrator")
            return
        raise DiagnosedProblem(
            "not_global_admin",
            f"{upn} is not a Global Administrator of this tenant.",
            "Sign in again with an account that holds the Global Administrator role "
            "(an eligible PIM role must be activated first), or use manual mode.",
            {"upn": upn, "tenant_id": token.tenant_id},
        )

    def _check_organization(
        self, token: DelegatedToken, first: _Answers, checklist: Checklist
    ) -> TenantInfo:
        checklist.running("organization")
        orgs = first.value_list("org")
        if not orgs:
            first.raise_for("org")
            raise ProvisioningFailed(
                "provisioning_failed",
                "The tenant's organization object could not be read.",
                "Try again in a minute.",
            )
        org = orgs[0]
        domains = org.get("verifiedDomains") or []
        default = next((d.get("name") for d in domains if d.get("isDefault")), None)
        tenant = TenantInfo(
            id=str(org.get("id") or token.tenant_id),
            name=scrub(str(org.get("displayName") or ""), limit=256) or None,
            default_domain=scrub(str(default), limit=256) if default else None,
            cloud=self._endpoints.cloud.name,
        )
        checklist.passed(
            "organization", f"{tenant.name or '?'} ({tenant.default_domain or '?'}), {tenant.id}"
        )
        return tenant

    def _check_resources(self, first: _Answers, checklist: Checklist) -> dict[str, _Resource]:
        """Every catalog permission must be an application role its API publishes."""
        checklist.running("resource_principals")
        out: dict[str, _Resource] = {}
        problems: list[str] = []
        wanted = self._catalog.by_resource(self._required)
        for res in self._catalog.resources:
            if res.key not in wanted:
                continue
            body = first.body(f"sp_{res.key}")
            if body is None:
                raise ProvisioningFailed(
                    "provisioning_failed",
                    f"The {res.name} service principal ({res.app_id}) could not be read: "
                    f"{first.problem(f'sp_{res.key}')}.",
                    f"Check that {res.name} is available in this tenant, then try again.",
                    {"resource": res.name, "app_id": res.app_id},
                )
            roles = {
                str(r.get("id")): str(r.get("value"))
                for r in body.get("appRoles") or ()
                if "Application" in (r.get("allowedMemberTypes") or ["Application"])
                and r.get("isEnabled", True)
            }
            for perm in wanted[res.key]:
                published = roles.get(perm.id)
                if published != perm.value:
                    problems.append(
                        f"{perm.display} ({perm.id})"
                        + (" is published as " + repr(published) if published else " not published")
                    )
            out[res.key] = _Resource(res.key, str(body["id"]), roles)
        if problems:
            raise ProvisioningFailed(
                "provisioning_failed",
                "Permission ids of the catalog do not match what the APIs publish: "
                + "; ".join(problems)
                + ".",
                "Update vdc-tui (its permission catalog is out of date for this cloud), or "
                "grant the permissions by hand and use manual mode.",
                {"mismatched": problems},
            )
        checklist.passed("resource_principals", f"{len(self._required)} permissions found")
        return out

    # -- step 2: the application -------------------------------------------------------

    def _pick_existing(
        self, first: _Answers, previous: Journal | None, checklist: Checklist
    ) -> dict[str, Any] | None:
        apps = [a for a in first.value_list("apps") or () if MANAGED_TAG in (a.get("tags") or [])]
        chosen = first.body("journal_app") or first.body("restore_app")
        if chosen is None and previous is not None and previous.run_id:
            # An unfinished run that died before it read the create's answer: its app
            # carries the run's tag.
            run_tag = RUN_TAG_PREFIX + previous.run_id
            chosen = next((a for a in apps if run_tag in (a.get("tags") or [])), None)
        if chosen is None and apps:
            # Prefer the app of the saved profile; otherwise the oldest, so reruns are stable.
            saved = self._saved_app_id(str(first.tenant_id or ""))
            apps.sort(key=lambda a: (a.get("appId") != saved, str(a.get("createdDateTime") or "")))
            chosen = apps[0]
        if chosen is None:
            return None
        others = [str(a.get("appId")) for a in apps if a.get("id") != chosen.get("id")]
        if others:
            checklist.warn(
                "application",
                f"{len(others) + 1} app registrations made by vdc-tui exist; "
                f"reusing {chosen.get('appId')}.",
                "Delete the others in the Entra admin centre (App registrations) when no "
                "connection uses them: " + ", ".join(others),
            )
        return chosen

    def _saved_certificate_sha1(self, tenant_id: str, app_id: str | None) -> str | None:
        """SHA-1 thumbprint of the saved profile's certificate, when it is for this app."""
        try:
            profile = self._profiles.load(tenant_id)
        except (VdcError, OSError, KeyError, ValueError):
            return None
        connection = profile.get("app") or {}
        certificate = profile.get("certificate") or {}
        if not isinstance(connection, dict) or not isinstance(certificate, dict):
            return None
        if app_id is None or str(connection.get("app_id") or "").lower() != app_id.lower():
            return None
        sha1 = certificate.get("sha1")
        return str(sha1).upper() if sha1 else None

    def _saved_app_id(self, tenant_id: str) -> str | None:
        if not tenant_id:
            return None
        try:
            profile = self._profiles.load(tenant_id)
        except (VdcError, OSError, KeyError, ValueError):
            return None
        app_id = profile.get("app_id") or (profile.get("app") or {}).get("app_id")
        return str(app_id) if app_id else None

    def _required_resource_access(self) -> list[dict[str, Any]]:
        by_api: dict[str, list[dict[str, str]]] = {}
        for perm in self._required:
            entries = by_api.setdefault(perm.resource.app_id, [])
            if all(e["id"] != perm.id for e in entries):
                entries.append({"id": perm.id, "type": "Role"})
        return [
            {"resourceAppId": app_id, "resourceAccess": access} for app_id, access in by_api.items()
        ]

    def _application_body(self, credential_entry: dict[str, Any]) -> dict[str, Any]:
        return {
            "requiredResourceAccess": self._required_resource_access(),
            # A created (or resumed, half-made) app ends with exactly one key: the new
            # certificate. A resumed app's old key died with the killed run's process.
            "keyCredentials": [credential_entry],
        }

    async def _create_application(
        self, graph: GraphClient, credential_entry: dict[str, Any], state: _RunState
    ) -> None:
        state.journal.pending = "application"
        state.write_journal()
        body = {
            "displayName": self._display_name,
            "signInAudience": "AzureADMyOrg",
            "tags": [MANAGED_TAG, RUN_TAG_PREFIX + state.journal.run_id],
            "notes": f"{NOTES_MARKER} Tenant {state.journal.tenant_id}. Certificates are "
            "rotated by vdc-tui; do not add credentials by hand.",
            **self._application_body(credential_entry),
        }
        created = await graph.post("/applications", body)
        state.application_id = str(created["id"])
        state.app_id = str(created["appId"])
        state.created = True
        state.journal.pending = None
        state.journal.application_id = state.application_id
        state.journal.app_id = state.app_id
        state.write_journal()

    async def _reuse_application(
        self,
        graph: GraphClient,
        app: Mapping[str, Any],
        first: _Answers,
        credential_entry: dict[str, Any],
        state: _RunState,
        previous: Journal | None,
    ) -> None:
        state.application_id = str(app["id"])
        state.app_id = str(app["appId"])
        run_tag_of_previous = RUN_TAG_PREFIX + previous.run_id if previous else None
        # An app an unfinished run created is still "ours to delete" until a run verifies.
        state.created = previous is not None and (
            previous.application_id == state.application_id
            or (run_tag_of_previous is not None and run_tag_of_previous in (app.get("tags") or []))
        )
        if state.created:
            state.journal.application_id = state.application_id
            state.journal.app_id = state.app_id
            state.write_journal()
            await self._patch_application(
                graph, state.application_id, self._application_body(credential_entry)
            )
            return
        # An app a verified run made: a saved connection may depend on its keys. Add the
        # new key next to them; they go only after the new one is verified.
        current = first.app_with_keys(state.application_id) or await self._read_application(
            graph, state.application_id
        )
        baseline = (
            previous.restore
            if previous is not None
            and previous.restore is not None
            and previous.restore.get("application_id") == state.application_id
            else None
        )
        if baseline is not None:
            # A killed rerun left its own (now useless) key on the app: start from the keys
            # the app had before that run, as its journal recorded them.
            keys = list(baseline["key_credentials"])
            access_before = baseline.get("required_resource_access")
        else:
            keys = [_writable_key(k) for k in current.get("keyCredentials") or ()]
            access_before = None
        if access_before is None:
            access_before = list(current.get("requiredResourceAccess") or ())
        wanted = self._required_resource_access()
        change_access = _access_set(access_before) != _access_set(wanted)
        state.journal.restore = {
            "application_id": state.application_id,
            "app_id": state.app_id,
            "key_credentials": keys,
            "required_resource_access": access_before if change_access else None,
            "new_key_id": credential_entry["keyId"],
        }
        state.write_journal()
        body: dict[str, Any] = {"keyCredentials": [*keys, credential_entry]}
        if change_access:
            body["requiredResourceAccess"] = wanted
        await self._patch_application(graph, state.application_id, body)

    async def _read_application(self, graph: GraphClient, application_id: str) -> dict[str, Any]:
        """The app with its keys' certificates (retried while it may be replicating)."""
        from .graph import GraphError

        backoff = self._backoff(self._replication_timeout)
        while True:
            try:
                return await graph.get(
                    f"/applications/{application_id}", params={"$select": REUSE_SELECT}
                )
            except GraphError as err:
                if not (is_replication_lag(err) and await backoff.wait()):
                    raise

    async def _patch_application(
        self, graph: GraphClient, application_id: str, body: dict[str, Any]
    ) -> None:
        from .graph import GraphError

        backoff = self._backoff(self._replication_timeout)
        while True:
            try:
                await graph.patch(f"/applications/{application_id}", body)
                return
            except GraphError as err:
                if not (is_replication_lag(err) and await backoff.wait()):
                    raise

    async def _remove_old_keys(
        self, graph: GraphClient, state: _RunState, checklist: Checklist
    ) -> None:
        """After verification: leave only the new key on a reused app."""
        from .graph import GraphError

        restore = state.journal.restore
        assert restore is not None and state.new_key is not None
        assert state.application_id is not None
        old = [k for k in restore["key_credentials"] if k.get("keyId") != state.new_key["keyId"]]
        # The certificate of the connection profile saved now stays too: the new profile is
        # written only when the operator finishes the wizard, and an operator who quits
        # before that must still have a working connection. The next run removes it.
        saved = self._saved_certificate_sha1(state.journal.tenant_id, state.app_id)
        kept = [k for k in old if saved is not None and _key_sha1(k) == saved]
        # Sent even when the app had no key before: a killed earlier rerun may have left
        # its own on it. The flag is set before sending: the change may land even if its
        # answer never arrives.
        state.old_keys_removed = True
        try:
            await self._patch_application(
                graph, state.application_id, {"keyCredentials": [*kept, state.new_key]}
            )
        except (GraphError, ServiceUnavailable) as err:
            # The new certificate works and is verified; keeping the connection matters more
            # than tidiness, so this is a warning, not a failure that would undo it.
            why = graph_error_text(err) if isinstance(err, GraphError) else err.message
            checklist.warn(
                "application",
                f"The previous certificate(s) could not be removed from app {state.app_id}: "
                f"{why}",
                "Remove every certificate but SHA-1 "
                + _key_sha1(state.new_key)
                + " in the Entra admin centre (App registrations → Certificates & secrets)"
                + (" (previous: " + ", ".join(_key_sha1(k) for k in old) + ")" if old else "")
                + ", or run automatic mode again.",
            )

    # -- step 3: the service principal -------------------------------------------------

    async def _ensure_service_principal(
        self, graph: GraphClient, state: _RunState, checklist: Checklist, reused: bool
    ) -> str:
        from .graph import GraphError

        checklist.running("service_principal")
        assert state.app_id is not None
        if reused:
            try:
                found = await graph.get(f"/servicePrincipals(appId='{state.app_id}')")
                checklist.passed("service_principal", f"Existing principal {found['id']}")
                return str(found["id"])
            except GraphError as err:
                if err.status != 404:
                    raise
        state.journal.pending = "service_principal"
        state.write_journal()
        backoff = self._backoff(self._replication_timeout)
        while True:
            try:
                created = await graph.post("/servicePrincipals", {"appId": state.app_id})
                sp_id = str(created["id"])
                break
            except GraphError as err:
                if is_duplicate(err):
                    found = await graph.get(f"/servicePrincipals(appId='{state.app_id}')")
                    sp_id = str(found["id"])
                    break
                if not is_replication_lag(err):
                    raise
                if not await backoff.wait():
                    raise ProvisioningFailed(
                        "provisioning_failed",
                        f"The directory did not make application {state.app_id} usable within "
                        f"{self._replication_timeout:.0f} s.",
                        "Microsoft Entra is replicating slowly; try again in a few minutes.",
                        {"app_id": state.app_id},
                    ) from err
                checklist.running(
                    "service_principal",
                    f"Waiting for the new application to replicate ({backoff.describe()})",
                )
        state.principal_created = True
        state.service_principal_id = sp_id
        state.journal.pending = None
        state.write_journal()
        checklist.passed("service_principal", f"Principal {sp_id}")
        return sp_id

    # -- step 4: grants and the directory role ------------------------------------------

    async def _grant(
        self,
        graph: GraphClient,
        sp_id: str,
        resources: Mapping[str, _Resource],
        checklist: Checklist,
    ) -> None:
        from .graph import BatchRequest

        checklist.running("grants", f"0/{len(self._required)}")
        checklist.running("directory_role")
        pending: dict[str, BatchRequest] = {}
        labels: dict[str, str] = {}
        seen: set[tuple[str, str]] = set()
        for perm in self._required:
            res = resources[perm.resource.key]
            if (res.principal_id, perm.id) in seen:
                continue
            seen.add((res.principal_id, perm.id))
            rid = f"g{len(pending)}"
            pending[rid] = BatchRequest(
                rid,
                "POST",
                f"/servicePrincipals/{res.principal_id}/appRoleAssignedTo",
                {"principalId": sp_id, "resourceId": res.principal_id, "appRoleId": perm.id},
                {"Content-Type": "application/json"},
            )
            labels[rid] = perm.display
        pending["role"] = BatchRequest(
            "role",
            "POST",
            "/roleManagement/directory/roleAssignments",
            {"roleDefinitionId": GLOBAL_READER_ROLE, "principalId": sp_id, "directoryScopeId": "/"},
            {"Content-Type": "application/json"},
        )
        total = len(pending) - 1
        done = 0
        role_problem: str | None = None
        backoff = self._backoff(self._replication_timeout)
        probe: str | None = None
        while pending:
            # While the new principal is not visible every grant fails alike: one probe
            # request per round finds out, instead of the whole set (Graph throttles each
            # request of a batch on its own).
            sending = {probe: pending[probe]} if probe is not None else pending
            answers = await _batch_parallel(graph, list(sending.values()))
            retry: dict[str, BatchRequest] = {
                rid: req for rid, req in pending.items() if rid not in sending
            }
            lagging = 0
            errors: list[str] = []
            for rid, request in sending.items():
                answer = answers.get(rid)
                err = answer.error() if answer is not None else None
                if answer is not None and err is None:
                    done += rid != "role"
                    continue
                if err is not None and is_duplicate(err):
                    done += rid != "role"
                    continue
                if answer is None or (err is not None and is_replication_lag(err)):
                    retry[rid] = request
                    lagging += 1
                    continue
                assert err is not None
                if rid == "role":
                    role_problem = graph_error_text(err)
                else:
                    errors.append(f"{labels[rid]}: {graph_error_text(err)}")
            if errors:
                raise ProvisioningFailed(
                    "provisioning_failed",
                    "Some permissions could not be granted: " + "; ".join(errors),
                    "Check that the signed-in account may grant application permissions "
                    "(Global Administrator), then try again.",
                    {"failed": errors},
                )
            if "role" in sending and "role" not in retry:
                self._report_role(checklist, role_problem)
            pending = retry
            if not pending:
                break
            if lagging == 0:
                probe = None  # the probe went through: send the rest at once
                continue
            probe = next(iter(pending))
            checklist.running(
                "grants",
                f"{done}/{total}; waiting for the new principal to replicate "
                f"({backoff.describe()})",
            )
            if not await backoff.wait():
                names = [labels.get(r, "Global Reader role") for r in pending]
                raise ProvisioningFailed(
                    "provisioning_failed",
                    "The new principal did not become usable for: " + ", ".join(names) + ".",
                    "Microsoft Entra is replicating slowly; try again in a few minutes.",
                    {"pending": names},
                )
        checklist.passed("grants", f"{total}/{total} application permissions granted")

    @staticmethod
    def _report_role(checklist: Checklist, problem: str | None) -> None:
        if problem is None:
            checklist.passed("directory_role", "Global Reader assigned")
        else:
            checklist.warn(
                "directory_role",
                f"Global Reader could not be assigned: {problem}",
                "Assign the Global Reader role to the app in Entra admin centre → Roles and "
                "administrators → Global Reader → Add assignments.",
            )

    # -- step 5: verification -----------------------------------------------------------

    async def _verify(
        self,
        tenant_id: str,
        app_id: str,
        pfx: LoadedPfx,
        sharepoint_url: str | None,
        checklist: Checklist,
    ) -> dict[str, AppToken]:
        """Poll app-only tokens (in parallel) until every required role is in them."""
        checklist.running("verify")
        credential = pfx.credential()
        wanted = self._catalog.by_resource(self._required)
        progress: dict[str, str] = {}
        started = self._clock()
        deadline = started + self._verify_timeout

        def report(key: str, text: str) -> None:
            progress[key] = text
            checklist.running("verify", "; ".join(f"{k}: {v}" for k, v in sorted(progress.items())))

        async def one(key: str, scope: str) -> AppToken:
            required = {p.value for p in wanted.get(key, ())}
            backoff = Backoff(
                initial=0.25,
                cap=2.5,
                total=max(0.0, deadline - self._clock()),
                sleep=self._sleep,
                clock=self._clock,
            )
            missing: set[str] = set(required)
            while True:
                try:
                    tok = await self._identity.app_token(tenant_id, app_id, credential, scope)
                    missing = required - set(tok.roles)
                    if not missing:
                        report(key, "ok")
                        return tok
                    report(key, f"{len(missing)} not in the token yet ({backoff.describe()})")
                except (SignInError, DiagnosedProblem) as exc:
                    if not _not_yet(exc):
                        raise
                    report(
                        key,
                        f"sign-in not ready: AADSTS{exc.details.get('aadsts', '?')} "
                        f"({backoff.describe()})",
                    )
                if not await backoff.wait():
                    raise _VerifyTimeout(key, sorted(missing) or sorted(required))

        results: dict[str, AppToken] = {}

        async def fetch(key: str, scope: str) -> None:
            results[key] = await one(key, scope)

        polls = [
            fetch("graph", self._endpoints.graph_scope),
            fetch("exchange", self._endpoints.exchange_scope),
        ]
        if "sharepoint" in wanted and sharepoint_url:
            polls.append(fetch("sharepoint", sharepoint_scope(sharepoint_url)))
        try:
            # One poll failing stops the others: none may outlive a failed run.
            await _together(*polls)
        except _VerifyTimeout as timeout:
            still = [
                p.display
                for p in self._required
                if p.resource.key == timeout.key and p.value in timeout.missing
            ]
            raise ProvisioningFailed(
                "provisioning_failed",
                f"After {self._verify_timeout:.0f} s the app's {timeout.key} token still lacks: "
                + ", ".join(still or timeout.missing)
                + ".",
                "Microsoft Entra is replicating slowly; run automatic mode again in a few "
                "minutes (it reuses the app), or grant admin consent in the Entra admin centre.",
                {"missing": still or timeout.missing, "resource": timeout.key},
            ) from None
        return results

    def _verified(
        self, results: Mapping[str, AppToken], elapsed: float, checklist: Checklist
    ) -> list[str]:
        """Report the verification; the permissions the tokens carried."""
        granted = [
            p.display
            for p in self._required
            if p.resource.key in results and p.value in results[p.resource.key].roles
        ]
        unchecked = [p.display for p in self._required if p.resource.key not in results]
        checklist.passed(
            "verify", f"{len(granted)} permissions present in app-only tokens ({elapsed:.0f} s)"
        )
        if unchecked:
            checklist.warn(
                "verify",
                "Not checked (the tenant has no SharePoint site to sign in to): "
                + ", ".join(unchecked),
                "Nothing to do now; run automatic mode again once SharePoint exists.",
            )
        return granted

    async def _detect_as_app(self, token: AppToken, before: ServiceDetection) -> ServiceDetection:
        from .graph import GraphClient

        app_graph = GraphClient(self._endpoints, token.access_token, sleep=self._sleep)
        try:
            return await detect(app_graph)
        except VdcError:
            return before
        finally:
            await app_graph.aclose()

    # -- step 6: services ----------------------------------------------------------------

    def _report_services(self, detection: ServiceDetection, checklist: Checklist) -> None:
        lines = [f"{s.label}: {s.availability.value.replace('_', ' ')}" for s in detection.services]
        lacking = [
            s
            for s in detection.services
            if s.service in self._services and s.availability is not Availability.AVAILABLE
        ]
        if lacking:
            checklist.warn(
                "services",
                "; ".join(lines),
                " ".join(f"{s.label}: {s.reason}" for s in lacking)
                + " Only available services can be selected.",
            )
        else:
            checklist.passed("services", "; ".join(lines))

    # -- rollback -----------------------------------------------------------------------

    async def _rollback(
        self,
        graph: GraphClient,
        state: _RunState,
        checklist: Checklist,
        failure: BaseException,
    ) -> None:
        """Undo this run: delete the app it created, or put back a reused app's keys."""
        if not state.created and state.journal.pending == "application":
            # The create was sent and never answered: it may exist, or still be coming.
            await self._find_inflight_application(graph, state, checklist)
        if state.created and state.application_id is not None:
            await self._delete_application(graph, state, checklist)
            return
        if state.journal.restore is not None:
            await self._restore_application(graph, state, checklist)
            return
        if state.journal.pending == "application":
            checklist.warn(
                "application",
                "The app registration may have been created before the failure; it was not "
                f"found within {self._inflight_timeout:.0f} s.",
                "Run automatic mode again: it finds that app by this run's tag and reuses it.",
            )
            return  # the journal stays: the next run looks for the run's tag
        if state.wrote_journal:
            state.journal.remove()
        # A journal this run did not write belongs to an earlier, unfinished run: it
        # stays, so the next run can still resume that run's app.

    async def _find_inflight_application(
        self, graph: GraphClient, state: _RunState, checklist: Checklist
    ) -> None:
        """Look for the app of an unanswered create by the run's tag, for a bounded time."""
        from .graph import GraphError

        tag = RUN_TAG_PREFIX + state.journal.run_id
        backoff = self._backoff(self._inflight_timeout, initial=0.25)
        while True:
            try:
                found = await _apps_tagged(graph, tag)
            except (GraphError, ServiceUnavailable):
                found = []  # keep looking until the window closes
            if found:
                app = found[0]
                state.application_id = str(app["id"])
                state.app_id = str(app["appId"])
                state.created = True
                state.journal.pending = None
                state.journal.application_id = state.application_id
                state.journal.app_id = state.app_id
                with suppress(OSError):
                    state.write_journal()  # a kill during the delete still knows the id
                return
            checklist.running(
                "application",
                "Rolling back: looking for the app registration the interrupted request may "
                f"have created ({backoff.describe()})",
            )
            if not await backoff.wait():
                return

    async def _delete_application(
        self, graph: GraphClient, state: _RunState, checklist: Checklist
    ) -> None:
        """Delete the app this run created (its principal goes with it)."""
        from .graph import GraphError

        checklist.running("application", f"Rolling back: deleting {state.app_id}")
        backoff = self._backoff(self._rollback_timeout, initial=0.5)
        while True:
            try:
                await graph.delete(f"/applications/{state.application_id}")
                break
            except GraphError as err:
                if err.status != 404:
                    self._rollback_incomplete(state, checklist, graph_error_text(err))
                # A 404 right after creation may be replication lag, so try again for a
                # while; after that, the app is gone from everywhere this tool can see.
                if not await backoff.wait():
                    break
            except ServiceUnavailable as err:
                self._rollback_incomplete(state, checklist, err.message)
        state.journal.remove()
        checklist.warn(
            "application",
            f"Rolled back: deleted app registration {state.app_id} (object "
            f"{state.application_id}) and its principal.",
            "Fix the cause shown above, then run automatic mode again.",
        )

    async def _restore_application(
        self, graph: GraphClient, state: _RunState, checklist: Checklist
    ) -> None:
        """Put a reused app's keys (and required permissions) back as they were."""
        from .graph import GraphError

        restore = state.journal.restore
        assert restore is not None
        application_id = str(restore["application_id"])
        body: dict[str, Any] = {"keyCredentials": list(restore["key_credentials"])}
        if restore.get("required_resource_access") is not None:
            body["requiredResourceAccess"] = restore["required_resource_access"]
        checklist.running(
            "application", f"Rolling back: putting back the certificates of {restore['app_id']}"
        )
        backoff = self._backoff(self._rollback_timeout, initial=0.5)
        gone = False
        while True:
            try:
                await graph.patch(f"/applications/{application_id}", body)
                break
            except GraphError as err:
                if err.status == 404:
                    gone = True  # deleted meanwhile: nothing of ours is left on it
                    break
                if not (is_replication_lag(err) and await backoff.wait()):
                    self._restore_incomplete(state, checklist, graph_error_text(err))
            except ServiceUnavailable as err:
                self._restore_incomplete(state, checklist, err.message)
        if state.principal_created and state.service_principal_id and not gone:
            # This run made the principal of an app that had none: it goes too.
            backoff = self._backoff(self._rollback_timeout, initial=0.5)
            while True:
                try:
                    await graph.delete(f"/servicePrincipals/{state.service_principal_id}")
                    break
                except GraphError as err:
                    if err.status != 404:
                        self._restore_incomplete(state, checklist, graph_error_text(err))
                    # Right after creation a 404 may be replication lag (as for the app).
                    if not await backoff.wait():
                        break
                except ServiceUnavailable as err:
                    self._restore_incomplete(state, checklist, err.message)
        state.journal.remove()
        if gone:
            checklist.warn(
                "application",
                f"App registration {restore['app_id']} no longer exists; nothing to put back.",
                "Run automatic mode again to create a new app registration.",
            )
            return
        what = "certificates and API permissions" if "requiredResourceAccess" in body else (
            "certificates"
        )
        checklist.warn(
            "application",
            f"Rolled back: app registration {restore['app_id']} has its previous {what} "
            "again; the certificate this run added was removed, and the saved connection "
            "keeps working.",
            "Fix the cause shown above, then run automatic mode again.",
        )

    def _restore_incomplete(self, state: _RunState, checklist: Checklist, why: str) -> NoReturn:
        restore = state.journal.restore or {}
        state.journal.state = "rollback_incomplete"
        with suppress(OSError):
            state.write_journal()
        app_id = restore.get("app_id")
        new_sha1 = _key_sha1(state.new_key) if state.new_key else "?"
        left = (
            f"The certificate this run added (key {restore.get('new_key_id')}, SHA-1 "
            f"{new_sha1}) is still registered"
        )
        if state.old_keys_removed:
            left += ", and the previous certificates may have been removed"
        if state.principal_created and state.service_principal_id:
            left += f"; the principal {state.service_principal_id} this run created remains"
        error = ProvisioningFailed(
            "rollback_incomplete",
            f"Provisioning failed and app registration {app_id} could not be put back as it "
            f"was: {scrub(why, limit=300)}. {left}.",
            "Run automatic mode again: it puts the previous certificates back from its journal "
            f"(or finishes the change). Or, in the Entra admin centre, remove the key "
            f"{restore.get('new_key_id')} from app registration {app_id} (Certificates & "
            "secrets).",
            {
                "application_id": restore.get("application_id"),
                "app_id": app_id,
                "added_key_id": restore.get("new_key_id"),
                "added_key_sha1": new_sha1,
                "previous_keys_removed": state.old_keys_removed,
                "service_principal_id": state.service_principal_id
                if state.principal_created
                else None,
            },
        )
        checklist.failed("application", error)
        raise error

    def _rollback_incomplete(self, state: _RunState, checklist: Checklist, why: str) -> NoReturn:
        state.journal.state = "rollback_incomplete"
        with suppress(OSError):
            state.write_journal()
        error = ProvisioningFailed(
            "rollback_incomplete",
            f"Provisioning failed and app registration {state.app_id} (object "
            f"{state.application_id}) could not be deleted: {scrub(why, limit=300)}",
            f"Delete the app registration {state.app_id} in the Entra admin centre (App "
            "registrations → All applications), or run automatic mode again to resume it.",
            {
                "application_id": state.application_id,
                "app_id": state.app_id,
                "service_principal_id": state.service_principal_id,
            },
        )
        checklist.failed("application", error)
        raise error


class _VerifyTimeout(Exception):
    def __init__(self, key: str, missing: list[str]) -> None:
        super().__init__(key)
        self.key = key
        self.missing = missing


def _not_yet(exc: VdcError) -> bool:
    aadsts = exc.details.get("aadsts")
    return (isinstance(aadsts, int) and aadsts in NOT_YET_AADSTS) or exc.code in NOT_YET_CODES


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _managed_apps_query() -> str:
    return f"/applications?$filter=tags/any(t:t eq '{MANAGED_TAG}')"


async def _apps_tagged(graph: GraphClient, tag: str) -> list[dict[str, Any]]:
    """App registrations carrying ``tag`` (filtered here if the directory cannot)."""
    from .graph import GraphError

    try:
        return await graph.get_all(
            "/applications",
            params={"$filter": f"tags/any(t:t eq '{tag}')", "$select": "id,appId,tags"},
        )
    except GraphError as err:
        if err.status != 400:
            raise
    apps = await graph.get_all("/applications", params={"$select": "id,appId,tags"})
    return [a for a in apps if tag in (a.get("tags") or [])]


def _is_guid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _writable_key(key: Mapping[str, Any]) -> dict[str, Any]:
    """A ``keyCredential`` as read, reduced to what may be sent back to keep it."""
    return {k: key[k] for k in _KEY_FIELDS if key.get(k) is not None}


def _key_sha1(key: Mapping[str, Any]) -> str:
    """SHA-1 thumbprint of a key entry's certificate (for messages), or its key id."""
    try:
        der = base64.b64decode(str(key.get("key") or ""), validate=True)
    except (ValueError, binascii.Error):
        der = b""
    if not der:
        return str(key.get("keyId") or "?")
    return hashlib.sha1(der).hexdigest().upper()  # noqa: S324 - Entra's thumbprint, not security


def _access_set(access: Sequence[Mapping[str, Any]]) -> set[tuple[str, str, str]]:
    """``requiredResourceAccess`` as a set, for comparing two lists in any order."""
    return {
        (str(api.get("resourceAppId")), str(entry.get("id")), str(entry.get("type")))
        for api in access
        for entry in api.get("resourceAccess") or ()
    }


def _restore_record(raw: Any) -> dict[str, Any] | None:
    """A journal's ``restore`` record, or ``None`` when absent or damaged."""
    if not isinstance(raw, dict):
        return None
    keys = raw.get("key_credentials")
    access = raw.get("required_resource_access")
    if (
        not raw.get("application_id")
        or not isinstance(keys, list)
        or not all(isinstance(k, dict) for k in keys)
        or not (access is None or isinstance(access, list))
    ):
        return None
    return dict(raw)


async def _together(*steps: Coroutine[Any, Any, None]) -> None:
    """Run steps at once; the first failure cancels the others, which end before it is
    raised (as itself, not wrapped in a group), so a rollback never races a step."""
    try:
        async with asyncio.TaskGroup() as group:
            for step in steps:
                group.create_task(step)
    except BaseExceptionGroup as grouped:
        raise _first_error(grouped) from None


def _first_error(grouped: BaseExceptionGroup[BaseException]) -> BaseException:
    first = grouped.exceptions[0]
    return _first_error(first) if isinstance(first, BaseExceptionGroup) else first


async def _batch_parallel(
    graph: GraphClient, requests: Sequence[BatchRequest]
) -> dict[str, BatchResponse]:
    """``$batch`` in chunks of 20, the chunks sent at the same time (independent writes)."""
    chunks = [requests[i : i + 20] for i in range(0, len(requests), 20)]
    out: dict[str, BatchResponse] = {}
    for part in await asyncio.gather(*(graph.batch(chunk) for chunk in chunks)):
        out.update(part)
    return out


class _Answers:
    """The answers of the first ``$batch``, by request id."""

    def __init__(self, answers: Mapping[str, BatchResponse]) -> None:
        self._answers: dict[str, Any] = dict(answers)
        self.tenant_id: str | None = None
        org = self.value_list("org")
        if org:
            self.tenant_id = str(org[0].get("id") or "") or None

    def status(self, rid: str) -> int | None:
        answer = self._answers.get(rid)
        return None if answer is None else int(answer.status)

    def sharepoint_hint(self, endpoints: Endpoints) -> str | None:
        """The tenant's SharePoint root as the SharePoint principal names it, if it does."""
        return sharepoint_root_from_principal(self.body("sp_sharepoint"), endpoints)

    def needs_app_read(self) -> bool:
        """Subscriptions or the root site were refused to the admin (not simply absent)."""
        site = self.status("site")
        return self.body("skus") is None or (site is not None and site in (401, 403))

    def app_with_keys(self, application_id: str) -> dict[str, Any] | None:
        """The app, as read with its keys' certificates in the first batch, if it was."""
        for rid in ("journal_app", "restore_app", "saved_app"):
            body = self.body(rid)
            if body is not None and body.get("id") == application_id:
                return body
        return None

    def replace(self, rid: str, body: dict[str, Any]) -> None:
        self._answers[rid] = _Fake(200, body)

    def body(self, rid: str) -> dict[str, Any] | None:
        answer = self._answers.get(rid)
        if answer is None or not 200 <= answer.status < 300 or not isinstance(answer.body, dict):
            return None
        return dict(answer.body)

    def value_list(self, rid: str) -> list[dict[str, Any]] | None:
        body = self.body(rid)
        if body is None:
            return None
        return [v for v in body.get("value") or [] if isinstance(v, dict)]

    def problem(self, rid: str) -> str | None:
        answer = self._answers.get(rid)
        if answer is None:
            return "no answer"
        err = answer.error()
        return describe_failure(err) if err is not None else None

    def raise_for(self, rid: str) -> None:
        answer = self._answers.get(rid)
        err = answer.error() if answer is not None else None
        if err is not None:
            raise err


@dataclass(frozen=True)
class _Fake:
    status: int
    body: Any

    def error(self) -> None:
        return None


__all__ = [
    "AUTOMATIC_STEPS",
    "AutomaticConnector",
    "Backoff",
    "Checklist",
    "Journal",
    "MANAGED_TAG",
    "is_duplicate",
    "is_replication_lag",
]
