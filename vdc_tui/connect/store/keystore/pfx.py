"""The encrypted key files: AES-256 PKCS#12 written for the store, read back fast.

Every key file the tool writes (``connections/<tenant>/certificate.pfx``) is a PKCS#12
encrypted with PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) and an HMAC-SHA256 MAC under the
store passphrase (:mod:`.passphrase`). The files open with that passphrase in any PKCS#12
reader (``openssl pkcs12 -in certificate.pfx``), so a lost tool never locks a key away.

Speed: a fleet check reads hundreds of keys. Loading a PFX with ``pkcs12.load_pkcs12``
costs ~60 ms, almost all of it in the RSA key's consistency check (primality tests), not
in the KDF. Files this module wrote are read by :func:`open_store_pfx` instead: it follows
the PKCS#12 structure, decrypts the key bag with
``load_der_private_key(unsafe_skip_rsa_key_validation=True)`` and the certificate bag with
PBKDF2 + AES, and then checks that the key and the certificate belong together (which a
wrong or damaged file cannot pass). The fast path does not recompute the MAC (a third
PBKDF2-class derivation per key): integrity is what the key/certificate match proves, and
anyone able to forge a matching pair already holds the passphrase. See :data:`KDF_ROUNDS`
for the cost of one load.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: PBKDF2-HMAC-SHA256 iterations for the key bag, the certificate bag and the MAC of every
#: stored PFX. One store load runs PBKDF2 twice (key and certificate bags): at 10,000 rounds
#: that is a few ms a key, so a 500-key fleet check spends seconds opening keys (measured:
#: 500 ``read_key`` in 4.6 s on the 2-core reference machine while other jobs kept it at a
#: load of 4-5; ``load_pkcs12`` alone would have needed 30 s). Why it is enough:
#: the passphrase the keyring keeps is generated (256 random bits: guessing it is out of
#: reach at any cost); a typed passphrase must have at least
#: :data:`~.passphrase.MIN_TYPED_PASSPHRASE` characters; every guess still costs 10,000
#: HMAC-SHA256 per file (each file has its own salt); and ``keystore.json`` is no
#: shortcut: its check value costs a scrypt (16 MiB) per guess. Exports, which leave the
#: machine, get more (``connect/export.EXPORT_KDF_ROUNDS``).
KDF_ROUNDS = 10_000


def encrypt_pfx(private_key: Any, certificate: Any, chain: tuple[Any, ...], secret: bytes,
                *, name: bytes = b"vdc-tui", rounds: int = KDF_ROUNDS) -> bytes:
    """A PKCS#12 with PBES2 (PBKDF2-SHA256, AES-256-CBC) bags and an HMAC-SHA256 MAC."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import PrivateFormat, pkcs12

    encryption = (
        PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(rounds)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(secret)
    )
    return pkcs12.serialize_key_and_certificates(
        name, private_key, certificate, list(chain) or None, encryption
    )


_OID_DATA = bytes.fromhex("2a864886f70d010701")
_OID_ENCRYPTED_DATA = bytes.fromhex("2a864886f70d010706")
_OID_KEY_BAG = bytes.fromhex("2a864886f70d010c0a0101")
_OID_SHROUDED_KEY_BAG = bytes.fromhex("2a864886f70d010c0a0102")
_OID_CERT_BAG = bytes.fromhex("2a864886f70d010c0a0103")
_OID_X509_CERT = bytes.fromhex("2a864886f70d01091601")
_OID_PBES2 = bytes.fromhex("2a864886f70d01050d")
_OID_PBKDF2 = bytes.fromhex("2a864886f70d01050c")
_OID_HMAC_SHA256 = bytes.fromhex("2a864886f70d0209")
_OID_AES256_CBC = bytes.fromhex("60864801650304012a")


class _Unusual(Exception):
    """Not the layout this module writes: use the general PKCS#12 reader."""


def _children(buf: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    from vdc_tui.connect.certificates import NotDer, der_tlv

    out = []
    pos = start
    try:
        while pos < end:
            tag, cstart, cend, pos = der_tlv(buf, pos, end)
            out.append((tag, cstart, cend))
    except NotDer:
        raise _Unusual from None
    return out


def _one(buf: bytes, start: int, end: int, tag: int) -> tuple[int, int]:
    items = _children(buf, start, end)
    if len(items) != 1 or items[0][0] != tag:
        raise _Unusual
    return items[0][1], items[0][2]


@dataclass
class _Bags:
    plain_keys: int = 0
    shrouded_keys: list[bytes] = field(default_factory=list)
    certs: list[bytes] = field(default_factory=list)
    encrypted: list[tuple[bytes, bytes]] = field(default_factory=list)  # (algid, ciphertext)


def _safe_contents(buf: bytes, bags: _Bags) -> None:
    start, end = _one(buf, 0, len(buf), 0x30)
    for tag, bstart, bend in _children(buf, start, end):
        if tag != 0x30:
            raise _Unusual
        parts = _children(buf, bstart, bend)
        if len(parts) < 2 or parts[0][0] != 0x06 or parts[1][0] != 0xA0:
            raise _Unusual
        oid = buf[parts[0][1]:parts[0][2]]
        vstart, vend = _one(buf, parts[1][1], parts[1][2], 0x30)
        if oid == _OID_KEY_BAG:
            bags.plain_keys += 1
        elif oid == _OID_SHROUDED_KEY_BAG:
            # The [0] wrapper's content is the EncryptedPrivateKeyInfo's whole DER.
            bags.shrouded_keys.append(buf[parts[1][1]:parts[1][2]])
        elif oid == _OID_CERT_BAG:
            inner = _children(buf, vstart, vend)
            if len(inner) != 2 or inner[0][0] != 0x06 or inner[1][0] != 0xA0:
                raise _Unusual
            if buf[inner[0][1]:inner[0][2]] == _OID_X509_CERT:
                cstart, cend = _one(buf, inner[1][1], inner[1][2], 0x04)
                bags.certs.append(buf[cstart:cend])


def _pfx_bags(data: bytes) -> _Bags:
    """The bags of a PKCS#12 (encrypted ContentInfos kept whole for later)."""
    outer_start, outer_end = _one(data, 0, len(data), 0x30)
    parts = _children(data, outer_start, outer_end)
    if len(parts) < 2 or parts[0][0] != 0x02 or parts[1][0] != 0x30:
        raise _Unusual
    info = _children(data, parts[1][1], parts[1][2])
    if len(info) != 2 or data[info[0][1]:info[0][2]] != _OID_DATA or info[1][0] != 0xA0:
        raise _Unusual
    astart, aend = _one(data, info[1][1], info[1][2], 0x04)
    safe = data[astart:aend]
    sstart, send = _one(safe, 0, len(safe), 0x30)
    bags = _Bags()
    for tag, cstart, cend in _children(safe, sstart, send):
        if tag != 0x30:
            raise _Unusual
        ci = _children(safe, cstart, cend)
        if len(ci) != 2 or ci[0][0] != 0x06 or ci[1][0] != 0xA0:
            raise _Unusual
        oid = safe[ci[0][1]:ci[0][2]]
        if oid == _OID_DATA:
            ostart, oend = _one(safe, ci[1][1], ci[1][2], 0x04)
            _safe_contents(safe[ostart:oend], bags)
        elif oid == _OID_ENCRYPTED_DATA:
            estart, eend = _one(safe, ci[1][1], ci[1][2], 0x30)
            ed = _children(safe, estart, eend)
            if len(ed) != 2 or ed[1][0] != 0x30:
                raise _Unusual
            eci = _children(safe, ed[1][1], ed[1][2])
            if len(eci) != 3 or eci[2][0] != 0x80:
                raise _Unusual
            bags.encrypted.append((safe[eci[1][1]:eci[1][2]], safe[eci[2][1]:eci[2][2]]))
        else:
            raise _Unusual
    return bags


def _pbes2_decrypt(algid: bytes, ciphertext: bytes, secret: bytes) -> bytes:
    """Decrypt PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC); ``algid`` = the AlgorithmIdentifier
    content. Raises ``_Unusual`` for other algorithms, ``ValueError`` for a bad padding."""
    from cryptography.hazmat.primitives import hashes, padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

    parts = _children(algid, 0, len(algid))
    if len(parts) != 2 or algid[parts[0][1]:parts[0][2]] != _OID_PBES2:
        raise _Unusual
    kdf, scheme = (_children(algid, s, e) for _, s, e in _children(algid, parts[1][1],
                                                                      parts[1][2]))
    if len(kdf) != 2 or algid[kdf[0][1]:kdf[0][2]] != _OID_PBKDF2:
        raise _Unusual
    params = _children(algid, kdf[1][1], kdf[1][2])
    if len(params) < 2 or params[0][0] != 0x04 or params[1][0] != 0x02:
        raise _Unusual
    salt = algid[params[0][1]:params[0][2]]
    rounds = int.from_bytes(algid[params[1][1]:params[1][2]], "big")
    prf = [p for p in params[2:] if p[0] == 0x30]
    if not prf or not _children(algid, prf[0][1], prf[0][2]) or \
            algid[slice(*_children(algid, prf[0][1], prf[0][2])[0][1:])] != _OID_HMAC_SHA256:
        raise _Unusual
    if len(scheme) != 2 or algid[scheme[0][1]:scheme[0][2]] != _OID_AES256_CBC \
            or scheme[1][0] != 0x04 or not 0 < rounds <= 10_000_000:
        raise _Unusual
    iv = algid[scheme[1][1]:scheme[1][2]]
    key = PBKDF2HMAC(hashes.SHA256(), 32, salt, rounds).derive(secret)
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


class WrongSecret(Exception):
    """The secret does not open these PFX bytes."""


def open_store_pfx(data: bytes, secret: bytes, *, source: str) -> Any:
    """Open a PFX this store wrote (fast path), any other PFX through the general reader.

    Returns:
        A :class:`~vdc_tui.connect.certificates.LoadedPfx`.

    Raises:
        WrongSecret: the secret does not open it (or it is damaged).
        CertificateProblem: it opens but holds no usable key and certificate.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_der_private_key

    from vdc_tui.connect.certificates import (
        LoadedPfx,
        certificate_info,
        load_pfx_bytes,
        same_public_key,
    )
    from vdc_tui.connect.errors import CertificateProblem

    try:
        bags = _pfx_bags(data)
        if len(bags.shrouded_keys) != 1 or bags.plain_keys:
            raise _Unusual
        certs = list(bags.certs)
        for algid, ciphertext in bags.encrypted:
            inner = _Bags()
            try:
                _safe_contents(_pbes2_decrypt(algid, ciphertext, secret), inner)
            except ValueError:
                raise WrongSecret from None
            if inner.shrouded_keys or inner.plain_keys:
                raise _Unusual
            certs.extend(inner.certs)
        try:
            key = load_der_private_key(bags.shrouded_keys[0], secret,
                                       unsafe_skip_rsa_key_validation=True)
            parsed = [x509.load_der_x509_certificate(c) for c in certs]
        except (ValueError, TypeError):
            raise WrongSecret from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise _Unusual
        main = [c for c in parsed if same_public_key(key, c)]
        if len(main) != 1:
            raise WrongSecret  # a key without its certificate: damaged
        chain = tuple(c for c in parsed if c is not main[0])
        return LoadedPfx(private_key=key, certificate=main[0], chain=chain,
                         info=certificate_info(main[0]), pfx_bytes=data)
    except _Unusual:
        pass
    try:
        return load_pfx_bytes(data, secret.decode("utf-8"), source=source)
    except CertificateProblem as problem:
        if problem.code in ("pfx_wrong_password", "pfx_password_required"):
            raise WrongSecret from None
        raise


def holds_plain_key(data: bytes) -> bool:
    """Whether the PFX carries a key bag that no password protects (cheap: no decryption)."""
    try:
        return _pfx_bags(data).plain_keys > 0
    except _Unusual:
        return key_protection(data) == "unprotected"


def key_protection(data: bytes) -> str:
    """``encrypted``, ``unprotected`` (a key readable without any password) or ``unknown``."""
    try:
        bags = _pfx_bags(data)
    except _Unusual:
        from vdc_tui.connect.certificates import try_load_pkcs12

        return "unprotected" if try_load_pkcs12(data, [None, b""]) else "unknown"
    if bags.plain_keys:
        return "unprotected"
    if bags.shrouded_keys:
        from vdc_tui.connect.certificates import try_load_pkcs12

        # A shrouded key bag under an empty password is no protection at all.
        return "unprotected" if try_load_pkcs12(data, [None, b""]) else "encrypted"
    return "unknown"
