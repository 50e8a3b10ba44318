"""Microsoft clouds and the endpoints the tool talks to.

A :class:`Cloud` is a row of the national-cloud table (``research/identity.md`` §3);
:class:`Endpoints` is what one run actually uses: a cloud, optionally with the authority
host, Graph root and CA bundle overridden (a custom cloud, or the emulator).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from vdc_tui.connect.errors import InvalidInput, scrub

#: A DNS name or an IP address (IPv6 without its brackets, as urlsplit gives it).
_HOST = re.compile(r"^(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.?)+$|^[0-9A-Fa-f:.]+$")


@dataclass(frozen=True)
class Cloud:
    """One Microsoft cloud.

    Attributes:
        name: ``global``, ``usgov``, ``usgovdod`` or ``china``.
        label: Human name.
        authority_host: Scheme and host of the identity platform (no tenant, no slash).
        graph_url: Root of Microsoft Graph (calls go to ``{graph_url}/v1.0/…``).
        device_login_url: The page where a person types a device code.
        exchange_resource: Resource URI of Office 365 Exchange Online (its token scope is
            ``{exchange_resource}/.default``).
        sharepoint_suffix: DNS suffix of the cloud's SharePoint hosts (for display; the real
            host of a tenant comes from ``GET /sites/root``).
        portal_url: The Entra admin centre, for remediation texts.
    """

    name: str
    label: str
    authority_host: str
    graph_url: str
    device_login_url: str
    exchange_resource: str
    sharepoint_suffix: str
    portal_url: str


CLOUDS: dict[str, Cloud] = {
    c.name: c
    for c in (
        Cloud(
            "global",
            "Microsoft Azure (global, including GCC)",
            "https://login.microsoftonline.com",
            "https://graph.microsoft.com",
            "https://microsoft.com/devicelogin",
            "https://outlook.office365.com",
            "sharepoint.com",
            "https://entra.microsoft.com",
        ),
        Cloud(
            "usgov",
            "Microsoft Azure Government (GCC High)",
            "https://login.microsoftonline.us",
            "https://graph.microsoft.us",
            "https://microsoft.com/deviceloginus",
            "https://outlook.office365.us",
            "sharepoint.us",
            "https://entra.microsoft.us",
        ),
        Cloud(
            "usgovdod",
            "Microsoft Azure Government (DoD)",
            "https://login.microsoftonline.us",
            "https://dod-graph.microsoft.us",
            "https://microsoft.com/deviceloginus",
            "https://outlook-dod.office365.us",
            "sharepoint-mil.us",
            "https://entra.microsoft.us",
        ),
        Cloud(
            "china",
            "Microsoft Azure operated by 21Vianet",
            "https://login.partner.microsoftonline.cn",
            "https://microsoftgraph.chinacloudapi.cn",
            "https://microsoft.com/deviceloginchina",
            "https://partner.outlook.cn",
            "sharepoint.cn",
            "https://portal.azure.cn",
        ),
    )
}

#: Hosts MSAL knows as Microsoft authorities; any other host needs ``instance_discovery=False``.
MICROSOFT_AUTHORITY_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoft.com",
        "login.windows.net",
        "sts.windows.net",
        "login.microsoftonline.us",
        "login.usgovcloudapi.net",
        "login-us.microsoftonline.com",
        "login.partner.microsoftonline.cn",
        "login.chinacloudapi.cn",
    }
)


def _normalise_root(url: str, what: str) -> str:
    shown = scrub(url, limit=200)
    example = f"Give a value like https://login.microsoftonline.com for {what}."
    try:
        parts = urlsplit(url.strip())
        # .port raises ValueError for a port that is not 0-65535; 0 cannot be connected to.
        if parts.port == 0:
            raise ValueError("port 0")
        host = parts.hostname
    except ValueError:
        raise InvalidInput(
            "invalid_argument", f"{what} is not a valid URL, got {shown!r}.", example
        ) from None
    if parts.scheme != "https" or not host:
        raise InvalidInput(
            "invalid_argument",
            f"{what} must be an https URL with a host, got {shown!r}.",
            example,
        )
    if parts.username is not None or parts.password is not None:
        # A password in a URL ends up in logs and process listings; and neither Entra
        # nor Graph takes one.
        raise InvalidInput(
            "invalid_argument",
            f"{what} must not carry a user name or password.",
            "Drop the 'user:password@' part; sign-in happens with a device code or a "
            "certificate.",
        )
    if not _HOST.match(host):
        raise InvalidInput(
            "invalid_argument", f"{what} has no valid host name, got {shown!r}.", example
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise InvalidInput(
            "invalid_argument",
            f"{what} must be a scheme and host only (no path), got {shown!r}.",
            "Drop the path: the tool adds the tenant and /v1.0 itself.",
        )
    return f"https://{parts.netloc}"


@dataclass(frozen=True)
class Endpoints:
    """The endpoints one run uses.

    Attributes:
        cloud: The cloud the tenant lives in.
        authority_host: Scheme and host of the identity platform.
        graph_url: Root of Microsoft Graph.
        ca_bundle: A PEM file of trusted CAs, or ``None`` for the system trust store.
            TLS is always verified.
    """

    cloud: Cloud
    authority_host: str
    graph_url: str
    ca_bundle: Path | None = None

    @property
    def graph_v1(self) -> str:
        """Base URL of Graph v1.0 calls."""
        return f"{self.graph_url}/v1.0"

    @property
    def graph_scope(self) -> str:
        """App-only scope for Graph, always derived from the Graph root in use."""
        return f"{self.graph_url}/.default"

    @property
    def exchange_scope(self) -> str:
        """App-only scope for Office 365 Exchange Online."""
        return f"{self.cloud.exchange_resource}/.default"

    @property
    def is_custom(self) -> bool:
        """True when the authority or Graph host was overridden (a custom cloud or emulator)."""
        return (
            self.authority_host != self.cloud.authority_host
            or self.graph_url != self.cloud.graph_url
        )

    @property
    def authority_is_microsoft(self) -> bool:
        """Whether MSAL may run instance discovery against this authority host."""
        host = urlsplit(self.authority_host).hostname or ""
        return host in MICROSOFT_AUTHORITY_HOSTS

    def authority(self, tenant: str) -> str:
        """The MSAL authority URL for a tenant id, domain, or ``organizations``."""
        return f"{self.authority_host}/{tenant}"

    def admin_consent_url(self, tenant_id: str, app_id: str) -> str:
        """The admin-consent address an administrator opens to consent for an app."""
        return f"{self.authority_host}/{tenant_id}/adminconsent?client_id={app_id}"


class LocalServer(Protocol):
    """A server on this machine that answers as both the identity platform and Graph
    (the project's emulator; a rehearsal server): its two roots and its CA's PEM."""

    @property
    def authority_host(self) -> str: ...

    @property
    def graph_url(self) -> str: ...

    @property
    def ca_bundle(self) -> Path: ...


def server_endpoints(server: LocalServer, cloud: str = "global") -> Endpoints:
    """The endpoints of a run against ``server``, trusting only its CA."""
    return Endpoints(cloud=CLOUDS[cloud], authority_host=server.authority_host,
                     graph_url=server.graph_url, ca_bundle=server.ca_bundle)


def sharepoint_scope(sharepoint_root_url: str) -> str:
    """App-only scope for a tenant's SharePoint host (``https://contoso.sharepoint.com``)."""
    parts = urlsplit(sharepoint_root_url)
    return f"https://{parts.netloc}/.default"


def resolve_endpoints(
    cloud: str = "global",
    *,
    authority_host: str | None = None,
    graph_url: str | None = None,
    ca_bundle: str | Path | None = None,
) -> Endpoints:
    """Endpoints for a cloud name with the optional overrides of the command line.

    Raises:
        InvalidInput: an unknown cloud, a malformed URL, or a CA bundle that is not a file.
    """
    try:
        base = CLOUDS[cloud]
    except KeyError:
        raise InvalidInput(
            "invalid_argument",
            f"Unknown cloud {cloud!r}.",
            "Use one of: " + ", ".join(CLOUDS) + ".",
        ) from None
    bundle: Path | None = None
    if ca_bundle is not None:
        bundle = Path(ca_bundle).expanduser()
        if not bundle.is_file():
            raise InvalidInput(
                "invalid_argument",
                f"CA bundle {str(bundle)!r} is not a readable file.",
                "Give the path of a PEM file with the CA certificates to trust.",
            )
    return Endpoints(
        cloud=base,
        authority_host=_normalise_root(authority_host, "--authority-host")
        if authority_host
        else base.authority_host,
        graph_url=_normalise_root(graph_url, "--graph-url") if graph_url else base.graph_url,
        ca_bundle=bundle,
    )
