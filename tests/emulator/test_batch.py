"""JSON $batch: dependsOn, 424 on a failed dependency, shuffled answers, limits, throttling."""

from __future__ import annotations

from typing import Any

from support.emulator import StartEmulator, app_token, graph

from vdc_tui.emulator import EmulatorServer


def _batch(emu: EmulatorServer, requests: list[dict[str, Any]]) -> Any:
    with graph(emu, app_token(emu)) as g:
        return g.post("/$batch", json={"requests": requests})


def test_depends_on_and_failed_dependency(demo_emulator: EmulatorServer) -> None:
    response = _batch(demo_emulator, [
        {"id": "1", "method": "GET", "url": "/users/nobody@contoso.com"},
        {"id": "2", "method": "GET", "url": "/organization", "dependsOn": ["1"]},
        {"id": "3", "method": "GET", "url": "/subscribedSkus"},
    ])
    assert response.status_code == 200
    answers = {a["id"]: a for a in response.json()["responses"]}
    assert answers["1"]["status"] == 404
    assert answers["2"]["status"] == 424
    assert answers["3"]["status"] == 200 and answers["3"]["body"]["value"]


def test_answers_come_in_a_seeded_shuffled_order(start_emulator: StartEmulator) -> None:
    requests = [{"id": str(i), "method": "GET", "url": "/organization"} for i in range(1, 11)]
    orders = []
    for _ in range(2):
        emu = start_emulator("demo")
        orders.append([a["id"] for a in _batch(emu, requests).json()["responses"]])
    assert orders[0] == orders[1]  # same seed, same order
    assert orders[0] != [r["id"] for r in requests]
    assert sorted(orders[0], key=int) == [r["id"] for r in requests]


def test_more_than_twenty_is_400(demo_emulator: EmulatorServer) -> None:
    requests = [{"id": str(i), "method": "GET", "url": "/organization"} for i in range(21)]
    assert _batch(demo_emulator, requests).status_code == 400


def test_duplicate_ids_and_absolute_urls_are_400(demo_emulator: EmulatorServer) -> None:
    assert _batch(demo_emulator, [{"id": "1", "method": "GET", "url": "/me"},
                                  {"id": "1", "method": "GET", "url": "/me"}]).status_code == 400
    absolute = [{"id": "1", "method": "GET", "url": "https://graph.microsoft.com/v1.0/me"}]
    assert _batch(demo_emulator, absolute).status_code == 400


def test_inner_request_is_throttled_on_its_own(start_emulator: StartEmulator) -> None:
    emu = start_emulator("demo", throttle_every=2, retry_after=3)
    response = _batch(emu, [{"id": str(i), "method": "GET", "url": "/organization"}
                            for i in range(1, 5)])
    assert response.status_code == 200  # the envelope itself is never throttled
    statuses = {a["id"]: a for a in response.json()["responses"]}
    throttled = [i for i, a in statuses.items() if a["status"] == 429]
    assert sorted(throttled) == ["2", "4"]
    assert statuses["2"]["headers"]["Retry-After"] == "3"
