"""Typed options of the command line: read, checked, or a usage error (exit 2,
``invalid_argument`` with ``--json``).

One home for the shape every number option shares (``--port``, ``--timeout``,
``--concurrency``, ``--deadline``, ``--within``, …; each keeps its own words), and the GUID
options (``--client-id``) read with the wizard's own rule for a GUID.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

N = TypeVar("N", int, float)


def ranged(convert: Callable[[str], N], valid: Callable[[N], bool], *, unreadable: str,
           out_of_range: str) -> Callable[[str], N]:
    """An argparse ``type=``: ``convert(text)`` when ``valid`` accepts it.

    Args:
        convert: ``int`` or ``float``.
        valid: Whether a read value is in range (NaN fails any comparison, so it is out).
        unreadable: The error when the text is not a number; ``{text}`` is the text quoted.
        out_of_range: The error when it is out of range; ``{text}`` as above.
    """

    def parse(text: str) -> N:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(unreadable.format(text=repr(text))) from None
        if not valid(value):
            raise argparse.ArgumentTypeError(out_of_range.format(text=repr(text)))
        return value

    return parse


def guid(text: str) -> str:
    """An argparse ``type=`` for a GUID option: its canonical form (lower case, hyphens).

    Read as the wizard's fields read one (:func:`~vdc_tui.connect.inputs.normalize_guid`:
    braces, quotes and letter case forgiven); anything else is a usage error that names the
    expected shape.
    """
    from vdc_tui.connect.inputs import normalize_guid

    canonical = normalize_guid(text)
    if canonical is None:
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise argparse.ArgumentTypeError(
            f"not a GUID: {shown!r} (expected 8-4-4-4-12 hexadecimal digits, e.g. "
            "14d82eec-204b-4c2f-b7e8-296a70dab67e)")
    return canonical


__all__ = ["guid", "ranged"]
