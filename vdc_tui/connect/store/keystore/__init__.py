"""Private keys at rest: the store passphrase and the AES-256 PFX files it protects.

Every key file the tool writes is a PKCS#12 encrypted under one **store passphrase** per
home folder. One thing per module:

- :mod:`.passphrase`: where the passphrase comes from (options, an owner-only file, the OS
  keyring, a prompt) and the errors when it is missing or wrong;
- :mod:`.os_keyring`: the OS keyring, every call bounded by a timeout;
- :mod:`.pfx`: the key files' format (AES-256 PKCS#12), written and read back fast;
- :mod:`.verifier`: ``keystore.json``, the passphrase's scrypt check value, and whether a
  store has a passphrase yet.

Callers import from here; the names below are the package's interface. (A test that
replaces a module-level function patches it in the module that calls it.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vdc_tui.lazy_exports import lazy_getattr

if TYPE_CHECKING:
    from vdc_tui.connect.store.keystore.os_keyring import (
        KEYRING_SERVICE,
        KEYRING_TIMEOUT,
        KeyringState,
        probe_keyring,
    )
    from vdc_tui.connect.store.keystore.passphrase import (
        DEMO_PASSPHRASE,
        MIN_TYPED_PASSPHRASE,
        PASSPHRASE_FILE_ENV,
        Passphrase,
        PassphraseProvider,
        check_new_passphrase,
        passphrase_required,
        passphrase_wrong,
        read_passphrase_file,
        terminal_asker,
    )
    from vdc_tui.connect.store.keystore.pfx import (
        KDF_ROUNDS,
        WrongSecret,
        encrypt_pfx,
        holds_plain_key,
        key_protection,
        open_store_pfx,
    )
    from vdc_tui.connect.store.keystore.verifier import (
        VERIFIER_FILE,
        forget_unlocked,
        has_encrypted_keys,
        is_new_store,
        remember,
        verify_passphrase,
        write_verifier,
    )

#: Exported name → the module (in this package) that defines it: imported on first use,
#: so the command line's passphrase provider does not bring in scrypt, the PFX format and
#: the file helpers before the wizard's first frame (~8 ms).
_HOMES: dict[str, str] = {
    "DEMO_PASSPHRASE": "passphrase",
    "KDF_ROUNDS": "pfx",
    "KEYRING_SERVICE": "os_keyring",
    "KEYRING_TIMEOUT": "os_keyring",
    "KeyringState": "os_keyring",
    "MIN_TYPED_PASSPHRASE": "passphrase",
    "PASSPHRASE_FILE_ENV": "passphrase",
    "Passphrase": "passphrase",
    "PassphraseProvider": "passphrase",
    "VERIFIER_FILE": "verifier",
    "WrongSecret": "pfx",
    "check_new_passphrase": "passphrase",
    "encrypt_pfx": "pfx",
    "forget_unlocked": "verifier",
    "has_encrypted_keys": "verifier",
    "holds_plain_key": "pfx",
    "is_new_store": "verifier",
    "key_protection": "pfx",
    "open_store_pfx": "pfx",
    "passphrase_required": "passphrase",
    "passphrase_wrong": "passphrase",
    "probe_keyring": "os_keyring",
    "read_passphrase_file": "passphrase",
    "remember": "verifier",
    "terminal_asker": "passphrase",
    "verify_passphrase": "verifier",
    "write_verifier": "verifier",
}

__getattr__ = lazy_getattr(__name__, _HOMES)

__all__ = [
    "DEMO_PASSPHRASE",
    "KDF_ROUNDS",
    "KEYRING_SERVICE",
    "KEYRING_TIMEOUT",
    "MIN_TYPED_PASSPHRASE",
    "PASSPHRASE_FILE_ENV",
    "VERIFIER_FILE",
    "KeyringState",
    "Passphrase",
    "PassphraseProvider",
    "WrongSecret",
    "check_new_passphrase",
    "encrypt_pfx",
    "forget_unlocked",
    "has_encrypted_keys",
    "holds_plain_key",
    "is_new_store",
    "key_protection",
    "open_store_pfx",
    "passphrase_required",
    "passphrase_wrong",
    "probe_keyring",
    "read_passphrase_file",
    "remember",
    "terminal_asker",
    "verify_passphrase",
    "write_verifier",
]
