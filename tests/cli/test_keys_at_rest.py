"""Keys at rest through the command line: nothing readable without the passphrase, export."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_der_private_key,
    load_pem_private_key,
    pkcs12,
)
from support.commands import Outcome
from support.factories import KEY, TENANT, make_result

from vdc_tui.connect.store.profiles import ProfileStore

from .test_connect_emulator import EXCHANGE_ONLY, endpoint_args, manual_args
from .test_connect_emulator import TENANT as FABRIKAM

Run = Callable[..., Outcome]
StartEmulator = Callable[..., Any]


def legacy_profile(home: Path) -> Path:
    """A profile as vdc-tui saved it before keys were encrypted (no password)."""
    path = ProfileStore(home).save(make_result(), ["exchange"], plan="flex", cloud="global")
    (path.parent / "certificate.pfx").write_bytes(pkcs12.serialize_key_and_certificates(
        b"old", KEY.private_key, KEY.certificate, None, NoEncryption()))
    return path


def assert_no_key_readable_without_passphrase(home: Path, keys: list[Any],
                                              skip: Path | None = None) -> list[Path]:
    """Open every file under ``home`` and try to read a private key without a password."""
    secrets = [k.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
               for k in keys]
    secrets += [k.private_bytes(Encoding.DER, PrivateFormat.TraditionalOpenSSL, NoEncryption())
                for k in keys]
    tried = []
    for path in sorted(home.rglob("*")):
        if not path.is_file() or path == skip:
            continue
        data = path.read_bytes()
        tried.append(path)
        for password in (None, b""):
            with pytest.raises((ValueError, TypeError)):
                pkcs12.load_pkcs12(data, password)
        for loader in (load_pem_private_key, load_der_private_key):
            with pytest.raises((ValueError, TypeError)):
                loader(data, None)
        assert b"PRIVATE KEY" not in data, path
        for secret in secrets:
            assert secret[40:120] not in data, f"raw key material in {path}"
    return tried


def test_no_file_under_the_home_holds_a_key_readable_without_the_passphrase(
    run: Run, home: Path, start_emulator: StartEmulator, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path
) -> None:
    emu = start_emulator(EXCHANGE_ONLY)
    monkeypatch.setenv("FAB_PW", "pw-fabrikam")
    monkeypatch.setenv("EXPORT_PW", "export password for the form")
    legacy = legacy_profile(home).parent / "certificate.pfx"
    operator = pkcs12.load_pkcs12(emu.certificate_path("fabrikam").read_bytes(), b"pw-fabrikam")
    assert operator.key is not None
    steps = [
        manual_args(emu),
        ["connections", "list"],
        ["connections", "show", FABRIKAM, "--json"],
        ["connections", "export", FABRIKAM, "--pfx", str(tmp_path / "out.pfx"),
         "--pfx-password-env", "EXPORT_PW"],
        ["connections", "export", TENANT, "--pfx", str(tmp_path / "old.pfx"),  # migrates
         "--pfx-password-env", "EXPORT_PW"],
        ["doctor", "--timeout", "5", *endpoint_args(emu)],
    ]
    for step in steps:
        outcome = run(*step)
        assert outcome.code in (0, 3), (step, outcome.err)
        # The file written before encryption is the one exception, until first used.
        migrated = ProfileStore(home).key_status(TENANT) == "encrypted"
        assert_no_key_readable_without_passphrase(home, [operator.key, KEY.private_key],
                                                  skip=None if migrated else legacy)
    tried = assert_no_key_readable_without_passphrase(home, [operator.key, KEY.private_key])
    assert {p.name for p in tried} >= {"certificate.pfx", "profile.json", "keystore.json"}
    assert ProfileStore(home).key_status(TENANT) == "encrypted"  # migrated by the export
    # The manual copy is under the store passphrase, not the operator's PFX password.
    copy = ProfileStore(home).read_key(FABRIKAM).private_key
    original = operator.key
    assert isinstance(copy, rsa.RSAPrivateKey) and isinstance(original, rsa.RSAPrivateKey)
    assert copy.private_numbers() == original.private_numbers()


def test_list_names_the_keys_still_unprotected(run: Run, home: Path) -> None:
    legacy_profile(home)
    human = run("connections", "list")
    assert human.code == 0 and "UNPROTECTED" in human.out
    assert "without a password" in human.err
    assert run("connections", "list", "--json").json()["connections"][0]["key"] == \
        "unprotected"


def test_show_says_how_the_key_is_kept(run: Run, home: Path) -> None:
    legacy_profile(home)
    assert "UNPROTECTED" in run("connections", "show", TENANT).out
    assert run("connections", "show", TENANT, "--json").json()["key"] == "unprotected"
    ProfileStore(home).read_key(TENANT)  # first use migrates it
    assert "encrypted under the store passphrase" in run("connections", "show", TENANT).out


def test_export_writes_a_pfx_that_cryptography_and_openssl_open(
    run: Run, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ProfileStore(home).save(make_result(), ["exchange"], plan="flex", cloud="global")
    monkeypatch.setenv("EXPORT_PW", "export password for the form")
    out = tmp_path / "vdc.pfx"
    outcome = run("connections", "export", "contoso.com", "--pfx", str(out),
                  "--pfx-password-env", "EXPORT_PW", "--json")
    assert outcome.code == 0, outcome.err
    document = outcome.json()
    assert document["app_id"] == "11111111-2222-3333-4444-555555555555"
    assert document["admin_email"] == "admin@contoso.com"
    assert document["thumbprint"] == KEY.info.sha1 and document["pfx"] == str(out)
    assert "pfx_password" not in document
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    opened = pkcs12.load_pkcs12(out.read_bytes(), b"export password for the form")
    assert opened.key is not None and opened.cert is not None
    assert opened.cert.certificate == KEY.certificate
    info = subprocess.run(["openssl", "pkcs12", "-in", str(out), "-nodes", "-passin",
                           "env:EXPORT_PW"], env={**os.environ}, capture_output=True,
                          text=True, timeout=30)
    assert info.returncode == 0, info.stderr
    assert "BEGIN PRIVATE KEY" in info.stdout and "BEGIN CERTIFICATE" in info.stdout
    with pytest.raises(ValueError):
        pkcs12.load_pkcs12(out.read_bytes(), b"wrong")


def test_export_refuses_to_overwrite_without_force(run: Run, home: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    ProfileStore(home).save(make_result(), ["exchange"], plan="flex", cloud="global")
    monkeypatch.setenv("EXPORT_PW", "export password for the form")
    out = tmp_path / "vdc.pfx"
    out.write_bytes(b"keep me")
    refused = run("connections", "export", TENANT, "--pfx", str(out), "--json")
    assert refused.code == 2 and refused.json()["error"]["details"]["field"] == "pfx"
    assert out.read_bytes() == b"keep me"
    forced = run("connections", "export", TENANT, "--pfx", str(out), "--force",
                 "--pfx-password-env", "EXPORT_PW")
    assert forced.code == 0, forced.err
    assert out.read_bytes() != b"keep me"


def test_a_generated_password_is_refused_when_it_would_not_reach_a_terminal(
    run: Run, home: Path, tmp_path: Path
) -> None:
    # Here stdout and stderr are not terminals; tests/cli/test_export_password.py shows it
    # at a real one.
    ProfileStore(home).save(make_result(), ["exchange"], plan="flex", cloud="global")
    for extra in ([], ["--generate-password"], ["--json"], ["--json", "--show-password"]):
        refused = run("connections", "export", TENANT, "--pfx", str(tmp_path / "b.pfx"),
                      *extra)
        assert refused.code == 2, (extra, refused.err)
        assert "password_needs_terminal" in refused.out + refused.err
        assert not (tmp_path / "b.pfx").exists()


def test_export_refuses_a_target_inside_the_key_store(run: Run, home: Path) -> None:
    ProfileStore(home).save(make_result(), ["exchange"], plan="flex", cloud="global")
    outcome = run("connections", "export", TENANT, "--pfx", str(home / "x.pfx"))
    assert outcome.code == 2 and "inside the key store" in outcome.err
    assert not (home / "x.pfx").exists()


def test_a_password_on_the_command_line_is_refused(run: Run, home: Path,
                                                   tmp_path: Path) -> None:
    outcome = run("connections", "export", TENANT, "--pfx", str(tmp_path / "x.pfx"),
                  "--pfx-password", "visible-in-ps")
    assert outcome.code == 2 and "visible-in-ps" not in outcome.err


def test_unattended_runs_take_the_passphrase_from_a_variable(
    run: Run, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    key_passphrase_file: Path
) -> None:
    ProfileStore(home).save(make_result(), ["exchange"], plan="flex", cloud="global")
    monkeypatch.setenv("EXPORT_PW", "export password for the form")
    monkeypatch.delenv("VDC_TUI_KEY_PASSPHRASE_FILE")
    from vdc_tui.connect.store.keystore import forget_unlocked

    forget_unlocked()
    missing = run("connections", "export", TENANT, "--pfx", str(tmp_path / "a.pfx"),
                  "--pfx-password-env", "EXPORT_PW", "--json")
    assert missing.code == 2 and missing.json()["error"]["code"] == "key_passphrase_required"
    monkeypatch.setenv("STORE_PW", "not the store passphrase")
    wrong = run("connections", "export", TENANT, "--pfx", str(tmp_path / "a.pfx"),
                "--key-passphrase-env", "STORE_PW", "--pfx-password-env", "EXPORT_PW", "--json")
    assert wrong.code == 2 and wrong.json()["error"]["code"] == "key_passphrase_wrong"
    assert "not the store passphrase" not in wrong.out + wrong.err
    assert not (tmp_path / "a.pfx").exists()
    monkeypatch.setenv("STORE_PW", key_passphrase_file.read_text().strip())
    right = run("connections", "export", TENANT, "--pfx", str(tmp_path / "a.pfx"),
                "--key-passphrase-env", "STORE_PW", "--pfx-password-env", "EXPORT_PW", "--json")
    assert right.code == 0, right.err


def test_an_unsafe_passphrase_file_is_refused(run: Run, home: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    ProfileStore(home).save(make_result(), ["exchange"], plan="flex", cloud="global")
    shared = tmp_path / "shared-pw"
    shared.write_text("a passphrase others can read\n")
    shared.chmod(0o644)
    monkeypatch.setenv("VDC_TUI_KEY_PASSPHRASE_FILE", str(shared))
    monkeypatch.setenv("EXPORT_PW", "export password for the form")
    outcome = run("connections", "export", TENANT, "--pfx", str(tmp_path / "a.pfx"),
                  "--pfx-password-env", "EXPORT_PW", "--json")
    assert outcome.code == 2
    assert outcome.json()["error"]["code"] == "key_passphrase_file_unsafe"
    assert "others can read" not in outcome.out + outcome.err
    assert not (tmp_path / "a.pfx").exists()


def test_doctor_says_how_keys_are_kept_and_where_the_passphrase_comes_from(
    run: Run, home: Path, start_emulator: StartEmulator
) -> None:
    emu = start_emulator(EXCHANGE_ONLY)
    legacy_profile(home)
    document = run("doctor", "--timeout", "5", "--json", *endpoint_args(emu)).json()
    [keys] = [c for c in document["checks"] if c["id"] == "keys"]
    assert keys["status"] == "warn" and "1 key(s) saved without a password" in keys["detail"]
    assert "VDC_TUI_KEY_PASSPHRASE_FILE" in keys["detail"]
