"""TLS contexts: an explicit CA bundle is the only trust; a bad one is a clear input error."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from vdc_tui.connect.certificates import generate_self_signed
from vdc_tui.connect.errors import InvalidInput
from vdc_tui.connect.microsoft.clouds import resolve_endpoints
from vdc_tui.connect.microsoft.http import ssl_context


def test_ca_bundle_is_the_only_trust_even_with_ca_variables_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = generate_self_signed("vdc test root").certificate
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "elsewhere.pem"))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "elsewhere.pem"))
    context = ssl_context(resolve_endpoints("global", ca_bundle=bundle))
    # Exactly the one certificate of the bundle: nothing from the system or the variables.
    assert context.cert_store_stats()["x509"] == 1
    assert context.check_hostname


def test_unusable_ca_bundle_is_invalid_input(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    endpoints = replace(resolve_endpoints("global"), ca_bundle=junk)
    with pytest.raises(InvalidInput) as caught:
        ssl_context(endpoints)
    assert caught.value.code == "invalid_argument"
    assert caught.value.details["field"] == "ca_bundle"


def test_system_trust_is_verifying() -> None:
    context = ssl_context(resolve_endpoints("global"))
    assert context.check_hostname and context.verify_mode.name == "CERT_REQUIRED"
