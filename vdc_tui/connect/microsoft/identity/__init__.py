"""Sign-in with MSAL: the admin's device code, and the app's certificate.

MSAL is synchronous; every call runs in a worker thread behind an async method. Things
MSAL does that shape this module (``research/identity.md`` §4):

- MSAL is given :class:`~vdc_tui.connect.microsoft.http.MsalHttpClient` as ``http_client`` (our TLS,
  forms encoded like ``requests``), and ``instance_discovery=False`` for any authority host
  that is not Microsoft's, or it would ask Microsoft's global discovery endpoint first.
- Building a ``PublicClientApplication`` fetches the authority's OpenID configuration;
  :meth:`IdentityClient.prepare` does it early so that asking for a device code costs one
  request. One public client is kept for the whole run.
- A ``ConfidentialClientApplication`` caches HTTP 400 answers for 60 s, so a retry on the
  same object would replay the old failure without asking. Every :meth:`app_token` call
  builds a fresh one; :meth:`IdentityClient.app_sign_in` keeps one per app and tenant for
  reads that ask each resource once (a health check), so the key is parsed and the client
  assertion signed once for its three tokens.
- A fresh application would also fetch the tenant's OpenID configuration again before its
  token request (MSAL keeps GET answers only in the application's own ``http_cache``). All
  the applications of one :class:`IdentityClient` share discovery answers through
  :class:`SharedDiscoveryHttp` instead, which caches successful GETs and never a POST, so
  the 400 trap above stays out of reach; :meth:`IdentityClient.prepare_tenant` fetches a
  tenant's configuration ahead of time, off the critical path.
- The device-flow wait returns the last ``authorization_pending`` answer both when the
  code expires and when it is cancelled; we keep our own cancel flag to tell them apart.

Where each piece lives: :mod:`.client` (:class:`IdentityClient`), :mod:`.tokens` (what a
sign-in gives), :mod:`.aadsts` (what a refusal means), :mod:`.discovery_cache`
(:class:`SharedDiscoveryHttp`).
"""

from __future__ import annotations

from vdc_tui.connect.microsoft.identity.aadsts import BLOCKED_BY_POLICY
from vdc_tui.connect.microsoft.identity.client import AppSignIn, IdentityClient
from vdc_tui.connect.microsoft.identity.discovery_cache import (
    DISCOVERY_TTL_SECONDS,
    SharedDiscoveryHttp,
)
from vdc_tui.connect.microsoft.identity.tokens import (
    AppToken,
    CertificateCredential,
    DelegatedToken,
    DeviceFlowSession,
    decode_jwt_claims,
)

__all__ = [
    "BLOCKED_BY_POLICY",
    "DISCOVERY_TTL_SECONDS",
    "AppSignIn",
    "AppToken",
    "CertificateCredential",
    "DelegatedToken",
    "DeviceFlowSession",
    "IdentityClient",
    "SharedDiscoveryHttp",
    "decode_jwt_claims",
]
