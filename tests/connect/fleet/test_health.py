"""Health records, their cache, the fleet's verdicts, OpenMetrics and the patient MSAL client."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from vdc_tui.connect.errors import InvalidInput
from vdc_tui.connect.fleet.health import Check, TenantHealth, remedy, verdict
from vdc_tui.connect.fleet.run import (
    HealthCache,
    exit_code,
    openmetrics_text,
    summary,
    worst_first,
    write_openmetrics,
)
from vdc_tui.connect.fleet.shards import TOKEN_ATTEMPTS, PatientMsalHttp
from vdc_tui.connect.microsoft.clouds import resolve_endpoints
from vdc_tui.connect.store.profiles import ProfileStore


def health(tid: str, state: str, *, days: int | None = 100, unreachable: bool = False,
           missing: tuple[str, ...] = ()) -> TenantHealth:
    status = {"healthy": "ok", "warning": "warning", "broken": "broken"}[state]
    return TenantHealth(
        tenant_id=tid, name=f"Tenant {tid}", default_domain=f"{tid}.example", mode="automatic",
        health=state, checks=(Check("certificate", status, "detail", "fix", None),),
        sha1="AB" * 20, not_after="2027-01-01T00:00:00+00:00", days_left=days,
        missing=missing, checked_at="2026-11-30T09:00:00+00:00", unreachable=unreachable)


def test_record_survives_a_json_round_trip() -> None:
    record = health("t1", "broken", days=-3, missing=("Microsoft Graph: Sites.Read.All",))
    assert TenantHealth.from_json(json.loads(json.dumps(record.to_json()))) == record


@pytest.mark.parametrize("document", [{}, {"tenant_id": "t1"}, {"tenant_id": "t1",
                                                                "health": "fine"}, [1, 2]])
def test_a_document_that_is_not_a_record_is_refused(document: object) -> None:
    with pytest.raises(ValueError):
        TenantHealth.from_json(document)  # type: ignore[arg-type]


def test_verdict_is_the_worst_check() -> None:
    assert verdict([Check("a", "ok", ""), Check("b", "skipped", "")]) == "healthy"
    assert verdict([Check("a", "ok", ""), Check("b", "warning", "")]) == "warning"
    assert verdict([Check("a", "warning", ""), Check("b", "broken", "")]) == "broken"


def test_worst_first_puts_unreachable_then_broken_then_fewest_days() -> None:
    results = [health("a", "healthy"), health("b", "warning", days=20),
               health("c", "broken"), health("d", "warning", days=5),
               health("e", "broken", unreachable=True)]
    assert [r.tenant_id for r in worst_first(results)] == ["e", "c", "d", "b", "a"]


@pytest.mark.parametrize(("states", "code"), [
    (["healthy", "warning"], 0),
    (["healthy", "broken"], 3),
    (["broken", "unreachable"], 4),
])
def test_exit_code_follows_the_contract(states: list[str], code: int) -> None:
    results = [health(str(i), "broken" if s == "unreachable" else s,
                      unreachable=s == "unreachable") for i, s in enumerate(states)]
    assert exit_code(results) == code


def test_summary_counts_every_verdict() -> None:
    document = summary([health("a", "healthy"), health("b", "warning"), health("c", "broken")])
    assert (document["checked"], document["healthy"], document["warning"],
            document["broken"], document["status"]) == (3, 1, 1, 1, "broken")


def test_remedy_names_the_command_for_the_tenant() -> None:
    assert "vdc-tui connections renew t9" in remedy("certificate_expiring", "t9", "automatic")
    assert "vdc-tui connect manual" in remedy("certificate_expired", "t9", "manual")
    for code in ("certificate_expired", "certificate_not_registered", "app_not_found_in_tenant"):
        fix = remedy(code, "t9", "automatic")
        assert "vdc-tui connections repair t9" in fix
        assert "connections remove" not in fix and "old profile" not in fix
    assert remedy("sign_in_declined", "t9", None, "its own fix") == "its own fix"


def test_cache_keeps_the_last_result_per_tenant(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path / "home")
    store.tenant_dir("t1").mkdir(parents=True)
    cache = HealthCache(store)
    assert cache.load("t1") is None
    cache.save(health("t1", "warning"))
    cache.save(health("t1", "broken"))
    loaded = cache.load("t1")
    assert loaded is not None and loaded.health == "broken"
    assert (cache.path("t1").stat().st_mode & 0o777) == 0o600


def test_damaged_cache_file_reads_as_never_checked(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path / "home")
    store.tenant_dir("t1").mkdir(parents=True)
    HealthCache(store).path("t1").write_text("{not json")
    assert HealthCache(store).load("t1") is None


def test_result_of_a_removed_tenant_is_not_written(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path / "home")
    HealthCache(store).save(health("gone", "healthy"))
    assert not store.tenant_dir("gone").exists()


def test_openmetrics_text_ends_with_eof_and_carries_each_tenant() -> None:
    text = openmetrics_text([health("t1", "warning", days=9,
                                    missing=("Microsoft Graph: A", "Microsoft Graph: B"))])
    decoded = text.decode()
    assert decoded.endswith("# EOF\n")
    assert 'vdc_tui_missing_permissions{name="Tenant t1",tenant_id="t1"} 2.0' in decoded
    assert 'vdc_tui_certificate_days_left{name="Tenant t1",tenant_id="t1"} 9.0' in decoded


def test_openmetrics_file_in_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(InvalidInput) as caught:
        write_openmetrics(blocker / "sub" / "x.prom", [health("t1", "healthy")])
    assert caught.value.details["field"] == "openmetrics"


def _patient(answers: list[httpx.Response], slept: list[float]) -> PatientMsalHttp:
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        return queue.pop(0)

    endpoints = resolve_endpoints("global")
    return PatientMsalHttp(endpoints, sleep=slept.append,
                           transport=httpx.MockTransport(handler))


def test_token_request_waits_out_retry_after_then_succeeds() -> None:
    slept: list[float] = []
    http = _patient([httpx.Response(429, headers={"Retry-After": "2"}, json={"error": "x"}),
                     httpx.Response(200, json={"access_token": "t"})], slept)
    response = http.post("https://login.example/t/oauth2/v2.0/token", data={"a": "b"})
    assert response.status_code == 200
    assert slept == [2.0]


def test_token_request_gives_up_after_its_attempts() -> None:
    slept: list[float] = []
    http = _patient([httpx.Response(503, headers={"Retry-After": "1"})] * TOKEN_ATTEMPTS,
                    slept)
    response = http.post("https://login.example/t/oauth2/v2.0/token", data={"a": "b"})
    assert response.status_code == 503
    assert len(slept) == TOKEN_ATTEMPTS - 1


def test_last_results_read_back_share_identical_checks_and_the_sharing_is_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import vdc_tui.connect.fleet.health as health

    def record(tid: str, detail: str) -> dict[str, object]:
        return TenantHealth(tenant_id=tid, name="T", default_domain=None, mode="automatic",
                            health="healthy", checks=(Check("certificate", "ok", detail),),
                            checked_at="2026-11-30T09:00:00+00:00").to_json()

    first = TenantHealth.from_json(record("a", "Passed."))
    second = TenantHealth.from_json(record("b", "Passed."))
    assert first.checks == second.checks and first.checks[0] is second.checks[0]
    assert TenantHealth.from_json(record("c", "Other.")).checks[0].detail == "Other."
    monkeypatch.setattr(health, "_READ_CHECKS_MAX", 2)
    for n in range(10):
        TenantHealth.from_json(record(f"t{n}", f"detail {n}"))
    assert len(health._READ_CHECKS) <= 2
