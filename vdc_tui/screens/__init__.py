"""One screen per wizard step; each returns its result through ``dismiss()``.

The names below are imported on first use (PEP 562): the wizard's first frame needs only
the mode screen, and importing every step up front would delay it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import WizardScreen
    from .connected import ConnectedDialog
    from .device_code import DeviceCodeScreen
    from .dialogs import ConfirmDialog, HelpScreen, ManualModeNotice
    from .manual import ManualDraft, ManualScreen
    from .mode import ModeScreen
    from .provisioning import ProvisioningScreen
    from .services import ServicesScreen
    from .summary import SummaryScreen

#: Exported name → the module (in this package) that defines it.
_HOMES: dict[str, str] = {
    "ConfirmDialog": "dialogs",
    "ConnectedDialog": "connected",
    "DeviceCodeScreen": "device_code",
    "HelpScreen": "dialogs",
    "ManualDraft": "manual",
    "ManualModeNotice": "dialogs",
    "ManualScreen": "manual",
    "ModeScreen": "mode",
    "ProvisioningScreen": "provisioning",
    "ServicesScreen": "services",
    "SummaryScreen": "summary",
    "WizardScreen": "base",
}


def __getattr__(name: str) -> Any:
    """Import an exported screen the first time it is asked for."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{home}", __name__), name)


__all__ = [
    "ConfirmDialog",
    "ConnectedDialog",
    "DeviceCodeScreen",
    "HelpScreen",
    "ManualDraft",
    "ManualModeNotice",
    "ManualScreen",
    "ModeScreen",
    "ProvisioningScreen",
    "ServicesScreen",
    "SummaryScreen",
    "WizardScreen",
]
