"""An HTTPS emulator of Microsoft Entra ID and the Microsoft Graph subset vdc-tui uses.

It serves ``vdc-tui --demo``, the test suite and ``vdc-tui emulator``. Never imports textual.

    from vdc_tui.emulator import EmulatorServer, load_scenario
    with EmulatorServer(load_scenario("demo"), port=0) as emu:
        ...

Names are loaded on first use, so ``vdc_tui.emulator.schema`` can be imported on its own
without the server stack (starlette, uvicorn).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vdc_tui.lazy_exports import lazy_getattr

if TYPE_CHECKING:
    from vdc_tui.emulator.core import RequestRecord
    from vdc_tui.emulator.faults import FakeClock, Faults
    from vdc_tui.emulator.scenario import (
        ApplicationSpec,
        CertificateSpec,
        DeviceCodeSpec,
        GroupSpec,
        Scenario,
        ScenarioError,
        ServicePlanSpec,
        ServicePrincipalSpec,
        SkuSpec,
        TenantSpec,
        UserSpec,
        load_scenario,
        scenario_from_dict,
    )
    from vdc_tui.emulator.server import EmulatorServer

_EXPORTS = {
    "EmulatorServer": "server",
    "FakeClock": "faults",
    "Faults": "faults",
    "RequestRecord": "core",
    "Scenario": "scenario",
    "ScenarioError": "scenario",
    "load_scenario": "scenario",
    "ApplicationSpec": "scenario",
    "CertificateSpec": "scenario",
    "DeviceCodeSpec": "scenario",
    "GroupSpec": "scenario",
    "ServicePlanSpec": "scenario",
    "ServicePrincipalSpec": "scenario",
    "SkuSpec": "scenario",
    "TenantSpec": "scenario",
    "UserSpec": "scenario",
    "scenario_from_dict": "scenario",
}

__all__ = [
    "ApplicationSpec",
    "CertificateSpec",
    "DeviceCodeSpec",
    "EmulatorServer",
    "GroupSpec",
    "ServicePlanSpec",
    "ServicePrincipalSpec",
    "SkuSpec",
    "TenantSpec",
    "UserSpec",
    "FakeClock",
    "Faults",
    "RequestRecord",
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "scenario_from_dict",
]


__getattr__ = lazy_getattr(__name__, _EXPORTS)
