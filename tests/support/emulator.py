"""Helpers for emulator tests: HTTPS clients, client assertions, tokens.

Assertions are signed with ``cryptography`` directly (no dependency on our identity module).
"""

from __future__ import annotations

import base64
import json
import ssl
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from vdc_tui.emulator import EmulatorServer

DEMO_TENANT = "2a1d5a8e-6f3c-4b7e-9d21-c0ff5e7d1a42"
DEMO_APP = "6b1c7e52-3f0a-4d8e-b5a9-0e4f2c7d9a13"
DEMO_PFX = Path(__file__).resolve().parents[2] / "vdc_tui" / "emulator" / "scenarios" / \
    "demo-manual-app.pfx"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
StartEmulator = Callable[..., EmulatorServer]
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def tls(emu: EmulatorServer) -> ssl.SSLContext:
    """A TLS context trusting only the emulator's CA."""
    return ssl.create_default_context(cafile=str(emu.ca_bundle))


def client(emu: EmulatorServer) -> httpx.Client:
    """An httpx client trusting the emulator's CA (and nothing else)."""
    return httpx.Client(base_url=emu.authority_host, verify=tls(emu), timeout=10)


def load_pfx(path: Path, password: str | None) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """Key and certificate of a PFX."""
    key, cert, _ = pkcs12.load_key_and_certificates(
        path.read_bytes(), password.encode() if password else None)
    assert isinstance(key, rsa.RSAPrivateKey) and cert is not None
    return key, cert


def demo_credential() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """The demo manual app's key and certificate."""
    return load_pfx(DEMO_PFX, "demo")


def _b64url(data: bytes, *, padded: bool = False) -> str:
    text = base64.urlsafe_b64encode(data).decode()
    return text if padded else text.rstrip("=")


def assertion(key: rsa.RSAPrivateKey, cert: x509.Certificate, client_id: str, aud: str, *,
              alg: str = "PS256", thumbprint: str = "x5t#S256", padded: bool = True,
              iat: float | None = None, lifetime: float = 600.0) -> str:
    """A client assertion as MSAL builds it (float iat/exp, no nbf, padded thumbprint)."""
    now = time.time() if iat is None else iat
    digest = cert.fingerprint(hashes.SHA256() if thumbprint == "x5t#S256" else hashes.SHA1())
    header = {"alg": alg, "typ": "JWT", thumbprint: _b64url(digest, padded=padded)}
    claims = {"aud": aud, "iss": client_id, "sub": client_id, "jti": str(uuid.uuid4()),
              "iat": now, "exp": now + lifetime}
    signing_input = (_b64url(json.dumps(header).encode()) + "."
                     + _b64url(json.dumps(claims).encode())).encode()
    if alg == "PS256":
        sig = key.sign(signing_input, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                                  salt_length=32), hashes.SHA256())
    else:
        sig = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return signing_input.decode() + "." + _b64url(sig)


def client_credentials(emu: EmulatorServer, *, tenant: str = DEMO_TENANT,
                       client_id: str = DEMO_APP, scope: str | None = None,
                       key: rsa.RSAPrivateKey | None = None,
                       cert: x509.Certificate | None = None, **kw: Any) -> httpx.Response:
    """POST a client-credentials request signed with the given (default: demo) credential."""
    if key is None or cert is None:
        key, cert = demo_credential()
    token_endpoint = f"{emu.authority_host}/{tenant}/oauth2/v2.0/token"
    with client(emu) as http:
        return http.post(token_endpoint, data={
            "grant_type": "client_credentials", "client_id": client_id,
            "scope": scope or f"{emu.graph_url}/.default",
            "client_assertion_type": JWT_BEARER,
            "client_assertion": assertion(key, cert, client_id, token_endpoint, **kw),
            "client_info": "1"})


def claims_of(token: str) -> dict[str, Any]:
    """Unverified JWT payload."""
    part = token.split(".")[1]
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return data


def device_login(emu: EmulatorServer, upn: str = "admin@contoso.com", *,
                 scope: str = "User.Read", tenant: str = "organizations",
                 client_id: str = "14d82eec-204b-4c2f-b7e8-296a70dab67e") -> dict[str, Any]:
    """Run a device flow to the end (approved through the hook); the token response."""
    with client(emu) as http:
        # As MSAL asks: its three OIDC scopes added, client_info=1 on the poll.
        code = http.post(f"/{tenant}/oauth2/v2.0/devicecode", data={
            "client_id": client_id, "scope": f"{scope} offline_access openid profile"}).json()
        emu.approve_device_code(code["user_code"], upn)
        response = http.post(f"/{tenant}/oauth2/v2.0/token", data={
            "grant_type": DEVICE_GRANT, "client_id": client_id,
            "device_code": code["device_code"], "client_info": "1"})
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data


def delegated_token(emu: EmulatorServer, upn: str = "admin@contoso.com",
                    scope: str = ".default") -> str:
    """A delegated Graph token for ``upn``."""
    return str(device_login(emu, upn, scope=f"{emu.graph_url}/{scope}")["access_token"])


def app_token(emu: EmulatorServer, **kw: Any) -> str:
    """An app-only Graph token of the demo app (or another, via ``kw``)."""
    response = client_credentials(emu, **kw)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def graph(emu: EmulatorServer, token: str) -> httpx.Client:
    """An httpx client for ``{graph_url}/v1.0`` with a bearer token."""
    return httpx.Client(base_url=f"{emu.graph_url}/v1.0", verify=tls(emu),
                        headers={"Authorization": f"Bearer {token}"}, timeout=10)


def pem(key: rsa.RSAPrivateKey) -> bytes:
    """Unencrypted PKCS#8 PEM of a key (for MSAL)."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
