"""The record schema: one contract for every source, defined once.

A :class:`Record` is one multiple-choice question, text-only or with images. Every source adapter
yields records; every later stage (curation, scoring, training, evaluation) consumes them.

>>> r = Record(question="Which organ makes insulin?", options={"A": "Liver", "B": "Pancreas"},
...            answer_label="B", answer="Pancreas", source="demo", source_id="q1")
>>> validate_record(r)
[]
>>> record_hash(r.question, r.answer)
'ff75f1749069ecd7'
>>> [p.code for p in validate_record(Record(question=" ", options={"A": "x"}, answer_label="C",
...                                          answer="y", source="demo", source_id="q2"))]
['empty-question', 'too-few-options', 'label-not-in-options']

Text (question, options, answer) may hold tab, newline and carriage return, but no other control
character (C0, DEL, C1: NUL bytes, escape sequences, text decoded with the wrong codec): such text is
``control-characters``; text that is empty once they are removed is ``empty-question`` or
``empty-option``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple

import orjson

from medvlt_data.text import fold

#: Option letters in order; up to ten options (A-J) are valid.
LETTERS = "ABCDEFGHIJ"
#: Control characters a record's text may not hold: C0 but tab, newline and carriage return; DEL; C1.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@dataclass
class Record:
    """One multiple-choice question in the medvlt schema.

    ``options`` is an ordered mapping letter -> option text; ``images`` holds encoded image files
    (JPEG/PNG bytes) in the order they appear in the prompt; ``meta`` carries source-specific extras.
    """

    question: str
    options: dict[str, str]
    answer_label: str
    answer: str
    source: str
    source_id: str
    images: list[bytes] = field(default_factory=list)
    license: str = ""
    split: str = ""
    reasoning: str | None = None
    pass_count: int | None = None
    num_rollouts: int | None = None
    difficulty: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        """A short reference naming the record for messages: ``source:split:source_id``."""
        return f"{self.source}:{self.split or '-'}:{self.source_id}"


class Problem(NamedTuple):
    """One validation problem: a stable ``code`` (used as a drop reason) and a readable message."""

    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def record_hash(question: str, answer: str) -> str:
    """MedVLThinker's record hash: the first 16 hex digits of sha256(question + answer)."""
    return hashlib.sha256((question + answer).encode("utf-8")).hexdigest()[:16]


def validate_record(record: Record, *, check_images: bool = True) -> list[Problem]:
    """Return every problem of ``record`` (an empty list when it is valid), not just the first."""
    from medvlt_data.images import ImageError, decode_image

    problems: list[Problem] = []
    if not isinstance(record.question, str) or not _visible(record.question):
        only = isinstance(record.question, str) and record.question.strip()
        detail = " (only control characters)" if only else ""
        problems.append(Problem("empty-question", f"question is empty{detail}"))
    options = record.options if isinstance(record.options, dict) else {}
    if not isinstance(record.options, dict):
        problems.append(
            Problem("bad-options", f"options must be a mapping, got {type(record.options).__name__}")
        )
    if len(options) < 2:
        problems.append(Problem("too-few-options", f"{len(options)} option(s); at least 2 are needed"))
    if len(options) > len(LETTERS):
        problems.append(Problem("too-many-options", f"{len(options)} options; at most {len(LETTERS)}"))
    expected = list(LETTERS[: len(options)])
    if options and list(options) != expected:
        problems.append(Problem("bad-option-letters", f"option letters {list(options)} are not {expected}"))
    empty = [k for k, v in options.items() if not isinstance(v, str) or not _visible(v)]
    if empty:
        problems.append(Problem("empty-option", f"option(s) {', '.join(map(str, empty))} are empty"))
    if record.answer_label not in options:
        problems.append(
            Problem(
                "label-not-in-options", f"answer_label {record.answer_label!r} is not among {list(options)}"
            )
        )
    elif fold(options[record.answer_label]) != fold(record.answer):
        problems.append(
            Problem(
                "answer-mismatch",
                f"answer {record.answer!r} differs from option {record.answer_label} "
                f"{options[record.answer_label]!r}",
            )
        )
    shown = [(f"option {k}", v) for k, v in options.items() if k not in empty]
    texts = [("question", record.question), *shown, ("answer", record.answer)]
    controls = [f"{name} ({_codes(text)})" for name, text in texts if isinstance(text, str) and _visible(text)
                and _CONTROL.search(text)]  # fmt: skip
    if controls:
        problems.append(Problem("control-characters", f"control characters in {', '.join(controls)}"))
    if not record.source:
        problems.append(Problem("no-source", "source is empty"))
    if not str(record.source_id):
        problems.append(Problem("no-source-id", "source_id is empty"))
    if check_images:
        for i, data in enumerate(record.images):
            try:
                decode_image(data)
            except ImageError as exc:
                problems.append(Problem("undecodable-image", f"image {i}: {exc}"))
    return problems


def _visible(text: str) -> bool:
    """Whether ``text`` holds anything but whitespace and control characters."""
    return bool(_CONTROL.sub("", text).strip())


def _codes(text: str) -> str:
    """The distinct control characters of ``text`` as code points, at most five: ``U+0000, U+0007``."""
    found = sorted(set(_CONTROL.findall(text)))
    return ", ".join(f"U+{ord(c):04X}" for c in found[:5]) + (", ..." if len(found) > 5 else "")


# ---- rejects ----------------------------------------------------------------------------------------


def reject_row(
    step: str,
    reason: str,
    *,
    id: str,
    source: str,
    split: str,
    source_id: str,
    file: str = "",
    detail: str = "",
) -> dict[str, str]:
    """One dropped row as medvlt writes it (a JSON line of an ingest's ``rejects.jsonl`` and of a
    build's ``rejects/<step>/``): the ``step`` that dropped it, the ``reason`` code, the record's
    reference ``id`` (``source:split:source_id``), what it is counted under (``source``), its
    ``split`` and ``source_id``, the ``file`` it was read from where known, and a ``detail``.
    """
    return {"id": id, "step": step, "reason": reason, "source": source, "split": split,
            "source_id": source_id, "file": file, "detail": detail}  # fmt: skip


# ---- Parquet rows ---------------------------------------------------------------------------------


def to_row(record: Record) -> dict[str, Any]:
    """Record -> a row of medvlt's Parquet layout (options and meta as JSON strings)."""
    return {
        "images": [{"bytes": b, "path": None} for b in record.images],
        "question": record.question,
        "options": json.dumps(record.options, ensure_ascii=False),
        "answer_label": record.answer_label,
        "answer": record.answer,
        "reasoning": record.reasoning,
        "source": record.source,
        "source_id": str(record.source_id),
        "license": record.license,
        "split": record.split,
        "pass_count": record.pass_count,
        "num_rollouts": record.num_rollouts,
        "difficulty": record.difficulty,
        "meta": json.dumps(record.meta, ensure_ascii=False, sort_keys=True, default=str),
        "hash": record_hash(record.question, record.answer),
    }


def from_row(row: dict[str, Any]) -> Record:
    """A row of medvlt's Parquet layout -> Record (inverse of :func:`to_row`)."""
    names = {f.name for f in fields(Record)}
    values = {k: v for k, v in row.items() if k in names}
    values["options"] = _load_options(row["options"])
    values["meta"] = json.loads(row["meta"]) if isinstance(row.get("meta"), str) else (row.get("meta") or {})
    values["images"] = [_image_bytes(im) for im in row.get("images") or []]
    return Record(**values)


# ---- MedVLThinker's released layout ---------------------------------------------------------------


def from_medvlthinker(row: dict[str, Any], *, split: str = "", license: str = "") -> Record:
    """A row of MedVLThinker's released layout -> Record.

    ``dataset_index`` becomes ``source_id`` (the hash when a row has no index).
    """
    index = row.get("dataset_index")
    return Record(
        question=row["question"],
        options=_load_options(row["options"]),
        answer_label=str(row["answer_label"]).strip(),
        answer=row["answer"],
        images=[_image_bytes(im) for im in row.get("images") or []],
        source=row.get("dataset_name") or "medvlthinker",
        source_id=str(index) if index is not None else record_hash(row["question"], row["answer"]),
        license=license,
        split=split,
        reasoning=row.get("reasoning"),
        meta={"hash": row["hash"]} if row.get("hash") else {},
    )


def _load_options(value: Any) -> dict[str, str]:
    """Options from a JSON object string, a mapping, a list, or "A. x\\nB. y" text."""
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return {LETTERS[i]: str(v) for i, v in enumerate(value)}
    text = str(value).strip()
    if text.startswith(("{", "[")):
        return _load_options(orjson.loads(text))
    options: dict[str, str] = {}
    for line in text.splitlines():
        letter, sep, rest = line.strip().partition(". ")
        if sep and len(letter) == 1 and letter in LETTERS:
            options[letter] = rest.strip()
    return options


def _image_bytes(value: Any) -> bytes:
    from medvlt_data.images import image_to_bytes

    return image_to_bytes(value)
