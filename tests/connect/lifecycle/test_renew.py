"""``connections renew``: the app rolls its own certificate (addKey/removeKey, no admin)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from support.commands import Outcome
from support.emulator import client_credentials
from support.lifecycle import MANUAL_APP, TENANT, endpoint_args, managed_app, scenario

from vdc_tui.connect.certificates import generate_self_signed
from vdc_tui.connect.store.profiles import ProfileStore
from vdc_tui.emulator import EmulatorServer

Run = Callable[..., Outcome]
StartEmulator = Callable[..., EmulatorServer]


def connect(run: Run, emu: EmulatorServer) -> dict[str, Any]:
    outcome = run("connect", "auto", "--json", *endpoint_args(emu))
    assert outcome.code == 0, outcome.err
    document: dict[str, Any] = outcome.json()
    return document


def profile_of(home: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (home / "connections" / TENANT / "profile.json").read_text("utf-8"))
    return data


def app_sha1s(emu: EmulatorServer) -> list[str]:
    return [k.sha1.hex().upper() for k in managed_app(emu).key_credentials]


def assert_renewed_cleanly(emu: EmulatorServer, home: Path, old_sha1: str) -> None:
    """One key on the app, the profile's and the key file's; it signs in; nothing left over."""
    profile = profile_of(home)
    folder = home / "connections" / TENANT
    sha1 = profile["certificate"]["sha1"]
    assert sha1 != old_sha1
    assert app_sha1s(emu) == [sha1]
    # The key file is under the store passphrase (the suite's, from its passphrase file).
    saved = ProfileStore(home).read_key(TENANT)
    key, cert = saved.private_key, saved.certificate
    assert cert.fingerprint(hashes.SHA1()).hex().upper() == sha1  # noqa: S303
    assert not (folder / "provisioning.json").exists()
    assert not (folder / "certificate.renewal.pfx").exists()
    token = client_credentials(emu, tenant=TENANT, client_id=managed_app(emu).app_id,
                               key=key, cert=cert)
    assert token.status_code == 200, token.text


@pytest.fixture
def emu(start_emulator: StartEmulator) -> EmulatorServer:
    return start_emulator(scenario(), auto_approve_after=0)


def test_renew_rolls_the_certificate_without_an_admin(run: Run, emu: EmulatorServer,
                                                      home: Path) -> None:
    connected = connect(run, emu)
    old_sha1 = connected["certificate"]["sha1"]
    delegated_before = sum(1 for r in emu.request_log if "devicecode" in r.path)
    outcome = run("connections", "renew", TENANT, "--json", *endpoint_args(emu))
    assert outcome.code == 0, outcome.err
    document = outcome.json()
    assert document["status"] == "renewed"
    assert document["previous_certificate"]["sha1"] == old_sha1
    assert document["certificate"]["sha1"] == profile_of(home)["certificate"]["sha1"]
    assert document["lifetime_days"] == 730 and not document["resumed"]
    assert sum(1 for r in emu.request_log if "devicecode" in r.path) == delegated_before
    assert any(r.path.endswith("/addKey") and r.status == 200 for r in emu.request_log)
    assert any(r.path.endswith("/removeKey") and r.status == 204 for r in emu.request_log)
    assert "eyJ" not in outcome.out + outcome.err  # neither proofs nor tokens are printed
    assert_renewed_cleanly(emu, home, old_sha1)


def test_renew_through_replication_lag_and_throttling(run: Run, emu: EmulatorServer,
                                                      home: Path) -> None:
    old_sha1 = connect(run, emu)["certificate"]["sha1"]
    emu.faults.update(replication_delay=3, throttle_every=2,
                      throttle_path="/v1.0/applications*", retry_after=1)
    outcome = run("connections", "renew", TENANT, "--json", *endpoint_args(emu))
    assert outcome.code == 0, outcome.err
    assert any(r.status == 429 for r in emu.request_log)
    assert any(r.status == 401 and "token" in r.path for r in emu.request_log)  # lag seen
    assert_renewed_cleanly(emu, home, old_sha1)


def test_renew_uses_the_lifetime_a_tenant_policy_allows(run: Run,
                                                        start_emulator: StartEmulator,
                                                        home: Path) -> None:
    emu = start_emulator(scenario(key_max_lifetime_days=100), auto_approve_after=0)
    # Onboarding itself is not limited by the emulator's policy (only addKey is).
    old_sha1 = connect(run, emu)["certificate"]["sha1"]
    outcome = run("connections", "renew", TENANT, "--json", *endpoint_args(emu))
    assert outcome.code == 0, outcome.err
    document = outcome.json()
    assert document["policy_limited"] is True and document["lifetime_days"] == 90
    assert "90 days" in outcome.err and "policy" in outcome.err
    assert_renewed_cleanly(emu, home, old_sha1)


def test_a_policy_shorter_than_every_lifetime_is_its_own_error(run: Run,
                                                               start_emulator: StartEmulator,
                                                               home: Path) -> None:
    emu = start_emulator(scenario(key_max_lifetime_days=7), auto_approve_after=0)
    old_sha1 = connect(run, emu)["certificate"]["sha1"]
    outcome = run("connections", "renew", TENANT, "--json", *endpoint_args(emu))
    assert outcome.code == 3, outcome.err
    assert outcome.json()["error"]["code"] == "credential_lifetime_policy"
    assert app_sha1s(emu) == [old_sha1] and profile_of(home)["certificate"]["sha1"] == old_sha1
    assert not (home / "connections" / TENANT / "provisioning.json").exists()


def test_a_rejected_proof_is_its_own_error_and_changes_nothing(run: Run, emu: EmulatorServer,
                                                               home: Path) -> None:
    old_sha1 = connect(run, emu)["certificate"]["sha1"]
    # Graph's clock is an hour ahead: client assertions still pass (generous skew), proofs
    # (checked strictly) are expired.
    emu.faults.update(clock_offset=3600, assertion_skew=7200, proof_skew=60)
    outcome = run("connections", "renew", TENANT, "--json", *endpoint_args(emu))
    assert outcome.code == 3, outcome.err
    error = outcome.json()["error"]
    assert error["code"] == "proof_rejected" and "clock" in error["remediation"]
    assert app_sha1s(emu) == [old_sha1]


def test_an_expired_certificate_says_only_an_admin_sign_in_helps(run: Run,
                                                                 emu: EmulatorServer,
                                                                 home: Path) -> None:
    connect(run, emu)
    store = ProfileStore(home)
    expired = generate_self_signed("expired", years=1,
                                   now=datetime.now(UTC) - timedelta(days=800))
    store.write_key(TENANT, expired)
    store.record_certificate(TENANT, expired.info)
    outcome = run("connections", "renew", TENANT, "--json", *endpoint_args(emu))
    assert outcome.code == 3, outcome.err
    error = outcome.json()["error"]
    assert error["code"] == "certificate_expired"
    assert f"vdc-tui connections repair {TENANT}" in error["remediation"]
    assert "upload" not in error["remediation"]  # not manual mode's text


def test_manual_connections_are_renewed_only_with_include_manual(
        run: Run, start_emulator: StartEmulator, home: Path) -> None:
    # The operator's PFX without a password: the temporary key store here reads only those
    # (issue 13's keystore re-encrypts any operator PFX under the store passphrase).
    emu = start_emulator(scenario(applications=[
        {"display_name": "Northwind backup (manual)", "app_id": MANUAL_APP,
         "certificates": [{"generate": "northwind-plain"}]}]), auto_approve_after=0)
    assert run("connect", "manual", "--admin-email", "admin@northwind.com", "--app-id",
               MANUAL_APP, "--pfx", str(emu.certificate_path("northwind-plain")),
               *endpoint_args(emu)).code == 0
    refused = run("connections", "renew", TENANT, "--json", *endpoint_args(emu))
    assert refused.code == 2 and "--include-manual" in refused.json()["error"]["remediation"]
    listed = run("connections", "renew", "--all", "--within", "3650", "--json",
                 *endpoint_args(emu))
    assert listed.code == 0
    assert listed.json()["connections"][0]["status"] == "skipped"
    old = profile_of(home)["certificate"]["sha1"]
    renewed = run("connections", "renew", TENANT, "--include-manual", "--json",
                  *endpoint_args(emu))
    assert renewed.code == 0, renewed.err
    assert renewed.json()["mode"] == "manual" and "connections export" in renewed.err
    keys = [k.sha1.hex().upper() for a in emu.state.applications.values()
            if a.app_id == MANUAL_APP for k in a.key_credentials]
    assert keys == [profile_of(home)["certificate"]["sha1"]] and old not in keys


def test_renew_all_renews_only_what_is_due(run: Run, emu: EmulatorServer, home: Path) -> None:
    old_sha1 = connect(run, emu)["certificate"]["sha1"]
    not_due = run("connections", "renew", "--all", "--within", "30", "--json",
                  *endpoint_args(emu))
    assert not_due.code == 0, not_due.err
    assert not_due.json()["renewed"] == 0 and not_due.json()["skipped"] == 1
    assert app_sha1s(emu) == [old_sha1]
    due = run("connections", "renew", "--all", "--within", "1000", "--json",
              *endpoint_args(emu))
    assert due.code == 0, due.err
    assert due.json()["renewed"] == 1
    assert_renewed_cleanly(emu, home, old_sha1)


def test_throttling_past_every_retry_is_service_unavailable_and_the_rerun_finishes(
        run: Run, emu: EmulatorServer, home: Path) -> None:
    old_sha1 = connect(run, emu)["certificate"]["sha1"]
    emu.faults.update(throttle_every=1, throttle_path="/v1.0/applications/*/addKey",
                      retry_after=0)
    outcome = run("connections", "renew", TENANT, "--json", *endpoint_args(emu))
    assert outcome.code == 4, outcome.err
    error = outcome.json()["error"]
    assert error["code"] == "service_unavailable" and "throttling" in error["remediation"]
    assert app_sha1s(emu) == [old_sha1] and profile_of(home)["certificate"]["sha1"] == old_sha1
    emu.faults.update(throttle_every=0)
    again = run("connections", "renew", TENANT, "--json", *endpoint_args(emu))
    assert again.code == 0, again.err
    assert_renewed_cleanly(emu, home, old_sha1)
