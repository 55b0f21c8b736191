"""Demo MMLU-Pro file (a decontamination reference): rows of the Hub columns as ``test.jsonl``.

Made-up infusion-rate questions with ten options, and one broken row (answer and answer_index disagree).
"""

from __future__ import annotations

from pathlib import Path

from medvlt_data.demo.bank import write_jsonl
from medvlt_data.schema import LETTERS


def rows() -> list[dict]:
    out = []
    for i in range(20):
        volume, hours = 500 + 100 * i, 2 + i % 5
        rate = volume / hours
        options = [f"{rate + 10 * (k - 3):g} mL/h" for k in range(10)]
        out.append({"question_id": 9000 + i, "question": f"Which infusion rate gives {volume} mL over {hours} hours?",
                    "options": options, "answer": LETTERS[3], "answer_index": 3, "cot_content": "",
                    "category": "health", "src": "medvlt-demo"})  # fmt: skip
    out.append({**out[0], "question_id": 9999, "answer": "B"})
    return out


def write(root: Path) -> Path:
    write_jsonl(root / "test.jsonl", rows())
    return root
