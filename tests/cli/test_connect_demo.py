"""``vdc-tui connect auto|manual --demo``: scripts onboard the demo tenant, in-process."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.commands import Outcome

from vdc_tui.demo import demo_facts

Run = Callable[..., Outcome]

SUCCESS_KEYS = {"status", "tenant", "mode", "app_id", "certificate", "services", "permissions",
                "profile"}


def assert_success_shape(document: dict[str, Any], mode: str) -> None:
    # automatic mode also says what the consent cleanup did (design.md)
    extra = {"delegated_consent"} if mode == "automatic" else set()
    assert set(document) == SUCCESS_KEYS | extra
    if extra:
        consent = document["delegated_consent"]
        assert set(consent) == {"client_id", "removed", "kept", "grants"}
    assert document["status"] == "connected" and document["mode"] == mode
    assert set(document["tenant"]) == {"id", "name", "default_domain"}
    assert set(document["certificate"]) == {"sha1", "sha256", "not_after"}
    assert len(document["certificate"]["sha1"]) == 40
    assert len(document["certificate"]["sha256"]) == 64
    assert set(document["services"]) == {"selected", "available"}
    assert "exchange" in document["services"]["selected"]
    assert set(document["services"]["selected"]) <= set(document["services"]["available"])
    assert set(document["permissions"]) == {"granted", "missing"}
    assert document["permissions"]["granted"] and document["permissions"]["missing"] == []


def test_print_demo_names_the_manual_app_and_its_pfx(run: Run) -> None:
    outcome = run("emulator", "--print-demo")
    assert outcome.code == 0
    facts = json.loads(outcome.out)
    assert Path(facts["manual"]["pfx"]).is_file()
    assert facts["manual"]["app_id"] and "@" in facts["admin_email"]


def test_manual_mode_connects_the_demo_tenant(run: Run, home: Path,
                                              manual_args: list[str]) -> None:
    outcome = run(*manual_args, "--json")
    assert outcome.code == 0, outcome.err
    document = outcome.json()
    assert_success_shape(document, "manual")
    profile = Path(document["profile"])
    assert profile.parent.parent == home / "demo" / "connections"
    assert json.loads(profile.read_text())["mode"] == "manual"
    assert "[pass]" in outcome.err  # one line per check on stderr


def test_automatic_mode_connects_lists_and_removes(run: Run, home: Path) -> None:
    outcome = run("connect", "auto", "--demo", "--json")
    assert outcome.code == 0, outcome.err
    document = outcome.json()
    assert_success_shape(document, "automatic")
    assert "enters the code" in outcome.err and "▀" in outcome.err + "▄"  # code, URL, QR
    tenant_id = document["tenant"]["id"]
    assert Path(document["profile"]).exists()
    assert (Path(document["profile"]).parent / "certificate.pfx").exists()

    listed = run("connections", "list", "--demo", "--json").json()
    # Beside the demo fleet the first demo run seeded (tests/cli/test_demo_world.py).
    assert tenant_id in [c["tenant_id"] for c in listed["connections"]]
    removed = run("connections", "remove", "--demo", tenant_id, "--json")
    assert removed.code == 0 and removed.json()["status"] == "removed"
    left = run("connections", "list", "--demo", "--json").json()["connections"]
    assert tenant_id not in [c["tenant_id"] for c in left]


def test_a_wrong_pfx_password_is_exit_2_and_never_echoed(run: Run, manual_args: list[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_PFX_PASSWORD", "wrong-Pa55word!")
    outcome = run(*manual_args, "--json")
    assert outcome.code == 2
    assert outcome.json()["error"]["code"] == "pfx_wrong_password"
    assert "wrong-Pa55word!" not in outcome.out + outcome.err


def test_an_app_the_tenant_does_not_know_is_diagnosed(run: Run, manual_args: list[str]) -> None:
    args = list(manual_args)
    args[args.index("--app-id") + 1] = "00000000-1111-2222-3333-444444444444"
    outcome = run(*args, "--json")
    assert outcome.code == 3
    assert outcome.json()["error"]["code"] in ("app_not_found_in_tenant",
                                                "certificate_not_registered")


def test_the_password_can_come_from_stdin(run: Run, manual_args: list[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    password = demo_facts().pfx_password or ""
    args = [a for a in manual_args if a not in ("--pfx-password-env", "DEMO_PFX_PASSWORD")]
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    outcome = run(*args, "--pfx-password-stdin", "--json")
    assert outcome.code == 0, outcome.err
    assert outcome.json()["mode"] == "manual"
