"""Demo SLAKE files: the Slake1.0 layout (train.json, validate.json, test.json, imgs/xmlab{n}/source.jpg)."""

from __future__ import annotations

import json
from pathlib import Path

from medvlt_data.demo.bank import DEMO_IMAGES, image_items

#: Made-up Chinese questions (rejected as non-english): "Is there a bright lesion?" -> "yes".
_CHINESE = ("图像中有明亮的病灶吗?", "是")


def write(root: Path) -> Path:
    for n, image in enumerate(DEMO_IMAGES):
        (root / "imgs" / f"xmlab{n}").mkdir(parents=True, exist_ok=True)
        (root / "imgs" / f"xmlab{n}" / "source.jpg").write_bytes(image.jpeg())
    index = {image.name: n for n, image in enumerate(DEMO_IMAGES)}
    questions = [(i.image, i.question, i.answer) for i in image_items() if not i.options]
    questions += [
        (im, "Is the lesion square?", "yes" if im.shape == "square" else "no") for im in DEMO_IMAGES
    ]
    rows = []
    for qid, (image, question, answer) in enumerate(questions):
        closed = answer in ("yes", "no") or " or " in question
        rows.append(_row(qid, index[image.name], question, answer, "en", "CLOSED" if closed else "OPEN"))
    # Rows the adapter rejects: two Chinese questions and a closed question whose image is missing.
    rows += [_row(len(rows) + k, k, *_CHINESE, "zh", "CLOSED") for k in range(2)]
    rows.append(_row(len(rows), 99, "Is there a bright lesion on the left side?", "yes", "en", "CLOSED"))
    splits = {"train.json": rows[0::3], "validate.json": rows[1::3], "test.json": rows[2::3]}
    for name, part in splits.items():
        (root / name).write_text(json.dumps(part, ensure_ascii=False, indent=1), encoding="utf-8")
    return root


def _row(qid: int, n: int, question: str, answer: str, lang: str, answer_type: str) -> dict:
    return {
        "img_id": n, "img_name": f"xmlab{n}/source.jpg", "question": question, "answer": answer,
        "q_lang": lang, "location": "Abdomen", "modality": "CT", "answer_type": answer_type,
        "base_type": "vqa", "content_type": "Abnormality", "triple": ["vhead", "_", "_"], "qid": qid,
    }  # fmt: skip
