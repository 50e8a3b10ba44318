"""Package attributes imported on first use (PEP 562), for packages whose start-up must stay light.

The screens and widgets packages export many names, but the wizard's first frame needs only
a few of them; the emulator package must import its schema module without the server stack.
Each package lists where its names live and gets its ``__getattr__`` here.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports an exported name when first asked.

    Args:
        package: The package's ``__name__``.
        homes: Exported name → the module (in ``package``, without the dot) that defines it.

    Returns:
        The function to assign to the package's ``__getattr__``.
    """

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{home}", package), name)
        # Remembered in the package, so the next access is a plain attribute lookup.
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
