"""Verification: app-only tokens for Graph, Exchange and SharePoint, polled in parallel
until their ``roles`` carry every required permission.

Grants and new keys reach the token service through replication, so "not yet" answers
(an app, principal or key not visible yet: :data:`NOT_YET_AADSTS`, :data:`NOT_YET_CODES`)
and tokens without every role are retried with a bounded backoff until the verify time
limit. Renewal verifies a new key the same way before it removes the old one; repair
verifies after granting what was missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from vdc_tui.connect.entra.pacing import Pacing
from vdc_tui.connect.errors import (
    DiagnosedProblem,
    ProvisioningFailed,
    ServiceUnavailable,
    SignInError,
    VdcError,
)
from vdc_tui.connect.microsoft.clouds import Endpoints, sharepoint_scope
from vdc_tui.connect.permissions import PermissionCatalog, roles_in_tokens
from vdc_tui.connect.progress import Backoff, Checklist, together

if TYPE_CHECKING:
    from vdc_tui.connect.microsoft.identity import AppToken, CertificateCredential, IdentityClient
    from vdc_tui.connect.permissions import RequiredPermission as Permission

#: Token-endpoint codes that mean "the new app, principal or key has not replicated yet".
NOT_YET_AADSTS = frozenset({700016, 7000229, 700027})
NOT_YET_CODES = frozenset(
    {"app_not_found_in_tenant", "app_missing_service_principal", "certificate_not_registered"}
)


class Verifier:
    """Polls an app's app-only tokens until they carry ``required``.

    Args:
        endpoints: Cloud endpoints (the token scopes).
        identity: The identity client.
        pacing: The verify time limit, sleep and clock.
        catalog: The permission catalog.
        required: The application permissions the tokens must carry.
        key_settled: The signing key was on the app, visible, before this run (repair
            decided it from the app's ``keyCredentials``): a refusal of that key is not
            replication lag and ends the verification at once.
    """

    def __init__(
        self,
        endpoints: Endpoints,
        identity: IdentityClient,
        pacing: Pacing,
        catalog: PermissionCatalog,
        required: Sequence[Permission],
        *,
        key_settled: bool = False,
    ) -> None:
        self._key_settled = key_settled
        self._endpoints = endpoints
        self._identity = identity
        self._pacing = pacing
        self._catalog = catalog
        self._required = tuple(required)

    async def confirm(
        self,
        tenant_id: str,
        app_id: str,
        credential: CertificateCredential,
        sharepoint_url: str | None,
        checklist: Checklist,
    ) -> tuple[dict[str, AppToken], list[str]]:
        """:meth:`verify`, then :meth:`report` with the time it took: the ``verify`` step of
        onboarding, renewal and repair.

        Returns:
            The tokens by resource key, and the permissions they carried.
        """
        started = self._pacing.clock()
        tokens = await self.verify(tenant_id, app_id, credential, sharepoint_url, checklist)
        return tokens, self.report(tokens, self._pacing.clock() - started, checklist)

    async def verify(
        self,
        tenant_id: str,
        app_id: str,
        credential: CertificateCredential,
        sharepoint_url: str | None,
        checklist: Checklist,
    ) -> dict[str, AppToken]:
        """Poll app-only tokens (in parallel) until every required role is in them.

        SharePoint is polled only when ``sharepoint_url`` names the tenant's host.

        Returns:
            The tokens, by resource key (``graph``, ``exchange``, ``sharepoint``).

        Raises:
            ProvisioningFailed: a token still lacked a role when time ran out.
            SignInError, DiagnosedProblem: a refusal that is not replication lag.
        """
        checklist.running("verify")
        wanted = self._catalog.by_resource(self._required)
        progress: dict[str, str] = {}
        started = self._pacing.clock()
        deadline = started + self._pacing.verify

        def report(key: str, text: str) -> None:
            progress[key] = text
            checklist.running("verify", "; ".join(f"{k}: {v}" for k, v in sorted(progress.items())))

        async def one(key: str, scope: str) -> AppToken:
            required = {p.value for p in wanted.get(key, ())}
            backoff = Backoff(
                initial=0.25,
                cap=2.5,
                total=max(0.0, deadline - self._pacing.clock()),
                sleep=self._pacing.sleep,
                clock=self._pacing.clock,
            )
            missing: set[str] = set(required)
            while True:
                failing: ServiceUnavailable | None = None
                try:
                    tok = await self._identity.app_token(tenant_id, app_id, credential, scope)
                    missing = required - set(tok.roles)
                    if not missing:
                        report(key, "ok")
                        return tok
                    report(key, f"{len(missing)} not in the token yet ({backoff.describe()})")
                except (SignInError, DiagnosedProblem) as exc:
                    if not not_yet(exc) or (self._key_settled and key_refused(exc)):
                        raise
                    report(
                        key,
                        f"sign-in not ready: AADSTS{exc.details.get('aadsts', '?')} "
                        f"({backoff.describe()})",
                    )
                except ServiceUnavailable as exc:
                    # The identity platform kept failing through the client's own tries:
                    # the provisioning is not undone for that while the verify time lasts.
                    failing = exc
                    report(key, f"identity platform failing, trying again ({backoff.describe()})")
                if not await backoff.wait():
                    if failing is not None:
                        raise failing
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
            await together(*polls)
        except _VerifyTimeout as timeout:
            still = [
                p.display
                for p in self._required
                if p.resource.key == timeout.key and p.value in timeout.missing
            ]
            raise ProvisioningFailed(
                "provisioning_failed",
                f"After {self._pacing.verify:.0f} s the app's {timeout.key} token still lacks: "
                + ", ".join(still or timeout.missing)
                + ".",
                "Microsoft Entra is replicating slowly; run automatic mode again in a few "
                "minutes (it reuses the app), or grant admin consent in the Entra admin centre.",
                {"missing": still or timeout.missing, "resource": timeout.key},
            ) from None
        return results

    def report(
        self, results: Mapping[str, AppToken], elapsed: float, checklist: Checklist
    ) -> list[str]:
        """Report the verification; the permissions the tokens carried."""
        found = roles_in_tokens(self._required, results)
        granted = [p.display for p in found.granted]
        unchecked = [p.display for p in found.unchecked]
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


class _VerifyTimeout(Exception):
    def __init__(self, key: str, missing: list[str]) -> None:
        super().__init__(key)
        self.key = key
        self.missing = missing


def key_refused(exc: VdcError) -> bool:
    """The token endpoint refused the certificate itself (not found on the app, expired)."""
    return exc.details.get("aadsts") == 700027 or exc.code in (
        "certificate_not_registered", "certificate_expired")


def not_yet(exc: VdcError) -> bool:
    aadsts = exc.details.get("aadsts")
    return (isinstance(aadsts, int) and aadsts in NOT_YET_AADSTS) or exc.code in NOT_YET_CODES


__all__ = ["NOT_YET_AADSTS", "NOT_YET_CODES", "Verifier", "key_refused", "not_yet"]
