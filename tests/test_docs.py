"""The method documentation in docs/ and the links that lead to it.

- every relative Markdown link in README.md, ARCHITECTURE.md, data/README.md, docs/*.md and the
  notebooks' markdown cells resolves to an existing file and, for ``#anchor``, to a heading of
  that file under GitHub's anchor rules;
- docs/README.md links every page of docs/; every notebook's first cell links the docs section
  it teaches;
- no tracked file refers to the design brief or the seed papers that live outside the repository.
"""

from __future__ import annotations

import json
import re
import subprocess
import unicodedata
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCS = REPO_ROOT / "docs"
MARKDOWN_FILES = [
    REPO_ROOT / "README.md",
    REPO_ROOT / "ARCHITECTURE.md",
    REPO_ROOT / "data" / "README.md",
    *sorted(DOCS.glob("*.md")),
]
NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

# Documents outside the repository that nothing in it may refer to (spelled in pieces so that
# this file does not match itself).
FORBIDDEN = ("DESIGN" + ".md", "../shared/" + "DESIGN", "DESIGN" + " §", "shared/" + "seeds")

_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$", re.M)
_EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)  # http:, https:, mailto:, …


def _without_code(text: str) -> str:
    """Markdown text without fenced code blocks and inline code (links there are not links)."""
    return _INLINE_CODE.sub("", _FENCE.sub("", text))


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: its text (links reduced to their text), lowercased,
    every character that is not a letter, mark, number, connector (``_``), space or hyphen
    dropped, spaces turned into hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"<[^>]+>", "", text).lower()
    kept = "".join(
        ch for ch in text if ch in " -" or unicodedata.category(ch)[0] in "LMN"
        or unicodedata.category(ch) == "Pc"
    )
    return kept.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading anchor of a Markdown text, with GitHub's ``-1``, ``-2`` suffixes for
    repeated headings."""
    seen: dict[str, int] = {}
    out = set()
    for match in _HEADING.finditer(_FENCE.sub("", text)):
        base = github_anchor(match.group(2))
        count = seen.get(base, 0)
        out.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return out


def relative_links(text: str) -> list[str]:
    """Link targets of a Markdown text that point inside the repository (not URLs)."""
    return [t for t in _LINK.findall(_without_code(text)) if not _EXTERNAL.match(t)]


def broken_links(text: str, base: Path) -> list[str]:
    """The relative links of ``text`` (a Markdown file or cell in folder ``base``) whose file
    does not exist or whose ``#anchor`` is not a heading of the target, each with the reason."""
    problems = []
    for target in relative_links(text):
        path_part, _, anchor = target.partition("#")
        if path_part:
            path = (base / path_part).resolve()
            if not path.exists():
                problems.append(f"{target}: no file {path}")
                continue
        else:
            path = None
        if not anchor:
            continue
        if path is not None and path.suffix.lower() != ".md":
            problems.append(f"{target}: an anchor into a file that is not Markdown")
            continue
        heading_text = text if path is None else path.read_text(encoding="utf-8")
        if anchor not in anchors(heading_text):
            problems.append(f"{target}: no heading with anchor #{anchor}")
    return problems


def _markdown_cells(notebook: Path) -> list[str]:
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    return [
        "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        for cell in nb["cells"]
        if cell["cell_type"] == "markdown"
    ]


# --- the helpers follow GitHub's rules ---------------------------------------------------------


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Face crop and tracking", "face-crop-and-tracking"),
        ("TS-CAN, CAN and MTTS-CAN", "ts-can-can-and-mtts-can"),
        ("Your own video: how `rppg infer` works", "your-own-video-how-rppg-infer-works"),
        ("Bland–Altman", "blandaltman"),
        ("The [LSTM](lstm.md) *denoiser*", "the-lstm-denoiser"),
        ("snake_case stays", "snake_case-stays"),
    ],
)
def test_github_anchor_rules(heading, anchor):
    assert github_anchor(heading) == anchor


def test_repeated_headings_get_numbered_anchors():
    assert anchors("# Notes\n\n## Notes\n\n### Notes\n") == {"notes", "notes-1", "notes-2"}


def test_broken_links_are_found(tmp_path):
    (tmp_path / "page.md").write_text("# Page\n\n## A section\n", encoding="utf-8")
    text = (
        "# Here\n[ok](page.md) [ok](page.md#a-section) [ok](#here) [web](https://example.org/x)\n"
        "[missing](nowhere.md) [bad anchor](page.md#no-such) [bad local](#elsewhere)\n"
        "`[in code](nowhere.md)`\n```\n[in a fence](nowhere.md)\n```\n"
    )
    problems = broken_links(text, tmp_path)
    assert [p.split(":")[0] for p in problems] == ["nowhere.md", "page.md#no-such", "#elsewhere"]


# --- the repository ----------------------------------------------------------------------------


def test_docs_folder_exists_with_its_index():
    assert (DOCS / "README.md").is_file()
    assert len(list(DOCS.glob("*.md"))) >= 8


@pytest.mark.parametrize("path", MARKDOWN_FILES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_markdown_links_resolve(path):
    assert path.is_file(), f"{path} is missing"
    assert broken_links(path.read_text(encoding="utf-8"), path.parent) == []


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_links_resolve(notebook):
    problems = []
    for i, cell in enumerate(_markdown_cells(notebook)):
        problems += [f"markdown cell {i}: {p}" for p in broken_links(cell, notebook.parent)]
    assert problems == []


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_links_the_docs_section_it_teaches(notebook):
    first = _markdown_cells(notebook)[0]
    sections = [t for t in relative_links(first) if re.match(r"\.\./docs/[^/#]+\.md#.+", t)]
    assert sections, f"{notebook.name}: its first markdown cell links no docs section"


def test_docs_index_lists_every_page():
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    linked = {t.partition("#")[0] for t in relative_links(index)}
    pages = {p.name for p in DOCS.glob("*.md")} - {"README.md"}
    assert pages - linked == set(), "pages missing from docs/README.md"


def test_readme_links_the_method():
    assert "docs/README.md" in relative_links((REPO_ROOT / "README.md").read_text("utf-8"))


def test_no_tracked_file_refers_to_documents_outside_the_repository():
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError) as err:
        pytest.skip(f"not a git checkout, cannot list tracked files: {err}")
    offenders = []
    for name in filter(None, listed.decode().split("\0")):
        path = REPO_ROOT / name
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:  # binary files (images, weights)
            continue
        offenders += [f"{name}: {word}" for word in FORBIDDEN if word in text]
    assert offenders == []
