"""Shared set-up of the lifecycle tests: a tenant connected in automatic or manual mode."""

from __future__ import annotations

from typing import Any

from vdc_tui.connect.microsoft.clouds import server_endpoints
from vdc_tui.emulator import EmulatorServer

TENANT = "7e3a1c55-2b4d-4f6a-9c8e-0d1f2a3b4c5d"
MANUAL_APP = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"


def scenario(**tenant: Any) -> dict[str, Any]:
    """Northwind: a Global Admin, Exchange Online, and an operator-made (manual) app."""
    return {
        "name": "lifecycle",
        "device_code": {"interval": 1},
        "tenants": [{
            "id": TENANT,
            "display_name": "Northwind",
            "domains": ["northwind.onmicrosoft.com", "northwind.com"],
            "sharepoint_host": None,
            "users": [{"upn": "admin@northwind.com", "roles": ["Global Administrator"]},
                      {"upn": "reader@northwind.com", "roles": ["Global Reader"]}],
            "skus": [{"sku_part_number": "EXCHANGESTANDARD",
                      "service_plans": ["EXCHANGE_S_STANDARD"]}],
            "applications": [{"display_name": "Northwind backup (manual)", "app_id": MANUAL_APP,
                              "certificates": [{"generate": "northwind-manual",
                                                "password": "pw-nw"}]}],
            "service_principals": [{"app_id": MANUAL_APP, "grants": ["catalog"],
                                    "directory_roles": ["Global Reader"]}],
            **tenant,
        }],
    }


def endpoint_args(emu: EmulatorServer) -> list[str]:
    """The options that point a command at ``emu``."""
    return ["--authority-host", emu.authority_host, "--graph-url", emu.graph_url,
            "--ca-bundle", str(server_endpoints(emu).ca_bundle)]


def managed_app(emu: EmulatorServer) -> Any:
    """The one app registration vdc-tui created in the tenant (automatic mode)."""
    apps = [a for a in emu.state.applications.values()
            if "vdc-tui:managed" in (a.props.get("tags") or [])]
    assert len(apps) == 1, apps
    return apps[0]
