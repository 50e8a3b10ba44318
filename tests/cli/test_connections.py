"""``vdc-tui connections list|show|remove``."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

from support.commands import Outcome
from support.factories import KEY_BYTES, OTHER, TENANT, make_result

from vdc_tui.connect.store.profiles import ProfileStore

Run = Callable[..., Outcome]


def seed(home: Path) -> Path:
    return ProfileStore(home).save(make_result(), ["exchange"], plan="flex", cloud="global")


def test_list_is_empty_on_a_new_machine(run: Run, home: Path) -> None:
    outcome = run("connections", "list", "--json")
    assert outcome.code == 0
    assert outcome.json() == {"status": "ok", "home": str(home), "connections": [],
                              "damaged": []}
    assert not home.exists()  # listing creates nothing


def test_list_shows_saved_connections(run: Run, home: Path) -> None:
    seed(home)
    document = run("connections", "list", "--json").json()
    [entry] = document["connections"]
    assert entry["tenant_id"] == TENANT and entry["name"] == "Contoso Ltd"
    assert entry["default_domain"] == "contoso.com" and entry["services"] == ["exchange"]
    human = run("connections", "list")
    assert human.code == 0 and "Contoso Ltd" in human.out and TENANT in human.out


def test_list_reports_a_damaged_profile_and_lists_the_rest(run: Run, home: Path) -> None:
    seed(home)
    damaged = home / "connections" / OTHER
    damaged.mkdir()
    (damaged / "profile.json").write_text("{ not json")
    outcome = run("connections", "list", "--json")
    assert outcome.code == 0
    document = outcome.json()
    assert [c["tenant_id"] for c in document["connections"]] == [TENANT]
    assert document["damaged"][0]["tenant_id"] == OTHER
    assert "not valid JSON" in document["damaged"][0]["error"]
    assert OTHER in outcome.err  # said on stderr too


def test_show_finds_a_profile_by_domain(run: Run, home: Path) -> None:
    path = seed(home)
    document = run("connections", "show", "CONTOSO.COM", "--json").json()
    assert document["path"] == str(path)
    assert document["profile"]["app"]["app_id"] == "11111111-2222-3333-4444-555555555555"
    human = run("connections", "show", "Contoso Ltd")
    assert human.code == 0 and "SHA-1 " + "A" * 40 in human.out


def test_show_of_an_unknown_tenant_fails_with_exit_2(run: Run, home: Path) -> None:
    seed(home)
    outcome = run("connections", "show", "fabrikam.com", "--json")
    assert outcome.code == 2
    assert outcome.json()["error"]["code"] == "invalid_argument"


def test_remove_deletes_the_files_and_says_the_tenant_is_untouched(run: Run, home: Path) -> None:
    path = seed(home)
    outcome = run("connections", "remove", TENANT, "--json")
    assert outcome.code == 0
    document = outcome.json()
    assert document["status"] == "removed" and document["tenant_untouched"] is True
    assert str(path.parent / "certificate.pfx") in document["removed"]
    assert not path.parent.exists()
    assert "not touched" in outcome.err
    assert run("connections", "list", "--json").json()["connections"] == []


def test_demo_profiles_are_kept_apart(run: Run, home: Path) -> None:
    from vdc_tui.connect.store.keystore import PassphraseProvider

    # Saved as demo runs save: under the demo's fixed passphrase.
    ProfileStore(home / "demo", passphrase=PassphraseProvider.demo()).save(
        make_result(), ["exchange"], plan="flex", cloud="global")
    assert run("connections", "list", "--json").json()["connections"] == []
    demo = run("connections", "list", "--demo", "--json").json()
    # Beside the demo fleet the first demo run seeds (tests/cli/test_demo_world.py).
    assert TENANT in [c["tenant_id"] for c in demo["connections"]]


def test_no_key_material_reaches_the_output(run: Run, home: Path) -> None:
    seed(home)
    for argv in (("connections", "list"), ("connections", "show", TENANT, "--json"),
                 ("connections", "remove", TENANT)):
        outcome = run(*argv)
        assert KEY_BYTES.decode("latin-1") not in outcome.out + outcome.err


def test_remove_while_another_run_holds_the_tenant_is_refused(run: Run, home: Path) -> None:
    seed(home)
    holder = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from vdc_tui.connect.store.profiles import ProfileStore
        with ProfileStore(Path({str(home)!r})).lock({TENANT!r}):
            print("locked", flush=True)
            sys.stdin.readline()
    """)
    proc = subprocess.Popen([sys.executable, "-c", holder], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        outcome = run("connections", "remove", "contoso.com", "--json")
        assert outcome.code == 2
        assert f"process {proc.pid}" in outcome.json()["error"]["message"]
    finally:
        assert proc.stdin is not None
        proc.stdin.write("\n")
        proc.stdin.close()
        proc.wait(timeout=30)
    assert (home / "connections" / TENANT / "profile.json").exists()
