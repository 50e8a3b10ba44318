"""Private keys at rest: the store passphrase and the AES-256 PFX files it protects.

Every key file the tool writes (``connections/<tenant>/certificate.pfx``) is a PKCS#12
encrypted with PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) and an HMAC-SHA256 MAC, under one
**store passphrase** per home folder. The files open with that passphrase in any PKCS#12
reader (``openssl pkcs12 -in certificate.pfx``), so a lost tool never locks a key away.

Where the passphrase comes from, first found wins (:class:`PassphraseProvider`):

1. ``--key-passphrase-env VAR`` or ``--key-passphrase-stdin`` (the command line);
2. ``VDC_TUI_KEY_PASSPHRASE_FILE``: a regular file owned by this user and readable by no
   one else (refused otherwise), first line;
3. the OS keyring (``keyring``: macOS Keychain, Windows Credential Locker, Secret Service
   over D-Bus). A Secret Service without a D-Bus session is detected and skipped, and
   every keyring call is bounded by a timeout, so a locked or absent keyring never hangs a
   run. With a usable keyring and a new store, a random passphrase is generated and kept
   there: nobody has to type one;
4. otherwise the wizard asks once per session (:meth:`PassphraseProvider.set_typed`).

``keystore.json`` in the home folder holds a scrypt check value of the passphrase (never the
passphrase): a wrong passphrase is told from a damaged file before any key is touched, with
its own error code, and the check costs one scrypt per process, not one per key.

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

import base64
import contextlib
import functools
import hashlib
import hmac
import json
import os
import secrets
import stat
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .errors import InvalidInput, VdcError, scrub
from .fsutil import PRIVATE_FILE_MODE, atomic_write

#: PBKDF2-HMAC-SHA256 iterations for the key bag, the certificate bag and the MAC of every
#: stored PFX. One store load runs PBKDF2 twice (key and certificate bags): at 10,000 rounds
#: that is a few ms a key, so a 500-key fleet check spends seconds opening keys (measured:
#: 500 ``read_key`` in 4.6 s on the 2-core reference machine while other jobs kept it at a
#: load of 4-5; ``load_pkcs12`` alone would have needed 30 s). Why it is enough:
#: the passphrase the keyring keeps is generated (256 random bits: guessing it is out of
#: reach at any cost); a typed passphrase must have at least :data:`MIN_TYPED_PASSPHRASE`
#: characters; every guess still costs 10,000 HMAC-SHA256 per file (each file has its own
#: salt); and ``keystore.json`` is no shortcut: its check value costs a scrypt (16 MiB) per
#: guess. Exports, which leave the machine, get more (``connect/export.EXPORT_KDF_ROUNDS``).
KDF_ROUNDS = 10_000

#: The shortest passphrase the wizard accepts when one is first set.
MIN_TYPED_PASSPHRASE = 12

#: The demo's store passphrase: fixed, public, and said so wherever the demo shows it.
DEMO_PASSPHRASE = "vdc-tui-demo-passphrase"

PASSPHRASE_FILE_ENV = "VDC_TUI_KEY_PASSPHRASE_FILE"
KEYRING_SERVICE = "vdc-tui"
KEYRING_TIMEOUT = 3.0
VERIFIER_FILE = "keystore.json"

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


def _error(code: str, message: str, remediation: str, **details: Any) -> VdcError:
    return InvalidInput(code, message, remediation, details)


_SOURCES_HINT = (
    "Give it with --key-passphrase-env VAR or --key-passphrase-stdin, or put it in a file "
    f"readable only by you and set {PASSPHRASE_FILE_ENV} to its path."
)


def passphrase_required(what: str) -> VdcError:
    """``key_passphrase_required``: no source gave the store passphrase."""
    return _error(
        "key_passphrase_required",
        f"The store passphrase is needed to {what}, and none was given.",
        _SOURCES_HINT + " `vdc-tui doctor` shows where it is looked for.",
    )


def passphrase_wrong(source: str) -> VdcError:
    """``key_passphrase_wrong``: the passphrase does not open this store."""
    return _error(
        "key_passphrase_wrong",
        f"The store passphrase from {source} does not open the saved keys.",
        "Give the passphrase these keys were saved with (it is case-sensitive). "
        "Nothing was changed.",
        source=source,
    )


# -- the passphrase and where it comes from -------------------------------------------------


@dataclass(frozen=True)
class Passphrase:
    """The store passphrase and where it came from.

    Attributes:
        secret: The passphrase (never printed, logged or written to a profile).
        source: ``env``, ``stdin``, ``file``, ``keyring``, ``typed`` or ``demo``.
        origin: Where, for messages: "environment variable VDC_PW", "the OS keyring (…)".
    """

    secret: str = field(repr=False)
    source: str
    origin: str

    @property
    def data(self) -> bytes:
        """The passphrase as the PKCS#12 password bytes (UTF-8)."""
        return self.secret.encode("utf-8")


@dataclass(frozen=True)
class KeyringState:
    """What :func:`probe_keyring` found.

    Attributes:
        usable: A backend can store secrets.
        backend: Its name ("SecretService Keyring", "macOS Keyring", …) or ``None``.
        reason: Why it is not usable (one line), when not.
    """

    usable: bool
    backend: str | None
    reason: str | None = None


def _bounded(call: Callable[[], Any], timeout: float) -> tuple[bool, Any]:
    """Run ``call`` in a daemon thread for at most ``timeout`` s: (finished, result)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # reported to the caller, never raised in the thread
            box["error"] = exc

    worker = threading.Thread(target=run, name="vdc-keyring", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        return False, None
    if "error" in box:
        raise box["error"]
    return True, box.get("value")


def _no_dbus(environ: Mapping[str, str]) -> bool:
    return sys.platform.startswith("linux") and not environ.get("DBUS_SESSION_BUS_ADDRESS")


def probe_keyring(environ: Mapping[str, str] | None = None,
                  timeout: float = KEYRING_TIMEOUT) -> KeyringState:
    """Whether the OS keyring can hold the passphrase (never hangs: bounded by ``timeout``)."""
    env = os.environ if environ is None else environ
    if env.get("VDC_TUI_KEYRING", "").lower() in ("off", "0", "no"):
        return KeyringState(False, None, "turned off by VDC_TUI_KEYRING=off")
    forced = env.get("PYTHON_KEYRING_BACKEND", "")
    if _no_dbus(env) and not forced:
        return KeyringState(
            False, None,
            "no D-Bus session (DBUS_SESSION_BUS_ADDRESS is not set, as over SSH or in cron), "
            "so the Secret Service keyring cannot be reached",
        )
    try:
        done, backend = _bounded(_get_keyring, timeout)
    except Exception as exc:  # a broken backend module
        return KeyringState(False, None, f"the keyring failed ({type(exc).__name__})")
    if not done:
        return KeyringState(False, None, f"the keyring did not answer within {timeout:g} s")
    name = getattr(backend, "name", type(backend).__name__)
    module = type(backend).__module__
    priority = getattr(backend, "priority", 0)
    if module.endswith((".fail", ".null")) or (isinstance(priority, (int, float))
                                                and priority <= 0):
        return KeyringState(False, str(name), "no keyring backend is available")
    return KeyringState(True, str(name))


def _get_keyring() -> Any:
    import keyring

    return keyring.get_keyring()


def _keyring_user(root: Path) -> str:
    return f"store:{root.expanduser().resolve()}"


def _keyring_get(root: Path, timeout: float) -> str | None:
    import keyring

    done, value = _bounded(lambda: keyring.get_password(KEYRING_SERVICE, _keyring_user(root)),
                           timeout)
    return value if done and isinstance(value, str) and value else None


def _keyring_set(root: Path, secret: str, timeout: float) -> bool:
    import keyring

    done, _ = _bounded(lambda: keyring.set_password(KEYRING_SERVICE, _keyring_user(root),
                                                    secret), timeout)
    return done


def read_passphrase_file(path_text: str) -> str:
    """The first line of an owner-only passphrase file.

    Raises:
        InvalidInput: ``key_passphrase_file_unsafe`` when other users could read it or it is
            not this user's regular file; ``invalid_argument`` when missing, unreadable or
            empty.
    """
    path = Path(path_text).expanduser()
    shown = scrub(str(path), limit=300)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise _error("invalid_argument",
                     f"{PASSPHRASE_FILE_ENV} names {shown}, which cannot be read "
                     f"({exc.strerror or type(exc).__name__}).",
                     f"Fix the path in {PASSPHRASE_FILE_ENV}, or unset it.",
                     field=PASSPHRASE_FILE_ENV) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _error("key_passphrase_file_unsafe",
                         f"The passphrase file {shown} is not a regular file.",
                         f"Point {PASSPHRASE_FILE_ENV} at a regular file.",
                         field=PASSPHRASE_FILE_ENV)
        if os.name == "posix":
            mode = stat.S_IMODE(info.st_mode)
            if mode & 0o077 or info.st_uid != os.getuid():
                raise _error("key_passphrase_file_unsafe",
                             f"The passphrase file {shown} can be read by other users "
                             f"(mode {mode:04o}) or is not yours; it is not used.",
                             f"Run `chmod 600 {shown}` (as its owner).",
                             field=PASSPHRASE_FILE_ENV)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            raw = handle.read(4097)
    finally:
        os.close(fd)
    try:
        text = raw.decode("utf-8").splitlines()[0] if raw.strip() else ""
    except UnicodeDecodeError:
        raise _error("invalid_argument", f"The passphrase file {shown} is not UTF-8 text.",
                     "Write the passphrase as text on its first line.",
                     field=PASSPHRASE_FILE_ENV) from None
    if not text:
        raise _error("invalid_argument", f"The passphrase file {shown} is empty.",
                     "Write the passphrase on its first line.", field=PASSPHRASE_FILE_ENV)
    return text


class PassphraseProvider:
    """Finds the store passphrase once per process, in the documented order.

    Args:
        env_var: ``--key-passphrase-env VAR``.
        stdin: ``--key-passphrase-stdin`` (first line of ``stream``).
        environ: The environment to read (default ``os.environ``).
        stream: Standard input (default ``sys.stdin``).
        use_keyring: Look in the OS keyring (off for the demo and in tests that say so).
        fixed: A passphrase given outright (the demo's).
    """

    def __init__(self, *, env_var: str | None = None, stdin: bool = False,
                 environ: Mapping[str, str] | None = None, stream: IO[str] | None = None,
                 use_keyring: bool = True, fixed: Passphrase | None = None,
                 keyring_timeout: float = KEYRING_TIMEOUT,
                 asker: Callable[[bool], str] | None = None) -> None:
        self._env_var = env_var
        self._stdin = stdin
        self._environ = environ
        self._stream = stream
        self._use_keyring = use_keyring
        self._timeout = keyring_timeout
        self._resolved: Passphrase | None = fixed
        self._searched = fixed is not None
        self._keyring: KeyringState | None = None
        self._asker = asker
        self._lock = threading.Lock()

    @classmethod
    def demo(cls) -> PassphraseProvider:
        """The demo store's provider: the fixed, public :data:`DEMO_PASSPHRASE`."""
        return cls(fixed=Passphrase(DEMO_PASSPHRASE, "demo",
                                    "the demo's fixed passphrase (public: demo keys only)"))

    @property
    def environ(self) -> Mapping[str, str]:
        """The environment read."""
        return os.environ if self._environ is None else self._environ

    def keyring_state(self) -> KeyringState:
        """The OS keyring's state (probed once)."""
        if self._keyring is None:
            self._keyring = (probe_keyring(self.environ, self._timeout) if self._use_keyring
                             else KeyringState(False, None, "not used for this store"))
        return self._keyring

    def resolve(self, root: Path) -> Passphrase | None:
        """The passphrase from a non-interactive source, or ``None`` (then ask).

        Raises:
            InvalidInput: a named source is unusable (variable unset, unsafe file, …).
        """
        with self._lock:
            if self._resolved is None and not self._searched:
                self._resolved = self._search(root)
                self._searched = True
            asker = self._asker
            if self._resolved is not None or asker is None:
                return self._resolved
        # A terminal prompt (headless commands on a TTY): asked once, kept for the process.
        return self.set_typed(asker(is_new_store(root)))

    def _search(self, root: Path) -> Passphrase | None:
        env = self.environ
        if self._env_var:
            value = env.get(self._env_var, "")
            if not value:
                raise _error("invalid_argument",
                             f"--key-passphrase-env names {scrub(self._env_var, limit=80)}, "
                             "which is not set or empty.",
                             "Export the variable with the store passphrase, or use another "
                             "source.", field="key_passphrase_env")
            return Passphrase(value, "env", f"environment variable {self._env_var}")
        if self._stdin:
            stream = self._stream or sys.stdin
            line = stream.readline().rstrip("\r\n") if stream is not None else ""
            if not line:
                raise _error("invalid_argument",
                             "--key-passphrase-stdin was given but stdin had no passphrase.",
                             "Send the passphrase on the first line of stdin.",
                             field="key_passphrase_stdin")
            return Passphrase(line, "stdin", "standard input")
        file_path = env.get(PASSPHRASE_FILE_ENV, "").strip()
        if file_path:
            return Passphrase(read_passphrase_file(file_path), "file",
                              f"{PASSPHRASE_FILE_ENV} ({scrub(file_path, limit=200)})")
        state = self.keyring_state()
        if state.usable:
            origin = f"the OS keyring ({state.backend})"
            try:
                stored = _keyring_get(root, self._timeout)
            except Exception:  # a locked or broken keyring: fall through to asking
                stored = None
            if stored:
                return Passphrase(stored, "keyring", origin)
            if is_new_store(root):
                # A new store: a random passphrase nobody has to type, kept by the OS.
                secret = secrets.token_urlsafe(32)
                with contextlib.suppress(Exception):
                    if _keyring_set(root, secret, self._timeout) and \
                            _keyring_get(root, self._timeout) == secret:
                        return Passphrase(secret, "keyring", origin)
        return None

    def forget_typed(self) -> None:
        """Forget a typed passphrase that turned out wrong, so the next save asks again."""
        with self._lock:
            if self._resolved is not None and self._resolved.source == "typed":
                self._resolved = None
                self._searched = False

    def set_typed(self, secret: str) -> Passphrase:
        """The passphrase the operator typed (the wizard's prompt); kept for the session."""
        with self._lock:
            self._resolved = Passphrase(secret, "typed", "typed in this session")
            self._searched = True
            return self._resolved

    def describe(self) -> str:
        """Where the passphrase is looked for, without reading any secret (for doctor)."""
        env = self.environ
        if self._resolved is not None:
            return self._resolved.origin
        if self._env_var:
            return f"environment variable {self._env_var} (--key-passphrase-env)"
        if self._stdin:
            return "standard input (--key-passphrase-stdin)"
        if env.get(PASSPHRASE_FILE_ENV, "").strip():
            return f"{PASSPHRASE_FILE_ENV} ({scrub(env[PASSPHRASE_FILE_ENV], limit=200)})"
        state = self.keyring_state()
        if state.usable:
            return f"the OS keyring ({state.backend})"
        return "typed in the wizard once per session (" + (state.reason or "no keyring") + ")"


# -- the PFX files ---------------------------------------------------------------------------


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
    from .certificates import _NotDer, _tlv

    out = []
    pos = start
    try:
        while pos < end:
            tag, cstart, cend, pos = _tlv(buf, pos, end)
            out.append((tag, cstart, cend))
    except _NotDer:
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

    from .certificates import LoadedPfx, _public_numbers_equal, certificate_info, load_pfx_bytes
    from .errors import CertificateProblem

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
        main = [c for c in parsed if _public_numbers_equal(key, c)]
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
        from .certificates import _try_load

        return "unprotected" if _try_load(data, [None, b""]) else "unknown"
    if bags.plain_keys:
        return "unprotected"
    if bags.shrouded_keys:
        from .certificates import _try_load

        # A shrouded key bag under an empty password is no protection at all.
        return "unprotected" if _try_load(data, [None, b""]) else "encrypted"
    return "unknown"


def has_encrypted_keys(root: Path) -> bool:
    """Whether any saved key file under ``root`` is encrypted (the store has a passphrase)."""
    folder = root / "connections"
    with contextlib.suppress(OSError):
        for key_file in folder.glob("*/certificate.pfx"):
            with contextlib.suppress(OSError):
                if key_protection(key_file.read_bytes()) == "encrypted":
                    return True
    return False


def is_new_store(root: Path) -> bool:
    """Whether no passphrase was set for ``root`` yet (no check value, no encrypted key)."""
    return not (root / VERIFIER_FILE).exists() and not has_encrypted_keys(root)


# -- the passphrase check (keystore.json) ----------------------------------------------------

_unlocked: dict[tuple[str, bytes], bool] = {}
_unlocked_lock = threading.Lock()
#: Held while a check value is computed: a fleet check's worker threads all ask at once at
#: the start, and one scrypt (16 MiB, tens of ms) must serve them all, not one each.
_verifying = threading.Lock()


def _check_value(secret: bytes, salt: bytes) -> bytes:
    derived = hashlib.scrypt(secret, salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P,
                             maxmem=64 * 1024 * 1024, dklen=32)
    return hmac.new(derived, b"vdc-tui key store check v1", "sha256").digest()


@functools.lru_cache(maxsize=64)
def _resolved(root: Path) -> str:
    return str(root.expanduser().resolve())


def _cache_key(root: Path, secret: bytes) -> tuple[str, bytes]:
    # The secret's digest, not the secret, names the cache entry.
    return (_resolved(root), hashlib.sha256(b"vdc-tui:" + secret).digest())


def verify_passphrase(root: Path, passphrase: Passphrase) -> bool | None:
    """Check the passphrase against ``keystore.json``; a match is remembered per process.

    Returns:
        ``True`` when it matches, ``False`` when it does not, ``None`` when the store has no
        (readable) check value yet.
    """
    key = _cache_key(root, passphrase.data)
    with _unlocked_lock:
        if _unlocked.get(key):
            return True
    with _verifying:
        return _verify_once(root, passphrase, key)


def _verify_once(root: Path, passphrase: Passphrase, key: tuple[str, bytes]) -> bool | None:
    with _unlocked_lock:
        if _unlocked.get(key):  # checked by the thread this one waited for
            return True
    try:
        doc = json.loads((root / VERIFIER_FILE).read_text(encoding="utf-8"))
        salt = base64.b64decode(doc["salt"], validate=True)
        expected = base64.b64decode(doc["check"], validate=True)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # missing or damaged: the keys themselves decide
    if hmac.compare_digest(_check_value(passphrase.data, salt), expected):
        remember(root, passphrase)
        return True
    return False


def remember(root: Path, passphrase: Passphrase) -> None:
    """Note for this process that ``passphrase`` opens the store at ``root``."""
    with _unlocked_lock:
        _unlocked[_cache_key(root, passphrase.data)] = True


def write_verifier(root: Path, passphrase: Passphrase) -> None:
    """Write ``keystore.json``: the scrypt check value of the passphrase (0600, atomic)."""
    salt = secrets.token_bytes(16)
    doc = {
        "version": 1,
        "kdf": {"name": "scrypt", "n": _SCRYPT_N, "r": _SCRYPT_R, "p": _SCRYPT_P},
        "salt": base64.b64encode(salt).decode("ascii"),
        "check": base64.b64encode(_check_value(passphrase.data, salt)).decode("ascii"),
        "pfx": {"cipher": "PBES2 PBKDF2-HMAC-SHA256 AES-256-CBC", "mac": "HMAC-SHA256",
                "kdf_rounds": KDF_ROUNDS},
    }
    atomic_write(root / VERIFIER_FILE, (json.dumps(doc, indent=2) + "\n").encode("ascii"),
                 mode=PRIVATE_FILE_MODE)


def forget_unlocked() -> None:
    """Drop the per-process cache of checked passphrases (tests)."""
    with _unlocked_lock:
        _unlocked.clear()


# -- asking on a terminal (headless commands) -------------------------------------------------


def terminal_asker(first: bool) -> str:
    """Ask for the store passphrase on the terminal (masked); twice when it is first set.

    Raises:
        InvalidInput: ``key_passphrase_required`` when nothing usable was typed.
    """
    import getpass

    prompt = "New store passphrase (protects every saved key): " if first else \
        "Store passphrase: "
    secret = ""
    problem: str | None = None
    try:
        secret = getpass.getpass(prompt, stream=sys.stderr)
        if not secret:
            problem = "nothing was typed"
        elif first:
            problem = check_new_passphrase(secret)
            if problem is None and getpass.getpass("Repeat it: ", stream=sys.stderr) != secret:
                problem = "the two entries differ"
    except EOFError:
        problem = "nothing was typed"
    if problem:
        raise _error("key_passphrase_required", f"No store passphrase was given: {problem}.",
                     _SOURCES_HINT)
    return secret


def check_new_passphrase(secret: str) -> str | None:
    """Why a passphrase may not be set (too short, control characters), or ``None``."""
    if len(secret) < MIN_TYPED_PASSPHRASE:
        return f"it must have at least {MIN_TYPED_PASSPHRASE} characters"
    if any(ord(c) < 32 or ord(c) == 127 for c in secret):
        return "it may not contain control characters"
    return None
