"""Per-question generations of an evaluation run, graded, one JSON line each, written as they finish.

``OUT/generations/run-{r}.jsonl`` holds a line per question of run ``r``: the question, its options and
gold answer, the completion, and the verifier's verdicts (:func:`medvlt_data.verify.grade`):
``strict`` (the paper's eval grader), ``lenient_paper`` (the paper's published regrade), ``robust``
(medvlt's own, more forgiving grader), ``format``, the texts the strict and the paper-lenient graders
compared (``extracted``, ``extracted_paper``) and the option letters the regrade's vote mapping and the
robust grader read (``letter_paper``, ``letter_robust``); regrading computes every verdict again from
the completion. A run that is interrupted keeps every line written so far; the next run with the same
settings reads them back and asks only for the questions without a line for what is asked now: a line
holds ``request_key`` (:func:`medvlt_data.inference.rollouts.request_key` of the prompt text and the
images), so a line written for another question under the same id is asked again (the newer line for
an id wins). A line of an earlier version has no key: it counts when its question, options, gold answer
and image count are the question's. A last line cut short by the interruption is ignored (and asked for
again).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medvlt_data.checkpoint import JsonLinesCheckpoint, json_line, read_json_lines
from medvlt_data.inference.rollouts import request_key
from medvlt_data.verify import build_prompt, grade
from medvlt_train.eval.questions import Question

__all__ = ["GenerationLog", "graded_row", "read_generations", "regrade_row", "run_file", "write_generations"]


def run_file(out: Path, run: int) -> Path:
    return out / "generations" / f"run-{run}.jsonl"


def question_key(question: Question, prompt: str) -> str:
    """What ``question`` is when asked with prompt variant ``prompt``: the digest of its prompt text
    and images (the model, token budget and seed are pinned per folder and run file)."""
    return request_key(build_prompt(question.question, question.options, prompt), question.images)


def graded_row(
    question: Question, run: int, seed: int, completion: str, prompt: str | None = None
) -> dict[str, Any]:
    """The JSON line of one generation: what was asked, what came back, and the verdicts; with the
    prompt variant ``prompt``, also the ``request_key`` (:func:`question_key`) a resumed run checks."""
    row = {"id": question.id, "benchmark": question.benchmark, "run": run, "seed": seed,
           "source_id": question.source_id, "question": question.question, "options": question.options,
           "answer_label": question.answer_label, "answer": question.answer,
           "num_images": len(question.images), "completion": completion}  # fmt: skip
    if prompt is not None:
        row["request_key"] = question_key(question, prompt)
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


def row_problem(row: Any) -> str | None:
    """What makes ``row`` no generation line that can be graded (None when it is one)."""
    if not isinstance(row, dict):
        return f"not a JSON object but {type(row).__name__}"
    if not isinstance(row.get("id"), str) or not row["id"]:
        return "the generation has no id"
    where = f"generation {row['id']!r}"
    if not isinstance(row.get("benchmark"), str):
        return f"{where} has no benchmark"
    options = row.get("options")
    if not isinstance(options, dict) or not options or not all(isinstance(v, str) for v in options.values()):
        return f"{where}: options must be a mapping of letters to texts, got {options!r}"[:300]
    if row.get("answer_label") not in options:
        letters = ", ".join(options)
        return f"{where}: answer_label {row.get('answer_label')!r} is not one of the options {letters}"
    if not isinstance(row.get("completion"), str):
        kind = "null" if row.get("completion") is None else type(row["completion"]).__name__
        return f"{where}: completion is {kind}, not text"
    return None


def read_generations(path: Path) -> dict[str, dict[str, Any]]:
    """The rows of a run file by question id (a torn last line ignored); {} when it is absent. A line that
    is not a gradable generation (:func:`row_problem`) is a ``ValueError`` naming the file and line."""
    try:
        entries = read_json_lines(path)[0]
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{path}: not UTF-8 text (byte {exc.start}); delete the file to start over"
        ) from None
    return _by_id(path, entries)


def _by_id(path: Path, entries: list[Any]) -> dict[str, dict[str, Any]]:
    """The lines of a run file by question id, each checked by :func:`row_problem`."""
    rows = {}
    for number, row in enumerate(entries, start=1):
        problem = row_problem(row)
        if problem is not None:
            raise ValueError(
                f"{path}:{number}: {problem}; fix or delete the line (its question is asked again by the "
                "next `medvlt eval` into this folder)"
            )
        rows[row["id"]] = row
    return rows


def write_generations(path: Path, rows: list[dict[str, Any]]) -> None:
    """Replace a run file with ``rows`` (written to a temporary file first, then renamed)."""
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(json_line(row) for row in rows), encoding="utf-8")
    tmp.replace(path)


def _answers(row: dict[str, Any] | None, question: Question, prompt: str) -> bool:
    """Whether ``row`` is the answer to ``question`` asked with ``prompt`` (see the module doc)."""
    if row is None:
        return False
    if "request_key" in row:
        return row["request_key"] == question_key(question, prompt)
    asked = (row.get("question"), row.get("options"), row.get("answer_label"), row.get("answer"),
             row.get("num_images"))  # fmt: skip
    return asked == (question.question, question.options, question.answer_label, question.answer,
                     len(question.images))  # fmt: skip


class GenerationLog:
    """The graded lines of one run: ``rows`` by question id, read back from ``path`` on open and appended
    as they come (a :class:`~medvlt_data.checkpoint.JsonLinesCheckpoint`)."""

    def __init__(self, path: Path):
        self._checkpoint = JsonLinesCheckpoint(path)
        self.path = self._checkpoint.path
        try:
            self.rows = _by_id(self.path, self._checkpoint.entries)
        except ValueError:
            self._checkpoint.close()
            raise

    def add(self, row: dict[str, Any]) -> None:
        self._checkpoint.add(row)
        self.rows[row["id"]] = row

    def missing(self, questions: list[Question], prompt: str) -> list[Question]:
        """The questions (in order) with no line that answered them as asked with ``prompt`` now."""
        return [q for q in questions if not _answers(self.rows.get(q.id), q, prompt)]

    def close(self) -> None:
        self._checkpoint.close()

    def __enter__(self) -> GenerationLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
