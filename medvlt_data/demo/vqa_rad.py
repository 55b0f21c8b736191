"""Demo VQA-RAD files: the MEVF layout (trainset.json, testset.json, images/)."""

from __future__ import annotations

import json
from pathlib import Path

from medvlt_data.demo.bank import image_items, write_demo_images


def write(root: Path) -> Path:
    write_demo_images(root / "images")
    rows = []
    for qid, item in enumerate(i for i in image_items() if not i.options):
        closed = item.answer in ("yes", "no") or " or " in item.question
        rows.append({
            "qid": qid, "image_name": f"{item.image.name}.jpg", "image_organ": "DEMO",
            "answer": item.answer, "answer_type": "CLOSED" if closed else "OPEN ",
            "question_type": "PRES", "question": item.question, "phrase_type": "freeform",
        })  # fmt: skip
    rows.append({**rows[0], "qid": len(rows), "image_name": "missing_scan.jpg"})
    cut = len(rows) * 2 // 3
    (root / "trainset.json").write_text(json.dumps(rows[:cut], indent=1), encoding="utf-8")
    (root / "testset.json").write_text(json.dumps(rows[cut:], indent=1), encoding="utf-8")
    return root
