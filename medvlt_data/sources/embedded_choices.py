"""The "embedded choices" layout shared by the local MedQA and MedMCQA files.

The question text ends with ``Answer Choices: (A) ... (B) ...`` and the label is a list such as
``["B"]``. Options are read in letter order as far as the markers go (up to Z), so a question with more
than ten options (the schema's A-J) is rejected as ``too-many-options`` rather than merged into J; a
label that names more than one letter is ``multiple-answers``.

>>> split_embedded_choices("Which vessel?\\nAnswer Choices: (A) Aorta (B) Vena cava (C) Portal vein")
('Which vessel?', ['Aorta', 'Vena cava', 'Portal vein'])
>>> split_embedded_choices("No choices here")
('No choices here', [])
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from medvlt_data.schema import LETTERS
from medvlt_data.sources.base import SKIPPED, Item, Source, read_json_lines

_MARKER = re.compile(r"answer choices:", re.IGNORECASE)
#: Markers (A) .. (Z): options past J are read too, so that too many are seen and not merged into J.
_LETTER_MARKERS = [re.compile(rf"(?<!\S)\({chr(code)}\)\s*") for code in range(ord("A"), ord("Z") + 1)]
_ANY_MARKER = re.compile(r"(?<!\S)\([A-Z]\)\s")


def split_embedded_choices(text: str) -> tuple[str, list[str]]:
    """Split question text into the stem and the option texts in order (A, B, C, ... as far as Z)."""
    found = _MARKER.search(text)
    if not found:
        return text.strip(), []
    stem, tail = text[: found.start()], text[found.end() :]
    options: list[str] = []
    position = 0
    for marker in _LETTER_MARKERS:
        found = marker.search(tail, position)
        if not found:
            break
        if options:
            options[-1] = tail[position : found.start()].strip()
        options.append("")
        position = found.end()
    if options:
        options[-1] = tail[position:].strip()
    return stem.strip(), options


def read_embedded_choices_jsonl(
    source: Source, path: Path, split: str, extra_fields: tuple[str, ...] = ()
) -> Iterator[Item]:
    """Read one embedded-choices JSON Lines file as records of ``source``."""
    for number, row, error in read_json_lines(path, source.share):
        if row is SKIPPED:
            yield SKIPPED
            continue
        ref = f"line {number}"
        if row is None:
            yield source.reject(error.reason, f"{path}:{number}: {error}", path, ref, split)
            continue
        ref = str(row.get("id") or ref)
        stem, options = split_embedded_choices(str(row.get("question") or ""))
        if not options:
            yield source.reject(
                "no-options", f"{path}:{number} ({ref}): no 'Answer Choices: (A) ...' in the question",
                path, ref, split,
            )  # fmt: skip
            continue
        count = option_count(str(row.get("question") or ""), options)
        if count > len(LETTERS):
            yield source.reject(
                "too-many-options", f"{path}:{number} ({ref}): {count} options; at most {len(LETTERS)} (A-J)",
                path, ref, split,
            )  # fmt: skip
            continue
        labels = _labels(row.get("label"))
        if len(set(labels)) > 1:
            yield source.reject(
                "multiple-answers",
                f"{path}:{number} ({ref}): label {row.get('label')!r} names several options",
                path, ref, split,
            )  # fmt: skip
            continue
        label = labels[0] if labels else ""
        if len(label) != 1 or label not in LETTERS[: len(options)]:
            yield source.reject(
                "unknown-answer-letter",
                f"{path}:{number} ({ref}): label {row.get('label')!r} is not one of the "
                f"{len(options)} option letters",
                path, ref, split,
            )  # fmt: skip
            continue
        extras: dict[str, Any] = {name: row.get(name) for name in extra_fields}
        yield source.record(
            question=stem, options=options, label=label, source_id=ref, split=split, file=path,
            line=number, **extras,
        )  # fmt: skip


def option_count(text: str, options: list[str]) -> int:
    """How many options ``text`` holds: those read, or more when the last one (read as Z, or as J of ten)
    goes on with further (X) markers: a list that runs past Z or starts again counts them all."""
    if len(options) < len(LETTERS) or not _ANY_MARKER.search(options[-1] + " "):
        return len(options)
    return len(options) - 1 + len(_ANY_MARKER.findall(options[-1] + " ")) + 1


def _labels(label: Any) -> list[str]:
    """The letters a label names: ``["B"]``, ``"B"``, ``"(B)"`` -> ``["B"]``; ``["A", "B"]`` -> both."""
    values = label if isinstance(label, (list, tuple)) else [label]
    return [str(v).strip().strip("().").upper() for v in values if str(v or "").strip()]
