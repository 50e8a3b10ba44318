"""Fixtures of the automatic-mode tests: a fresh emulator of the Contoso tenant per test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from support.provisioning import contoso

from vdc_tui.emulator import EmulatorServer, load_scenario


@pytest.fixture
def emu() -> Iterator[Any]:
    """An emulator of :func:`support.provisioning.contoso` on a free port, stopped at teardown."""
    with EmulatorServer(load_scenario(contoso()), port=0) as server:
        yield server
