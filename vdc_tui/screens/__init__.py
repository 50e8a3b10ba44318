"""One screen per wizard step; each returns its result through ``dismiss()``.

The names below are imported on first use (PEP 562): the wizard's first frame needs only
the mode screen, and importing every step up front would delay it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vdc_tui.lazy_exports import lazy_getattr

if TYPE_CHECKING:
    from vdc_tui.screens.base import WizardScreen
    from vdc_tui.screens.connected import ConnectedDialog
    from vdc_tui.screens.device_code import DeviceCodeScreen
    from vdc_tui.screens.dialogs import ConfirmDialog, HelpScreen, ManualModeNotice
    from vdc_tui.screens.manual import ManualDraft, ManualScreen
    from vdc_tui.screens.mode import ModeScreen
    from vdc_tui.screens.passphrase import PassphraseScreen
    from vdc_tui.screens.provisioning import ProvisioningScreen
    from vdc_tui.screens.services import ServicesScreen
    from vdc_tui.screens.summary import SummaryScreen

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
