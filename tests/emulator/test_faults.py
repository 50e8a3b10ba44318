"""Fault injection: throttling, 503, dropped connections, stalls, clock offset, request log."""

from __future__ import annotations

import email.utils
import time

import httpx
from support.emulator import StartEmulator, app_token, client, delegated_token, graph

from vdc_tui.emulator import EmulatorServer


def test_every_third_graph_call_is_429_with_retry_after(start_emulator: StartEmulator) -> None:
    emu = start_emulator("demo", throttle_every=3, retry_after=7)
    with graph(emu, app_token(emu)) as g:
        statuses = [g.get("/organization") for _ in range(6)]
    assert [r.status_code for r in statuses] == [200, 200, 429, 200, 200, 429]
    assert statuses[2].headers["Retry-After"] == "7"
    assert statuses[2].json()["error"]["code"] == "TooManyRequests"


def test_faults_change_at_runtime(start_emulator: StartEmulator) -> None:
    emu = start_emulator("demo")
    with graph(emu, app_token(emu)) as g:
        assert g.get("/organization").status_code == 200
        emu.faults.unavailable_every = 1
        emu.faults.unavailable_path = "/v1.0/organization"
        assert g.get("/organization").status_code == 503
        assert g.get("/subscribedSkus").status_code == 200
        emu.faults.unavailable_every = 0
        assert g.get("/organization").status_code == 200


def test_dropped_connection(start_emulator: StartEmulator) -> None:
    emu = start_emulator("demo", drop_every=1, drop_path="/organizations/*")
    with client(emu) as http:
        try:
            http.get("/organizations/v2.0/.well-known/openid-configuration")
        except httpx.TransportError:
            pass
        else:
            raise AssertionError("the connection should have been dropped")
        assert http.get("/contoso.com/v2.0/.well-known/openid-configuration").status_code == 200
    assert ("GET", "/organizations/v2.0/.well-known/openid-configuration", 0) in emu.request_log


def test_stall_holds_the_answer(start_emulator: StartEmulator) -> None:
    emu = start_emulator("demo", stall_every=1, stall_path="/common/*", stall_seconds=0.3)
    with client(emu) as http:
        started = time.monotonic()
        assert http.get("/common/v2.0/.well-known/openid-configuration").status_code == 200
        assert time.monotonic() - started >= 0.3


def test_stalled_request_times_out_at_the_client(start_emulator: StartEmulator) -> None:
    emu = start_emulator("demo", stall_every=1, stall_seconds=60)
    with client(emu) as http:
        try:
            http.get("/common/v2.0/.well-known/openid-configuration", timeout=0.3)
        except httpx.ReadTimeout:
            pass
        else:
            raise AssertionError("a stalled request must not be answered")
    # stop() must not wait for the 60 s stall (checked by the fixture's teardown)


def test_stalled_write_is_carried_out_after_the_client_hung_up(
    start_emulator: StartEmulator,
) -> None:
    # As in Entra, a create the server received happens even if its client gave up waiting.
    emu = start_emulator("demo", stall_every=1, stall_path="/v1.0/applications",
                         stall_seconds=0.5)
    with graph(emu, delegated_token(emu)) as g:
        try:
            g.post("/applications", json={"displayName": "Hung up",
                                          "signInAudience": "AzureADMyOrg"}, timeout=0.1)
        except httpx.ReadTimeout:
            pass
        else:
            raise AssertionError("a stalled request must not be answered in time")

    def created() -> bool:
        with emu.state.lock:
            return any(a.display_name == "Hung up" for a in emu.state.applications.values())

    deadline = time.monotonic() + 10
    while not created():
        assert time.monotonic() < deadline, "the stalled create was dropped"
        time.sleep(0.02)
    assert ("POST", "/v1.0/applications", 201) in emu.request_log


def test_date_header_follows_clock_offset(start_emulator: StartEmulator) -> None:
    emu = start_emulator("demo", clock_offset=-7200)
    with client(emu) as http:
        response = http.get("/common/v2.0/.well-known/openid-configuration")
    server_time = email.utils.parsedate_to_datetime(response.headers["date"]).timestamp()
    assert abs(server_time - (time.time() - 7200)) < 5


def test_request_log_has_timestamps(demo_emulator: EmulatorServer) -> None:
    with client(demo_emulator) as http:
        http.get("/common/discovery/instance")
    record = [r for r in demo_emulator.request_log if r.path == "/common/discovery/instance"][-1]
    method, path, status = record
    assert (method, status) == ("GET", 200)
    assert abs(record.timestamp - time.time()) < 60
