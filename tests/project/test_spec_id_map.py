"""docs/spec-ids.md maps every checklist id the repository cites, and only those.

A citation is a checklist group prefix followed by a number, read from prose only: Markdown,
.proto and .go files whole, Python comments and string literals (never code). docs/spec-ids.md,
section "How ids are found", gives the rules and the look-alikes they keep out; this file is
their implementation. The map itself and this file (whose examples are not citations) are not
scanned. Directories are walked, so files may move freely below the scanned roots.
"""

from __future__ import annotations

import functools
import io
import os
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest


def _repo_root() -> Path:
    for parent in Path(__file__).resolve().parents:
        if (parent / "pyproject.toml").is_file():
            return parent
    raise RuntimeError("no pyproject.toml above this test")


ROOT = _repo_root()
MAP = ROOT / "docs" / "spec-ids.md"
SCANNED_DIRS = ("src", "tests", "docs", "bench", "interop", "examples", "fuzz")
SCANNED_SUFFIXES = frozenset({".py", ".pyi", ".md", ".proto", ".go"})

# The checklist's group prefixes, in the checklist's order (which the map's rows follow). A digit
# must follow the prefix at once and no word character may precede it, so "SC1" is never "C1".
PREFIXES = ("W", "S", "C", "K", "H", "RF", "SC", "N", "LB", "CS", "WF", "RT", "GW")
_ONE = "(?:" + "|".join(PREFIXES) + ")[1-9][0-9]?"
# Not after a letter, digit, underscore or "%"; not before one. A range spells out both ends.
CITATION = re.compile(rf"(?<![\w%])({_ONE})(?:[-\u2013]({_ONE}))?(?!\w)")
_SPLIT = re.compile(r"([A-Z]+)([0-9]+)")

_PROSE_TOKENS = frozenset(
    kind
    for kind in (
        tokenize.COMMENT,
        tokenize.STRING,
        getattr(tokenize, "FSTRING_MIDDLE", None),  # Python 3.12+
        getattr(tokenize, "TSTRING_MIDDLE", None),  # Python 3.14+
    )
    if kind is not None
)


def _split(ident: str) -> tuple[str, int]:
    match = _SPLIT.fullmatch(ident)
    assert match is not None, ident
    return match[1], int(match[2])


def cited(text: str) -> Iterator[str]:
    """The ids `text` cites; a range cites every id from one end to the other."""
    for match in CITATION.finditer(text):
        first, last = match[1], match[2]
        if last is None:
            yield first
            continue
        (prefix, start), (last_prefix, end) = _split(first), _split(last)
        if prefix == last_prefix and start < end:
            yield from (f"{prefix}{n}" for n in range(start, end + 1))
        else:
            yield first
            yield last


def _prose(path: Path) -> Iterator[str]:
    text = path.read_text(encoding="utf-8")
    if path.suffix not in (".py", ".pyi"):
        yield text
        return
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type in _PROSE_TOKENS:
            yield token.string


def _scanned_files() -> Iterator[Path]:
    yield from sorted(ROOT.glob("*.md"))
    for top in SCANNED_DIRS:
        for folder, dirs, files in os.walk(ROOT / top):
            dirs[:] = sorted(
                d
                for d in dirs
                if not d.startswith(".") and d != "__pycache__" and not d.endswith(".egg-info")
            )
            for name in sorted(files):
                path = Path(folder, name)
                if path.suffix not in SCANNED_SUFFIXES:
                    continue
                if path.stem.endswith("_pb2"):  # protoc output: serialized bytes spell anything
                    continue
                if path.resolve() in (MAP.resolve(), Path(__file__).resolve()):
                    continue
                yield path


@functools.cache
def citations() -> dict[str, set[str]]:
    """Each cited id, and the files (relative to the repository) that cite it (do not mutate)."""
    found: dict[str, set[str]] = {}
    for path in _scanned_files():
        for chunk in _prose(path):
            for ident in cited(chunk):
                found.setdefault(ident, set()).add(path.relative_to(ROOT).as_posix())
    return found


_ROW = re.compile(rf"^\|\s*({_ONE})\s*\|(.*)$")


def map_rows() -> list[tuple[str, list[str]]]:
    """The map's table rows: the id and its other cells."""
    rows = []
    for line in MAP.read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line)
        if match:
            cells = [cell.strip() for cell in match[2].rstrip().removesuffix("|").split("|")]
            rows.append((match[1], cells))
    return rows


def _section(heading: str) -> str:
    text = MAP.read_text(encoding="utf-8")
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def _sort_key(ident: str) -> tuple[int, int]:
    prefix, number = _split(ident)
    return PREFIXES.index(prefix), number


def test_every_cited_id_is_mapped_and_every_mapped_id_is_cited() -> None:
    found = citations()
    mapped = {ident for ident, _ in map_rows()}
    unmapped = sorted(set(found) - mapped, key=_sort_key)
    stale = sorted(mapped - set(found), key=_sort_key)
    problems = [
        f"{ident} is cited (in {', '.join(sorted(found[ident]))}) but has no row in "
        "docs/spec-ids.md"
        for ident in unmapped
    ] + [f"{ident} has a row in docs/spec-ids.md but nothing cites it any more" for ident in stale]
    assert not problems, "\n".join(problems)


def test_map_has_one_full_row_per_id() -> None:
    rows = map_rows()
    idents = [ident for ident, _ in rows]
    assert rows, "docs/spec-ids.md has no table rows"
    duplicates = sorted({i for i in idents if idents.count(i) > 1}, key=_sort_key)
    assert not duplicates, f"ids with more than one row: {duplicates}"
    assert idents == sorted(idents, key=_sort_key), "rows are not in id order"
    for ident, cells in rows:
        assert len(cells) == 4 and all(cells), f"row {ident} needs four filled cells: {cells}"


def test_ids_the_map_calls_uncited_are_not_cited() -> None:
    said_uncited = set(cited(_section("Not cited yet")))
    assert said_uncited, "the 'Not cited yet' section names no ids"
    wrong = sorted(said_uncited & set(citations()), key=_sort_key)
    assert not wrong, f"cited now, so no longer 'not cited yet': {wrong}"


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("grpc-timeout (W5).", ["W5"]),
        ("W9, W10; K1/W24", ["W9", "W10", "K1", "W24"]),
        ("health (H1-H3)", ["H1", "H2", "H3"]),
        ("reflection RF1\u2013RF4", ["RF1", "RF2", "RF3", "RF4"]),
        ("RT5 and WF1 and SC1", ["RT5", "WF1", "SC1"]),
        ("K1-W3 is no range", ["K1", "W3"]),
        # look-alikes that are not checklist ids
        ("HTTP/2, h2, h2c, H2Connection", []),
        ("layers L0-L6, LB policy, L44", []),
        ("gRFC A6, A8, A9, A15, A17, G1", []),
        ("RFC 9113, RFC7541, Appendix C.4", []),
        ("0xC4 \\xC4 %C3%A9 U+00C4", []),
        ("noqa: W291, C901, E501", []),
        ("grpc-timeout 1H, 99999999S", []),
        ("W0, W05, W100", []),
    ],
)
def test_citation_pattern(text: str, ids: list[str]) -> None:
    assert list(cited(text)) == ids


def test_python_code_is_not_prose(tmp_path: Path) -> None:
    source = tmp_path / "sample.py"
    source.write_text('C2 = ["W5"]  # K2\n"""S4"""\nC3: int = C2[0]\n', encoding="utf-8")
    assert sorted(i for chunk in _prose(source) for i in cited(chunk)) == ["K2", "S4", "W5"]
