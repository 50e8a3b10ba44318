"""The project's Markdown pages as the docs tests read them: code blocks with their
doc-test marks, links and headings.

A shell block says whether the suite runs it, on the line before its fence:

- ``<!-- doc-test: run -->``: runs as written, offline, in a scratch home (see
  ``test_examples.py``);
- ``<!-- doc-test: no (why) -->``: needs what a test machine has not (a real tenant, a Global
  Administrator, Microsoft's hosts), and says which;
- ``<!-- doc-test: cron -->`` on a ``cron`` block: crontab lines, parsed by ``cron.py``.

Every page is found by walking the repository (README, CHANGELOG, CONTRIBUTING, ``docs/``),
so a page added by anyone is checked without being listed here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: Code block languages that are shell commands.
SHELL_LANGUAGES = frozenset({"sh", "bash", "shell", "console", "zsh"})

_FENCE = re.compile(r"^(?P<indent>\s*)(?P<ticks>`{3,}|~{3,})(?P<info>[^`]*)$")
_MARK = re.compile(r"^\s*<!--\s*doc-test:\s*(?P<kind>run|no|cron)\b\s*(?P<rest>.*?)\s*-->\s*$")
_LINK = re.compile(r"!?\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^(#{1,6})\s+(?P<title>.+?)\s*#*\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page."""

    page: Path
    line: int          # line of the opening fence, 1-based
    language: str      # the first word of the info string ("" when none)
    mark: str | None   # "run", "no", "cron" or None
    reason: str        # the "(why)" of a "no" mark
    text: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def doc_pages() -> list[Path]:
    """Every Markdown page of the documentation."""
    pages = [ROOT / name for name in ("README.md", "CHANGELOG.md", "CONTRIBUTING.md")]
    pages += sorted((ROOT / "docs").rglob("*.md"))
    return [page for page in pages if page.is_file()]


def blocks(page: Path) -> list[Block]:
    """The fenced code blocks of a page, each with the doc-test mark just above it."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        ticks, indent = opening["ticks"], len(opening["indent"])
        language = (opening["info"].split() or [""])[0]
        mark, reason = None, ""
        before = index - 1
        while before >= 0 and not lines[before].strip():
            before -= 1
        if before >= 0 and (marked := _MARK.match(lines[before])):
            mark = marked["kind"]
            reason = marked["rest"].strip().removeprefix("(").removesuffix(")").strip()
        body: list[str] = []
        fence_line = index + 1
        index += 1
        while index < len(lines) and not (
                lines[index].strip().startswith(ticks[0] * len(ticks))
                and not lines[index].strip().strip(ticks[0])):
            body.append(lines[index][indent:] if lines[index][:indent].isspace()
                        else lines[index].lstrip())
            index += 1
        found.append(Block(page, fence_line, language, mark,
                           reason, "\n".join(body) + "\n"))
        index += 1
    return found


def prose(page: Path) -> str:
    """The page without its code blocks and inline code (where links are read)."""
    text = page.read_text(encoding="utf-8")
    out: list[str] = []
    in_block = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_block = not in_block
            out.append("")
            continue
        out.append("" if in_block else re.sub(r"`[^`]*`", "", line))
    return "\n".join(out)


def links(page: Path) -> list[str]:
    """Every link and image target of a page's prose."""
    return [m["target"] for m in _LINK.finditer(prose(page))]


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives a page's headings."""
    seen: dict[str, int] = {}
    result: set[str] = set()
    for line in prose_keeping_code_spans(page).splitlines():
        heading = _HEADING.match(line)
        if not heading:
            continue
        slug = slugify(heading["title"])
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        result.add(slug if count == 0 else f"{slug}-{count}")
    return result


def prose_keeping_code_spans(page: Path) -> str:
    """The page without its code blocks (headings keep their inline code)."""
    out: list[str] = []
    in_block = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if _FENCE.match(line):
            in_block = not in_block
            continue
        if not in_block:
            out.append(line)
    return "\n".join(out)


def slugify(title: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    title = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", title)
    title = title.strip().lower()
    title = re.sub(r"[^\w\- ]", "", title)
    return title.replace(" ", "-")
