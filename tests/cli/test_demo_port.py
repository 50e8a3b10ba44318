"""``vdc-tui connect auto|manual --demo --demo-port N``: the headless demo on a fixed port.

Like the wizard's ``--demo``, the headless demo listens on one port (47443 by default) so the
sign-in address in scripts and recordings is the same every time; when the port is taken it
takes a free one and says so on stderr, keeping stdout to the one JSON object.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterator

import pytest
from support.commands import Outcome

from vdc_tui.settings import DEFAULT_DEMO_PORT

Run = Callable[..., Outcome]


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port some other program listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock.getsockname()[1]


@pytest.fixture
def free_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def sign_in_ports(err: str) -> set[int]:
    """Ports of the emulator's sign-in addresses printed on stderr."""
    return {int(p) for p in re.findall(r"https://127\.0\.0\.1:(\d+)/devicelogin", err)}


def test_automatic_demo_signs_in_on_the_port_it_is_given(run: Run, free_port: int) -> None:
    outcome = run("connect", "auto", "--demo", "--demo-port", str(free_port), "--json")
    assert outcome.code == 0, outcome.err
    assert outcome.json()["status"] == "connected"
    assert sign_in_ports(outcome.err) == {free_port}  # the address the admin is sent to
    assert "busy" not in outcome.err


def test_a_busy_port_falls_back_to_a_free_one_and_says_so_on_stderr(
    run: Run, busy_port: int, manual_args: list[str]
) -> None:
    outcome = run(*manual_args, "--json", "--demo-port", str(busy_port))
    assert outcome.code == 0, outcome.err
    assert outcome.json()["status"] == "connected"  # stdout: still only the JSON object
    said = re.search(r"port (\d+) is busy; the built-in emulator listens on port (\d+)",
                     outcome.err)
    assert said is not None, outcome.err
    assert int(said.group(1)) == busy_port
    fallback = int(said.group(2))
    assert fallback != busy_port
    assert sign_in_ports(outcome.err) == {fallback}


def test_the_automatic_demo_falls_back_too(run: Run, busy_port: int) -> None:
    outcome = run("connect", "auto", "--demo", "--demo-port", str(busy_port), "--json")
    assert outcome.code == 0, outcome.err
    assert f"port {busy_port} is busy" in outcome.err
    ports = sign_in_ports(outcome.err)
    assert len(ports) == 1 and busy_port not in ports


def test_without_the_option_the_demo_asks_for_the_default_port(
    run: Run, manual_args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import vdc_tui.demo as demo

    asked: list[int] = []
    original = demo.demo_emulator

    def recording(approve_after: float | None, *, port: int = -1, **more: object) -> object:
        asked.append(port)
        # any free port: the default may be in use
        return original(approve_after, port=0, **more)  # type: ignore[arg-type]

    monkeypatch.setattr(demo, "demo_emulator", recording)
    outcome = run(*manual_args, "--json")
    assert outcome.code == 0, outcome.err
    assert asked == [DEFAULT_DEMO_PORT] == [47443]


def test_port_zero_takes_any_free_port_without_a_note(run: Run, manual_args: list[str]) -> None:
    outcome = run(*manual_args, "--json", "--demo-port", "0")
    assert outcome.code == 0, outcome.err
    assert "busy" not in outcome.err


@pytest.mark.parametrize("argv", [
    ["connect", "auto", "--demo-port", "47443"],              # only with --demo
    ["connect", "auto", "--demo", "--demo-port", "65536"],    # not a port
    ["connect", "manual", "--demo", "--demo-port", "x", "--admin-email", "a@b.c",
     "--app-id", "00000000-0000-0000-0000-000000000000", "--pfx", "a.pfx"],
])
def test_a_bad_demo_port_is_an_invalid_invocation(run: Run, argv: list[str]) -> None:
    outcome = run(*argv, "--json")
    assert outcome.code == 2
    assert outcome.json()["error"]["code"] == "invalid_argument"
    assert "--demo-port" in outcome.err + outcome.out
