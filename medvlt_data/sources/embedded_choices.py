"""The "embedded choices" layout shared by the local MedQA and MedMCQA files.

The question text ends with ``Answer Choices: (A) ... (B) ...`` and the label is a list such as
``["B"]``.

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
_LETTER_MARKERS = [re.compile(rf"(?<!\S)\({letter}\)\s*") for letter in LETTERS]


def split_embedded_choices(text: str) -> tuple[str, list[str]]:
    """Split question text into the stem and the option texts in order (A, B, C, ...)."""
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
            yield source.reject("malformed-json", f"{path}:{number}: {error}", path, ref, split)
            continue
        ref = str(row.get("id") or ref)
        stem, options = split_embedded_choices(str(row.get("question") or ""))
        if not options:
            yield source.reject(
                "no-options", f"{path}:{number} ({ref}): no 'Answer Choices: (A) ...' in the question",
                path, ref, split,
            )  # fmt: skip
            continue
        label = _first_label(row.get("label"))
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


def _first_label(label: Any) -> str:
    if isinstance(label, list):
        label = label[0] if label else ""
    return str(label or "").strip().strip("().").upper()
