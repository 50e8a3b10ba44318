"""Loading and checking the operator's PFX, and generating our own certificate."""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vdc_tui.connect.certificates import (
    MAX_PFX_BYTES,
    check_validity,
    export_pfx,
    generate_self_signed,
    key_credential,
    load_pfx,
    load_pfx_bytes,
    x5t_sha1,
)
from vdc_tui.connect.errors import CertificateProblem, VdcError

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
PASSWORD = "S3cret-pfx-passphrase"


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def make_cert(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    *,
    cn: str = "vdc-test",
    not_before: datetime = NOW - timedelta(days=1),
    not_after: datetime = NOW + timedelta(days=365),
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def assert_problem(exc: pytest.ExceptionInfo[CertificateProblem], code: str, field: str) -> None:
    assert exc.value.code == code
    assert exc.value.details["field"] == field
    assert exc.value.remediation
    assert PASSWORD not in str(exc.value.to_json())


# --- loading: the happy paths ------------------------------------------------------------


def test_pfx_without_password_loads(tmp_path: Path, key: rsa.RSAPrivateKey) -> None:
    cert = make_cert(key)
    path = write(tmp_path, "plain.pfx", export_pfx(key, cert))
    loaded = load_pfx(path, None)
    assert loaded.certificate == cert
    assert loaded.info.subject == "CN=vdc-test"
    assert loaded.info.key_size == 2048
    assert loaded.chain == ()


def test_pfx_with_password_loads(tmp_path: Path, key: rsa.RSAPrivateKey) -> None:
    cert = make_cert(key)
    path = write(tmp_path, "locked.pfx", export_pfx(key, cert, password=PASSWORD))
    loaded = load_pfx(path, PASSWORD)
    assert loaded.certificate == cert
    assert loaded.pfx_bytes == path.read_bytes()


def test_pfx_without_password_accepts_a_needless_password(
    tmp_path: Path, key: rsa.RSAPrivateKey
) -> None:
    path = write(tmp_path, "plain.pfx", export_pfx(key, make_cert(key)))
    assert load_pfx(path, "typed anyway").info.key_size == 2048


def test_key_certificate_found_among_the_other_certificates(
    tmp_path: Path, key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey
) -> None:
    # A PFX without local key ids lists every certificate in the "other" bag.
    own, issuer = make_cert(key, cn="own"), make_cert(other_key, cn="issuer")
    data = pkcs12.serialize_key_and_certificates(
        b"x", key, None, [issuer, own], serialization.NoEncryption()
    )
    loaded = load_pfx(write(tmp_path, "bags.pfx", data), None)
    assert loaded.certificate == own
    assert loaded.chain == (issuer,)


def test_thumbprints_are_upper_case_hex_as_entra_shows_them(
    tmp_path: Path, key: rsa.RSAPrivateKey
) -> None:
    cert = make_cert(key)
    info = load_pfx(write(tmp_path, "a.pfx", export_pfx(key, cert)), None).info
    der = cert.public_bytes(serialization.Encoding.DER)
    assert info.sha1 == hashlib.sha1(der).hexdigest().upper()
    assert info.sha256 == hashlib.sha256(der).hexdigest().upper()
    assert x5t_sha1(cert) == base64.urlsafe_b64encode(hashlib.sha1(der).digest()).decode().rstrip(
        "="
    )


def test_loaded_pfx_repr_and_credential_keep_the_key_out_of_sight(
    tmp_path: Path, key: rsa.RSAPrivateKey
) -> None:
    loaded = load_pfx(write(tmp_path, "a.pfx", export_pfx(key, make_cert(key))), None)
    credential = loaded.credential()
    assert b"PRIVATE KEY" in credential.private_key_pem
    assert "PRIVATE KEY" not in repr(loaded) + repr(credential)
    assert credential.info == loaded.info


# --- loading: every error code -----------------------------------------------------------


def test_missing_path_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(CertificateProblem) as caught:
        load_pfx(tmp_path / "nope.pfx", None)
    assert_problem(caught, "pfx_unreadable", "pfx_path")
    assert "no file" in caught.value.message


def test_directory_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(CertificateProblem) as caught:
        load_pfx(tmp_path, None)
    assert_problem(caught, "pfx_unreadable", "pfx_path")
    assert "folder" in caught.value.message


def test_empty_file_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(CertificateProblem) as caught:
        load_pfx(write(tmp_path, "empty.pfx", b""), None)
    assert_problem(caught, "pfx_unreadable", "pfx_path")
    assert "empty" in caught.value.message


def test_junk_is_unreadable_and_not_a_password_problem(tmp_path: Path) -> None:
    with pytest.raises(CertificateProblem) as caught:
        load_pfx(write(tmp_path, "junk.pfx", os.urandom(3000)), PASSWORD)
    assert_problem(caught, "pfx_unreadable", "pfx_path")


def test_pem_file_is_unreadable_with_an_export_hint(tmp_path: Path, key: rsa.RSAPrivateKey) -> None:
    pem = make_cert(key).public_bytes(serialization.Encoding.PEM)
    with pytest.raises(CertificateProblem) as caught:
        load_pfx(write(tmp_path, "cert.pem", pem), None)
    assert_problem(caught, "pfx_unreadable", "pfx_path")
    assert "PEM" in caught.value.message
    assert "pkcs12 -export" in caught.value.remediation


def test_path_through_a_file_is_unreadable(tmp_path: Path) -> None:
    # The operating system refuses the path itself (ENOTDIR): the "cannot be read" branch.
    parent = write(tmp_path, "not-a-folder", b"x")
    with pytest.raises(CertificateProblem) as caught:
        load_pfx(parent / "app.pfx", None)
    assert_problem(caught, "pfx_unreadable", "pfx_path")
    assert "cannot be read" in caught.value.message


def test_two_mebibytes_of_junk_is_too_large(tmp_path: Path) -> None:
    path = write(tmp_path, "big.pfx", b"\x30" * (2 * 1024 * 1024))
    with pytest.raises(CertificateProblem) as caught:
        load_pfx(path, None)
    assert_problem(caught, "pfx_too_large", "pfx_path")
    assert caught.value.details["size"] == 2 * 1024 * 1024


def test_bytes_over_the_cap_are_too_large() -> None:
    with pytest.raises(CertificateProblem) as caught:
        load_pfx_bytes(b"\0" * (MAX_PFX_BYTES + 1), None, source="upload")
    assert_problem(caught, "pfx_too_large", "pfx_path")


def test_missing_password_is_password_required(tmp_path: Path, key: rsa.RSAPrivateKey) -> None:
    path = write(tmp_path, "locked.pfx", export_pfx(key, make_cert(key), password=PASSWORD))
    for missing in (None, ""):
        with pytest.raises(CertificateProblem) as caught:
            load_pfx(path, missing)
        assert_problem(caught, "pfx_password_required", "pfx_password")


def test_wrong_password_is_wrong_password(tmp_path: Path, key: rsa.RSAPrivateKey) -> None:
    path = write(tmp_path, "locked.pfx", export_pfx(key, make_cert(key), password=PASSWORD))
    with pytest.raises(CertificateProblem) as caught:
        load_pfx(path, PASSWORD + "x")
    assert_problem(caught, "pfx_wrong_password", "pfx_password")
    assert PASSWORD + "x" not in str(caught.value.to_json()) + repr(caught.value)


def test_certificate_only_pfx_has_no_private_key(tmp_path: Path, key: rsa.RSAPrivateKey) -> None:
    data = pkcs12.serialize_key_and_certificates(
        b"x", None, None, [make_cert(key)], serialization.NoEncryption()
    )
    with pytest.raises(CertificateProblem) as caught:
        load_pfx(write(tmp_path, "nokey.pfx", data), None)
    assert_problem(caught, "pfx_no_private_key", "pfx_path")


def test_key_of_another_certificate_is_a_mismatch(
    tmp_path: Path, key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey
) -> None:
    data = pkcs12.serialize_key_and_certificates(
        b"x", key, None, [make_cert(other_key)], serialization.NoEncryption()
    )
    with pytest.raises(CertificateProblem) as caught:
        load_pfx(write(tmp_path, "mismatch.pfx", data), None)
    assert_problem(caught, "pfx_key_mismatch", "pfx_path")


def test_key_without_any_certificate_is_unreadable(tmp_path: Path, key: rsa.RSAPrivateKey) -> None:
    data = pkcs12.serialize_key_and_certificates(
        b"x", key, None, None, serialization.NoEncryption()
    )
    with pytest.raises(CertificateProblem) as caught:
        load_pfx(write(tmp_path, "keyonly.pfx", data), None)
    assert_problem(caught, "pfx_unreadable", "pfx_path")
    assert "no certificate" in caught.value.message


def test_elliptic_curve_key_is_rejected_as_not_rsa(tmp_path: Path) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    data = pkcs12.serialize_key_and_certificates(
        b"x", ec_key, make_cert(ec_key), None, serialization.NoEncryption()
    )
    with pytest.raises(CertificateProblem) as caught:
        load_pfx(write(tmp_path, "ec.pfx", data), None)
    assert_problem(caught, "certificate_key_too_weak", "pfx_path")
    assert "RSA" in caught.value.message


# --- validity checks ---------------------------------------------------------------------


def test_rsa_1024_is_too_weak(tmp_path: Path) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    loaded = load_pfx(write(tmp_path, "weak.pfx", export_pfx(weak, make_cert(weak))), None)
    with pytest.raises(CertificateProblem) as caught:
        check_validity(loaded.info, now=NOW)
    assert_problem(caught, "certificate_key_too_weak", "pfx_path")
    assert caught.value.details["key_size"] == 1024


def test_expired_certificate(tmp_path: Path, key: rsa.RSAPrivateKey) -> None:
    cert = make_cert(key, not_before=NOW - timedelta(days=400), not_after=NOW - timedelta(days=1))
    loaded = load_pfx(write(tmp_path, "old.pfx", export_pfx(key, cert)), None)
    with pytest.raises(CertificateProblem) as caught:
        check_validity(loaded.info, now=NOW)
    assert_problem(caught, "certificate_expired", "pfx_path")
    assert caught.value.details["sha1"] == loaded.info.sha1


def test_not_yet_valid_certificate(tmp_path: Path, key: rsa.RSAPrivateKey) -> None:
    cert = make_cert(key, not_before=NOW + timedelta(days=2), not_after=NOW + timedelta(days=300))
    loaded = load_pfx(write(tmp_path, "future.pfx", export_pfx(key, cert)), None)
    with pytest.raises(CertificateProblem) as caught:
        check_validity(loaded.info, now=NOW)
    assert_problem(caught, "certificate_not_yet_valid", "pfx_path")


def test_expiring_within_30_days_is_a_warning(tmp_path: Path, key: rsa.RSAPrivateKey) -> None:
    cert = make_cert(key, not_after=NOW + timedelta(days=10, hours=1))
    loaded = load_pfx(write(tmp_path, "soon.pfx", export_pfx(key, cert)), None)
    warnings = check_validity(loaded.info, now=NOW)
    assert len(warnings) == 1 and "10 days" in warnings[0]


def test_valid_certificate_has_no_warnings(tmp_path: Path, key: rsa.RSAPrivateKey) -> None:
    loaded = load_pfx(write(tmp_path, "ok.pfx", export_pfx(key, make_cert(key))), None)
    assert check_validity(loaded.info, now=NOW) == []


# --- generating our own ------------------------------------------------------------------


def test_generated_certificate_round_trips_through_its_pfx_bytes() -> None:
    made = generate_self_signed("vdc-tui contoso", now=NOW)
    loaded = load_pfx_bytes(made.pfx_bytes, None, source="the generated PFX")
    assert loaded.info == made.info
    assert loaded.info.subject == "CN=vdc-tui contoso"
    assert loaded.info.key_size == 2048
    assert check_validity(loaded.info, now=NOW) == []
    # Valid a little before "now" (a slow clock elsewhere) and for the requested years.
    assert loaded.info.not_before < NOW
    assert loaded.info.not_after - NOW >= timedelta(days=2 * 365)


def test_key_credential_is_the_graph_shape(tmp_path: Path) -> None:
    made = generate_self_signed("vdc-tui", now=NOW)
    entry = key_credential(made, "CN=vdc-tui")
    assert entry["type"] == "AsymmetricX509Cert"
    assert entry["usage"] == "Verify"
    assert entry["displayName"] == "CN=vdc-tui"
    assert base64.b64decode(entry["key"]) == made.certificate.public_bytes(
        serialization.Encoding.DER
    )
    assert entry["startDateTime"] == made.info.not_before.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert entry["endDateTime"].endswith("Z")
    assert "PRIVATE" not in str(entry)


# --- robustness --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_pfx(key: rsa.RSAPrivateKey) -> bytes:
    return export_pfx(key, make_cert(key), password=PASSWORD)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    data=st.one_of(
        st.binary(max_size=600),
        st.tuples(st.integers(min_value=0), st.integers(0, 255), st.booleans()),
    ),
    password=st.one_of(st.none(), st.just(PASSWORD), st.text(max_size=8)),
)
def test_random_and_mutated_bytes_only_ever_raise_vdc_errors(
    sample_pfx: bytes, data: bytes | tuple[int, int, bool], password: str | None
) -> None:
    if isinstance(data, tuple):
        position, value, truncate = data
        index = position % len(sample_pfx)
        mutated = bytearray(sample_pfx)
        mutated[index] = value
        blob = bytes(mutated[:index] if truncate else mutated)
    else:
        blob = data
    try:
        load_pfx_bytes(blob, password, source="fuzz.pfx")
    except VdcError as exc:
        assert exc.details.get("field") in ("pfx_path", "pfx_password")


def test_password_with_a_nul_character_is_wrong_not_a_crash(
    tmp_path: Path, key: rsa.RSAPrivateKey
) -> None:
    # Found by the property test: cryptography panics on a NUL in the password.
    path = write(tmp_path, "locked.pfx", export_pfx(key, make_cert(key), password=PASSWORD))
    with pytest.raises(CertificateProblem) as caught:
        load_pfx(path, "a\x00b")
    assert_problem(caught, "pfx_wrong_password", "pfx_password")
