"""Scenarios: built in Python, checked for typos, deterministic, and the demo's promises."""

from __future__ import annotations

import time

import pytest
from support.emulator import (
    DEMO_APP,
    StartEmulator,
    app_token,
    claims_of,
    delegated_token,
    graph,
    load_pfx,
)

from vdc_tui.emulator import (
    ApplicationSpec,
    CertificateSpec,
    EmulatorServer,
    Scenario,
    ScenarioError,
    ServicePrincipalSpec,
    TenantSpec,
    UserSpec,
    load_scenario,
)


def test_scenario_built_from_dataclasses(start_emulator: StartEmulator) -> None:
    scenario = Scenario(tenants=[TenantSpec(
        id="66666666-6666-4666-8666-666666666666", display_name="Inline",
        domains=["inline.onmicrosoft.com"],
        users=[UserSpec("boss@inline.onmicrosoft.com", roles=["Global Administrator"])],
        applications=[ApplicationSpec("app", app_id="77777777-7777-4777-8777-777777777777",
                                      certificates=[CertificateSpec(generate="inline",
                                                                    password="pw")])],
        service_principals=[ServicePrincipalSpec("77777777-7777-4777-8777-777777777777",
                                                 grants=["graph:Organization.Read.All"])],
    )])
    emu = start_emulator(scenario)
    key, cert = load_pfx(emu.certificate_path("inline"), "pw")
    token = app_token(emu, tenant="inline.onmicrosoft.com",
                      client_id="77777777-7777-4777-8777-777777777777", key=key, cert=cert)
    assert claims_of(token)["roles"] == ["Organization.Read.All"]
    with graph(emu, token) as g:
        org = g.get("/organization").json()["value"][0]
    assert org["displayName"] == "Inline"


def test_typos_in_scenarios_are_errors() -> None:
    with pytest.raises(ScenarioError, match="sign_in_audiense"):
        load_scenario({"tenants": [{"id": "x", "display_name": "x", "domains": ["x.com"],
                                    "applications": [{"display_name": "a",
                                                      "sign_in_audiense": "AzureADMyOrg"}]}]})
    with pytest.raises(ScenarioError, match="service plan"):
        load_scenario({"tenants": [{"id": "x", "display_name": "x", "domains": ["x.com"],
                                    "skus": [{"sku_part_number": "X",
                                              "service_plans": ["EXCHANGE_S_TYPO"]}]}]})
    with pytest.raises(ScenarioError, match="not found"):
        load_scenario("no-such-scenario")


def test_created_ids_are_deterministic(start_emulator: StartEmulator) -> None:
    ids = []
    for _ in range(2):
        emu = start_emulator("demo")
        with graph(emu, delegated_token(emu)) as g:
            app = g.post("/applications", json={"displayName": "same"}).json()
        ids.append((app["id"], app["appId"]))
    assert ids[0] == ids[1]


def test_demo_manual_app_pfx_is_long_lived_and_registered(demo_emulator: EmulatorServer) -> None:
    base = load_scenario("demo").base_dir
    assert base is not None
    _, cert = load_pfx(base / "demo-manual-app.pfx", "demo")
    assert cert.not_valid_after_utc.year - cert.not_valid_before_utc.year >= 10
    app = [a for a in demo_emulator.state.applications.values() if a.app_id == DEMO_APP][0]
    assert app.key_credentials[0].certificate == cert


def test_latency_is_added(start_emulator: StartEmulator) -> None:
    emu = start_emulator("demo", latency=0.2, latency_path="/common/*")
    from support.emulator import client

    with client(emu) as http:
        started = time.monotonic()
        http.get("/common/v2.0/.well-known/openid-configuration")
        assert time.monotonic() - started >= 0.2
