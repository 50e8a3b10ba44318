"""Settings of one wizard session (no Textual import: the command line builds these first)."""

from __future__ import annotations

from dataclasses import dataclass, field

from vdc_tui.connect.service import ConnectSettings

THEMES = ("vdc", "textual-dark", "textual-light", "nord", "gruvbox", "dracula", "ansi-dark",
          "ansi-light")

#: The demo emulator's port: fixed, so the sign-in address (and its QR code) is the same in
#: every recording. When it is busy the wizard takes a free port and says so on screen.
DEFAULT_DEMO_PORT = 47443


@dataclass(frozen=True)
class AppSettings:
    """How the wizard is started.

    Attributes:
        connect: Endpoints, client id, plan, profile folder, service defaults.
        demo: Run against the built-in emulator with the demo scenario (a DEMO badge shows).
        demo_scenario: Scenario name or file for demo mode.
        demo_port: Loopback port of the demo emulator; 0 = any free port.
        demo_approve_after: Seconds after which the emulator approves the demo device code
            as the demo Global Administrator; ``None`` = only through the device-login page.
        demo_world: Demo mode serves the persistent demo world of ``connect.home``
            (``vdc-tui --demo``; tests leave it off for the plain demo scenario).
        tenant_name: The tenant name typed in the product's Settings step (shown in titles).
        theme: Textual theme name.
    """

    connect: ConnectSettings = field(default_factory=ConnectSettings)
    demo: bool = False
    demo_scenario: str = "demo"
    demo_port: int = DEFAULT_DEMO_PORT
    demo_approve_after: float | None = 6.0
    demo_world: bool = False
    tenant_name: str | None = None
    theme: str = "vdc"
