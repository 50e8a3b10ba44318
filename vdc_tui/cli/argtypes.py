"""Number options of the command line: read, checked against a range, or a usage error.

One home for the shape every such option shares (``--port``, ``--timeout``,
``--concurrency``, ``--deadline``, ``--within``, …); each keeps its own words.
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


__all__ = ["ranged"]
