"""What a sign-in gives: the delegated token of the admin, the app's token, the app's
certificate credential, and a device-code sign-in in progress."""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vdc_tui.connect.models import CertificateInfo, DeviceCode, SignedInAdmin


@dataclass(frozen=True)
class CertificateCredential:
    """What MSAL signs its client assertions with.

    Attributes:
        private_key_pem: The RSA private key, PKCS#8 PEM, unencrypted (secret).
        certificate_pem: The matching certificate, PEM.
        info: Public facts of the certificate (thumbprints for messages).
    """

    private_key_pem: bytes = field(repr=False)
    certificate_pem: bytes
    info: CertificateInfo
    #: The same key already loaded (a ``cryptography`` RSA key), when the caller has it:
    #: MSAL then signs with it instead of parsing and re-validating the PEM on every
    #: token request (~50 ms of CPU each; a fleet check makes three per tenant).
    private_key: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class DelegatedToken:
    """The signed-in admin's delegated token for Microsoft Graph.

    Attributes:
        access_token: The bearer token (secret).
        claims: Its claims, decoded without verification (hints only).
        admin: Who signed in.
        tenant_id: The tenant the admin signed in to.
    """

    access_token: str = field(repr=False)
    claims: dict[str, Any] = field(repr=False)
    admin: SignedInAdmin
    tenant_id: str


@dataclass(frozen=True)
class AppToken:
    """An app-only token.

    Attributes:
        access_token: The bearer token (secret).
        claims: Its claims, decoded without verification.
        roles: Application permissions it carries (``roles`` claim; empty when none).
        audience: The ``aud`` claim (the resource the token is for).
    """

    access_token: str = field(repr=False)
    claims: dict[str, Any] = field(repr=False)
    roles: tuple[str, ...]
    audience: str


class DeviceFlowSession:
    """One device code being signed in with; ``code`` is what the operator is shown."""

    def __init__(self, flow: dict[str, Any], code: DeviceCode) -> None:
        self.code = code
        self._flow = flow
        self._cancelled = threading.Event()

    def __repr__(self) -> str:
        # The flow holds the device code, which is a bearer secret until it expires.
        return f"DeviceFlowSession(user_code={self.code.user_code!r})"

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._cancelled.is_set()

    def cancel(self) -> None:
        """Stop waiting: :meth:`IdentityClient.wait_for_sign_in` raises ``Cancelled`` promptly.

        Safe to call from any thread, more than once, and before the wait started.
        """
        self._cancelled.set()
        # MSAL's documented way to end its polling loop within a second.
        self._flow["expires_at"] = 0

    def _should_stop(self, flow: Mapping[str, Any]) -> bool:
        return self._cancelled.is_set() or float(flow.get("expires_at", 0)) < time.time()


def decode_jwt_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, decoded without checking the signature (for hints only).

    Returns an empty dict when ``token`` is not a decodable JWT.
    """
    parts = token.split(".")
    if len(parts) < 2:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        return {}
    return claims if isinstance(claims, dict) else {}


# --- mapping identity-platform errors to ours -------------------------------------------


def admin_of(claims: Mapping[str, Any], result: Mapping[str, Any]) -> SignedInAdmin:
    id_claims = result.get("id_token_claims")
    merged: dict[str, Any] = dict(id_claims) if isinstance(id_claims, Mapping) else {}
    merged.update(claims)
    upn = merged.get("upn") or merged.get("preferred_username") or merged.get("email") or ""
    wids = merged.get("wids")
    return SignedInAdmin(
        upn=str(upn),
        object_id=str(merged.get("oid") or ""),
        tenant_id=str(merged.get("tid") or ""),
        display_name=str(merged["name"]) if merged.get("name") else None,
        role_template_ids=tuple(str(w) for w in wids) if isinstance(wids, list) else (),
    )


# --- discovery shared between MSAL applications -------------------------------------------


__all__ = [
    "AppToken",
    "CertificateCredential",
    "DelegatedToken",
    "DeviceFlowSession",
    "admin_of",
    "decode_jwt_claims",
]
