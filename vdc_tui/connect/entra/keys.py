"""The saved certificate as the app registration holds it: judged from ``keyCredentials``.

Entra checks a client assertion against the app's key credential with the certificate's
thumbprint and that credential's ``startDateTime``/``endDateTime`` (research/identity.md): a
certificate that is valid locally signs in only while the app lists it with dates that cover
now. Repair and the health check decide the key's state from the app's ``keyCredentials``
read once, never by waiting for a token endpoint to refuse a key that is not there.

A ``PATCH /applications/{id}`` with ``keyCredentials`` replaces the whole collection
(research/lifecycle.md), so every body built here lists the keys to keep as well.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from vdc_tui.connect.entra.application import key_sha1, writable_key

if TYPE_CHECKING:
    from vdc_tui.connect.certificates import LoadedPfx
    from vdc_tui.connect.models import CertificateInfo

#: How long a key must still be valid to be kept: less, and it cannot be relied on to
#: prove possession or to sign in until the next renewal; repair replaces it.
REPLACE_WITHIN = timedelta(days=1)

KeyVerdict = Literal["valid", "not_on_app", "ended_on_app", "expired"]


@dataclass(frozen=True)
class KeyOnApp:
    """What the app's ``keyCredentials`` say about the saved certificate.

    Attributes:
        verdict: ``valid`` (listed, dates cover now and the next day); ``not_on_app`` (the
            local certificate is valid but the app does not list it); ``ended_on_app`` (the
            app lists it with an ``endDateTime`` that has passed or is about to, while the
            local certificate is still valid); ``expired`` (the local certificate itself has
            expired or is about to: only a new certificate helps).
        entry: The app's key credential of that certificate, if listed.
        ends: When the key stops working: the earlier of the app's ``endDateTime`` and the
            certificate's ``notAfter``.
    """

    verdict: KeyVerdict
    entry: Mapping[str, Any] | None
    ends: datetime


def entry_sha1(entry: Mapping[str, Any]) -> str:
    """The SHA-1 thumbprint (upper-case hex) of a ``keyCredential`` entry."""
    custom = str(entry.get("customKeyIdentifier") or "").upper()
    return custom if len(custom) == 40 else key_sha1(entry).upper()


def parse_time(text: Any) -> datetime | None:
    """A Graph ``DateTimeOffset`` as an aware datetime (``None`` when absent or malformed)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def find_key(keys: Iterable[Mapping[str, Any]], sha1: str) -> Mapping[str, Any] | None:
    """The entry of ``keys`` whose certificate has thumbprint ``sha1``."""
    wanted = sha1.upper()
    return next((k for k in keys if entry_sha1(k) == wanted), None)


def judge_key(app: Mapping[str, Any], info: CertificateInfo, *, now: datetime | None = None,
              margin: timedelta = REPLACE_WITHIN) -> KeyOnApp:
    """The state of the certificate ``info`` on ``app`` (read with ``keyCredentials``)."""
    moment = now or datetime.now(UTC)
    entry = find_key(app.get("keyCredentials") or (), info.sha1)
    app_end = parse_time(entry.get("endDateTime")) if entry is not None else None
    ends = min(info.not_after, app_end) if app_end is not None else info.not_after
    if info.not_after <= moment + margin:
        return KeyOnApp("expired", entry, ends)
    if entry is None:
        return KeyOnApp("not_on_app", None, ends)
    start = parse_time(entry.get("startDateTime"))
    if (app_end is not None and app_end <= moment + margin) or (
            start is not None and start > moment):
        return KeyOnApp("ended_on_app", entry, ends)
    return KeyOnApp("valid", entry, ends)


def keys_body(app: Mapping[str, Any], add: LoadedPfx, *,
              drop: Iterable[str] = ()) -> dict[str, Any]:
    """A ``PATCH`` body that puts ``add`` on ``app``, keeping its other keys except those
    whose thumbprint is in ``drop`` (and any earlier entry of ``add`` itself)."""
    from vdc_tui.connect.certificates import key_credential

    gone = {s.upper() for s in drop} | {add.info.sha1.upper()}
    kept = [writable_key(k) for k in app.get("keyCredentials") or ()
            if entry_sha1(k) not in gone]
    return {"keyCredentials": [*kept, key_credential(add, add.info.subject)]}


def without_keys(app: Mapping[str, Any], drop: Iterable[str]) -> dict[str, Any]:
    """A ``PATCH`` body that takes the keys with thumbprints ``drop`` off ``app``."""
    gone = {s.upper() for s in drop}
    return {"keyCredentials": [writable_key(k) for k in app.get("keyCredentials") or ()
                               if entry_sha1(k) not in gone]}


__all__ = ["REPLACE_WITHIN", "KeyOnApp", "KeyVerdict", "entry_sha1", "find_key", "judge_key",
           "keys_body", "parse_time", "without_keys"]
