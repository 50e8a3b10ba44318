"""The proof-of-possession JWT for addKey/removeKey, read back with PyJWT (independent)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from vdc_tui.connect.certificates import generate_self_signed, x5t_sha1
from vdc_tui.connect.entra.proof import PROOF_AUDIENCE, build_proof

OBJECT_ID = "4a1f9c2e-8d3b-4c5e-9f60-0123456789ab"


@pytest.fixture(scope="module")
def pfx():  # type: ignore[no-untyped-def]
    return generate_self_signed("CN=proof-test")


def test_proof_verifies_with_the_certificate_public_key_and_names_the_object_id(pfx) -> None:  # type: ignore[no-untyped-def]
    token = build_proof(pfx, OBJECT_ID)
    claims = jwt.decode(token, pfx.certificate.public_key(), algorithms=["RS256"],
                        audience=PROOF_AUDIENCE, issuer=OBJECT_ID)
    assert claims["aud"] == "00000002-0000-0000-c000-000000000000"
    assert claims["iss"] == OBJECT_ID


def test_proof_lives_at_most_ten_minutes_from_nbf(pfx) -> None:  # type: ignore[no-untyped-def]
    start = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    token = build_proof(pfx, OBJECT_ID, now=start, lifetime=timedelta(hours=2))
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["nbf"] == int(start.timestamp())
    assert claims["exp"] - claims["nbf"] == 600


def test_proof_header_carries_the_sha1_thumbprint_as_x5t(pfx) -> None:  # type: ignore[no-untyped-def]
    header = jwt.get_unverified_header(build_proof(pfx, OBJECT_ID))
    assert header["alg"] == "RS256"
    assert header["x5t"] == x5t_sha1(pfx.certificate)


def test_proof_parts_are_base64url_without_padding(pfx) -> None:  # type: ignore[no-untyped-def]
    for _ in range(8):  # different jti lengths → different padding needs
        token = build_proof(pfx, OBJECT_ID)
        parts = token.split(".")
        assert len(parts) == 3
        assert not any("=" in p or "+" in p or "/" in p for p in parts)
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        assert json.loads(base64.urlsafe_b64decode(padded))["iss"] == OBJECT_ID


def test_proof_refuses_an_app_id_that_is_not_a_guid(pfx) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="GUID"):
        build_proof(pfx, "contoso-backup")
