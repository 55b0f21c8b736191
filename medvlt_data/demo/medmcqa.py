"""Demo MedMCQA files: the local embedded-choices JSON Lines layout, train and validation."""

from __future__ import annotations

import json
from pathlib import Path

from medvlt_data.demo.bank import TEXT_ITEMS
from medvlt_data.schema import LETTERS


def write(root: Path) -> Path:
    rows = []
    for i, item in enumerate(TEXT_ITEMS):
        choices = " ".join(f"({LETTERS[j]}) {o}" for j, o in enumerate(item.options))
        rationale = f"Ans. {LETTERS[item.answer].lower()}. {item.options[item.answer]}" if i % 3 else None
        rows.append({
            "id": f"demo-mcqa-{i:03d}", "question": f"{item.question}\nAnswer Choices: {choices}",
            "label": [LETTERS[item.answer]], "label_rationale": rationale, "subject_name": item.topic,
            "topic_name": None,
        })  # fmt: skip
    train, validation = rows[:22], rows[22:]
    # Two broken rows so the demo shows rejects: an unknown answer letter and a truncated line.
    train.append({**rows[1], "id": "demo-mcqa-bad-label", "label": ["E"]})
    with (root / "train.jsonl").open("w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in train)
        handle.write('{"id": "demo-mcqa-truncated", "question": "Which vitamin\n')
    with (root / "validation.jsonl").open("w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in validation)
    return root
