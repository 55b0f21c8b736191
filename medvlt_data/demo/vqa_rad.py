"""Demo VQA-RAD files: the MEVF layout (trainset.json, testset.json, images/)."""

from __future__ import annotations

import json
from pathlib import Path

from medvlt_data.demo.bank import DEMO_IMAGES, image_items


def write(root: Path) -> Path:
    images = root / "images"
    images.mkdir(exist_ok=True)
    for image in DEMO_IMAGES:
        (images / f"{image.name}.jpg").write_bytes(image.jpeg())
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
