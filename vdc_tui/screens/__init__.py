"""One screen per wizard step; each returns its result through ``dismiss()``.

The names below are imported on first use (PEP 562): the wizard's first frame needs only
the mode screen, and importing every step up front would delay it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vdc_tui.lazy_exports import lazy_getattr

if TYPE_CHECKING:
    from .base import WizardScreen
    from .connected import ConnectedDialog
    from .device_code import DeviceCodeScreen
    from .dialogs import ConfirmDialog, HelpScreen, ManualModeNotice
    from .manual import ManualDraft, ManualScreen
    from .mode import ModeScreen
    from .passphrase import PassphraseScreen
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
    "PassphraseScreen": "passphrase",
    "ProvisioningScreen": "provisioning",
    "ServicesScreen": "services",
    "SummaryScreen": "summary",
    "WizardScreen": "base",
}


#: Imports an exported screen the first time it is asked for.
__getattr__ = lazy_getattr(__name__, _HOMES)


__all__ = [
    "ConfirmDialog",
    "ConnectedDialog",
    "DeviceCodeScreen",
    "HelpScreen",
    "ManualDraft",
    "ManualModeNotice",
    "ManualScreen",
    "ModeScreen",
    "PassphraseScreen",
    "ProvisioningScreen",
    "ServicesScreen",
    "SummaryScreen",
    "WizardScreen",
]
