"""Every page the docs link exists, with the heading a link names; the README is a front door."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from .pages import ROOT, anchors, doc_pages, links

PAGES = doc_pages()
README = ROOT / "README.md"
GUIDE = ROOT / "docs" / "guide"


def _broken_links(page: Path) -> list[str]:
    """The links of a page that lead nowhere: no such file, or no such heading."""
    broken = []
    for target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        path_text, _, anchor = target.partition("#")
        path = (page.parent / path_text).resolve() if path_text else page
        if not path.exists():
            broken.append(f"{target}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(f"{target}: no heading #{anchor} in {path.name}")
    return broken


def _tracked_files() -> set[str]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, text=True, check=True, timeout=60)
    return set(listed.stdout.splitlines())


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_link_of_the_page_exists(page: Path) -> None:
    assert _broken_links(page) == []



def test_readme_links_the_guide_errors_changelog_and_contributing() -> None:
    targets = {target.partition("#")[0] for target in links(README)}
    expected = {"docs/guide/index.md", "docs/errors.md", "docs/benchmarks.md",
                "docs/architecture.md", "CHANGELOG.md", "CONTRIBUTING.md"}
    assert expected <= targets
    guide_pages = {f"docs/guide/{path.name}" for path in GUIDE.glob("*.md")}
    assert guide_pages - {"docs/guide/index.md"} <= targets, "link every guide page"


def test_every_guide_page_is_in_the_guide_index() -> None:
    listed = {target.partition("#")[0] for target in links(GUIDE / "index.md")}
    pages = {path.name for path in GUIDE.glob("*.md")} - {"index.md"}
    assert pages <= listed


def test_readme_is_a_front_door_of_about_150_lines() -> None:
    assert len(README.read_text("utf-8").splitlines()) <= 175


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_the_docs_cite_only_files_that_are_in_the_repository(page: Path) -> None:
    text = page.read_text("utf-8")
    files = _tracked_files()
    names = {Path(name).name for name in files}
    cited = set(re.findall(r"\bresearch/[\w./-]+\.md", text))
    missing = sorted(path for path in cited if not any(f.endswith(path) for f in files))
    missing += sorted(name for name in set(re.findall(r"\b([\w-]+\.md) §", text))
                      if name not in names)
    assert missing == [], "cite what the repository holds (the research notes are not in it)"


def test_link_check_finds_a_missing_page_and_a_missing_heading(tmp_path: Path) -> None:
    (tmp_path / "there.md").write_text("# A heading: `with code`\n", "utf-8")
    page = tmp_path / "page.md"
    page.write_text("[ok](there.md#a-heading-with-code) [gone](gone.md) "
                    "[no heading](there.md#nope) `[in code](skipped.md)`\n", "utf-8")
    assert _broken_links(page) == ["gone.md: no such file",
                                   "there.md#nope: no heading #nope in there.md"]
