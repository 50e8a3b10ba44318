"""The OS keyring as a source of the store passphrase, never allowed to hang a run.

``keyring`` (macOS Keychain, Windows Credential Locker, Secret Service over D-Bus) is asked
in a daemon thread bounded by a timeout: a locked or absent keyring makes the caller go on
to the next source (see :mod:`.passphrase`). A Secret Service without a D-Bus session (SSH,
cron) is detected before anything is asked. ``VDC_TUI_KEYRING=off`` turns it off.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KEYRING_SERVICE = "vdc-tui"
KEYRING_TIMEOUT = 3.0


@dataclass(frozen=True)
class KeyringState:
    """What :func:`probe_keyring` found.

    Attributes:
        usable: A backend can store secrets.
        backend: Its name ("SecretService Keyring", "macOS Keyring", …) or ``None``.
        reason: Why it is not usable (one line), when not.
    """

    usable: bool
    backend: str | None
    reason: str | None = None


def _bounded(call: Callable[[], Any], timeout: float) -> tuple[bool, Any]:
    """Run ``call`` in a daemon thread for at most ``timeout`` s: (finished, result)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # reported to the caller, never raised in the thread
            box["error"] = exc

    worker = threading.Thread(target=run, name="vdc-keyring", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        return False, None
    if "error" in box:
        raise box["error"]
    return True, box.get("value")


def _no_dbus(environ: Mapping[str, str]) -> bool:
    return sys.platform.startswith("linux") and not environ.get("DBUS_SESSION_BUS_ADDRESS")


def probe_keyring(environ: Mapping[str, str] | None = None,
                  timeout: float = KEYRING_TIMEOUT) -> KeyringState:
    """Whether the OS keyring can hold the passphrase (never hangs: bounded by ``timeout``)."""
    env = os.environ if environ is None else environ
    if env.get("VDC_TUI_KEYRING", "").lower() in ("off", "0", "no"):
        return KeyringState(False, None, "turned off by VDC_TUI_KEYRING=off")
    forced = env.get("PYTHON_KEYRING_BACKEND", "")
    if _no_dbus(env) and not forced:
        return KeyringState(
            False, None,
            "no D-Bus session (DBUS_SESSION_BUS_ADDRESS is not set, as over SSH or in cron), "
            "so the Secret Service keyring cannot be reached",
        )
    try:
        done, backend = _bounded(_get_keyring, timeout)
    except Exception as exc:  # a broken backend module
        return KeyringState(False, None, f"the keyring failed ({type(exc).__name__})")
    if not done:
        return KeyringState(False, None, f"the keyring did not answer within {timeout:g} s")
    name = getattr(backend, "name", type(backend).__name__)
    module = type(backend).__module__
    priority = getattr(backend, "priority", 0)
    if module.endswith((".fail", ".null")) or (isinstance(priority, (int, float))
                                                and priority <= 0):
        return KeyringState(False, str(name), "no keyring backend is available")
    return KeyringState(True, str(name))


def _get_keyring() -> Any:
    import keyring

    return keyring.get_keyring()


def _keyring_user(root: Path) -> str:
    return f"store:{root.expanduser().resolve()}"


def keyring_get(root: Path, timeout: float) -> str | None:
    """The passphrase the keyring keeps for the store at ``root`` (``None``: none, or no
    answer within ``timeout`` s)."""
    import keyring

    done, value = _bounded(lambda: keyring.get_password(KEYRING_SERVICE, _keyring_user(root)),
                           timeout)
    return value if done and isinstance(value, str) and value else None


def keyring_set(root: Path, secret: str, timeout: float) -> bool:
    """Keep ``secret`` in the keyring for the store at ``root``; whether it answered in time."""
    import keyring

    done, _ = _bounded(lambda: keyring.set_password(KEYRING_SERVICE, _keyring_user(root),
                                                    secret), timeout)
    return done
