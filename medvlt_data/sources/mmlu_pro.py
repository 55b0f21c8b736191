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
from medvlt_data.sources.base import (
    Item,
    LineError,
    Source,
    SourceError,
    files_by_split,
    read_json_lines,
    read_text_file,
)
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
                        getattr(error, "reason", "malformed-json"),
                        f"{path} row {index}: {error}",
                        path,
                        f"row {index}",
                        name,
                    )
                    continue
                yield self._row(row, name, index, path, f"{path} row {index}")

    def read_hub(self, repo_id: str, split: str | None, revision: str | None) -> Iterator[Item]:
        for name, index, row in hub_rows(repo_id, split=split, revision=revision, source=self.name):
            yield self._row(row, name, index, repo_id, f"{repo_id} [{name}] row {index}")

    def _row(self, row: dict[str, Any], split: str, index: int, file: Any, where: str) -> Item:
        ref = str(row.get("question_id") if row.get("question_id") is not None else "").strip()
        ref = ref or f"{split}-{index:05d}"  # a blank id is no id
        where = f"{where} ({ref})"
        options = row.get("options")
        if not isinstance(options, (list, tuple)) or not options:
            return self.reject("empty-options", f"{where}: no options", file, ref, split)
        label = str(row.get("answer") or "").strip().upper()
        if len(label) != 1 or label not in LETTERS[: len(options)]:
            return self.reject(
                "unknown-answer-letter", f"{where}: answer {row.get('answer')!r} is not one of the "
                f"{len(options)} option letters", file, ref, split,
            )  # fmt: skip
        index_given = row.get("answer_index")
        if index_given is not None and _whole_number(index_given) is None:
            why = f"{where}: answer_index {index_given!r} is not a whole number"
            return self.reject("malformed-row", why, file, ref, split)
        if index_given is not None and LETTERS.find(label) != _whole_number(index_given):
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


def _whole_number(value: Any) -> int | None:
    """``value`` as an int when it is one (``3``, ``3.0``, ``"3"``), else None (``True``, ``2.5``, ``[1]``)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def rows_of(path: Path) -> Iterator[tuple[int, dict[str, Any], str]]:
    """(index, row, error) of a JSON Lines, Parquet or CSV (with a header) file of rows."""
    if path.suffix == ".jsonl":  # a line that is not UTF-8 is one reject (undecodable-line)
        for index, (number, row, error) in enumerate(read_json_lines(path)):
            yield index, row or {}, LineError(f"line {number}: {error}", error.reason) if error else ""
        return
    if path.suffix == ".csv":  # rows may span lines: the whole file must be UTF-8 (else a SourceError)
        yield from _csv_rows(path)
        return
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid / OSError for a damaged file
        raise SourceError(f"{path}: cannot read Parquet: {exc}") from exc
    for index, row in enumerate(table.to_pylist()):
        yield index, row, ""


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, Any], str]]:
    """(index, row, error) of a CSV file with a header; a row the csv module cannot parse (a field over
    its size limit, say) is a ``malformed-csv`` error, and one it cannot get past a :class:`SourceError`."""
    import csv
    import io

    reader = csv.DictReader(io.StringIO(read_text_file(path), newline=""))
    try:
        _ = reader.fieldnames  # reads the header row
    except csv.Error as exc:
        raise SourceError(f"{path}: cannot read the CSV header: {exc}") from exc
    index = 0
    while True:
        line = reader.reader.line_num
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if reader.reader.line_num == line:  # no progress: the rest of the file cannot be read
                raise SourceError(f"{path}: cannot read the CSV after line {line}: {exc}") from exc
            yield index, {}, LineError(f"line {line + 1}: {exc}", "malformed-csv")
        else:
            yield index, row, ""
        index += 1
