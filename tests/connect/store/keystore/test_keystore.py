"""Keys at rest: the store passphrase, its sources, the AES-256 PFX files, migration."""

from __future__ import annotations

import io
import json
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import NoEncryption, pkcs12
from support.factories import KEY, TENANT
from support.factories import make_result as cli_result

from vdc_tui.connect.errors import VdcError
from vdc_tui.connect.store import keystore
from vdc_tui.connect.store.keystore import (
    KDF_ROUNDS,
    Passphrase,
    PassphraseProvider,
    WrongSecret,
    encrypt_pfx,
    key_protection,
    open_store_pfx,
    os_keyring,
    probe_keyring,
    verifier,
)
from vdc_tui.connect.store.profiles import ProfileStore

PASS = "correct horse battery staple"
NO_KEYRING = {"VDC_TUI_KEYRING": "off"}


def provider(secret: str | None = PASS, **kwargs: Any) -> PassphraseProvider:
    if secret is None:
        return PassphraseProvider(environ=NO_KEYRING, **kwargs)
    return PassphraseProvider(env_var="PW", environ={**NO_KEYRING, "PW": secret}, **kwargs)


def store(tmp_path: Path, secret: str | None = PASS) -> ProfileStore:
    return ProfileStore(tmp_path / "home", passphrase=provider(secret))


def legacy_pfx() -> bytes:
    """A key file as vdc-tui wrote it before keys were encrypted."""
    return pkcs12.serialize_key_and_certificates(b"old", KEY.private_key, KEY.certificate,
                                                 None, NoEncryption())


def save(target: ProfileStore) -> Path:
    return target.save(cli_result(), ["exchange"], plan="flex", cloud="global")


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.endswith((".lock", ".owner"))}


def test_a_stored_key_is_pbes2_aes256_with_an_hmac_sha256_mac(tmp_path: Path) -> None:
    data = encrypt_pfx(KEY.private_key, KEY.certificate, (), PASS.encode())
    path = tmp_path / "k.pfx"
    path.write_bytes(data)
    import subprocess

    info = subprocess.run(["openssl", "pkcs12", "-info", "-in", str(path), "-noout",
                           "-passin", "env:PW"], env={**os.environ, "PW": PASS},
                          capture_output=True, text=True, timeout=30)
    assert info.returncode == 0, info.stderr
    assert "MAC: sha256" in info.stderr
    assert f"PBES2, PBKDF2, AES-256-CBC, Iteration {KDF_ROUNDS}, PRF hmacWithSHA256" in \
        info.stderr
    assert "Shrouded Keybag: PBES2" in info.stderr


def test_the_fast_reader_opens_a_stored_key_and_refuses_a_wrong_secret() -> None:
    data = encrypt_pfx(KEY.private_key, KEY.certificate, (), PASS.encode())
    loaded = open_store_pfx(data, PASS.encode(), source="k")
    assert loaded.info.sha1 == KEY.info.sha1
    assert loaded.private_key.private_numbers() == KEY.private_key.private_numbers()
    with pytest.raises(WrongSecret):
        open_store_pfx(data, b"not it", source="k")


def test_a_damaged_key_file_is_never_taken_for_a_key() -> None:
    data = bytearray(encrypt_pfx(KEY.private_key, KEY.certificate, (), PASS.encode()))
    data[len(data) // 2] ^= 0xFF
    with pytest.raises((WrongSecret, VdcError)):
        open_store_pfx(bytes(data), PASS.encode(), source="k")


def test_a_stored_key_is_read_without_the_slow_general_loader(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    # pkcs12.load_pkcs12 re-validates the RSA key (~60 ms a key, 30 s for a 500-key fleet
    # check); the store's own files are read by the fast path, which never calls it.
    data = encrypt_pfx(KEY.private_key, KEY.certificate, (), PASS.encode())

    def slow(*args: Any) -> None:
        raise AssertionError("the general PKCS#12 loader was used")

    monkeypatch.setattr(pkcs12, "load_pkcs12", slow)
    assert open_store_pfx(data, PASS.encode(), source="k").info.sha1 == KEY.info.sha1


def test_protection_is_told_apart_without_the_passphrase() -> None:
    assert key_protection(legacy_pfx()) == "unprotected"
    assert key_protection(encrypt_pfx(KEY.private_key, KEY.certificate, (), b"x" * 12)) == \
        "encrypted"
    assert key_protection(b"not a pfx") == "unknown"


def test_save_encrypts_the_key_and_no_file_opens_without_the_passphrase(tmp_path: Path) -> None:
    target = store(tmp_path)
    path = save(target)
    key_file = path.parent / "certificate.pfx"
    assert key_protection(key_file.read_bytes()) == "encrypted"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    for candidate in (None, b""):
        with pytest.raises(ValueError):
            pkcs12.load_pkcs12(key_file.read_bytes(), candidate)
    assert pkcs12.load_pkcs12(key_file.read_bytes(), PASS.encode()).key is not None
    verifier = json.loads((tmp_path / "home" / "keystore.json").read_text())
    assert PASS not in json.dumps(verifier) and set(verifier) >= {"salt", "check"}
    assert target.read_key(TENANT).info.sha1 == KEY.info.sha1


def test_a_wrong_passphrase_is_its_own_error_and_changes_nothing(tmp_path: Path) -> None:
    save(store(tmp_path))
    before = tree(tmp_path / "home")
    keystore.forget_unlocked()
    wrong = store(tmp_path, "an entirely different passphrase")
    with pytest.raises(VdcError) as caught:
        wrong.read_key(TENANT)
    assert caught.value.code == "key_passphrase_wrong"
    assert "an entirely different" not in caught.value.message + caught.value.remediation
    with pytest.raises(VdcError) as again:
        save(wrong)
    assert again.value.code == "key_passphrase_wrong"
    assert tree(tmp_path / "home") == before


def test_a_wrong_passphrase_is_found_even_when_the_check_file_is_lost(tmp_path: Path) -> None:
    save(store(tmp_path))
    (tmp_path / "home" / "keystore.json").unlink()
    keystore.forget_unlocked()
    with pytest.raises(VdcError) as caught:
        store(tmp_path, "an entirely different passphrase").read_key(TENANT)
    assert caught.value.code == "key_passphrase_wrong"
    assert not (tmp_path / "home" / "keystore.json").exists()
    assert store(tmp_path).read_key(TENANT).info.sha1 == KEY.info.sha1
    assert (tmp_path / "home" / "keystore.json").exists()  # written again, right this time


def test_no_passphrase_source_is_key_passphrase_required(tmp_path: Path) -> None:
    with pytest.raises(VdcError) as caught:
        save(store(tmp_path, None))
    assert caught.value.code == "key_passphrase_required"
    assert "--key-passphrase-env" in caught.value.remediation
    assert not (tmp_path / "home" / "connections" / TENANT / "certificate.pfx").exists()


def test_an_unencrypted_key_is_migrated_in_place_on_first_read(tmp_path: Path) -> None:
    target = store(tmp_path)
    save(target)
    key_file = target.key_path(TENANT)
    key_file.write_bytes(legacy_pfx())
    assert target.key_status(TENANT) == "unprotected"
    loaded = target.read_key(TENANT)
    assert loaded.info.sha1 == KEY.info.sha1
    assert target.key_status(TENANT) == "encrypted"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert pkcs12.load_pkcs12(key_file.read_bytes(), PASS.encode()).key is not None
    leftovers = [p.name for p in key_file.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_migration_without_a_passphrase_leaves_the_old_file_alone(tmp_path: Path) -> None:
    target = store(tmp_path)
    save(target)
    old = legacy_pfx()
    target.key_path(TENANT).write_bytes(old)
    keystore.forget_unlocked()
    with pytest.raises(VdcError) as caught:
        store(tmp_path, None).read_key(TENANT)
    assert caught.value.code == "key_passphrase_required"
    assert target.key_path(TENANT).read_bytes() == old


def test_write_key_replaces_the_key_encrypted(tmp_path: Path) -> None:
    target = store(tmp_path)
    save(target)
    from vdc_tui.connect.certificates import generate_self_signed

    renewed = generate_self_signed("CN=renewed")
    target.write_key(TENANT, renewed)
    assert target.key_status(TENANT) == "encrypted"
    assert target.read_key(TENANT).info.sha1 == renewed.info.sha1


def test_the_passphrase_check_runs_once_per_process(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    target = store(tmp_path)
    save(target)
    keystore.forget_unlocked()
    calls: list[int] = []
    real = verifier._check_value

    def counted(*args: Any) -> bytes:
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(verifier, "_check_value", counted)  # where it is looked up
    for _ in range(5):
        store(tmp_path).read_key(TENANT)
    assert len(calls) == 1


def test_keys_read_at_once_share_one_passphrase_check(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # A fleet check's worker threads all read a key at the start: one scrypt (16 MiB) for
    # them all, not one each (32 at once held ~500 MiB).
    import threading

    target = store(tmp_path)
    save(target)
    keystore.forget_unlocked()
    calls: list[int] = []
    real = verifier._check_value
    def counted(*args: Any) -> bytes:
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(verifier, "_check_value", counted)  # where it is looked up
    shared = store(tmp_path)
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def read() -> None:
        start.wait()
        try:
            shared.read_key(TENANT)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(calls) == 1


# -- sources ---------------------------------------------------------------------------------


def test_the_command_line_variable_comes_before_the_file(tmp_path: Path) -> None:
    file = tmp_path / "pw"
    file.write_text("from the file, long enough\n")
    file.chmod(0o600)
    chosen = PassphraseProvider(env_var="PW", environ={
        **NO_KEYRING, "PW": "from the option", "VDC_TUI_KEY_PASSPHRASE_FILE": str(file)})
    found = chosen.resolve(tmp_path)
    assert found is not None and found.secret == "from the option" and found.source == "env"
    from_file = PassphraseProvider(environ={**NO_KEYRING,
                                            "VDC_TUI_KEY_PASSPHRASE_FILE": str(file)})
    found = from_file.resolve(tmp_path)
    assert found is not None and found.secret == "from the file, long enough"
    assert found.source == "file"


def test_stdin_gives_the_first_line(tmp_path: Path) -> None:
    chosen = PassphraseProvider(stdin=True, environ=NO_KEYRING,
                                stream=io.StringIO("typed in a pipe\nsecond\n"))
    found = chosen.resolve(tmp_path)
    assert found is not None and found.secret == "typed in a pipe" and found.source == "stdin"


def test_a_passphrase_file_others_can_read_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "pw"
    file.write_text("a passphrase in a shared file\n")
    file.chmod(0o640)
    with pytest.raises(VdcError) as caught:
        PassphraseProvider(environ={**NO_KEYRING, "VDC_TUI_KEY_PASSPHRASE_FILE": str(file)}
                           ).resolve(tmp_path)
    assert caught.value.code == "key_passphrase_file_unsafe"
    assert "chmod 600" in caught.value.remediation
    assert "shared file" not in caught.value.message


def test_a_missing_dbus_session_is_said_and_nothing_waits() -> None:
    started = time.perf_counter()
    state = probe_keyring({"PATH": "/usr/bin"})
    assert time.perf_counter() - started < 1.0
    assert not state.usable and state.reason is not None and "D-Bus" in state.reason


def test_a_hanging_keyring_is_given_up_after_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    release = threading.Event()
    monkeypatch.setattr(os_keyring, "_get_keyring", lambda: release.wait(30))
    started = time.perf_counter()
    state = probe_keyring({"DBUS_SESSION_BUS_ADDRESS": "unix:path=/nowhere"}, timeout=0.3)
    release.set()
    assert time.perf_counter() - started < 3.0
    assert not state.usable and "did not answer" in (state.reason or "")


class MemoryKeyring:
    """A keyring backend in memory (the ``keyring`` package's interface)."""

    priority = 1
    name = "memory keyring"

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, user: str) -> str | None:
        return self.items.get((service, user))

    def set_password(self, service: str, user: str, secret: str) -> None:
        self.items[(service, user)] = secret


def test_a_new_store_keeps_a_generated_passphrase_in_the_keyring(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import keyring

    memory = MemoryKeyring()
    monkeypatch.setattr(os_keyring, "_get_keyring", lambda: memory)
    monkeypatch.setattr(keyring, "get_password", memory.get_password)
    monkeypatch.setattr(keyring, "set_password", memory.set_password)
    env = {"DBUS_SESSION_BUS_ADDRESS": "unix:path=/test"}
    first = ProfileStore(tmp_path / "home", passphrase=PassphraseProvider(environ=env))
    save(first)
    [secret] = memory.items.values()
    assert len(secret) >= 40  # 256 random bits
    assert pkcs12.load_pkcs12(first.key_path(TENANT).read_bytes(), secret.encode()).key
    keystore.forget_unlocked()
    again = ProfileStore(tmp_path / "home", passphrase=PassphraseProvider(environ=env))
    assert again.read_key(TENANT).info.sha1 == KEY.info.sha1
    assert again.passphrase.describe() == "the OS keyring (memory keyring)"


def test_a_typed_passphrase_that_is_wrong_is_asked_again(tmp_path: Path) -> None:
    save(store(tmp_path))
    keystore.forget_unlocked()
    typed = ProfileStore(tmp_path / "home", passphrase=provider(None))
    assert typed.passphrase.resolve(typed.root) is None
    typed.passphrase.set_typed("a wrong typed passphrase")
    with pytest.raises(VdcError):
        typed.read_key(TENANT)
    assert typed.passphrase.resolve(typed.root) is None  # forgotten: the wizard asks again
    typed.passphrase.set_typed(PASS)
    assert typed.read_key(TENANT).info.sha1 == KEY.info.sha1


def test_the_demo_store_uses_the_fixed_demo_passphrase(tmp_path: Path) -> None:
    demo = ProfileStore(tmp_path / "demo", passphrase=PassphraseProvider.demo())
    save(demo)
    data = demo.key_path(TENANT).read_bytes()
    assert pkcs12.load_pkcs12(data, keystore.DEMO_PASSPHRASE.encode()).key is not None
    assert "demo" in demo.passphrase.describe()


def test_a_new_typed_passphrase_must_be_long_enough() -> None:
    assert keystore.check_new_passphrase("short") is not None
    assert keystore.check_new_passphrase("long enough passphrase") is None
    assert keystore.check_new_passphrase("with a \x1b escape inside") is not None


def test_the_passphrase_never_shows_in_its_repr() -> None:
    phrase = Passphrase("do not print me please", "env", "environment variable PW")
    assert "do not print" not in repr(phrase) + repr(replace(phrase, source="file"))
