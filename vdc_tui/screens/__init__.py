"""One screen per wizard step; each returns its result through ``dismiss()``."""

from .base import WizardScreen
from .connected import ConnectedDialog
from .device_code import DeviceCodeScreen
from .dialogs import ConfirmDialog, HelpScreen, ManualModeNotice
from .manual import ManualDraft, ManualScreen
from .mode import ModeScreen
from .provisioning import ProvisioningScreen
from .services import ServicesScreen
from .summary import SummaryScreen

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
