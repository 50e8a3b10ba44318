"""The import contracts of pyproject.toml hold (import-linter), and no module imports
another module's ``_private`` name."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_import_contracts_hold() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    run = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " 0 broken" in run.stdout


def private_imports(package: Path, root: Path = ROOT) -> list[str]:
    """``from vdc_tui.x import _name`` anywhere under ``package``."""
    found = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("vdc_tui"):
                found += [f"{path.relative_to(root)}:{node.lineno} {node.module}.{a.name}"
                          for a in node.names
                          if a.name.startswith("_") and not a.name.startswith("__")]
    return found


def test_no_module_imports_another_modules_private_name() -> None:
    assert private_imports(ROOT / "vdc_tui") == []


def test_the_private_import_finder_finds_one(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text("from vdc_tui.cli.main import _hidden\n", encoding="utf-8")
    assert private_imports(tmp_path, tmp_path) == ["m.py:1 vdc_tui.cli.main._hidden"]


def import_cycles() -> list[list[str]]:
    """The groups of vdc_tui's modules that import each other in a circle (Tarjan's SCCs)."""
    import grimp

    graph = grimp.build_graph("vdc_tui", include_external_packages=False)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return cycles


def test_no_module_imports_in_a_circle() -> None:
    # TYPE_CHECKING imports count too: a circle there is still two modules that need each
    # other to be understood.
    assert import_cycles() == []


def test_no_test_imports_another_folders_conftest() -> None:
    tests = ROOT / "tests"
    found = []
    for path in sorted(tests.rglob("*.py")):
        if "node_modules" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and (
                    node.module == "conftest" or node.module.endswith(".conftest")):
                relative_here = node.level == 1 and node.module == "conftest"
                if not relative_here:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.module}")
    assert found == []


def test_the_service_layers_tests_mirror_its_folders() -> None:
    tests = ROOT / "tests"
    strays = [str(folder.relative_to(tests)) for folder in sorted((tests / "connect").rglob("*"))
              if folder.is_dir() and folder.name != "__pycache__"
              and not (ROOT / "vdc_tui" / folder.relative_to(tests)).is_dir()]
    assert strays == []
