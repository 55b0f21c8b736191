"""Demo MMLU-Pro file (a decontamination reference): rows of the Hub columns as ``test.jsonl``."""

from __future__ import annotations

import json
from pathlib import Path

_ROWS = (
    ("Which of these laboratory findings best indicates acute damage to the heart muscle after chest pain?",
     ["Raised troponin", "Raised amylase", "Low ferritin", "Raised bilirubin", "Low albumin", "Raised urea"], 0, "health"),
    ("Which of these drugs reverses the effect of an opioid overdose when given quickly by injection?",
     ["Flumazenil", "Atropine", "Naloxone", "Protamine", "Glucagon", "Vitamin K"], 2, "health"),
)  # fmt: skip


def write(root: Path) -> Path:
    with (root / "test.jsonl").open("w", encoding="utf-8") as handle:
        for i, (question, options, answer, category) in enumerate(_ROWS):
            row = {"question_id": 9000 + i, "question": question, "options": options, "answer": "ABCDEFGHIJ"[answer],
                   "answer_index": answer, "cot_content": "", "category": category, "src": "medvlt-demo"}  # fmt: skip
            handle.write(json.dumps(row) + "\n")
    return root
