"""MMLU-Pro (text; a decontamination reference of m1: decontaminate.py:60-64, split ``test``).

Hub: ``TIGER-Lab/MMLU-Pro``, splits test (12,032 rows) and validation (70), Parquet under ``data/``;
columns question_id (int), question, options (list of up to 10 strings), answer (the letter),
answer_index (int), cot_content, category, src.

Local: rows of the same columns as JSON Lines (``test.jsonl``) or Parquet (``test-*.parquet``), the
split read from the file name.

Options are the list in order (A-J); the label is ``answer``, which must be the letter of
``answer_index`` (``answer-mismatch`` otherwise). source_id is question_id; meta keeps category and src.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from medvlt_data.schema import LETTERS
from medvlt_data.sources import register
from medvlt_data.sources.base import Item, Source, SourceError, files_by_split, read_json_lines
from medvlt_data.sources.hub import hub_rows

#: The row files of a local copy: JSON Lines, the Hub's Parquet shards, or CSV with a header.
ROW_FILES = (".jsonl", ".parquet", ".csv")


@register
class MMLUPro(Source):
    name = "mmlu_pro"
    modality = "text"
    license = "MIT"
    hub_id = "TIGER-Lab/MMLU-Pro"
    local_layout = "{split}.jsonl or {split}-*.parquet rows with question, options, answer, answer_index"
    description = "MMLU-Pro: harder 10-option exam questions (a benchmark)"

    def read_local(self, root: Path, split: str | None) -> Iterator[Item]:
        for name, path in files_by_split(root, ROW_FILES, split, self.name, recursive=True):
            for index, row, error in rows_of(path):
                if error:
                    yield self.reject(
                        "malformed-json", f"{path} row {index}: {error}", path, f"row {index}", name
                    )
                    continue
                yield self._row(row, name, index, path, f"{path} row {index}")

    def read_hub(self, repo_id: str, split: str | None, revision: str | None) -> Iterator[Item]:
        for name, index, row in hub_rows(repo_id, split=split, revision=revision, source=self.name):
            yield self._row(row, name, index, repo_id, f"{repo_id} [{name}] row {index}")

    def _row(self, row: dict[str, Any], split: str, index: int, file: Any, where: str) -> Item:
        ref = str(row.get("question_id") if row.get("question_id") is not None else f"{split}-{index:05d}")
        where = f"{where} ({ref})"
        options = row.get("options")
        if not isinstance(options, (list, tuple)) or not options:
            return self.reject("empty-options", f"{where}: no options", file, ref, split)
        label = str(row.get("answer") or "").strip().upper()
        if label not in LETTERS[: len(options)]:
            return self.reject(
                "unknown-answer-letter", f"{where}: answer {row.get('answer')!r} is not one of the "
                f"{len(options)} option letters", file, ref, split,
            )  # fmt: skip
        index_given = row.get("answer_index")
        if index_given is not None and LETTERS.find(label) != int(index_given):
            return self.reject(
                "answer-mismatch",
                f"{where}: answer {label!r} but answer_index {index_given!r}",
                file,
                ref,
                split,
            )
        return self.record(
            question=row.get("question") or "", options=list(options), label=label, source_id=ref,
            split=split, file=file, category=row.get("category"), src=row.get("src"),
        )  # fmt: skip


def rows_of(path: Path) -> Iterator[tuple[int, dict[str, Any], str]]:
    """(index, row, error) of a JSON Lines, Parquet or CSV (with a header) file of rows."""
    if path.suffix == ".jsonl":
        for index, (_, row, error) in enumerate(read_json_lines(path)):
            yield index, row or {}, error
        return
    if path.suffix == ".csv":
        import csv

        with path.open(encoding="utf-8", newline="") as handle:
            for index, row in enumerate(csv.DictReader(handle)):
                yield index, row, ""
        return
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid / OSError for a damaged file
        raise SourceError(f"{path}: cannot read Parquet: {exc}") from exc
    for index, row in enumerate(table.to_pylist()):
        yield index, row, ""
