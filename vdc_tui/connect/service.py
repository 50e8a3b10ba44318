"""The one entry point the TUI and the headless command line share.

:class:`ConnectionService` holds what a run needs (endpoints, the identity client, the
profile store) and exposes each step of the wizard as one awaitable. Screens and commands
call these methods; they never reach into MSAL, httpx or the certificate code themselves.

Heavy modules (MSAL, cryptography) are imported inside the methods so that building the
service costs nothing on the way to the first frame.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vdc_tui.connect.microsoft.clouds import Endpoints, resolve_endpoints
from vdc_tui.connect.permissions import (  # re-exported for its callers
    DEFAULT_PUBLIC_CLIENT_ID as DEFAULT_PUBLIC_CLIENT_ID,
)

if TYPE_CHECKING:
    from vdc_tui.connect.lifecycle.offboard import OffboardOutcome
    from vdc_tui.connect.lifecycle.renew import RenewOutcome
    from vdc_tui.connect.lifecycle.repair import RepairOutcome
    from vdc_tui.connect.microsoft.identity import DelegatedToken, DeviceFlowSession, IdentityClient
    from vdc_tui.connect.models import CheckEvent, ConnectionResult, ProgressCallback
    from vdc_tui.connect.onboard.manual import ManualInput
    from vdc_tui.connect.store.audit import AuditAction, AuditLog
    from vdc_tui.connect.store.keystore import PassphraseProvider
    from vdc_tui.connect.store.profiles import ProfileStore


_log = logging.getLogger(__name__)


def ignore_progress(event: CheckEvent) -> None:
    """Drops every event (as :func:`.models.ignore_progress`; defined here so the command
    line's settings do not import the models before the wizard's first frame)."""



DEFAULT_APP_DISPLAY_NAME = "Veeam Data Cloud for Microsoft 365"

PLANS = ("flex", "foundation", "advanced", "advanced-plus", "premium", "premium-plus", "express")


@dataclass(frozen=True)
class ConnectSettings:
    """Everything a run is configured with.

    Attributes:
        endpoints: Cloud and endpoint overrides.
        client_id: Public client id used for the device-code sign-in.
        plan: The customer's plan (decides "Connect to Flex" vs "Connection").
        home: Root folder for profiles and keys (``$VDC_TUI_HOME``); ``None`` = default.
        app_display_name: Display name of the app registration automatic mode creates.
        services: Services wanted (Exchange Online is always added).
        verify_timeout: Seconds to wait for grants to show in tokens before giving up.
        key_passphrase: Where the store passphrase comes from; ``None`` = the environment
            (``VDC_TUI_KEY_PASSPHRASE_FILE``, then the OS keyring).
        keep_consent: Leave the sign-in's delegated consent in place after an admin
            sign-in (``--keep-consent``); by default its onboarding scopes are removed.
    """

    endpoints: Endpoints = field(default_factory=resolve_endpoints)
    client_id: str = DEFAULT_PUBLIC_CLIENT_ID
    plan: str = "flex"
    home: Path | None = None
    app_display_name: str = DEFAULT_APP_DISPLAY_NAME
    services: frozenset[str] = frozenset({"exchange", "sharepoint", "teams"})
    verify_timeout: float = 300.0
    key_passphrase: PassphraseProvider | None = None
    keep_consent: bool = False

    @property
    def step_title(self) -> str:
        """The wizard step's title for this plan."""
        return "Connection" if self.plan in ("foundation", "advanced") else "Connect to Flex"

    @property
    def connected_title(self) -> str:
        """The confirmation dialog's title for this plan."""
        return "Connected" if self.plan in ("foundation", "advanced") else "Flex Plan Connected"


class ConnectionService:
    """The wizard's steps as awaitables, shared by the TUI and the command line."""

    def __init__(self, settings: ConnectSettings) -> None:
        self.settings = settings
        self._identity: IdentityClient | None = None
        self._profiles: ProfileStore | None = None

    @property
    def endpoints(self) -> Endpoints:
        """The endpoints in use."""
        return self.settings.endpoints

    @property
    def identity(self) -> IdentityClient:
        """The identity client (built on first use)."""
        if self._identity is None:
            from vdc_tui.connect.microsoft.identity import IdentityClient

            self._identity = IdentityClient(self.endpoints, client_id=self.settings.client_id)
        return self._identity

    @property
    def profiles(self) -> ProfileStore:
        """The profile store under ``settings.home``."""
        if self._profiles is None:
            from vdc_tui.connect.store.profiles import ProfileStore

            self._profiles = ProfileStore(self.settings.home,
                                          passphrase=self.settings.key_passphrase)
        return self._profiles

    @property
    def audit(self) -> AuditLog:
        """The audit log of the profile store's home (``audit.jsonl``)."""
        from vdc_tui.connect.store.audit import AuditLog

        return AuditLog(self.profiles.root)

    async def prepare(self) -> None:
        """Fetch the tenant-independent discovery the device flow needs, ahead of time.

        Safe to call early (while the operator reads the mode screen) and more than once;
        failures are kept and raised again by :meth:`start_device_code`.
        """
        await self.identity.prepare()

    async def start_device_code(self) -> DeviceFlowSession:
        """Ask for a new device code (one request when :meth:`prepare` has run)."""
        from vdc_tui.connect.permissions import load_catalog

        scopes = [
            f"{self.endpoints.graph_url}/{s}" for s in load_catalog().delegated_sign_in_scopes
        ]
        return await self.identity.start_device_flow(scopes)

    async def wait_for_sign_in(self, session: DeviceFlowSession) -> DelegatedToken:
        """Wait until the customer signs in with the code, or raise why not."""
        return await self.identity.wait_for_sign_in(session)

    async def provision(
        self,
        token: DelegatedToken,
        on_progress: ProgressCallback = ignore_progress,
        services: Sequence[str] | None = None,
    ) -> ConnectionResult:
        """Automatic mode after sign-in: create, consent and verify the app registration."""
        from vdc_tui.connect.onboard.automatic import AutomaticConnector

        connector = AutomaticConnector(
            self.endpoints,
            self.identity,
            self.profiles,
            app_display_name=self.settings.app_display_name,
            services=frozenset(services) if services is not None else self.settings.services,
            verify_timeout=self.settings.verify_timeout,
            keep_consent=self.settings.keep_consent,
        )
        try:
            with self.audit.action("onboard", tenant_id=token.tenant_id, admin=token.admin.upn,
                                   details={"mode": "automatic"}) as act:
                result = await connector.run(token, _rollback_notes(act, on_progress))
                act.tenant_name = result.tenant.name
                act.app_id = result.app_id
                act.add(**onboard_details(result))
            self._record_consent(act, result.extra.get("delegated_consent"))
            return result
        finally:
            self.forget_sign_in()

    async def validate_manual(
        self, manual: ManualInput, on_progress: ProgressCallback = ignore_progress
    ) -> ConnectionResult:
        """Manual mode: prove that the operator's app registration works."""
        from vdc_tui.connect.onboard.manual import ManualValidator

        return await ManualValidator(self.endpoints, self.identity).run(manual, on_progress)

    async def offboard(
        self,
        tenant: str,
        token: DelegatedToken,
        *,
        purge: bool = False,
        delete_app: bool = False,
        on_progress: ProgressCallback = ignore_progress,
    ) -> OffboardOutcome:
        """Delete the connection's app registration (when it is ours) and its local files."""
        from dataclasses import asdict

        from vdc_tui.connect.lifecycle.offboard import Offboarder

        try:
            with self._audited("offboard", tenant, admin=token.admin.upn,
                               details={"purge": purge, "delete_app": delete_app}) as act:
                outcome = await Offboarder(self.endpoints, self.profiles,
                                           keep_consent=self.settings.keep_consent).run(
                    tenant, token, purge=purge, delete_app=delete_app,
                    on_progress=_rollback_notes(act, on_progress))
                act.add(**asdict(outcome))
            self._record_consent(act, outcome.delegated_consent)
            return outcome
        finally:
            self.forget_sign_in()

    async def renew(
        self,
        tenant: str,
        *,
        include_manual: bool = False,
        on_progress: ProgressCallback = ignore_progress,
    ) -> RenewOutcome:
        """Roll the connection's certificate with addKey/removeKey (no admin sign-in)."""
        from vdc_tui.connect.lifecycle.renew import Renewer

        renewer = Renewer(self.endpoints, self.identity, self.profiles,
                          verify_timeout=self.settings.verify_timeout)
        with self._audited("renew", tenant) as act:
            outcome = await renewer.run(tenant, include_manual=include_manual,
                                        on_progress=_rollback_notes(act, on_progress))
            act.add(**renew_details(outcome))
        return outcome

    async def repair(
        self,
        tenant: str,
        token: DelegatedToken,
        on_progress: ProgressCallback = ignore_progress,
    ) -> RepairOutcome:
        """Grant only the permissions the connection lacks (admin token), then verify."""
        from dataclasses import asdict

        from vdc_tui.connect.lifecycle.repair import Repairer

        repairer = Repairer(self.endpoints, self.identity, self.profiles,
                            verify_timeout=self.settings.verify_timeout,
                            keep_consent=self.settings.keep_consent)
        try:
            with self._audited("repair", tenant, admin=token.admin.upn) as act:
                outcome = await repairer.run(tenant, token, _rollback_notes(act, on_progress))
                act.add(**asdict(outcome))
            self._record_consent(act, outcome.delegated_consent)
            return outcome
        finally:
            self.forget_sign_in()

    def _record_consent(self, act: AuditAction, consent: Any) -> None:
        """The audit record of a run's consent cleanup (``consent_removed``, right after the
        run's own): ``ok`` when grants were changed, ``failed`` when it could not be done;
        none when it was skipped (``--keep-consent``) or nothing stood. An unwritable log
        is logged, never undoes the run."""
        from vdc_tui.connect.errors import VdcError

        found = consent.to_json() if hasattr(consent, "to_json") else consent
        if not isinstance(found, dict) or found.get("skipped"):
            return
        outcome = "failed" if found.get("error") else "ok" if found.get("grants") else None
        if outcome is None:
            return
        try:
            self.audit.record("consent_removed", outcome, tenant_id=act.tenant_id,
                              tenant_name=act.tenant_name, app_id=act.app_id,
                              admin=act.admin, details=found)
        except VdcError as error:
            _log.warning("audit record of the consent cleanup not written: %s", error.message)

    def forget_sign_in(self) -> None:
        """Drop the admin's cached delegated tokens (MSAL's cache): a run that signed an
        admin in keeps no delegated token once it is over."""
        if self._identity is not None:
            self._identity.forget_delegated()

    def save_profile(self, result: ConnectionResult, selected: Sequence[str]) -> Path:
        """Write the connection profile and its key file; returns the profile's path.

        Manual mode's onboarding is this write (its check changes nothing in the tenant),
        so it is audited here; automatic mode's is audited by :meth:`provision`.
        """
        def save() -> Path:
            return self.profiles.save(result, selected, plan=self.settings.plan,
                                      cloud=self.endpoints.cloud.name)

        if result.mode != "manual":
            return save()
        with self.audit.action("onboard", tenant_id=result.tenant.id,
                               tenant_name=result.tenant.name, app_id=result.app_id,
                               admin=result.signed_in_as, details={"mode": "manual"}) as act:
            path = save()
            act.add(**onboard_details(result), services_selected=list(selected),
                    profile=str(path))
        return path

    def _audited(self, action: str, tenant: str, *, admin: str | None = None,
                 details: dict[str, Any] | None = None) -> contextlib.AbstractContextManager[
                     AuditAction]:
        """:meth:`AuditLog.action` for a saved connection named ``tenant`` (id, domain or
        name): its tenant id, name and app id come from the profile when there is one."""
        tenant_id, name, app_id = profile_facts(self.profiles, tenant)
        return self.audit.action(action, tenant_id=tenant_id, tenant_name=name, app_id=app_id,
                                 admin=admin, details=details)

    def passphrase_prompt(self) -> str | None:
        """Whether the wizard must ask for the store passphrase before saving a key:
        ``None`` (a source gives it), ``"new"`` (first set: ask twice) or ``"existing"``.

        Raises:
            VdcError: a named source is unusable (an unsafe passphrase file, …).
        """
        from vdc_tui.connect.store.keystore import is_new_store

        store = self.profiles
        if store.passphrase.resolve(store.root) is not None:
            return None
        return "new" if is_new_store(store.root) else "existing"

    def settle_passphrase(self, what: str) -> None:
        """Fail fast: the store passphrase of a run that will write or read a key is found
        (or asked for, on a terminal) and checked against the saved keys now, before anyone
        is asked to sign in, so a customer's admin never signs in for a run that could not
        save its key.

        Args:
            what: What the key is needed for ("save the new connection's key").

        Raises:
            VdcError: ``key_passphrase_required`` (no source gave it),
                ``key_passphrase_wrong``, or a named source that is unusable.
        """
        from vdc_tui.connect.store.keystore import passphrase_required

        store = self.profiles
        if store.passphrase.resolve(store.root) is None:
            raise passphrase_required(what)
        store.unlock()  # a wrong one is said now too (it proves nothing on a new store)

    def set_typed_passphrase(self, secret: str) -> None:
        """The passphrase the operator typed in the wizard (kept for the session)."""
        self.profiles.passphrase.set_typed(secret)

    async def aclose(self) -> None:
        """Release network clients."""
        if self._identity is not None:
            await self._identity.aclose()


# -- the audit trail's facts (connect/store/audit.py) -----------------------------------------


def profile_facts(store: ProfileStore, tenant: str) -> tuple[str, str | None, str | None]:
    """Tenant id, name and app id of the saved connection ``tenant`` names (the text
    itself, unknown and unknown when no profile matches: the action then fails as usual)."""
    from vdc_tui.connect.errors import VdcError

    try:
        entry = store.find(tenant)
    except VdcError:
        return tenant, None, None
    app_id = entry.profile.app_id if entry.profile is not None else ""
    return entry.tenant_id, entry.name, app_id or None


def _certificate_facts(cert: Any) -> dict[str, Any]:
    return {"sha1": cert.sha1, "sha256": cert.sha256, "not_after": cert.not_after.isoformat()}


def onboard_details(result: ConnectionResult) -> dict[str, Any]:
    """What an onboarding changed: the app, its certificate, the permissions granted."""
    extra = result.extra or {}
    facts: dict[str, Any] = {
        "mode": result.mode,
        "created_app": result.created_app,
        "app_object_id": result.app_object_id,
        "service_principal_id": extra.get("service_principal_id"),
        "permissions_granted": list(result.permissions.granted),
    }
    # Automatic mode added this key to the app; manual mode saved the operator's.
    facts["key_added" if result.mode == "automatic" else "certificate"] = \
        _certificate_facts(result.certificate)
    if result.mode == "manual":
        facts["permissions_verified"] = facts.pop("permissions_granted")
    return facts


def renew_details(outcome: RenewOutcome) -> dict[str, Any]:
    """What a renewal changed: the key added, the key removed."""
    return {
        "mode": outcome.mode,
        "key_added": _certificate_facts(outcome.certificate),
        "key_removed": {"sha1": outcome.previous_sha1} if outcome.old_key_removed else None,
        "previous_sha1": outcome.previous_sha1,
        "lifetime_days": outcome.lifetime_days,
        "policy_limited": outcome.policy_limited,
        "resumed": outcome.resumed,
    }


def _rollback_notes(act: AuditAction, on_progress: ProgressCallback) -> ProgressCallback:
    """``on_progress``, also noting in ``act`` what a rollback reported it put back."""

    def forward(event: CheckEvent) -> None:
        if event.detail.startswith("Rolled back") or "nothing to put back" in event.detail:
            act.details.setdefault("rolled_back", []).append(event.detail)
        on_progress(event)

    return forward


def remove_profile(store: ProfileStore, tenant: str) -> list[Path]:
    """``connections remove`` (local only): delete a profile and its key files, audited
    as ``remove``; nothing in the tenant is touched."""
    from vdc_tui.connect.store.audit import AuditLog

    tenant_id, name, app_id = profile_facts(store, tenant)
    with AuditLog(store.root).action("remove", tenant_id=tenant_id, tenant_name=name,
                                     app_id=app_id, details={"local_only": True}) as act:
        removed = store.remove(tenant)
        act.add(removed=[str(p) for p in removed])
    return removed
