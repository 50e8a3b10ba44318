"""What a typed identifier must look like: one rule for the wizard's fields and the CLI's
arguments (GUIDs such as an Application (client) ID, and email addresses)."""

from __future__ import annotations

import re

#: A GUID in canonical form (lower case, hyphens).
GUID_PATTERN = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
#: An email address (a user principal name): a local part without spaces or the characters
#: that need quoting, ``@``, and a domain with at least one dot. The domain is checked as a
#: DNS name again where it is used (:func:`vdc_tui.connect.microsoft.discovery.domain_of`).
EMAIL_PATTERN = re.compile(r"^[^@\s\"<>(),;:\\\[\]]+@[^@\s]+\.[^@\s.]+$")


def normalize_guid(text: str) -> str | None:
    """The canonical form of a GUID typed or pasted loosely, or ``None``.

    Braces, spaces, quotes, a ``urn:uuid:`` prefix and letter case are forgiven; 32 bare
    hex digits get their hyphens.
    """
    raw = re.sub(r"[\s{}\"']", "", text).lower().removeprefix("urn:uuid:")
    if re.fullmatch(r"[0-9a-f]{32}", raw):
        raw = f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"
    return raw if GUID_PATTERN.match(raw) else None


def is_guid(text: str) -> bool:
    """``text`` is a GUID exactly as stored (canonical form, any letter case)."""
    return bool(GUID_PATTERN.match(text.lower()))


def looks_like_email(text: str) -> bool:
    """``text`` (already trimmed) has the shape of an email address."""
    return bool(EMAIL_PATTERN.match(text))


__all__ = ["EMAIL_PATTERN", "GUID_PATTERN", "is_guid", "looks_like_email", "normalize_guid"]
