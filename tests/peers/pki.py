"""Certificates the peer tests make for themselves, with ``cryptography`` only.

Nothing here comes from ``vdc_tui``: the test CA, the peer's TLS certificate and the app
certificates (as password-protected PFX files) are built independently, so the peer tests
check our code against material our code did not produce.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of a test CA and a server certificate for 127.0.0.1 signed by it."""

    ca_pem: Path
    server_cert_pem: Path
    server_key_pem: Path


def make_tls(folder: Path) -> TlsFiles:
    """A CA and a CA-signed leaf with ``subjectAltName=IP:127.0.0.1`` (what Node needs)."""
    now = datetime.now(UTC)
    ca_key = _key()
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("vdc-tui peer test CA"))
        .issuer_name(_name("vdc-tui peer test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = _key()
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca_cert.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(folder / "ca.pem", folder / "server.pem", folder / "server-key.pem")
    files.ca_pem.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.server_cert_pem.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    files.server_key_pem.write_bytes(_pem_key(leaf_key))
    files.server_key_pem.chmod(0o600)
    return files


@dataclass(frozen=True)
class AppCertificate:
    """A self-signed app certificate saved as a password-protected PFX."""

    pfx_path: Path
    password: str = field(repr=False)
    certificate: x509.Certificate

    @property
    def certificate_pem(self) -> str:
        """The certificate (public part only) as PEM text."""
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")

    @property
    def sha256_hex(self) -> str:
        """SHA-256 thumbprint, upper-case hex (as CertificateInfo writes it)."""
        return self.certificate.fingerprint(hashes.SHA256()).hex().upper()

    @property
    def x5t_s256(self) -> str:
        """base64url SHA-256 thumbprint without padding (JOSE ``x5t#S256``)."""
        digest = hashlib.sha256(self.certificate.public_bytes(serialization.Encoding.DER))
        return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode("ascii")


def make_app_certificate(folder: Path, name: str, password: str) -> AppCertificate:
    """An RSA-2048 self-signed certificate valid now, in ``folder/name.pfx``."""
    now = datetime.now(UTC)
    key = _key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    pfx = pkcs12.serialize_key_and_certificates(
        name.encode(),
        key,
        cert,
        None,
        serialization.BestAvailableEncryption(password.encode()),
    )
    path = folder / f"{name}.pfx"
    path.write_bytes(pfx)
    path.chmod(0o600)
    return AppCertificate(path, password, cert)
