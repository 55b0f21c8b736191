"""Demo MedQA files: the local embedded-choices JSON Lines layout, train and test."""

from __future__ import annotations

from pathlib import Path

from medvlt_data.demo.bank import TEXT_ITEMS, write_jsonl
from medvlt_data.schema import LETTERS


def write(root: Path) -> Path:
    rows = []
    for i, item in enumerate(TEXT_ITEMS):
        choices = " ".join(f"({LETTERS[j]}) {o}" for j, o in enumerate(item.options))
        rows.append({"id": f"demo-{i:03d}", "question": f"{item.question}\nAnswer Choices: {choices}",
                     "label": [LETTERS[item.answer]]})  # fmt: skip
    train, test = rows[:24], rows[24:]
    # Two broken rows so the demo shows rejects: an unknown answer letter and a truncated line.
    train.append({"id": "demo-bad-label", "question": rows[0]["question"], "label": ["F"]})
    write_jsonl(root / "train.jsonl", train, tail='{"id": "demo-truncated", "question": "Which organ\n')
    write_jsonl(root / "test.jsonl", test)
    return root
