"""The repository is self-contained: no tracked file points outside it, every Markdown link
resolves, and every "DESIGN §N" names a section that docs/design.md has."""

from __future__ import annotations

import posixpath
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Final

import pytest

HERE: Final = Path(__file__).resolve()
ROOT: Final = HERE.parents[2]
DESIGN: Final = ROOT / "docs" / "design.md"

# A path that starts by climbing: `../x`, `../../docs/y.md` (not `a/../b`, whose start is inside).
_CLIMB: Final = re.compile(r"(?<![\w./$}])((?:\.\./)+[\w./-]*)")
# Absolute paths of the machine Census was developed on (its checkouts and the steering notes live
# under /work), which a clone does not have. Paths inside an image (/home/..., /app) are fine.
_FOREIGN: Final = re.compile(r"(?<![\w.~])/work/[\w.-]+")
_MD_LINK: Final = re.compile(r"\]\(([^)\s]+)\)")
_DESIGN_REF: Final = re.compile(
    r"DESIGN\s+§\d+(?:\.\d+)?(?:(?:,\s*|\s+and\s+|\s*[-–]\s*)§\d+(?:\.\d+)?)*"
)
_SECTION_REF: Final = re.compile(r"§(\d+)(?:\.(\d+))?")
_HEADING: Final = re.compile(r"^## (\d+)\. ", re.M)


@cache
def tracked_text_files() -> tuple[Path, ...]:
    names = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout.split(b"\0")
    files: list[Path] = []
    for name in names:
        path = ROOT / name.decode()
        if not name or not path.is_file():
            continue  # a file deleted in the work tree but not yet in the index
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary
        files.append(path)
    # The design contract is checked too while it is not yet committed.
    if DESIGN.is_file() and DESIGN not in files:
        files.append(DESIGN)
    return tuple(files)


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def _inside(path: Path, target: str) -> bool:
    """Whether `target`, read from `path`'s folder, stays in the repository (lexically: a path
    that climbs out and back into a folder of the same name has still left)."""
    folder = path.parent.relative_to(ROOT).as_posix()
    joined = posixpath.normpath(posixpath.join(folder, target))
    return joined != ".." and not joined.startswith("../")


def climbing_paths(path: Path, text: str) -> list[str]:
    """`../` paths in `text` that, read from `path`'s folder, end outside the repository."""
    return [m for m in _CLIMB.findall(text) if not _inside(path, m)]


def broken_links(path: Path, text: str) -> list[str]:
    """Relative Markdown link targets in `text` that leave the repository or do not exist."""
    broken: list[str] = []
    for target in _MD_LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a URL (https:, mailto:) or an anchor in the same file
        file_part = target.split("#", 1)[0]
        outside = target.startswith("/") or not _inside(path, file_part)
        if outside or not (path.parent / file_part).exists():
            broken.append(target)
    return broken


def design_sections(text: str) -> dict[int, str]:
    """docs/design.md's sections: number → body up to the next `## N.` heading."""
    matches = list(_HEADING.finditer(text))
    return {
        int(m.group(1)): text[m.end() : matches[i + 1].start() if i + 1 < len(matches) else None]
        for i, m in enumerate(matches)
    }


def dangling_design_refs(text: str, sections: dict[int, str]) -> list[str]:
    """`DESIGN §N` / `DESIGN §N.M` in `text` whose section N (or item M of its numbered list)
    docs/design.md lacks."""
    dangling: list[str] = []
    for ref in _DESIGN_REF.findall(text):
        for number, item in _SECTION_REF.findall(ref):
            body = sections.get(int(number))
            if body is None or (item and not re.search(rf"^{item}\. ", body, re.M)):
                dangling.append(f"§{number}{'.' + item if item else ''}")
    return dangling


def test_no_tracked_file_points_outside_the_repository() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {hit}"
        for path in tracked_text_files()
        for hit in climbing_paths(path, _text(path)) + _FOREIGN.findall(_text(path))
        if path != HERE  # its own examples below point outside on purpose
    ]
    assert offenders == []


def test_every_markdown_link_resolves_inside_the_repository() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {target}"
        for path in tracked_text_files()
        if path.suffix == ".md"
        for target in broken_links(path, _text(path))
    ]
    assert offenders == []


def test_every_design_reference_names_a_section_of_docs_design_md() -> None:
    sections = design_sections(_text(DESIGN))
    assert sorted(sections) == list(range(1, 11))
    offenders = [
        f"{path.relative_to(ROOT)}: DESIGN {ref}"
        for path in tracked_text_files()
        if path != HERE
        for ref in dangling_design_refs(_text(path), sections)
    ]
    assert offenders == []


def test_design_md_says_what_design_section_means() -> None:
    head = _text(DESIGN).split("\n## ", 1)[0]
    assert '"DESIGN §N"' in head
    assert "docs/design.md" in head or "this file" in head


# The checks themselves, on texts made up to break them.


@pytest.mark.parametrize(
    ("where", "text", "expected"),
    [
        ("README.md", "see [DESIGN](../shared/DESIGN.md)", ["../shared/DESIGN.md"]),
        ("services/aggregator/README.md", "[a](../../docs/analysts.md)", []),
        (
            "services/aggregator/README.md",
            "[a](../../../docs/analysts.md)",
            ["../../../docs/analysts.md"],
        ),
        ("deploy/local/env.sh", 'cd "$(dirname "$0")/../.." && pwd', []),
        ("docs/x.md", "the file ../../outside.txt", ["../../outside.txt"]),
    ],
)
def test_climbing_paths_are_resolved_from_the_file(
    where: str, text: str, expected: list[str]
) -> None:
    assert climbing_paths(ROOT / where, text) == expected


def test_broken_links_flags_missing_and_outside_targets() -> None:
    text = "[ok](docs/ingest.md#status-table) [web](https://example.org) [x](docs/nope.md) [y](../z.md) [a](#top)"
    assert broken_links(ROOT / "README.md", text) == ["docs/nope.md", "../z.md"]


def test_foreign_absolute_paths_are_found() -> None:
    assert _FOREIGN.findall("start from /work/shared/DESIGN.md, not ~/work/x or /home/x") == [
        "/work/shared"
    ]


def test_design_refs_need_the_section_and_the_item() -> None:
    sections = design_sections("intro\n## 1. One\ntext\n## 7. Seven\n1. a\n2. b\n")
    assert sorted(sections) == [1, 7]
    assert dangling_design_refs("DESIGN §1, §7 and DESIGN §7.2", sections) == []
    assert dangling_design_refs("DESIGN §3, §7.4 and §9", sections) == ["§3", "§7.4", "§9"]
