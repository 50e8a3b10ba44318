"""docs/errors.md is made from the error codes of the code and says what they say."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from vdc_tui.connect.errors import CHECK_CODES, ERROR_CODES, ERROR_MEANINGS

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "errors.md"


def test_every_error_code_has_a_one_line_meaning() -> None:
    assert set(ERROR_MEANINGS) == set(ERROR_CODES)
    for code, meaning in {**ERROR_MEANINGS, **CHECK_CODES}.items():
        assert meaning.strip() and "\n" not in meaning, code
        assert meaning.endswith("."), code


def test_check_codes_are_not_also_error_codes() -> None:
    assert not set(CHECK_CODES) & set(ERROR_CODES)


def test_errors_page_is_what_make_docs_writes() -> None:
    done = subprocess.run([sys.executable, "-m", "scripts.errors_page", "--check"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr + "run `make docs` and commit docs/errors.md"


def test_errors_page_lists_each_code_with_its_exit_code() -> None:
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| (\d+) \|", PAGE.read_text("utf-8"), re.M))
    assert {code: int(exit_code) for code, exit_code in rows.items()} == ERROR_CODES


def test_errors_page_check_fails_on_a_stale_page(tmp_path: Path) -> None:
    # The checker itself can fail: a copy of the script whose page holds one row less.
    page = PAGE.read_text("utf-8")
    stale = "\n".join(line for line in page.splitlines() if "`cancelled`" not in line) + "\n"
    docs = tmp_path / "docs"
    scripts = tmp_path / "scripts"
    docs.mkdir()
    scripts.mkdir()
    (docs / "errors.md").write_text(stale, "utf-8")
    (scripts / "errors_page.py").write_text(
        (ROOT / "scripts" / "errors_page.py").read_text("utf-8"), "utf-8")
    done = subprocess.run([sys.executable, "-m", "scripts.errors_page", "--check"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "make docs" in done.stderr


def _codes_the_health_check_reports() -> set[str]:
    """The string codes ``connect/fleet/`` passes to ``Check(...)`` and ``remedy(...)``."""
    import ast

    found: set[str] = set()
    for path in (ROOT / "vdc_tui" / "connect" / "fleet").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            if node.func.id == "Check" and len(node.args) >= 5:
                argument = node.args[4]
            elif node.func.id == "remedy" and node.args:
                argument = node.args[0]
            else:
                continue
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                found.add(argument.value)
    return found


def test_every_code_a_health_check_reports_is_on_the_errors_page() -> None:
    reported = _codes_the_health_check_reports()
    assert {"profile_damaged", "certificate_expiring", "global_reader_missing"} <= reported
    assert reported - set(ERROR_CODES) - set(CHECK_CODES) == set()
