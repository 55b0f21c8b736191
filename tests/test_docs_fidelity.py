"""docs/fidelity.md and docs/sources.md stay honest: every "same" fact names a test that exists, and every
registered source has its row in docs/sources.md."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIDELITY = ROOT / "docs" / "fidelity.md"
SOURCES_DOC = ROOT / "docs" / "sources.md"
_TEST_REF = re.compile(r"(tests/[\w/]+\.py)::(\w+)")


def _table_rows(text: str) -> list[list[str]]:
    """The body rows of every markdown table in ``text`` (header and separator rows left out)."""
    rows: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not (line.startswith("|") and line.endswith("|")):
            continue
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line[1:-1])]
        if all(re.fullmatch(r":?-{3,}:?", cell) for cell in cells):
            rows.pop()  # the line before the separator is the header
        else:
            rows.append(cells)
    return rows


def _test_names(path: Path) -> set[str]:
    """Names of the test functions (module level and in classes) defined in a test file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


def _fidelity_rows() -> list[list[str]]:
    return [row for row in _table_rows(FIDELITY.read_text(encoding="utf-8")) if len(row) >= 5]


def test_table_rows_skip_header_and_separator():
    text = "| a | b |\n| --- | --- |\n| 1 | `x\\|y` |\n| 3 | 4 |\n\ntext\n| x |\n|---|\n| y |\n"
    assert _table_rows(text) == [["1", "`x\\|y`"], ["3", "4"], ["y"]]


def test_fidelity_doc_has_rows_for_every_area():
    text = FIDELITY.read_text(encoding="utf-8").lower()
    for area in ("prompt", "strict", "lenient", "reward", "pass", "temperature", "weight decay",
                 "max length", "pmc-vqa", "pubmedqa", "decontaminat", "resize", "8,220"):  # fmt: skip
        assert area in text, f"docs/fidelity.md says nothing about {area!r}"
    assert len(_fidelity_rows()) >= 40


def test_every_same_fact_is_locked_by_an_existing_test():
    same = [row for row in _fidelity_rows() if row[3].lower().startswith("same")]
    assert same, "docs/fidelity.md has no 'same' rows"
    missing = []
    for row in same:
        refs = _TEST_REF.findall(row[4])
        if not refs:
            missing.append(f"{row[0]}: names no test")
            continue
        for file, name in refs:
            path = ROOT / file
            if not path.is_file() or name not in _test_names(path):
                missing.append(f"{row[0]}: {file}::{name} does not exist")
    assert not missing, "\n".join(missing)


def test_every_differs_fact_says_why():
    differs = [row for row in _fidelity_rows() if row[3].lower().startswith("differs")]
    assert differs, "docs/fidelity.md has no 'differs' rows"
    vague = [row[0] for row in differs if len(row[3].split(":", 1)[-1].strip()) < 15]
    assert not vague, f"'differs' rows without a reason: {vague}"


def test_every_original_reference_names_a_file():
    bare = [row[0] for row in _fidelity_rows() if not re.search(r"\w+\.(py|sh|md|json|ipynb|yaml)", row[1])]
    assert not bare, f"rows whose original names no file: {bare}"


@pytest.mark.parametrize("name", sorted(__import__("medvlt_data.sources", fromlist=["SOURCES"]).SOURCES))
def test_every_source_has_a_row_in_sources_doc(name):
    rows = _table_rows(SOURCES_DOC.read_text(encoding="utf-8"))
    assert any(f"`{name}`" in row[0] for row in rows), f"docs/sources.md has no row for source `{name}`"
