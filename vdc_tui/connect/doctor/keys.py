"""``doctor``: how saved keys are protected and where the store passphrase comes from."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path

from vdc_tui.connect.doctor.report import DoctorCheck, check
from vdc_tui.connect.errors import VdcError
from vdc_tui.connect.models import CheckStatus
from vdc_tui.connect.store.keystore import (
    KDF_ROUNDS,
    PassphraseProvider,
    is_new_store,
    key_protection,
    verify_passphrase,
)


def key_storage_check(home: Path, env: Mapping[str, str] | None = None) -> DoctorCheck:
    """``doctor``: how the saved keys are protected and where the passphrase comes from.

    Never creates a passphrase (a new store's keyring entry is made by the first save).
    Returns a :class:`DoctorCheck` (id ``keys``).
    """
    counts: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for key_file in sorted((home / "connections").glob("*/certificate.pfx")):
            try:
                kind = key_protection(key_file.read_bytes())
            except OSError:
                kind = "unknown"
            counts[kind] = counts.get(kind, 0) + 1
    provider = PassphraseProvider(environ=env, use_keyring=True)
    kept = (f"{counts.get('encrypted', 0)} key(s) encrypted (PKCS#12, AES-256-CBC, "
            f"PBKDF2-SHA256 × {KDF_ROUNDS:,})")
    if counts.get("unknown"):
        kept += f", {counts['unknown']} unreadable"
    try:
        where = provider.describe()
        verdict: bool | None = None
        if not is_new_store(home):
            phrase = provider.resolve(home)
            verdict = verify_passphrase(home, phrase.data) if phrase is not None else None
    except VdcError as error:
        return check("keys", "profiles", "Saved keys", CheckStatus.FAIL,
                      f"{kept}; the store passphrase source is unusable: {error.message}",
                      error.remediation)
    detail = f"{kept}; passphrase from {where}"
    if verdict is False:
        return check("keys", "profiles", "Saved keys", CheckStatus.FAIL,
                      detail + ", which does not open this store.",
                      "Give the passphrase the keys were saved with.")
    if counts.get("unprotected"):
        return check("keys", "profiles", "Saved keys", CheckStatus.WARN,
                      f"{detail}; {counts['unprotected']} key(s) saved without a password "
                      "(before encryption).",
                      "They are encrypted in place the first time a command reads them "
                      "(e.g. `vdc-tui connections export TENANT`); "
                      "`vdc-tui connections list` names them.")
    if verdict is True:
        detail += " (it opens this store)"
    return check("keys", "profiles", "Saved keys", CheckStatus.PASS, detail + ".")
