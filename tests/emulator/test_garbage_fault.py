"""The ``garbage_*`` fault: broken 200 answers, for testing how clients cope with them."""

from __future__ import annotations

import json

import pytest
from support.emulator import StartEmulator, app_token, graph

from vdc_tui.emulator import EmulatorServer, Faults


@pytest.mark.parametrize(("kind", "content_type", "check"), [
    ("html", "text/html", lambda body: body.startswith(b"<!DOCTYPE html>")),
    ("truncated", "application/json", lambda body: _not_json(body)),
    ("empty_object", "application/json", lambda body: json.loads(body) == {}),
    ("list", "application/json", lambda body: isinstance(json.loads(body), list)),
    ("text", "application/json", lambda body: isinstance(json.loads(body), str)),
    ("huge", "application/json", lambda body: len(body) > 32 * 1024 * 1024),
])
def test_each_kind_answers_200_with_its_broken_body(
    start_emulator: StartEmulator, kind: str, content_type: str, check: object
) -> None:
    emu = start_emulator("demo", garbage_every=2, garbage_path="/v1.0/organization",
                         garbage_kind=kind)
    with graph(emu, app_token(emu)) as g:
        first, second = g.get("/organization"), g.get("/organization")
        other = g.get("/subscribedSkus")
    assert first.json()["value"], "the first matching request is answered normally"
    assert second.status_code == 200
    assert second.headers["content-type"].startswith(content_type)
    assert check(second.content)  # type: ignore[operator]
    assert other.json()["value"], "other paths are not touched"


def _not_json(body: bytes) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return True
    return False


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="garbage_kind"):
        Faults.from_dict({"garbage_kind": "binary"})
    with pytest.raises(ValueError, match="garbage_kind"):
        EmulatorServer("demo", faults={"garbage_kind": "binary"})
