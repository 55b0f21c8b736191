"""Per-question generations of an evaluation run, graded, one JSON line each, written as they finish.

``OUT/generations/run-{r}.jsonl`` holds a line per question of run ``r``: the question, its options and
gold answer, the completion, and the verifier's verdicts (strict, lenient, format, the extracted
answer, the lenient letter). A run that is interrupted keeps every line written so far; the next run
with the same settings reads them back and asks only for the questions without a line. A last line
cut short by the interruption is ignored (and asked for again).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from medvlt_data.verify import grade, lenient_letter
from medvlt_train.eval.questions import Question

__all__ = ["GenerationLog", "graded_row", "read_generations", "regrade_row", "run_file", "write_generations"]


def run_file(out: Path, run: int) -> Path:
    return out / "generations" / f"run-{run}.jsonl"


def graded_row(question: Question, run: int, seed: int, completion: str) -> dict[str, Any]:
    """The JSON line of one generation: what was asked, what came back, and the verdicts."""
    row = {"id": question.id, "benchmark": question.benchmark, "run": run, "seed": seed,
           "source_id": question.source_id, "question": question.question, "options": question.options,
           "answer_label": question.answer_label, "answer": question.answer,
           "num_images": len(question.images), "completion": completion}  # fmt: skip
    return regrade_row(row)


def regrade_row(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with its verdicts computed again from its completion by the shared verifier."""
    verdict = grade(row["completion"], row["options"], row["answer_label"])
    return {**row, "strict": verdict["strict"], "lenient": verdict["lenient"], "format": verdict["format"],
            "extracted": verdict["extracted"],
            "lenient_letter": lenient_letter(row["completion"], row["options"])}  # fmt: skip


def read_generations(path: Path) -> tuple[dict[str, dict[str, Any]], bool]:
    """(rows by question id, whether a torn last line was found) of a run file; ({}, False) if absent.
    Lines are split at ``\\n`` only: completions may hold other line separators."""
    if not path.exists():
        return {}, False
    text = path.read_text(encoding="utf-8")
    complete = text if text.endswith("\n") or not text else text[: text.rfind("\n") + 1]
    rows: dict[str, dict[str, Any]] = {}
    for number, line in enumerate(complete.split("\n")[:-1], 1):
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"{path}, line {number}: not a JSON generation line: {exc}") from exc
        rows[row["id"]] = row
    return rows, complete != text


def write_generations(path: Path, rows: list[dict[str, Any]]) -> None:
    """Replace a run file with ``rows`` (written to a temporary file first, then renamed)."""
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(_line(row) for row in rows), encoding="utf-8")
    tmp.replace(path)


def _line(row: dict[str, Any]) -> str:
    return json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n"


class GenerationLog:
    """The graded lines of one run: ``rows`` by question id, read back on open, appended as they come."""

    def __init__(self, path: Path):
        self.path = path
        self.rows, torn = read_generations(path)
        if torn:  # drop the torn tail so appends start on a fresh line
            write_generations(path, list(self.rows.values()))
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = path.open("a", encoding="utf-8")

    def add(self, row: dict[str, Any]) -> None:
        self._handle.write(_line(row))
        self._handle.flush()
        self.rows[row["id"]] = row

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> GenerationLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
