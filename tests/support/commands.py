"""Running the command line in-process (``run``) in a private ``VDC_TUI_HOME`` (``home``):
fixtures every folder gets from tests/conftest.py, and :class:`Outcome`."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from vdc_tui.cli.main import main
from vdc_tui.demo import demo_facts


@dataclass
class Outcome:
    """What one ``main(argv)`` run left behind."""

    code: int
    out: str
    err: str

    def json(self) -> dict[str, Any]:
        """The single JSON object stdout must hold with ``--json``."""
        lines = [line for line in self.out.splitlines() if line.strip()]
        assert len(lines) == 1, f"stdout must hold exactly one JSON line, got: {self.out!r}"
        document = json.loads(lines[0])
        assert isinstance(document, dict)
        return document


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh ``VDC_TUI_HOME`` for the test."""
    folder = tmp_path / "vdc-home"
    monkeypatch.setenv("VDC_TUI_HOME", str(folder))
    return folder


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], home: Path) -> Callable[..., Outcome]:
    """Run ``vdc-tui`` in-process: ``run("connections", "list", "--json")``."""

    def invoke(*argv: str) -> Outcome:
        code = main(list(argv))
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return invoke


@pytest.fixture
def manual_args(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``connect manual --demo`` options for the demo tenant's manual app (password in the env)."""
    facts = demo_facts()
    assert facts.manual_app_id and facts.pfx_path and facts.pfx_password is not None
    monkeypatch.setenv("DEMO_PFX_PASSWORD", facts.pfx_password)
    return ["connect", "manual", "--demo", "--admin-email", facts.admin_email,
            "--app-id", facts.manual_app_id, "--pfx", facts.pfx_path,
            "--pfx-password-env", "DEMO_PFX_PASSWORD"]
