"""The audit trail (issue 24): every change recorded at the service layer, whatever drives
it; unfinished actions visible; whole lines under concurrent writers; a chain that
``audit --verify`` checks; no secret in it; no change when it cannot be written."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from connect.lifecycle.test_renew import app_sha1s
from connect.lifecycle.test_renew_kill import ADD, GENERATED, kill_at
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import NoEncryption, pkcs12
from support.commands import Outcome
from support.factories import KEY, make_result
from support.lifecycle import TENANT, endpoint_args, managed_app, scenario
from test_security import assert_no_secret, key_texts, pfx_texts

from vdc_tui.connect.store.audit import AuditLog, AuditUnwritable
from vdc_tui.connect.store.profiles import ProfileStore
from vdc_tui.emulator import EmulatorServer

Run = Callable[..., Outcome]
StartEmulator = Callable[..., EmulatorServer]
ADMIN = "admin@northwind.com"
EXPORT_PASSWORD = "Export-Pw-9f2c61d4-N0t-In-Logs"


def connect(run: Run, emu: EmulatorServer) -> dict[str, Any]:
    outcome = run("connect", "auto", "--json", *endpoint_args(emu))
    assert outcome.code == 0, outcome.err
    document: dict[str, Any] = outcome.json()
    return document


def records(run: Run, *filters: str) -> list[dict[str, Any]]:
    outcome = run("audit", *filters, "--json")
    assert outcome.code == 0, outcome.err
    found: list[dict[str, Any]] = outcome.json()["records"]
    return found


def raw_lines(home: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (home / "audit.jsonl").read_text("utf-8").splitlines()]


@pytest.fixture
def emu(start_emulator: StartEmulator) -> EmulatorServer:
    return start_emulator(scenario(), auto_approve_after=0)


# --- every action, one ok record each ------------------------------------------------------


def test_onboard_renew_repair_export_offboard_each_leave_one_ok_record(
        run: Run, emu: EmulatorServer, home: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    connected = connect(run, emu)
    app_id = connected["app_id"]
    key_file = home / "connections" / TENANT / "certificate.pfx"
    first_key = key_file.read_bytes()
    assert run("connections", "renew", TENANT, "--json", *endpoint_args(emu)).code == 0
    assert run("connections", "repair", TENANT, "--json", *endpoint_args(emu)).code == 0
    monkeypatch.setenv("EXPORT_PW", EXPORT_PASSWORD)
    out = tmp_path / "northwind.pfx"
    exported = run("connections", "export", TENANT, "--pfx", str(out),
                   "--pfx-password-env", "EXPORT_PW", "--json")
    assert exported.code == 0, exported.err
    renewed_key = key_file.read_bytes()
    assert run("connections", "remove", TENANT, "--offboard", "--yes", "--json",
               *endpoint_args(emu)).code == 0

    everything = records(run)
    # Each admin sign-in's consent cleanup is a record of its own, right after its run.
    assert [r["action"] for r in everything] == [
        "onboard", "consent_removed", "renew", "repair", "consent_removed", "export",
        "offboard", "consent_removed"]
    found = [r for r in everything if r["action"] != "consent_removed"]
    me = {"os_user": getpass.getuser(), "host": socket.gethostname()}
    for record in found:
        assert record["outcome"] == "ok" and record["unfinished"] is False, record
        assert record["tenant_id"] == TENANT and record["app_id"] == app_id, record
        assert record["tenant_name"] == "Northwind", record
        assert {k: record["actor"][k] for k in me} == me
        assert record["started"] <= record["time"]
    admins = {r["action"]: r["actor"]["admin"] for r in found}
    assert admins == {"onboard": ADMIN, "renew": None, "repair": ADMIN, "export": None,
                      "offboard": ADMIN}
    onboard, renew, _, export, offboard = (r["details"] for r in found)
    assert onboard["key_added"]["sha1"] == connected["certificate"]["sha1"]
    assert onboard["permissions_granted"]
    assert renew["key_removed"] == {"sha1": connected["certificate"]["sha1"]}
    assert renew["key_added"]["sha1"] != connected["certificate"]["sha1"]
    assert export["path"] == str(out.resolve())
    assert export["thumbprint"] == renew["key_added"]["sha1"]
    assert offboard["app_deleted"] is True
    # Two lines per action (start, end), one per consent cleanup, one chain.
    assert len(raw_lines(home)) == 13
    assert run("audit", "--verify").code == 0

    # No secret: the same probes as the other secret tests (test_security.py).
    secrets = [EXPORT_PASSWORD, *pfx_texts(first_key), *pfx_texts(renewed_key),
               *pfx_texts(out.read_bytes())]
    for data in (first_key, renewed_key):
        key, _, _ = pkcs12.load_key_and_certificates(data, _passphrase())
        assert isinstance(key, rsa.RSAPrivateKey)
        secrets += key_texts(key)
    assert_no_secret({"audit.jsonl": (home / "audit.jsonl").read_text("latin-1")}, secrets)


def _passphrase() -> bytes:
    return Path(os.environ["VDC_TUI_KEY_PASSPHRASE_FILE"]).read_text("utf-8").strip().encode()


def test_filters_select_by_tenant_action_and_time(run: Run, emu: EmulatorServer,
                                                  home: Path) -> None:
    domain = connect(run, emu)["tenant"]["default_domain"]
    assert run("connections", "renew", TENANT, "--json", *endpoint_args(emu)).code == 0
    assert [r["action"] for r in records(run, "--action", "renew")] == ["renew"]
    # a profile's domain names its tenant (onboard, its consent cleanup, renew)
    assert len(records(run, domain)) == 3
    assert len(records(run, "Northwind")) == 3
    assert records(run, "00000000-0000-0000-0000-000000000000") == []
    assert records(run, "--since", "2999-01-01") == []
    assert len(records(run, "--since", "2000-01-01T00:00:00Z")) == 3
    bad = run("audit", "--since", "yesterday")
    assert bad.code == 2 and "not a date" in bad.err
    table = run("audit", TENANT)
    assert table.code == 0
    rows = table.out.splitlines()
    assert rows[0].startswith("TIME (UTC)") and "onboard" in rows[1] and "renew" in rows[3]
    assert "consent_removed" in rows[2]
    assert "ok" in rows[3] and "Northwind" in rows[3]


def test_a_failed_attempt_is_recorded_with_its_error_code(run: Run, emu: EmulatorServer,
                                                          home: Path) -> None:
    connect(run, emu)
    emu.scenario.device_code.auto_approve_user = "reader@northwind.com"
    outcome = run("connections", "repair", TENANT, "--json", *endpoint_args(emu))
    assert outcome.code == 3
    last = records(run, "--action", "repair")[-1]
    assert last["outcome"] == "failed" and last["details"]["error"]["code"] == "not_global_admin"
    assert last["actor"]["admin"] == "reader@northwind.com"


def test_removing_a_profile_locally_is_recorded(run: Run, emu: EmulatorServer,
                                                home: Path) -> None:
    connect(run, emu)
    assert run("connections", "remove", TENANT, "--json").code == 0
    removed = records(run, "--action", "remove")
    assert len(removed) == 1 and removed[0]["outcome"] == "ok"
    assert removed[0]["details"]["local_only"] is True and removed[0]["tenant_id"] == TENANT
    assert managed_app(emu)  # the tenant was not touched


def test_manual_onboarding_is_recorded_when_its_profile_is_saved(run: Run,
                                                                 home: Path) -> None:
    from dataclasses import replace

    from vdc_tui.connect.service import ConnectionService, ConnectSettings

    result = replace(make_result(), mode="manual")
    ConnectionService(ConnectSettings(home=home)).save_profile(result, ["exchange"])
    onboard = records(run, "--action", "onboard")
    assert len(onboard) == 1 and onboard[0]["outcome"] == "ok"
    assert onboard[0]["details"]["mode"] == "manual"
    assert onboard[0]["app_id"] == result.app_id
    assert onboard[0]["actor"]["admin"] == result.signed_in_as
    assert onboard[0]["details"]["certificate"]["sha1"] == result.certificate.sha1
    assert "key_added" not in onboard[0]["details"]


def test_a_key_migrated_to_the_encrypted_store_is_recorded(run: Run, home: Path) -> None:
    store = ProfileStore(home)
    store.save(make_result(), ["exchange"], plan="flex", cloud="global")
    tenant = make_result().tenant.id
    store.key_path(tenant).write_bytes(pkcs12.serialize_key_and_certificates(
        b"old", KEY.private_key, KEY.certificate, None, NoEncryption()))
    store.read_key(tenant)  # first use re-encrypts it
    migrated = records(run, "--action", "key_migrated")
    assert len(migrated) == 1 and migrated[0]["outcome"] == "ok"
    assert migrated[0]["details"]["sha1"] == KEY.info.sha1
    assert migrated[0]["tenant_id"] == tenant


# --- faults --------------------------------------------------------------------------------


def test_a_killed_renewal_leaves_an_unfinished_record(run: Run, emu: EmulatorServer,
                                                      home: Path) -> None:
    connect(run, emu)
    emu.faults.update(latency=5, latency_path=ADD, drop_every=1, drop_path=ADD)
    kill_at(emu, home, GENERATED)  # SIGKILL of a real `connections renew` process
    renew = records(run, "--action", "renew")
    assert len(renew) == 1
    assert renew[0]["unfinished"] is True and renew[0]["outcome"] is None
    assert renew[0]["tenant_id"] == TENANT
    assert "unfinished" in run("audit").out and "did not finish" in run("audit").err
    emu.faults.update(latency=0, drop_every=0)
    assert run("connections", "renew", TENANT, "--json", *endpoint_args(emu)).code == 0
    after = records(run, "--action", "renew")
    assert [(r["unfinished"], r["outcome"]) for r in after] == [(True, None), (False, "ok")]
    assert run("audit", "--verify").code == 0


def test_a_terminated_onboarding_is_recorded_cancelled_with_its_rollback(
        start_emulator: StartEmulator, tmp_path: Path) -> None:
    """SIGTERM of a real ``connect auto`` process after the app was created: the record
    says cancelled, and what the rollback deleted."""
    from .test_resilience import auto, finish, lagging, reached, wait_for

    env = {**os.environ, "VDC_TUI_HOME": str(tmp_path / "home")}
    emu = lagging(start_emulator, lag=1.0)
    before = set(emu.state.applications)
    proc = auto(emu, env)
    wait_for(lambda: reached(emu, "service_principal", before), proc, "the principal")
    proc.send_signal(signal.SIGTERM)
    code, _, err = finish(proc)
    assert code == 130, err
    (record,) = AuditLog(tmp_path / "home").actions()
    assert record["action"] == "onboard" and record["outcome"] == "cancelled"
    assert record["details"]["error"]["code"] == "cancelled"
    assert any("Rolled back: deleted app registration" in line
               for line in record["details"]["rolled_back"]), record["details"]
    assert record["actor"]["admin"] and record["tenant_id"]


WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from vdc_tui.connect.store.audit import AuditLog
    home, name, count, go = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    while not go.exists():
        time.sleep(0.005)
    log = AuditLog(home)
    for i in range(count):
        log.record("renew", "ok", tenant_id=name, details={"i": i, "pad": name * 2000})
""")


def test_concurrent_writers_leave_every_line_whole(tmp_path: Path) -> None:
    home, go = tmp_path / "home", tmp_path / "go"
    count, names = 60, ["writer-a", "writer-b", "writer-c"]
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(home), name, str(count),
                               str(go)]) for name in names]
    go.touch()
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    lines = (home / "audit.jsonl").read_bytes().split(b"\n")
    assert lines[-1] == b""
    parsed = [json.loads(line) for line in lines[:-1]]  # every line whole JSON
    assert len(parsed) == count * len(names)
    assert [r["seq"] for r in parsed] == list(range(1, len(parsed) + 1))
    for name in names:
        mine = [r["details"]["i"] for r in parsed if r["tenant_id"] == name]
        assert mine == list(range(count))
    report = AuditLog(home).verify()
    assert report.ok and report.lines == len(parsed)
    assert (home / "audit.jsonl").stat().st_mode & 0o777 == 0o600


def _read_only_runner(home: Path) -> list[str] | None:
    """A command prefix that runs a process with ``home`` read-only, or ``None``."""
    if os.geteuid() != 0:
        return []  # the test makes the folder read-only with chmod
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    probe = subprocess.run([unshare, "-m", "sh", "-c",
                            'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0"',
                            str(home)], capture_output=True, timeout=30)
    if probe.returncode != 0:
        return None
    return [unshare, "-m", "sh", "-c",
            'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && shift && exec "$@"',
            str(home), "_"]


def test_a_read_only_home_fails_the_renewal_before_the_tenant_changes(
        run: Run, emu: EmulatorServer, home: Path) -> None:
    before = connect(run, emu)["certificate"]["sha1"]
    log_before = (home / "audit.jsonl").read_bytes()
    prefix = _read_only_runner(home)
    if prefix is None:
        pytest.skip("root without a mount namespace (unshare -m): no way to make a folder "
                    "read-only for root here; the full-disk test covers the same gate")
    if not prefix:
        for path in (home, home / "locks", home / "audit.jsonl"):
            path.chmod(0o500 if path.is_dir() else 0o400)
    env = {**os.environ, "VDC_TUI_HOME": str(home), "NO_COLOR": "1"}
    try:
        done = subprocess.run([*prefix, sys.executable, "-m", "vdc_tui", "connections",
                               "renew", TENANT, "--json", *endpoint_args(emu)],
                              env=env, capture_output=True, text=True, timeout=120)
    finally:
        if not prefix:
            for path in (home, home / "locks", home / "audit.jsonl"):
                path.chmod(0o700 if path.is_dir() else 0o600)
    assert done.returncode == 2, done.stderr
    assert json.loads(done.stdout)["error"]["code"] == "audit_unwritable"
    assert app_sha1s(emu) == [before]  # nothing added to the app
    assert not [r for r in emu.request_log if r.path.endswith("/addKey")]
    assert (home / "audit.jsonl").read_bytes() == log_before


def test_a_full_disk_fails_the_renewal_before_the_tenant_changes(
        run: Run, emu: EmulatorServer, home: Path) -> None:
    """RLIMIT_FSIZE at the log's size: the kernel refuses the append (EFBIG), as a full
    disk would (ENOSPC); the same gate stops the renewal."""
    before = connect(run, emu)["certificate"]["sha1"]
    log_before = (home / "audit.jsonl").read_bytes()
    limit = len(log_before)

    def full() -> None:
        import resource

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {**os.environ, "VDC_TUI_HOME": str(home), "NO_COLOR": "1"}
    done = subprocess.run([sys.executable, "-m", "vdc_tui", "connections", "renew", TENANT,
                           "--json", *endpoint_args(emu)], env=env, capture_output=True,
                          text=True, timeout=120, preexec_fn=full)
    assert done.returncode == 2, done.stderr
    error = json.loads(done.stdout)["error"]
    assert error["code"] == "audit_unwritable" and "nothing was changed" in error["message"]
    assert app_sha1s(emu) == [before]
    assert (home / "audit.jsonl").read_bytes() == log_before  # no half line left behind


# --- the chain -----------------------------------------------------------------------------


def _five(home: Path) -> list[bytes]:
    log = AuditLog(home)
    for i in range(5):
        log.record("renew", "ok", tenant_id=f"tenant-{i}", tenant_name=f"T{i}")
    return (home / "audit.jsonl").read_bytes().splitlines(keepends=True)


def _verify(run: Run) -> tuple[int, dict[str, Any]]:
    outcome = run("audit", "--verify", "--json")
    return outcome.code, outcome.json()


def test_verify_accepts_an_intact_log(run: Run, home: Path) -> None:
    _five(home)
    code, document = _verify(run)
    assert code == 0 and document == {"status": "ok", "lines": 5,
                                      "path": str(home / "audit.jsonl")}
    assert "intact" in run("audit", "--verify").out


@pytest.mark.parametrize("line", [1, 3, 5])
def test_verify_names_an_edited_line(run: Run, home: Path, line: int) -> None:
    lines = _five(home)
    lines[line - 1] = lines[line - 1].replace(f'"T{line - 1}"'.encode(), b'"Evil"')
    (home / "audit.jsonl").write_bytes(b"".join(lines))
    code, document = _verify(run)
    assert code == 3 and document["error"]["code"] == "audit_chain_broken"
    assert document["error"]["details"]["line"] == line
    assert f"line {line} was edited" in document["error"]["message"]


def test_verify_names_a_removed_line(run: Run, home: Path) -> None:
    lines = _five(home)
    del lines[2]
    (home / "audit.jsonl").write_bytes(b"".join(lines))
    code, document = _verify(run)
    assert code == 3 and document["error"]["details"]["line"] == 3
    assert "removed" in document["error"]["message"]


def test_verify_names_reordered_lines(run: Run, home: Path) -> None:
    lines = _five(home)
    lines[1], lines[2] = lines[2], lines[1]
    (home / "audit.jsonl").write_bytes(b"".join(lines))
    code, document = _verify(run)
    assert code == 3 and document["error"]["details"]["line"] == 2
    assert "out of order" in document["error"]["message"]


def test_verify_names_a_line_rewritten_with_a_fresh_hash(run: Run, home: Path) -> None:
    """An editor who recomputes the edited line's own hash still breaks the next link."""
    from vdc_tui.connect.store.audit import sha256_hex

    lines = _five(home)
    record = json.loads(lines[1])
    record["tenant_name"] = "Evil"
    del record["hash"]
    body = json.dumps(record, ensure_ascii=True, separators=(",", ":")).encode()
    lines[1] = body[:-1] + f',"hash":"{sha256_hex(body)}"}}\n'.encode()
    (home / "audit.jsonl").write_bytes(b"".join(lines))
    code, document = _verify(run)
    assert code == 3 and document["error"]["details"]["line"] == 2
    assert "line 2 was replaced or edited" in document["error"]["message"]


def test_verify_names_a_cut_line(run: Run, home: Path) -> None:
    lines = _five(home)
    lines[3] = lines[3][:40] + b"\n"
    (home / "audit.jsonl").write_bytes(b"".join(lines))
    code, document = _verify(run)
    assert code == 3 and document["error"]["details"]["line"] == 4


# --- the API other flows call ----------------------------------------------------------------


def test_the_action_api_records_failures_cancellations_and_withholds_secrets(
        home: Path) -> None:
    import asyncio

    from vdc_tui.connect.errors import DiagnosedProblem

    log = AuditLog(home)
    with log.action("consent_removed", tenant_id=TENANT, app_id="client", admin=ADMIN,
                    details={"client_id": "c1", "password": "hunter2-hunter2",
                             "raw": b"\x00key"}) as act:
        act.add(removed=["Directory.ReadWrite.All"], note="line\x1b]0;owned\x07end")
    with pytest.raises(DiagnosedProblem), log.action("consent_removed", tenant_id=TENANT):
        raise DiagnosedProblem("not_global_admin", "Not an admin.", "Sign in as one.")
    with pytest.raises(asyncio.CancelledError), log.action("consent_removed", tenant_id=TENANT):
        raise asyncio.CancelledError
    ok, failed, cancelled = log.actions()
    assert ok["outcome"] == "ok" and ok["details"]["removed"] == ["Directory.ReadWrite.All"]
    assert ok["details"]["password"] == "[withheld]" and ok["details"]["raw"] == "[withheld]"
    assert "\x1b" not in ok["details"]["note"] and ok["actor"]["admin"] == ADMIN
    assert failed["outcome"] == "failed"
    assert failed["details"]["error"]["code"] == "not_global_admin"
    assert cancelled["outcome"] == "cancelled"
    assert "hunter2" not in (home / "audit.jsonl").read_text("utf-8")
    with pytest.raises(ValueError):
        log.action("made_up", tenant_id=TENANT).__enter__()


def test_an_unwritable_log_raises_before_the_block_runs(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "audit.jsonl").mkdir()  # something in the way that no user can write into
    ran = []
    with pytest.raises(AuditUnwritable) as caught, AuditLog(home).action(
            "export", tenant_id=TENANT):
        ran.append(True)
    assert ran == [] and caught.value.code == "audit_unwritable"
    assert caught.value.exit_code == 2


def test_history_is_the_tenants_last_actions_newest_last(home: Path) -> None:
    log = AuditLog(home)
    for i in range(7):
        log.record("renew", "ok", tenant_id=TENANT, details={"i": i})
    log.record("export", "ok", tenant_id="someone-else")
    started = log.start("repair", tenant_id=TENANT)
    history = log.history(TENANT, limit=3)
    assert [h["action"] for h in history] == ["renew", "renew", "repair"]
    assert history[-1]["unfinished"] is True and history[-1]["id"] == started.id
    started.finish("ok")
    assert log.history(TENANT, limit=1)[0]["outcome"] == "ok"
    assert all(r["time"].endswith("Z") for r in raw_lines(home))
