"""Compact JWS: signing the emulator's tokens, reading and verifying client assertions.

Only what Entra uses: RS256 for the tokens it issues, RS256 and PS256 for the assertions it
accepts. Written on ``cryptography`` directly so the emulator needs no JWT library.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from vdc_tui.emulator.pki import b64url, b64url_decode


class MalformedJwt(ValueError):
    """The text is not a compact JWS with JSON header and payload."""


@dataclass(frozen=True)
class ParsedJwt:
    """A compact JWS split into its parts (not yet verified)."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes


def sign_rs256(claims: dict[str, Any], key: rsa.RSAPrivateKey, *, kid: str) -> str:
    """Sign ``claims`` as a JWT with RS256."""
    header = {"typ": "JWT", "alg": "RS256", "kid": kid, "x5t": kid}
    signing_input = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + b64url(signature)


def parse(token: str) -> ParsedJwt:
    """Split and decode a compact JWS.

    Raises:
        MalformedJwt: not three base64url parts with JSON objects.
    """
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise MalformedJwt("a JWT has three parts")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedJwt("JWT parts are not base64url JSON") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise MalformedJwt("JWT header and payload must be objects")
    return ParsedJwt(header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature)


def verify(jwt: ParsedJwt, public_key: rsa.RSAPublicKey) -> bool:
    """Check the signature of an RS256 or PS256 JWS; any other ``alg`` is refused."""
    alg = jwt.header.get("alg")
    try:
        if alg == "RS256":
            public_key.verify(jwt.signature, jwt.signing_input, padding.PKCS1v15(),
                              hashes.SHA256())
        elif alg == "PS256":
            # Signers use salt length = digest length (RFC 7518); accept any valid salt.
            public_key.verify(
                jwt.signature,
                jwt.signing_input,
                padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO),
                hashes.SHA256(),
            )
        else:
            return False
    except InvalidSignature:
        return False
    return True
