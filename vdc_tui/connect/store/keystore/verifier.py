"""The passphrase check value (``keystore.json``), and whether a store has a passphrase yet.

``keystore.json`` in the home folder holds a scrypt check value of the passphrase (never the
passphrase): a wrong passphrase is told from a damaged file before any key is touched, with
its own error code, and the check costs one scrypt per process, not one per key (a match is
remembered for the process, and threads asking at once share one scrypt).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import hmac
import json
import secrets
import threading
from pathlib import Path

from vdc_tui.connect.store.fsutil import PRIVATE_FILE_MODE, atomic_write
from vdc_tui.connect.store.keystore.pfx import KDF_ROUNDS, key_protection

VERIFIER_FILE = "keystore.json"

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


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


def verify_passphrase(root: Path, secret: bytes) -> bool | None:
    """Check the passphrase (its PKCS#12 password bytes) against ``keystore.json``.

    A match is remembered per process.

    Returns:
        ``True`` when it matches, ``False`` when it does not, ``None`` when the store has no
        (readable) check value yet.
    """
    key = _cache_key(root, secret)
    with _unlocked_lock:
        if _unlocked.get(key):
            return True
    with _verifying:
        return _verify_once(root, secret, key)


def _verify_once(root: Path, secret: bytes, key: tuple[str, bytes]) -> bool | None:
    with _unlocked_lock:
        if _unlocked.get(key):  # checked by the thread this one waited for
            return True
    try:
        doc = json.loads((root / VERIFIER_FILE).read_text(encoding="utf-8"))
        salt = base64.b64decode(doc["salt"], validate=True)
        expected = base64.b64decode(doc["check"], validate=True)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # missing or damaged: the keys themselves decide
    if hmac.compare_digest(_check_value(secret, salt), expected):
        remember(root, secret)
        return True
    return False


def remember(root: Path, secret: bytes) -> None:
    """Note for this process that the passphrase ``secret`` opens the store at ``root``."""
    with _unlocked_lock:
        _unlocked[_cache_key(root, secret)] = True


def write_verifier(root: Path, secret: bytes) -> None:
    """Write ``keystore.json``: the scrypt check value of the passphrase (0600, atomic)."""
    salt = secrets.token_bytes(16)
    doc = {
        "version": 1,
        "kdf": {"name": "scrypt", "n": _SCRYPT_N, "r": _SCRYPT_R, "p": _SCRYPT_P},
        "salt": base64.b64encode(salt).decode("ascii"),
        "check": base64.b64encode(_check_value(secret, salt)).decode("ascii"),
        "pfx": {"cipher": "PBES2 PBKDF2-HMAC-SHA256 AES-256-CBC", "mac": "HMAC-SHA256",
                "kdf_rounds": KDF_ROUNDS},
    }
    atomic_write(root / VERIFIER_FILE, (json.dumps(doc, indent=2) + "\n").encode("ascii"),
                 mode=PRIVATE_FILE_MODE)


def forget_unlocked() -> None:
    """Drop the per-process cache of checked passphrases (tests)."""
    with _unlocked_lock:
        _unlocked.clear()
