"""Where profiles and keys live, without the profile store itself.

:func:`vdc_home` is all the command line needs before the wizard's first frame; the store
(:mod:`.profiles`, with the permission catalog and the file helpers) comes after it.
"""

from __future__ import annotations

import os
from pathlib import Path


def vdc_home() -> Path:
    """The root folder for profiles and keys: ``$VDC_TUI_HOME`` or the user data folder."""
    env = os.environ.get("VDC_TUI_HOME", "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs  # only needed when the variable is not set

    return Path(platformdirs.user_data_path("vdc-tui", appauthor=False))
