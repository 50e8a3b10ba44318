"""Proof-of-possession tokens for ``addKey`` and ``removeKey`` (rolling an app's own keys).

Microsoft Graph lets an application add and remove its own certificates without an admin,
if the request carries a JWT signed with the private key of one of the application's
currently valid certificates (Microsoft's "Generate proof of possession tokens for rolling
keys" page):

- ``aud`` is ``00000002-0000-0000-c000-000000000000``;
- ``iss`` is the **object id** of the application (not its appId);
- ``nbf`` and ``exp``, at most ten minutes apart;
- header and payload in base64url **without** ``=`` padding (padding is answered with
  ``Authentication_MissingOrMalformed``).

Microsoft's sample signs with ``X509SigningCredentials``, which writes ``alg`` RS256 and
the certificate's SHA-1 thumbprint as ``x5t`` (and ``kid``); we send the same header.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from vdc_tui.connect.certificates import LoadedPfx, key_credential, x5t_sha1

#: The ``aud`` every proof must carry (the legacy Azure AD Graph application id).
PROOF_AUDIENCE = "00000002-0000-0000-c000-000000000000"
#: The longest lifetime the documentation allows (``exp`` = ``nbf`` + 10 minutes).
MAX_PROOF_LIFETIME = timedelta(minutes=10)


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def build_proof(
    pfx: LoadedPfx,
    application_object_id: str,
    *,
    now: datetime | None = None,
    lifetime: timedelta = MAX_PROOF_LIFETIME,
) -> str:
    """A proof-of-possession JWT for ``addKey``/``removeKey`` on one application.

    Args:
        pfx: A certificate of the application that is valid now, with its private key.
        application_object_id: The application's object id (``id``, not ``appId``).
        now: The moment the proof starts (``nbf``); the current time by default.
        lifetime: How long it is valid; capped at ten minutes.

    Returns:
        The compact JWS (three base64url parts without padding). It is a credential for
        ten minutes: never log or print it.
    """
    try:
        uuid.UUID(application_object_id)
    except (ValueError, AttributeError, TypeError) as exc:
        raise ValueError("the application object id must be a GUID") from exc
    if lifetime <= timedelta(0):
        raise ValueError("a proof needs a positive lifetime")
    lifetime = min(lifetime, MAX_PROOF_LIFETIME)
    start = int((now or datetime.now(UTC)).timestamp())
    thumbprint = x5t_sha1(pfx.certificate)
    header = {"alg": "RS256", "typ": "JWT", "x5t": thumbprint, "kid": pfx.info.sha1}
    claims: dict[str, Any] = {
        "aud": PROOF_AUDIENCE,
        "iss": application_object_id,
        "nbf": start,
        "iat": start,
        "exp": start + int(lifetime.total_seconds()),
        "jti": str(uuid.uuid4()),
    }
    signing_input = (
        _b64url(json.dumps(header, separators=(",", ":")).encode("utf-8"))
        + "."
        + _b64url(json.dumps(claims, separators=(",", ":")).encode("utf-8"))
    )
    signature = pfx.private_key.sign(
        signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256()
    )
    return signing_input + "." + _b64url(signature)


def add_key_body(new: LoadedPfx, signer: LoadedPfx, application_object_id: str) -> dict[str, Any]:
    """The body of ``POST /applications/{id}/addKey``: the new certificate (public part
    only) and a proof signed by ``signer``, a currently valid certificate of the app."""
    entry = key_credential(new, new.info.subject)
    return {
        "keyCredential": {k: entry[k] for k in ("type", "usage", "key", "displayName")},
        "passwordCredential": None,
        "proof": build_proof(signer, application_object_id),
    }


def remove_key_body(key_id: str, signer: LoadedPfx, application_object_id: str) -> dict[str, Any]:
    """The body of ``POST /applications/{id}/removeKey``, the proof signed by ``signer``."""
    return {"keyId": key_id, "proof": build_proof(signer, application_object_id)}
