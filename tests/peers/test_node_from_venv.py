"""The peer's Node.js comes from the virtual environment, even when PATH has no Node at all.

A probe package stands in for the peer: a local ``file:`` dependency (so ``npm ci`` builds a
``node_modules`` without the network) and a ``postinstall`` script that records which node
binary npm ran it with (``node`` looked up on PATH, as install scripts do).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .oidc_peer import ensure_node_modules, node_command, node_env

REPO = Path(__file__).resolve().parents[2]
VENV = Path(sys.prefix)

_PROBE = {
    "name": "probe",
    "version": "0.0.0",
    "private": True,
    "dependencies": {"dep": "file:./dep"},
    "scripts": {
        "postinstall": "node -e \"require('fs').writeFileSync('node-used.txt', "
        "process.execPath)\""
    },
}
_LOCK = {
    "name": "probe",
    "version": "0.0.0",
    "lockfileVersion": 3,
    "requires": True,
    "packages": {
        "": {"name": "probe", "version": "0.0.0", "dependencies": {"dep": "file:./dep"}},
        "dep": {"version": "1.0.0"},
        "node_modules/dep": {"resolved": "dep", "link": True},
    },
}


def _probe_package(folder: Path) -> Path:
    (folder / "dep").mkdir(parents=True)
    (folder / "dep" / "package.json").write_text(json.dumps({"name": "dep", "version": "1.0.0"}))
    (folder / "package.json").write_text(json.dumps(_PROBE))
    (folder / "package-lock.json").write_text(json.dumps(_LOCK))
    return folder


@pytest.fixture
def path_without_node(tmp_path: Path) -> str:
    """A PATH of one folder with links to ``make`` and ``sh`` only: no node, no npm."""
    folder = tmp_path / "bin-without-node"
    folder.mkdir()
    for tool in ("make", "sh"):
        found = shutil.which(tool)
        assert found is not None, f"{tool} is needed to run `make test`"
        (folder / tool).symlink_to(found)
    probe = subprocess.run([str(folder / "sh"), "-c", "command -v node || command -v npm"],
                           env={"PATH": str(folder)}, capture_output=True, check=False)
    assert probe.returncode != 0, "the stripped PATH still finds a node"
    return str(folder)


def _in_venv(binary: str) -> bool:
    return Path(binary).resolve().is_relative_to(VENV.resolve())


def test_make_peer_deps_installs_with_the_venv_node_when_path_has_no_node(
    tmp_path: Path, path_without_node: str
) -> None:
    package = _probe_package(tmp_path / "probe")
    stamp = VENV / ".installed-stamp"
    proc = subprocess.run(
        ["make", "-s", "-C", str(REPO), "-o", str(stamp), "peer-deps",
         f"VENV={VENV}", f"PEER_DIR={package}"],
        env={"PATH": path_without_node, "HOME": str(tmp_path / "home")},
        capture_output=True, text=True, timeout=240, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert (package / "node_modules" / ".package-lock.json").is_file()
    used = (package / "node-used.txt").read_text()
    assert _in_venv(used), f"npm ran install scripts with {used}"


def test_peer_fixture_runs_the_venv_node_when_path_has_no_node(
    tmp_path: Path, path_without_node: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", path_without_node)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    package = _probe_package(tmp_path / "probe")
    ensure_node_modules(package)
    assert _in_venv((package / "node-used.txt").read_text())
    # The peer process itself: the command and the PATH its children see.
    proc = subprocess.run(
        node_command("-e", "process.stdout.write(process.execPath + ' ' + process.version)"),
        env=node_env(), capture_output=True, text=True, timeout=60, check=True,
    )
    binary, version = proc.stdout.split()
    assert _in_venv(binary)
    assert int(version.lstrip("v").split(".")[0]) >= 20
    which = subprocess.run(["sh", "-c", "command -v node"], env=node_env(),
                           capture_output=True, text=True, check=False)
    assert _in_venv(which.stdout.strip())

