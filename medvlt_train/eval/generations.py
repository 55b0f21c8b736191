"""Per-question generations of an evaluation run, graded, one JSON line each, written as they finish.

``OUT/generations/run-{r}.jsonl`` holds a line per question of run ``r``: the question, its options and
gold answer, the completion, and the verifier's verdicts (:func:`medvlt_data.verify.grade`):
``strict`` (the paper's eval grader), ``lenient_paper`` (the paper's published regrade), ``robust``
(medvlt's own, more forgiving grader), ``format``, the texts the strict and the paper-lenient graders
compared (``extracted``, ``extracted_paper``) and the option letters the regrade's vote mapping and the
robust grader read (``letter_paper``, ``letter_robust``); regrading computes every verdict again from
the completion. A run that is interrupted keeps every line written so far; the next run with the same
settings reads them back and asks only for the questions without a line. A last line cut short by the
interruption is ignored (and asked for again).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medvlt_data.checkpoint import JsonLinesCheckpoint, json_line, read_json_lines
from medvlt_data.verify import grade
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


#: Verdict keys of earlier versions, dropped on regrading (``lenient`` was the robust grader's verdict
#: under a misleading name, ``lenient_letter`` its letter).
LEGACY_VERDICTS = ("lenient", "lenient_letter")


def regrade_row(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with every verdict computed again from its completion by the shared verifier; all other
    fields are kept as they are and verdict keys of earlier versions are dropped."""
    missing = [key for key in ("options", "answer_label", "completion") if key not in row]
    if missing:
        raise ValueError(f"generation {row.get('id', '?')!r} lacks {', '.join(missing)}")
    kept = {key: value for key, value in row.items() if key not in LEGACY_VERDICTS}
    return {**kept, **grade(row["completion"], row["options"], row["answer_label"], row.get("answer"))}


def read_generations(path: Path) -> dict[str, dict[str, Any]]:
    """The rows of a run file by question id (a torn last line ignored); {} when it is absent."""
    return {row["id"]: row for row in read_json_lines(path)[0]}


def write_generations(path: Path, rows: list[dict[str, Any]]) -> None:
    """Replace a run file with ``rows`` (written to a temporary file first, then renamed)."""
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(json_line(row) for row in rows), encoding="utf-8")
    tmp.replace(path)


class GenerationLog:
    """The graded lines of one run: ``rows`` by question id, read back from ``path`` on open and appended
    as they come (a :class:`~medvlt_data.checkpoint.JsonLinesCheckpoint`)."""

    def __init__(self, path: Path):
        self._checkpoint = JsonLinesCheckpoint(path)
        self.path = self._checkpoint.path
        self.rows = {row["id"]: row for row in self._checkpoint.entries}

    def add(self, row: dict[str, Any]) -> None:
        self._checkpoint.add(row)
        self.rows[row["id"]] = row

    def close(self) -> None:
        self._checkpoint.close()

    def __enter__(self) -> GenerationLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
