"""Keys and certificates of the emulator: its TLS CA, server certificate and token key.

Key generation is the slow part of starting an emulator, and tests start many, so the keys
are made once per process and shared; only the CA PEM file is written per server.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import ssl
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def b64url(data: bytes) -> str:
    """Base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode base64url with or without padding (raises ``ValueError``)."""
    text = text.strip()
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class EmulatorPki:
    """The emulator's TLS material and token-signing key.

    Attributes:
        ca_pem: The CA certificate clients trust.
        server_cert_pem: Server certificate (127.0.0.1 and localhost) followed by the CA.
        server_key_pem: Its private key (never leaves the process except into a 0600 file).
        token_key: RSA key that signs every token.
        token_kid: Key id published in the JWKS.
    """

    ca_pem: bytes
    server_cert_pem: bytes
    server_key_pem: bytes = field(repr=False)
    token_key: rsa.RSAPrivateKey = field(repr=False)
    token_kid: str

    def server_ssl_context(self) -> ssl.SSLContext:
        """A TLS server context with the server certificate loaded."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        # load_cert_chain needs files; the key goes to a private temp dir that is removed at once.
        with tempfile.TemporaryDirectory(prefix="vdc-emu-tls-") as tmp:
            cert = Path(tmp) / "server.pem"
            key = Path(tmp) / "server.key"
            cert.write_bytes(self.server_cert_pem)
            key.touch(mode=0o600)
            key.write_bytes(self.server_key_pem)
            ctx.load_cert_chain(cert, key)
        return ctx

    def jwks(self) -> dict[str, object]:
        """The public token key as a JSON Web Key Set."""
        numbers = self.token_key.public_key().public_numbers()
        n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
        e = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
        return {
            "keys": [
                {"kty": "RSA", "use": "sig", "kid": self.token_kid, "x5t": self.token_kid,
                 "n": b64url(n), "e": b64url(e), "alg": "RS256"}
            ]
        }


_LOCK = threading.Lock()
_PKI: EmulatorPki | None = None


def _make_pki() -> EmulatorPki:
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vdc-tui emulator CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                          content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False,
                          encipher_only=False, decipher_only=False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    token_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token_pub_der = token_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    return EmulatorPki(
        ca_pem=ca_pem,
        server_cert_pem=server_cert.public_bytes(serialization.Encoding.PEM) + ca_pem,
        server_key_pem=server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        token_key=token_key,
        token_kid=b64url(hashlib.sha1(token_pub_der).digest()),
    )


def emulator_pki() -> EmulatorPki:
    """The process-wide emulator PKI (made on first use)."""
    global _PKI
    with _LOCK:
        if _PKI is None:
            _PKI = _make_pki()
        return _PKI
