"""Certificates: loading the operator's PFX, checking it, and making our own.

Every problem is a :class:`~vdc_tui.connect.errors.CertificateProblem` with a stable code
and ``details["field"]`` naming the form field at fault (``pfx_path`` or ``pfx_password``),
so the manual form can put the cursor there. Thumbprints are given the way the Entra admin
centre shows them: upper-case hex without separators.

A wrong password and a damaged file look the same to the PKCS#12 parser ("invalid password
or PKCS12 data"). Before blaming the password we read the file's outer ASN.1 structure
(version 3, an authenticated-safe content, optional MAC): only a file that really is a
PKCS#12 container gets a password error; anything else is unreadable.
"""

from __future__ import annotations

import base64
import os
import secrets
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from vdc_tui.connect.errors import CertificateProblem, scrub
from vdc_tui.connect.models import CertificateInfo, days_left

if TYPE_CHECKING:
    from vdc_tui.connect.microsoft.identity import CertificateCredential

MAX_PFX_BYTES = 1024 * 1024
MIN_RSA_BITS = 2048
EXPIRY_WARNING_DAYS = 30

_EXPORT_HINT = (
    "Export the certificate with its private key as a .pfx file, e.g. "
    "`openssl pkcs12 -export -inkey key.pem -in cert.pem -out app.pfx`, or from the "
    "Windows certificate store with 'Yes, export the private key'."
)


@dataclass(frozen=True)
class LoadedPfx:
    """A certificate with its private key, from a PFX or freshly generated.

    Attributes:
        private_key: The RSA private key (secret).
        certificate: The certificate whose public key matches ``private_key``.
        chain: Other certificates of the PFX (issuers), possibly empty.
        info: Public facts of ``certificate``.
        pfx_bytes: The PFX file's bytes (secret: it holds the key).
    """

    private_key: rsa.RSAPrivateKey = field(repr=False)
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    info: CertificateInfo
    pfx_bytes: bytes = field(repr=False)

    def credential(self) -> CertificateCredential:
        """What MSAL signs its client assertions with (PEM key and certificate)."""
        from vdc_tui.connect.microsoft.identity import CertificateCredential

        return CertificateCredential(
            private_key_pem=self.private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            certificate_pem=self.certificate.public_bytes(serialization.Encoding.PEM),
            info=self.info,
            private_key=self.private_key,
        )


def _problem(
    code: str, message: str, remediation: str, field_name: str, **details: Any
) -> CertificateProblem:
    return CertificateProblem(code, message, remediation, {"field": field_name, **details})


# --- a minimal BER reader for the outer PKCS#12 structure ------------------------------

_OID_PKCS7_DATA = bytes.fromhex("2a864886f70d010701")
_OID_PKCS7_SIGNED = bytes.fromhex("2a864886f70d010702")


class NotDer(Exception):
    """The bytes are not the expected ASN.1."""


def der_tlv(buf: bytes, pos: int, end: int, level: int = 0) -> tuple[int, int, int, int]:
    """Read one element at ``pos``: (tag, content start, content end, next position).

    Indefinite lengths (BER, written by some exporters) are followed to their
    end-of-contents marker, to a bounded depth (hostile input must not recurse forever).
    """
    if pos + 2 > end or level > 24:
        raise NotDer
    tag = buf[pos]
    if tag & 0x1F == 0x1F:  # multi-byte tags never occur in the PFX outer structure
        raise NotDer
    first = buf[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    elif first == 0x80:
        if not tag & 0x20:  # indefinite length is only allowed on constructed types
            raise NotDer
        inner = pos
        while True:
            if inner + 2 > end:
                raise NotDer
            if buf[inner] == 0 and buf[inner + 1] == 0:
                return tag, pos, inner, inner + 2
            _, _, _, inner = der_tlv(buf, inner, end, level + 1)
    else:
        count = first & 0x7F
        if count > 4 or pos + count > end:
            raise NotDer
        length = int.from_bytes(buf[pos : pos + count], "big")
        pos += count
    if pos + length > end:
        raise NotDer
    return tag, pos, pos + length, pos + length


def _pkcs12_shape(data: bytes) -> bool | None:
    """Whether ``data`` is a PKCS#12 PFX: ``None`` if not, else whether it carries a MAC."""
    try:
        tag, start, stop, _ = der_tlv(data, 0, len(data))
        if tag != 0x30:
            return None
        tag, vstart, vstop, pos = der_tlv(data, start, stop)
        if tag != 0x02 or data[vstart:vstop] != b"\x03":
            return None
        tag, cstart, cstop, pos = der_tlv(data, pos, stop)
        if tag != 0x30:
            return None
        tag, ostart, ostop, _ = der_tlv(data, cstart, cstop)
        if tag != 0x06 or data[ostart:ostop] not in (_OID_PKCS7_DATA, _OID_PKCS7_SIGNED):
            return None
        if pos >= stop:
            return False
        tag, _, _, _ = der_tlv(data, pos, stop)
        return tag == 0x30
    except NotDer:
        return None


# --- loading ---------------------------------------------------------------------------


def load_pfx(path: str | Path, password: str | None) -> LoadedPfx:
    """Load a PFX file (at most :data:`MAX_PFX_BYTES`).

    Raises:
        CertificateProblem: ``pfx_unreadable``, ``pfx_too_large``,
            ``pfx_password_required``, ``pfx_wrong_password``, ``pfx_no_private_key``,
            ``pfx_key_mismatch``, ``certificate_key_too_weak`` (not an RSA key).
    """
    file = Path(path).expanduser()
    shown = scrub(str(file), limit=300)
    try:
        # O_NONBLOCK: opening a FIFO (a named pipe) would otherwise wait for a writer
        # forever. The checks below run on the opened descriptor, so the file cannot be
        # swapped for another between the check and the read.
        fd = os.open(file, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise _problem(
            "pfx_unreadable",
            f"There is no file at {shown}.",
            "Check the path of the .pfx file (relative paths start in the current folder).",
            "pfx_path",
        ) from None
    except IsADirectoryError:
        raise _folder(shown) from None
    except OSError as exc:
        raise _problem(
            "pfx_unreadable",
            f"The PFX file {shown} cannot be read ({exc.strerror or type(exc).__name__}).",
            "Check that the file exists and that you may read it.",
            "pfx_path",
        ) from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise _folder(shown)
        if not stat.S_ISREG(mode):
            # A pipe, a device (/dev/zero, a tape) or a socket: never a certificate.
            raise _problem(
                "pfx_unreadable",
                f"{shown} is not a regular file ({_file_kind(mode)}).",
                "Give the path of the .pfx file itself.",
                "pfx_path",
            )
        size = os.fstat(fd).st_size
        if size > MAX_PFX_BYTES:
            raise _too_large(shown, size)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            # Read one byte more than allowed: the file may have grown since fstat().
            data = handle.read(MAX_PFX_BYTES + 1)
    except OSError as exc:
        raise _problem(
            "pfx_unreadable",
            f"The PFX file {shown} cannot be read ({exc.strerror or type(exc).__name__}).",
            "Check that you may read the file (`ls -l`), or copy it somewhere you can.",
            "pfx_path",
        ) from None
    finally:
        os.close(fd)
    return load_pfx_bytes(data, password, source=str(file))


def _folder(shown: str) -> CertificateProblem:
    return _problem(
        "pfx_unreadable",
        f"{shown} is a folder, not a PFX file.",
        "Give the path of the .pfx file itself.",
        "pfx_path",
    )


def _file_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def _too_large(shown: str, size: int) -> CertificateProblem:
    return _problem(
        "pfx_too_large",
        f"{shown} is {size:,} bytes; a PFX holding one certificate is a few kilobytes "
        f"(the limit is {MAX_PFX_BYTES:,}).",
        "Check that this is the certificate's .pfx file and not another file.",
        "pfx_path",
        size=size,
    )


def try_load_pkcs12(data: bytes,
                    passwords: list[bytes | None]) -> pkcs12.PKCS12KeyAndCertificates | None:
    """The PKCS#12 opened with the first of ``passwords`` that works, else ``None``."""
    for candidate in passwords:
        if candidate is not None and b"\0" in candidate:
            # OpenSSL takes a C string: a NUL cannot be part of any PFX password (and
            # cryptography panics on one instead of raising).
            continue
        try:
            return pkcs12.load_pkcs12(data, candidate)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            continue
    return None


def load_pfx_bytes(data: bytes, password: str | None, *, source: str) -> LoadedPfx:
    """Load PFX bytes; ``source`` names them in messages (a file name, "the upload").

    Raises:
        CertificateProblem: as :func:`load_pfx`.
    """
    shown = scrub(source, limit=300)
    if len(data) > MAX_PFX_BYTES:
        raise _too_large(shown, len(data))
    if not data:
        raise _problem("pfx_unreadable", f"{shown} is empty.", _EXPORT_HINT, "pfx_path")
    shape = _pkcs12_shape(data)
    if shape is None:
        if data.lstrip().startswith(b"-----BEGIN"):
            raise _problem(
                "pfx_unreadable",
                f"{shown} is a PEM file, not a PFX (PKCS#12) file.",
                _EXPORT_HINT,
                "pfx_path",
            )
        raise _problem(
            "pfx_unreadable",
            f"{shown} is not a PFX (PKCS#12) file.",
            _EXPORT_HINT,
            "pfx_path",
        )
    if password:
        # A PFX exported without a password opens only without one: accept it anyway.
        loaded = try_load_pkcs12(data, [password.encode("utf-8"), None, b""])
    else:
        loaded = try_load_pkcs12(data, [None, b""])
    if loaded is None:
        if password:
            raise _problem(
                "pfx_wrong_password",
                f"The password does not open {shown}.",
                "Type the password that was set when the PFX was exported (it is case-"
                "sensitive); if it is lost, export the certificate again with a new one.",
                "pfx_password",
            )
        raise _problem(
            "pfx_password_required",
            f"{shown} is protected by a password.",
            "Enter the PFX password (set when the certificate was exported).",
            "pfx_password",
        )
    return _from_pkcs12(loaded, data, shown)


def same_public_key(key: rsa.RSAPrivateKey, cert: x509.Certificate) -> bool:
    """Whether ``cert`` holds the public half of ``key``."""
    try:
        public = cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return False
    return (
        isinstance(public, rsa.RSAPublicKey)
        and public.public_numbers() == key.public_key().public_numbers()
    )


def _from_pkcs12(loaded: pkcs12.PKCS12KeyAndCertificates, data: bytes, shown: str) -> LoadedPfx:
    key = loaded.key
    others = [c.certificate for c in loaded.additional_certs]
    main = loaded.cert.certificate if loaded.cert is not None else None
    if key is None:
        raise _problem(
            "pfx_no_private_key",
            f"{shown} holds a certificate but not its private key.",
            "Export the certificate again *with* its private key (in Windows: 'Yes, export "
            "the private key'); a .cer file or a PFX without the key cannot sign in.",
            "pfx_path",
        )
    if not isinstance(key, rsa.RSAPrivateKey):
        kind = type(key).__name__.removeprefix("_").replace("PrivateKey", "")
        raise _problem(
            "certificate_key_too_weak",
            f"{shown} holds a {scrub(kind, limit=40)} key; the app's certificate must use "
            f"an RSA key of at least {MIN_RSA_BITS} bits.",
            f"Create a new certificate with an RSA key of {MIN_RSA_BITS} bits or more and "
            "upload it to the app registration.",
            "pfx_path",
        )
    if main is None:
        # Without a key id, the container may list the key's certificate among the others.
        matching = [c for c in others if same_public_key(key, c)]
        if matching:
            main = matching[0]
            others = [c for c in others if c is not main]
        elif others:
            raise _mismatch(shown)
        else:
            raise _problem(
                "pfx_unreadable",
                f"{shown} holds a private key but no certificate.",
                _EXPORT_HINT,
                "pfx_path",
            )
    elif not same_public_key(key, main):
        raise _mismatch(shown)
    return LoadedPfx(
        private_key=key,
        certificate=main,
        chain=tuple(others),
        info=certificate_info(main),
        pfx_bytes=data,
    )


def _mismatch(shown: str) -> CertificateProblem:
    return _problem(
        "pfx_key_mismatch",
        f"The private key in {shown} does not belong to its certificate.",
        "Export the certificate together with its own private key into a new PFX.",
        "pfx_path",
    )


# --- facts and checks ------------------------------------------------------------------


def certificate_info(cert: x509.Certificate) -> CertificateInfo:
    """Public facts of a certificate, thumbprints as Entra shows them."""
    try:
        public = cert.public_key()
        key_size = int(getattr(public, "key_size", 0))
    except (ValueError, UnsupportedAlgorithm):
        key_size = 0
    return CertificateInfo(
        subject=cert.subject.rfc4514_string(),
        sha1=cert.fingerprint(hashes.SHA1()).hex().upper(),  # Entra's thumbprint
        sha256=cert.fingerprint(hashes.SHA256()).hex().upper(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        key_size=key_size,
    )


def check_validity(info: CertificateInfo, *, now: datetime | None = None) -> list[str]:
    """Check that a certificate can sign in now; returns warnings.

    Raises:
        CertificateProblem: ``certificate_not_yet_valid``, ``certificate_expired`` or
            ``certificate_key_too_weak``.
    """
    moment = now or datetime.now(UTC)
    details = {
        "sha1": info.sha1,
        "not_before": _iso(info.not_before),
        "not_after": _iso(info.not_after),
    }
    if moment < info.not_before:
        raise _problem(
            "certificate_not_yet_valid",
            f"The certificate {info.sha1} is valid only from {_day(info.not_before)}.",
            "Check this computer's clock and time zone; if it is right, use a certificate "
            "that is already valid, or wait until it becomes valid.",
            "pfx_path",
            **details,
        )
    if moment >= info.not_after:
        raise _problem(
            "certificate_expired",
            f"The certificate {info.sha1} expired on {_day(info.not_after)}.",
            "Create a new certificate, upload it to the app registration (Certificates & "
            "secrets), and use its PFX here.",
            "pfx_path",
            **details,
        )
    if info.key_size < MIN_RSA_BITS:
        raise _problem(
            "certificate_key_too_weak",
            f"The certificate's RSA key has {info.key_size} bits; at least {MIN_RSA_BITS} "
            "are required.",
            f"Create a new certificate with an RSA key of {MIN_RSA_BITS} bits or more and "
            "upload it to the app registration.",
            "pfx_path",
            key_size=info.key_size,
        )
    warnings: list[str] = []
    left = info.not_after - moment
    if left < timedelta(days=EXPIRY_WARNING_DAYS):
        days = max(0, days_left(info.not_after, moment))
        warnings.append(
            f"The certificate expires in {days} day{'s' if days != 1 else ''} "
            f"({_day(info.not_after)}): renew it before then or backups will stop."
        )
    return warnings


def _day(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, whole seconds (as Graph writes dates)."""
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def x5t_sha1(cert: x509.Certificate) -> str:
    """The ``x5t`` header value: base64url SHA-1 of the DER, no padding."""
    return _b64url(cert.fingerprint(hashes.SHA1()))  # the header's definition


# --- making our own --------------------------------------------------------------------


def generate_self_signed(
    common_name: str,
    *,
    years: int = 2,
    key_size: int = 2048,
    now: datetime | None = None,
    lifetime: timedelta | None = None,
) -> LoadedPfx:
    """A new RSA key and a self-signed certificate for an app registration.

    The certificate starts a few minutes in the past so that a slightly slow clock at the
    identity platform does not see it as "not yet valid". The PFX is not password
    protected: it is stored like an SSH key (0600 in a 0700 folder). ``lifetime``, when
    given, replaces ``years`` (a tenant policy may limit credential lifetimes).
    """
    moment = (now or datetime.now(UTC)).replace(microsecond=0)
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    backdate = timedelta(minutes=10)
    # A given lifetime counts from the (backdated) start, so it fits a policy's maximum.
    not_after = (moment - backdate + lifetime) if lifetime is not None else (
        moment + timedelta(days=365 * years))
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(int.from_bytes(secrets.token_bytes(16), "big") >> 1 or 1)
        .not_valid_before(moment - backdate)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    data = export_pfx(key, cert, common_name=common_name)
    return LoadedPfx(
        private_key=key, certificate=cert, chain=(), info=certificate_info(cert), pfx_bytes=data
    )


def export_pfx(
    key: rsa.RSAPrivateKey,
    cert: x509.Certificate,
    *,
    common_name: str | None = None,
    chain: tuple[x509.Certificate, ...] = (),
    password: str | None = None,
) -> bytes:
    """PFX bytes of a key and its certificate (password protected when one is given)."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode("utf-8"))
        if password
        else serialization.NoEncryption()
    )
    friendly = (common_name or cert.subject.rfc4514_string()).encode("utf-8")
    return pkcs12.serialize_key_and_certificates(
        friendly, key, cert, list(chain) or None, encryption
    )


def key_credential(pfx: LoadedPfx, display_name: str) -> dict[str, Any]:
    """The Graph ``keyCredentials`` entry that registers the certificate with an app.

    ``key`` is the certificate's DER in base64 (never the private key); ``displayName``
    is what the admin centre lists (conventionally ``CN=…``).
    """
    der = pfx.certificate.public_bytes(serialization.Encoding.DER)
    return {
        "type": "AsymmetricX509Cert",
        "usage": "Verify",
        "key": base64.b64encode(der).decode("ascii"),
        "displayName": display_name or pfx.info.subject,
        "startDateTime": _iso(pfx.info.not_before),
        "endDateTime": _iso(pfx.info.not_after),
    }
