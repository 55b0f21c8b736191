"""Demo HEAD-QA files: the release layout (HEAD_EN/{train,test}_HEAD_EN.json and images/)."""

from __future__ import annotations

import json
from pathlib import Path

from medvlt_data.demo.bank import DEMO_IMAGES, TEXT_ITEMS, image_items


def _question(qid: int, text: str, options: tuple[str, ...], answer: int, image: str = "") -> dict:
    # As in the release: qid and ra are strings, aid is an integer, image is "" or a relative path.
    answers = [{"aid": aid, "atext": option} for aid, option in enumerate(options, start=1)]
    return {"qid": str(qid), "qtext": text, "ra": str(answer + 1), "image": image, "answers": answers}


def _exam(name: str, category: str, data: list[dict]) -> dict:
    return {"name": name, "year": "2099", "category": category, "data": data}


def write(root: Path) -> Path:
    (root / "images").mkdir(exist_ok=True)
    (root / "HEAD_EN").mkdir(exist_ok=True)
    scan = DEMO_IMAGES[0]
    (root / "images" / f"{scan.name}.png").write_bytes(scan.png())
    questions = [_question(i + 1, t.question, t.options, t.answer) for i, t in enumerate(TEXT_ITEMS)]
    pictured = next(i for i in image_items() if i.image == scan and i.options)
    questions.append(_question(
        len(questions) + 1, pictured.question, pictured.options, pictured.answer_index,
        image=f"images/{scan.name}.png",
    ))  # fmt: skip
    # Two broken questions so the demo shows rejects: ra is no answer's aid; no answers at all.
    broken = [
        {**questions[0], "qid": "900", "ra": "7"},
        {**questions[1], "qid": "901", "answers": []},
    ]
    train = {
        "version": "demo", "language": "en",
        "exams": {
            "DEMO_2099_medicine": _exam("DEMO_2099_medicine", "medicine", questions[:12] + broken),
            "DEMO_2099_biology": _exam("DEMO_2099_biology", "biology", questions[12:24]),
        },
    }  # fmt: skip
    test = {
        "version": "demo", "language": "en",
        "exams": {"DEMO_2099_nursing": _exam("DEMO_2099_nursing", "nursing", questions[24:])},
    }  # fmt: skip
    for name, content in (("train_HEAD_EN.json", train), ("test_HEAD_EN.json", test)):
        (root / "HEAD_EN" / name).write_text(json.dumps(content, indent=1), encoding="utf-8")
    return root
