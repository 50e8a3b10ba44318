"""The token endpoint's checks of a certificate's client assertion (identity.md §2).

What Entra refuses, in the order it looks: no assertion (or a client secret: the emulator's
apps carry certificates only), a malformed JWT, ``iss``/``sub`` not the client id, an
``aud`` that is not the tenant's token endpoint on its cloud's login server, no ``jti``, a
time outside ``nbf``..``exp`` (with the scenario's clock skew), a thumbprint that names no
key of the app, an expired key, a signature that does not verify. Each answer is Entra's
error with its AADSTS code and words.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from vdc_tui.emulator import jws
from vdc_tui.emulator.core import EmulatorCore
from vdc_tui.emulator.pki import b64url_decode
from vdc_tui.emulator.state import Tenant

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

#: The login servers of each cloud, as instance discovery names them (identity.md §3). A
#: client assertion's ``aud`` is the token endpoint on one of these, or on this emulator.
LOGIN_HOSTS = {
    "global": ("login.microsoftonline.com", "login.windows.net", "login.microsoft.com",
               "sts.windows.net"),
    "usgov": ("login.microsoftonline.us", "login.usgovcloudapi.net"),
    "usgovdod": ("login.microsoftonline.us", "login.usgovcloudapi.net"),
    "china": ("login.partner.microsoftonline.cn", "login.chinacloudapi.cn"),
}


def check_client_assertion(core: EmulatorCore, request: Request, tenant: Tenant,
                           client_id: str, form: dict[str, str], keys: list[Any],
                           now: float) -> Response | None:
    """Entra's refusal of the form's client credential for ``client_id`` (whose registered,
    visible keys are ``keys``), or ``None`` when the assertion is good."""
    assertion = form.get("client_assertion", "")
    if not assertion and form.get("client_secret"):
        # The emulator's apps carry certificates only: any secret is a wrong one.
        return core.entra_error(
            request, 401, "invalid_client", 7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is "
            "the client secret value, not the client secret ID, for a secret added to app "
            f"'{client_id}'.")
    if not assertion or form.get("client_assertion_type") != JWT_BEARER:
        return core.entra_error(
            request, 401, "invalid_client", 7000218,
            "The request body must contain the following parameter: 'client_assertion' or "
            "'client_secret'.")
    try:
        parsed = jws.parse(assertion)
    except jws.MalformedJwt:
        return core.entra_error(request, 401, "invalid_client", 50027,
                                "JWT token is invalid or malformed.")
    claims = parsed.claims
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        return core.entra_error(
            request, 401, "invalid_client", 700021,
            "Client assertion application identifier doesn't match 'client_id' parameter. "
            "Review the documentation at "
            "https://learn.microsoft.com/entra/identity-platform/certificate-credentials .")
    if not _audience_ok(core, str(claims.get("aud", "")), tenant):
        return core.entra_error(
            request, 401, "invalid_client", 50027,
            "Invalid JWT token. The token audience is not the token endpoint of the tenant.")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti.strip():
        return core.entra_error(
            request, 401, "invalid_client", 50027,
            "Invalid JWT token. The client assertion has no 'jti' (JWT ID) claim.")
    time_problem = _time_problem(core, claims, now)
    if time_problem:
        return core.entra_error(request, 401, "invalid_client", 700024, time_problem)
    key, thumb = _find_key(parsed.header, keys)
    if key is None:
        return core.entra_error(
            request, 401, "invalid_client", 700027,
            "Client assertion contains an invalid signature. [Reason - The key was not "
            f"found., Thumbprint of key used by client: '{thumb}', Please visit the Azure "
            "Portal, Graph Explorer or directly use MS Graph to see configured keys for app "
            f"Id '{client_id}'. Review the documentation at "
            "https://learn.microsoft.com/graph/api/application-addkey .]")
    if not key.start <= now <= key.end:
        fmt = "%m/%d/%Y %H:%M:%S"
        start = dt.datetime.fromtimestamp(key.start, dt.UTC).strftime(fmt)
        end = dt.datetime.fromtimestamp(key.end, dt.UTC).strftime(fmt)
        return core.entra_error(
            request, 401, "invalid_client", 700027,
            "Client assertion contains an invalid signature. [Reason - The key used is "
            f"expired., Thumbprint of key used by client: '{thumb}', Found key "
            f"'Start={start}, End={end}', Please visit the Azure Portal, Graph Explorer or "
            f"directly use MS Graph to see configured keys for app Id '{client_id}'.]")
    public_key = key.public_key
    if public_key is None or not jws.verify(parsed, public_key):
        return core.entra_error(
            request, 401, "invalid_client", 700027,
            "Client assertion contains an invalid signature. [Reason - The provided "
            f"signature value did not match the expected signature value., Thumbprint of "
            f"key used by client: '{thumb}', Found key 'Start=..., End=...']")
    return None


def _fmt_time(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def _audience_ok(core: EmulatorCore, aud: str, tenant: Tenant) -> bool:
    """``aud`` is the token endpoint of the tenant on its cloud's login server (or on
    this emulator): identity.md §2, and Microsoft's "certificate credentials" page,
    which names the login server as the recipient."""
    parts = urlsplit(aud)
    here = urlsplit(core.host)
    hosts = LOGIN_HOSTS.get(tenant.spec.cloud, LOGIN_HOSTS["global"])
    on_login_server = (parts.scheme == "https" and parts.port is None
                       and (parts.hostname or "").lower() in hosts)
    on_emulator = (parts.scheme, parts.netloc.lower()) == (here.scheme, here.netloc.lower())
    if not (on_login_server or on_emulator) or parts.query or parts.fragment:
        return False
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) < 3 or segments[1] != "oauth2" or segments[-1] != "token":
        return False
    if segments[2:] not in (["token"], ["v2.0", "token"]):
        return False
    names = {tenant.id.lower(), *(d.lower() for d in tenant.spec.domains)}
    return segments[0].lower() in names

def _time_problem(core: EmulatorCore, claims: dict[str, Any], now: float) -> str | None:
    skew = float(core.faults.assertion_skew)

    def number(key: str) -> float | None:
        value = claims.get(key)
        return float(value) if isinstance(value, int | float) and not isinstance(
            value, bool) else None

    exp, nbf, iat = number("exp"), number("nbf"), number("iat")
    start = nbf if nbf is not None else 0.0
    bad = (exp is None or exp + skew < now or (nbf is not None and nbf - skew > now)
           or (iat is not None and iat - skew > now))
    if not bad:
        return None
    expiry = _fmt_time(exp) if exp is not None else "(none)"
    return (f"Client assertion is not within its valid time range. Current time: "
            f"{_fmt_time(now)}, assertion valid from {_fmt_time(start)}, expiry time of "
            f"assertion {expiry}. Review the documentation at "
            "https://learn.microsoft.com/entra/identity-platform/certificate-credentials .")

def _find_key(header: dict[str, Any], keys: list[Any]) -> tuple[Any, str]:
    """The registered key the assertion's thumbprint names, and that thumbprint as hex."""
    for name, attr in (("x5t#S256", "sha256"), ("x5t", "sha1")):
        value = header.get(name)
        if not isinstance(value, str):
            continue
        try:
            digest = b64url_decode(value)
        except ValueError:
            return None, value
        for key in keys:
            if getattr(key, attr) == digest:
                return key, digest.hex().upper()
        return None, digest.hex().upper()
    return None, "(none)"
