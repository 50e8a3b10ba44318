"""The store passphrase: where it comes from, first found wins (:class:`PassphraseProvider`).

1. ``--key-passphrase-env VAR`` or ``--key-passphrase-stdin`` (the command line);
2. ``VDC_TUI_KEY_PASSPHRASE_FILE``: a regular file owned by this user and readable by no
   one else (refused otherwise), first line;
3. the OS keyring (:mod:`.os_keyring`: never hangs a run). With a usable keyring and a new
   store, a random passphrase is generated and kept there: nobody has to type one;
4. otherwise the wizard asks once per session (:meth:`PassphraseProvider.set_typed`), and a
   headless command on a terminal asks there (:func:`terminal_asker`).

Also the two errors every caller raises when it is missing or wrong, and the rule a new
typed passphrase must follow (:func:`check_new_passphrase`).
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from vdc_tui.connect.errors import InvalidInput, VdcError, scrub
from vdc_tui.connect.store.keystore.os_keyring import (
    KEYRING_TIMEOUT,
    KeyringState,
    keyring_get,
    keyring_set,
    probe_keyring,
)

#: The shortest passphrase the wizard accepts when one is first set.
MIN_TYPED_PASSPHRASE = 12

#: The demo's store passphrase: fixed, public, and said so wherever the demo shows it.
DEMO_PASSPHRASE = "vdc-tui-demo-passphrase"

PASSPHRASE_FILE_ENV = "VDC_TUI_KEY_PASSPHRASE_FILE"


def _error(code: str, message: str, remediation: str, **details: Any) -> VdcError:
    return InvalidInput(code, message, remediation, details)


_SOURCES_HINT = (
    "Give it with --key-passphrase-env VAR or --key-passphrase-stdin, or put it in a file "
    f"readable only by you and set {PASSPHRASE_FILE_ENV} to its path."
)


def passphrase_required(what: str) -> VdcError:
    """``key_passphrase_required``: no source gave the store passphrase."""
    return _error(
        "key_passphrase_required",
        f"The store passphrase is needed to {what}, and none was given.",
        _SOURCES_HINT + " `vdc-tui doctor` shows where it is looked for.",
    )


def passphrase_wrong(source: str) -> VdcError:
    """``key_passphrase_wrong``: the passphrase does not open this store."""
    return _error(
        "key_passphrase_wrong",
        f"The store passphrase from {source} does not open the saved keys.",
        "Give the passphrase these keys were saved with (it is case-sensitive). "
        "Nothing was changed.",
        source=source,
    )


@dataclass(frozen=True)
class Passphrase:
    """The store passphrase and where it came from.

    Attributes:
        secret: The passphrase (never printed, logged or written to a profile).
        source: ``env``, ``stdin``, ``file``, ``keyring``, ``typed`` or ``demo``.
        origin: Where, for messages: "environment variable VDC_PW", "the OS keyring (…)".
    """

    secret: str = field(repr=False)
    source: str
    origin: str

    @property
    def data(self) -> bytes:
        """The passphrase as the PKCS#12 password bytes (UTF-8)."""
        return self.secret.encode("utf-8")


def read_passphrase_file(path_text: str) -> str:
    """The first line of an owner-only passphrase file.

    Raises:
        InvalidInput: ``key_passphrase_file_unsafe`` when other users could read it or it is
            not this user's regular file; ``invalid_argument`` when missing, unreadable or
            empty.
    """
    path = Path(path_text).expanduser()
    shown = scrub(str(path), limit=300)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise _error("invalid_argument",
                     f"{PASSPHRASE_FILE_ENV} names {shown}, which cannot be read "
                     f"({exc.strerror or type(exc).__name__}).",
                     f"Fix the path in {PASSPHRASE_FILE_ENV}, or unset it.",
                     field=PASSPHRASE_FILE_ENV) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _error("key_passphrase_file_unsafe",
                         f"The passphrase file {shown} is not a regular file.",
                         f"Point {PASSPHRASE_FILE_ENV} at a regular file.",
                         field=PASSPHRASE_FILE_ENV)
        if os.name == "posix":
            mode = stat.S_IMODE(info.st_mode)
            if mode & 0o077 or info.st_uid != os.getuid():
                raise _error("key_passphrase_file_unsafe",
                             f"The passphrase file {shown} can be read by other users "
                             f"(mode {mode:04o}) or is not yours; it is not used.",
                             f"Run `chmod 600 {shown}` (as its owner).",
                             field=PASSPHRASE_FILE_ENV)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            raw = handle.read(4097)
    finally:
        os.close(fd)
    try:
        text = raw.decode("utf-8").splitlines()[0] if raw.strip() else ""
    except UnicodeDecodeError:
        raise _error("invalid_argument", f"The passphrase file {shown} is not UTF-8 text.",
                     "Write the passphrase as text on its first line.",
                     field=PASSPHRASE_FILE_ENV) from None
    if not text:
        raise _error("invalid_argument", f"The passphrase file {shown} is empty.",
                     "Write the passphrase on its first line.", field=PASSPHRASE_FILE_ENV)
    return text


class PassphraseProvider:
    """Finds the store passphrase once per process, in the documented order.

    Args:
        env_var: ``--key-passphrase-env VAR``.
        stdin: ``--key-passphrase-stdin`` (first line of ``stream``).
        environ: The environment to read (default ``os.environ``).
        stream: Standard input (default ``sys.stdin``).
        use_keyring: Look in the OS keyring (off for the demo and in tests that say so).
        fixed: A passphrase given outright (the demo's).
    """

    def __init__(self, *, env_var: str | None = None, stdin: bool = False,
                 environ: Mapping[str, str] | None = None, stream: IO[str] | None = None,
                 use_keyring: bool = True, fixed: Passphrase | None = None,
                 keyring_timeout: float = KEYRING_TIMEOUT,
                 asker: Callable[[bool], str] | None = None) -> None:
        self._env_var = env_var
        self._stdin = stdin
        self._environ = environ
        self._stream = stream
        self._use_keyring = use_keyring
        self._timeout = keyring_timeout
        self._resolved: Passphrase | None = fixed
        self._searched = fixed is not None
        self._keyring: KeyringState | None = None
        self._asker = asker
        self._lock = threading.Lock()

    @classmethod
    def demo(cls) -> PassphraseProvider:
        """The demo store's provider: the fixed, public :data:`DEMO_PASSPHRASE`."""
        return cls(fixed=Passphrase(DEMO_PASSPHRASE, "demo",
                                    "the demo's fixed passphrase (public: demo keys only)"))

    @property
    def environ(self) -> Mapping[str, str]:
        """The environment read."""
        return os.environ if self._environ is None else self._environ

    def keyring_state(self) -> KeyringState:
        """The OS keyring's state (probed once)."""
        if self._keyring is None:
            self._keyring = (probe_keyring(self.environ, self._timeout) if self._use_keyring
                             else KeyringState(False, None, "not used for this store"))
        return self._keyring

    def resolve(self, root: Path) -> Passphrase | None:
        """The passphrase from a non-interactive source, or ``None`` (then ask).

        Raises:
            InvalidInput: a named source is unusable (variable unset, unsafe file, …).
        """
        with self._lock:
            if self._resolved is None and not self._searched:
                self._resolved = self._search(root)
                self._searched = True
            asker = self._asker
            if self._resolved is not None or asker is None:
                return self._resolved
        # A terminal prompt (headless commands on a TTY): asked once, kept for the process.
        from vdc_tui.connect.store.keystore.verifier import (
            is_new_store,  # its scrypt and files only when asked
        )

        return self.set_typed(asker(is_new_store(root)))

    def _search(self, root: Path) -> Passphrase | None:
        env = self.environ
        if self._env_var:
            value = env.get(self._env_var, "")
            if not value:
                raise _error("invalid_argument",
                             f"--key-passphrase-env names {scrub(self._env_var, limit=80)}, "
                             "which is not set or empty.",
                             "Export the variable with the store passphrase, or use another "
                             "source.", field="key_passphrase_env")
            return Passphrase(value, "env", f"environment variable {self._env_var}")
        if self._stdin:
            stream = self._stream or sys.stdin
            line = stream.readline().rstrip("\r\n") if stream is not None else ""
            if not line:
                raise _error("invalid_argument",
                             "--key-passphrase-stdin was given but stdin had no passphrase.",
                             "Send the passphrase on the first line of stdin.",
                             field="key_passphrase_stdin")
            return Passphrase(line, "stdin", "standard input")
        file_path = env.get(PASSPHRASE_FILE_ENV, "").strip()
        if file_path:
            return Passphrase(read_passphrase_file(file_path), "file",
                              f"{PASSPHRASE_FILE_ENV} ({scrub(file_path, limit=200)})")
        state = self.keyring_state()
        if state.usable:
            origin = f"the OS keyring ({state.backend})"
            try:
                stored = keyring_get(root, self._timeout)
            except Exception:  # a locked or broken keyring: fall through to asking
                stored = None
            if stored:
                return Passphrase(stored, "keyring", origin)
            from vdc_tui.connect.store.keystore.verifier import is_new_store

            if is_new_store(root):
                # A new store: a random passphrase nobody has to type, kept by the OS.
                import secrets

                secret = secrets.token_urlsafe(32)
                with contextlib.suppress(Exception):
                    if keyring_set(root, secret, self._timeout) and \
                            keyring_get(root, self._timeout) == secret:
                        return Passphrase(secret, "keyring", origin)
        return None

    def forget_typed(self) -> None:
        """Forget a typed passphrase that turned out wrong, so the next save asks again."""
        with self._lock:
            if self._resolved is not None and self._resolved.source == "typed":
                self._resolved = None
                self._searched = False

    def set_typed(self, secret: str) -> Passphrase:
        """The passphrase the operator typed (the wizard's prompt); kept for the session."""
        with self._lock:
            self._resolved = Passphrase(secret, "typed", "typed in this session")
            self._searched = True
            return self._resolved

    def describe(self) -> str:
        """Where the passphrase is looked for, without reading any secret (for doctor)."""
        env = self.environ
        if self._resolved is not None:
            return self._resolved.origin
        if self._env_var:
            return f"environment variable {self._env_var} (--key-passphrase-env)"
        if self._stdin:
            return "standard input (--key-passphrase-stdin)"
        if env.get(PASSPHRASE_FILE_ENV, "").strip():
            return f"{PASSPHRASE_FILE_ENV} ({scrub(env[PASSPHRASE_FILE_ENV], limit=200)})"
        state = self.keyring_state()
        if state.usable:
            return f"the OS keyring ({state.backend})"
        return "typed in the wizard once per session (" + (state.reason or "no keyring") + ")"


# -- asking on a terminal (headless commands) -------------------------------------------------


def terminal_asker(first: bool) -> str:
    """Ask for the store passphrase on the terminal (masked); twice when it is first set.

    Raises:
        InvalidInput: ``key_passphrase_required`` when nothing usable was typed.
    """
    import getpass

    prompt = "New store passphrase (protects every saved key): " if first else \
        "Store passphrase: "
    secret = ""
    problem: str | None = None
    try:
        secret = getpass.getpass(prompt, stream=sys.stderr)
        if not secret:
            problem = "nothing was typed"
        elif first:
            problem = check_new_passphrase(secret)
            if problem is None and getpass.getpass("Repeat it: ", stream=sys.stderr) != secret:
                problem = "the two entries differ"
    except EOFError:
        problem = "nothing was typed"
    if problem:
        raise _error("key_passphrase_required", f"No store passphrase was given: {problem}.",
                     _SOURCES_HINT)
    return secret


def check_new_passphrase(secret: str) -> str | None:
    """Why a passphrase may not be set (too short, control characters), or ``None``."""
    if len(secret) < MIN_TYPED_PASSPHRASE:
        return f"it must have at least {MIN_TYPED_PASSPHRASE} characters"
    if any(ord(c) < 32 or ord(c) == 127 for c in secret):
        return "it may not contain control characters"
    return None
