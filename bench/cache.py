"""Generated fleets kept between bench runs (``bench/.cache/``, beside ``results.json``).

Writing 5,000 tenants takes minutes: each saved key is loaded (the RSA key's check) and
encrypted under the store passphrase, as onboarding does. A fleet is generated once per
set of generator inputs and reused: the folder's name is a hash of those inputs (size,
kinds, faults, the source of the generators, the month, so certificates never age into
"expiring"), and a folder is used only once its ``complete`` marker is written (an
interrupted generation is thrown away). Each run works on a copy, so a check's results
never leak into the next run. The folder is in ``.gitignore``; deleting it only costs
the next run the generation.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_COMPLETE = "complete.json"
#: Files whose source decides what a generated folder holds, by kind (``fleet``: the
#: emulator's scenario and the saved profiles with their keys; ``synthetic``: profiles and
#: last results written directly).
_GENERATORS = {
    "fleet": ("vdc_tui/emulator/fleet.py", "bench/fleet.py", "vdc_tui/connect/store/profiles.py",
              "vdc_tui/connect/store/keystore/pfx.py"),
    "synthetic": ("bench/fleet.py", "vdc_tui/connect/store/profiles.py",
                  "vdc_tui/connect/fleet/health.py"),
}


def cache_key(root: Path, kind: str, inputs: dict[str, Any]) -> str:
    """The folder name of a generated fleet: ``kind`` and a hash of every input."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"kind": kind, "inputs": inputs,
                              "month": datetime.now(UTC).strftime("%Y-%m")},
                             sort_keys=True).encode())
    for name in _GENERATORS.get(kind.rstrip("0123456789"), ()):
        with open(root / name, "rb") as source:
            digest.update(source.read())
    return f"{kind}-{digest.hexdigest()[:16]}"


def cached(cache_dir: Path, root: Path, kind: str, inputs: dict[str, Any],
           build: Callable[[Path], None], progress: Callable[[str], None]) -> tuple[Path, bool]:
    """The folder of a generated fleet, built by ``build(folder)`` when not cached yet.

    Returns:
        The folder and whether it came from the cache.
    """
    folder = cache_dir / cache_key(root, kind, inputs)
    if (folder / _COMPLETE).is_file():
        return folder, True
    cache_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(cache_dir, 0o700)
    partial = cache_dir / f".{folder.name}.{os.getpid()}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(mode=0o700)
    progress(f"cache: generating {kind} ({json.dumps(inputs, sort_keys=True)}) once")
    try:
        build(partial)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    (partial / _COMPLETE).write_text(json.dumps({"kind": kind, "inputs": inputs}) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    # Older generations of the same kind are of no more use.
    for old in cache_dir.glob(f"{kind}-*"):
        if old != folder:
            shutil.rmtree(old, ignore_errors=True)
    return folder, False


def working_copy(folder: Path, into: Path) -> Path:
    """A copy of a cached folder (modes kept) for one run to change as it likes."""
    shutil.copytree(folder, into, symlinks=True)
    return into


def write_passphrase(folder: Path) -> Path:
    """An owner-only passphrase file for a cached home's keys (a bench secret only)."""
    path = folder / "passphrase"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(secrets.token_urlsafe(24) + "\n")
    return path


def _save_share(manifest: str, home: str, passphrase_file: str, start: int, step: int) -> int:
    from bench.fleet import save_profiles
    from vdc_tui.connect.store.keystore import PASSPHRASE_FILE_ENV, PassphraseProvider

    provider = PassphraseProvider(environ={PASSPHRASE_FILE_ENV: passphrase_file},
                                  use_keyring=False)
    save_profiles(Path(manifest), Path(home), provider, start=start, step=step)
    return start


def save_profiles_spread(manifest: Path, home: Path, passphrase_file: Path, workers: int
                         ) -> None:
    """``bench.fleet.save_profiles`` in ``workers`` processes (the first tenant first, so
    the store's passphrase check exists before they start)."""
    _save_share(str(manifest), str(home), str(passphrase_file), 0, 1 << 30)
    with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(_save_share, str(manifest), str(home), str(passphrase_file),
                               1 + i, workers) for i in range(workers)]
        for future in futures:
            future.result()


__all__ = ["cache_key", "cached", "save_profiles_spread", "working_copy", "write_passphrase"]
