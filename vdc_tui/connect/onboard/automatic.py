"""Automatic mode: from a Global Administrator's delegated token to a verified app.

:meth:`AutomaticConnector.run` is the sequence of steps; each step lives in its own module
of this package (see the package docstring for the whole story).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import replace
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from vdc_tui.connect.entra.application import (
    RUN_TAG_PREFIX,
    Applications,
    find_journaled,
    pick_existing,
    saved_app_id,
    saved_certificate_sha1,
)
from vdc_tui.connect.entra.consent import remove_sign_in_consent
from vdc_tui.connect.entra.grants import grant
from vdc_tui.connect.entra.journal import JOURNAL_NAME, Journal, RunState
from vdc_tui.connect.entra.pacing import Pacing
from vdc_tui.connect.entra.principal import ensure_service_principal
from vdc_tui.connect.entra.services import detection_from
from vdc_tui.connect.entra.tenant import (
    FirstReads,
    check_admin,
    check_organization,
    check_resources,
    detect_as_app,
    read_tenant,
    report_services,
)
from vdc_tui.connect.entra.verification import Verifier
from vdc_tui.connect.errors import ProvisioningFailed, VdcError, scrub
from vdc_tui.connect.microsoft.answers import graph_error_text
from vdc_tui.connect.microsoft.clouds import Endpoints
from vdc_tui.connect.models import ConnectionResult, PermissionStatus, ProgressCallback
from vdc_tui.connect.onboard.rollback import Rollback
from vdc_tui.connect.permissions import PermissionCatalog, load_catalog
from vdc_tui.connect.progress import Checklist, Clock, Sleep, together
from vdc_tui.connect.steps import AUTOMATIC_TITLES

if TYPE_CHECKING:
    from vdc_tui.connect.microsoft.graph import GraphClient
    from vdc_tui.connect.microsoft.identity import DelegatedToken, IdentityClient
    from vdc_tui.connect.store.profiles import ProfileStore

_log = logging.getLogger(__name__)


class AutomaticConnector:
    """Automatic mode after device-code sign-in (see the package docstring)."""

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
        keep_consent: bool = False,
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
            keep_consent: Leave the sign-in's delegated consent in place (the last step
                removes the onboarding scopes otherwise: entra/consent.py).
        """
        self._keep_consent = keep_consent
        self._endpoints = endpoints
        self._identity = identity
        self._profiles = profiles
        self._display_name = app_display_name
        self._services = frozenset(services) | {"exchange"}
        self._pacing = Pacing(
            verify=verify_timeout,
            replication=replication_timeout,
            rollback=rollback_timeout,
            inflight=inflight_timeout,
            sleep=sleep,
            clock=clock,
        )
        self._catalog = catalog or load_catalog()
        self._required = self._catalog.required_for(self._services)

    async def run(self, token: DelegatedToken, on_progress: ProgressCallback) -> ConnectionResult:
        """Provision and verify; on any failure or cancellation, undo what this run made.

        Raises:
            DiagnosedProblem: ``not_global_admin``.
            ProvisioningFailed: ``provisioning_failed`` or ``rollback_incomplete``.
            ServiceUnavailable: Graph or the token endpoint kept failing.
            asyncio.CancelledError: cancelled (after the rollback).
        """
        from vdc_tui.connect.microsoft.graph import GraphClient

        checklist = Checklist(AUTOMATIC_TITLES, on_progress)
        tenant_id = token.tenant_id
        with self._profiles.lock(tenant_id):
            path = self._profiles.tenant_dir(tenant_id) / JOURNAL_NAME
            previous = Journal.read(path, tenant_id)
            state = RunState(Journal(path, tenant_id, uuid.uuid4().hex))
            graph = GraphClient(self._endpoints, token.access_token, sleep=self._pacing.sleep)
            try:
                result = await self._provision(token, graph, checklist, state, previous)
                # The last step: nothing of the sign-in's privilege stays (never undoes
                # the verified connection; a failure is a warning).
                cleanup = await remove_sign_in_consent(graph, token, self._catalog, checklist,
                                                       keep=self._keep_consent)
                result.extra["delegated_consent"] = cleanup.to_json()
                if cleanup.error is not None or cleanup.skipped:
                    return replace(result, warnings=tuple(checklist.warnings))
                return result
            except BaseException as exc:
                if state.verified:
                    raise
                failure = self._as_failure(exc, checklist)
                await Rollback(graph, self._pacing).undo(state, checklist)
                if failure is exc or isinstance(exc, asyncio.CancelledError):
                    raise
                raise failure from exc
            finally:
                await graph.aclose()

    async def _provision(
        self,
        token: DelegatedToken,
        graph: GraphClient,
        checklist: Checklist,
        state: RunState,
        previous: Journal | None,
    ) -> ConnectionResult:
        from vdc_tui.connect.certificates import generate_self_signed, key_credential

        # 1. One batch of reads: the admin, the tenant, the APIs' published roles.
        checklist.running("admin", token.admin.upn)
        # The tenant's sign-in configuration is fetched alongside the first reads, so the
        # verification's token requests later go out at once.
        # Both are awaited to the end (no stray task), and the reads' error is the one raised.
        first, _ = await asyncio.gather(
            read_tenant(
                graph,
                token,
                self._catalog,
                previous,
                saved_app_id(self._profiles, token.tenant_id),
            ),
            self._identity.prepare_tenant(token.tenant_id),
            return_exceptions=True,
        )
        if isinstance(first, BaseException):
            raise first
        check_admin(token, first, checklist)
        tenant = check_organization(self._endpoints, token, first, checklist)
        resources = check_resources(self._catalog, self._required, first, checklist)

        # 2. The app registration, with a fresh certificate: reused or created.
        checklist.running("application")
        pfx = await asyncio.to_thread(
            generate_self_signed, f"{self._display_name} ({tenant.default_domain or tenant.id})"
        )
        credential_entry = key_credential(pfx, f"CN={self._display_name}")
        # Our own key id: the key this run adds can be told from the others on the app.
        credential_entry["keyId"] = str(uuid.uuid4())
        state.new_key = credential_entry
        apps = Applications(graph, self._pacing, self._required)
        known = first.body("journal_app") or first.body("restore_app")
        if known is None and previous is not None and not _tagged_in(first, previous):
            # The journal names an app the reads did not show: right after a crash it may
            # only be not yet visible. It is looked for until proven gone, never recreated
            # beside it.
            known = await find_journaled(graph, self._pacing, previous, checklist)
        reuse = pick_existing(
            first.value_list("apps"),
            known,
            previous,
            saved_app_id(self._profiles, str(first.tenant_id or "")),
            checklist,
        )

        async def application() -> None:
            if reuse is not None:
                await apps.reuse(reuse, first, credential_entry, state, previous)
            else:
                await apps.create(self._display_name, credential_entry, state)
            checklist.passed(
                "application",
                f"{'Created' if state.created and reuse is None else 'Reusing'} "
                f"{self._display_name!r}: Application (client) ID {state.app_id}; "
                f"certificate SHA-1 {pfx.info.sha1}",
            )

        # 3-4. Its service principal, then the grants and the directory role.
        async def principal_and_grants() -> None:
            sp_id = await ensure_service_principal(
                graph, self._pacing, state, checklist, reuse is not None
            )
            state.service_principal_id = sp_id
            await grant(graph, self._pacing, sp_id, self._required, resources, checklist)

        if reuse is None:
            await application()
            await principal_and_grants()
        else:
            # The app exists: its principal and grants need its ids, not its new key, so
            # they go alongside the key change instead of after it.
            state.application_id = str(reuse["id"])
            state.app_id = str(reuse["appId"])
            await together(application(), principal_and_grants())
        assert state.app_id is not None and state.application_id is not None

        # 5. App-only tokens carry every permission; only then may a reused app's old
        # keys go, and nothing is undone any more.
        detection = detection_from(first)
        hint = detection.sharepoint_url or first.sharepoint_hint(self._endpoints)
        verifier = Verifier(
            self._endpoints, self._identity, self._pacing, self._catalog, self._required
        )
        tokens, granted = await verifier.confirm(
            tenant.id, state.app_id, pfx.credential(), hint, checklist
        )
        if state.journal.restore is not None:
            saved_sha1 = saved_certificate_sha1(
                self._profiles, state.journal.tenant_id, state.app_id
            )
            await apps.remove_old_keys(state, saved_sha1, checklist)
        state.verified = True
        state.journal.remove()

        # 6. The services the tenant has.
        checklist.running("services")
        if first.needs_app_read():
            # The admin's token could not read subscriptions or the root site (the sign-in
            # asks for no SharePoint scope); the app's own Graph token can.
            detection = await detect_as_app(
                self._endpoints, self._pacing.sleep, tokens["graph"], detection
            )
        if (
            "sharepoint" in tokens
            and detection.sharepoint_url
            and _host(detection.sharepoint_url) != _host(hint or "")
        ):
            # The root site lives elsewhere than the directory suggested: check that host.
            again = await verifier.verify(
                tenant.id, state.app_id, pfx.credential(), detection.sharepoint_url, checklist
            )
            tokens["sharepoint"] = again["sharepoint"]
        report_services(detection, self._services, checklist)
        return ConnectionResult(
            mode="automatic",
            tenant=tenant,
            app_id=state.app_id,
            app_object_id=state.application_id,
            certificate=pfx.info,
            certificate_pfx=pfx.pfx_bytes,
            signed_in_as=token.admin.upn,
            services=detection.services,
            permissions=PermissionStatus(granted=tuple(granted)),
            warnings=tuple(checklist.warnings),
            created_app=state.created,
            extra={
                "service_principal_id": state.service_principal_id,
                "sharepoint_url": detection.sharepoint_url,
            },
        )

    def _as_failure(self, exc: BaseException, checklist: Checklist) -> BaseException:
        """Turn an unexpected error into a ``provisioning_failed`` naming the step."""
        from vdc_tui.connect.microsoft.graph import GraphError

        step = checklist.current or "admin"
        if isinstance(exc, VdcError):
            checklist.failed(step, exc)
            return exc
        if isinstance(exc, GraphError):
            failure = ProvisioningFailed(
                "provisioning_failed",
                f"{AUTOMATIC_TITLES.get(step, step)} failed: {graph_error_text(exc)}",
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
                f"{AUTOMATIC_TITLES.get(step, step)} failed: Microsoft Graph answered with an "
                f"incomplete object ({type(exc).__name__}).",
                "Try again; if it keeps failing, create the app registration by hand and "
                "use manual mode.",
                {"step": step, "exception": type(exc).__name__},
            )
            checklist.failed(step, failure)
            return failure
        return exc


def _tagged_in(first: FirstReads, previous: Journal) -> bool:
    """The first reads listed an app carrying the previous run's tag."""
    tag = RUN_TAG_PREFIX + previous.run_id
    return bool(previous.run_id) and any(
        tag in (a.get("tags") or []) for a in first.value_list("apps") or ()
    )


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


__all__ = ["AutomaticConnector"]
