"""MSAL's probe for the optional ``msal_extensions`` package runs once per process.

Each MSAL application's constructor imports ``msal_extensions`` to warn about old versions;
when it is absent every try searched ``sys.path`` again under the import lock (about a
tenth of a 5,000-tenant check's client samples). The identity client settles the answer
once: absent is remembered as ``None`` in ``sys.modules``; an installed package is left alone.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from collections.abc import Iterator

import httpx
import pytest

from connect.microsoft.identity.test_identity_scripted import (
    APP,
    ENDPOINTS,
    SCOPE,
    TENANT,
    FakeEntra,
    app_token_if_assertion_is_a_jwt,
)
from vdc_tui.connect.certificates import generate_self_signed
from vdc_tui.connect.microsoft.http import MsalHttpClient
from vdc_tui.connect.microsoft.identity import IdentityClient, client

NAME = "msal_extensions"


@pytest.fixture
def clean_probe(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No cached answer and no ``msal_extensions`` entry before the test; both restored after."""
    before = sys.modules.get(NAME, ...)
    sys.modules.pop(NAME, None)
    client._absent_msal_extensions_settled.cache_clear()
    yield
    client._absent_msal_extensions_settled.cache_clear()
    sys.modules.pop(NAME, None)
    if before is not ...:
        sys.modules[NAME] = before


def _find_spec_answering(spec: object) -> object:
    real = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> object:
        return spec if name == NAME else real(name, package)
    return find_spec


@pytest.mark.usefixtures("clean_probe")
def test_an_absent_package_fails_its_import_at_once_after_the_first_probe(
        monkeypatch: pytest.MonkeyPatch) -> None:
    searches: list[str] = []
    real = importlib.util.find_spec

    def counting(name: str, package: str | None = None) -> object:
        if name == NAME:
            searches.append(name)
            return None
        return real(name, package)
    monkeypatch.setattr(importlib.util, "find_spec", counting)

    for _ in range(3):
        client._absent_msal_extensions_settled()

    assert searches == [NAME]
    assert sys.modules[NAME] is None
    with pytest.raises(ImportError):
        __import__(NAME)


@pytest.mark.usefixtures("clean_probe")
def test_an_installed_package_is_left_to_the_import_system(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec",
                        _find_spec_answering(types.SimpleNamespace(name=NAME)))

    client._absent_msal_extensions_settled()

    assert NAME not in sys.modules


@pytest.mark.usefixtures("clean_probe")
def test_an_already_imported_package_is_not_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType(NAME)
    monkeypatch.setitem(sys.modules, NAME, module)
    monkeypatch.setattr(importlib.util, "find_spec", _find_spec_answering(None))

    client._absent_msal_extensions_settled()

    assert sys.modules[NAME] is module


@pytest.mark.usefixtures("clean_probe")
async def test_an_app_token_settles_the_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real path: real MSAL behind the identity client, against a scripted platform."""
    monkeypatch.setattr(importlib.util, "find_spec", _find_spec_answering(None))
    fake = FakeEntra(token_answers=[app_token_if_assertion_is_a_jwt])
    http = MsalHttpClient(ENDPOINTS, transport=httpx.MockTransport(fake))
    identity = IdentityClient(ENDPOINTS, client_id=APP, http_client=http)
    credential = generate_self_signed("vdc-probe-test").credential()
    try:
        token = await identity.app_token(TENANT, APP, credential, SCOPE)
    finally:
        await identity.aclose()

    assert token.roles
    assert sys.modules[NAME] is None
