"""Small file-system helpers for private files: atomic writes, 0600 files, 0700 folders."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def ensure_private_dir(path: Path) -> list[str]:
    """Create ``path`` (and parents) as 0700 if missing.

    An existing folder is never silently re-permissioned: when it is more open than 0700
    a warning is returned for the caller to show loudly.

    Returns:
        Warnings, one line each (empty when all is well).
    """
    warnings: list[str] = []
    try:
        found = os.stat(path)
    except OSError:
        found = None
    if found is not None and stat.S_ISDIR(found.st_mode):
        # An existing folder (the usual case; one system call, not three: the dashboard
        # checks every tenant folder at start).
        return _open_to_others(path, found.st_mode)
    if not path.exists():
        # Missing parents are made private too (mkdir(parents=True) would give them the
        # umask's mode, and the next call on such a parent would then warn about a folder
        # this tool itself created).
        missing = [p for p in (path, *path.parents) if not p.exists()]
        for folder in reversed(missing):
            if folder.is_symlink():
                # mkdir would only say "File exists", which sends the operator looking
                # for a file that is not there.
                raise FileNotFoundError(
                    errno.ENOENT,
                    "a symbolic link to a missing folder (or a loop of links)",
                    str(folder),
                )
            folder.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
            os.chmod(folder, PRIVATE_DIR_MODE)  # mkdir's mode is filtered by the umask
        return warnings
    if not path.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(path))
    return _open_to_others(path, path.stat().st_mode)


def _open_to_others(path: Path, st_mode: int) -> list[str]:
    """The warning about a folder that other users can enter (POSIX), if it is one."""
    mode = stat.S_IMODE(st_mode)
    if os.name == "posix" and mode & 0o077:
        return [f"{path} is accessible by other users (mode {mode:04o}); "
                f"it holds private keys: run `chmod 700 {path}`."]
    return []


def atomic_write(path: Path, data: bytes, *, mode: int = PRIVATE_FILE_MODE) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder + rename).

    The temporary file is created with ``mode`` from the start, so a private file is never
    readable by others, not even for a moment.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode) if hasattr(os, "fchmod") else None
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        if os.name == "posix":
            os.chmod(path, mode)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
