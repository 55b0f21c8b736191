"""Demo PMC-VQA files: the release's layout (train.csv, test.csv, images/), four choices per question.

Choices are written the way the release writes them (``" B:Round "``: letter, colon, text, stray
spaces); a few answers carry their own ``"B:"`` prefix, as some release rows do.

The test split (the demo PMC-VQA benchmark) ends with the learnable demo's held-out questions
(:func:`medvlt_data.demo.rules.eval_questions`: new drugs in phrasings the training pool never uses),
each shown with one of the demo scans; their answer follows from the drug's name, not from the picture.
"""

from __future__ import annotations

import csv
from pathlib import Path

from medvlt_data.demo.bank import DEMO_IMAGES, ImageItem, image_items, write_demo_images
from medvlt_data.demo.rules import eval_questions

COLUMNS = [
    "Figure_path",
    "Question",
    "Answer",
    "Choice A",
    "Choice B",
    "Choice C",
    "Choice D",
    "Answer_label",
]

#: Made-up distractors for the bank's questions that have no options of their own.
_YES_NO = ("Yes", "No", "Only after contrast", "Cannot be determined")
_SHAPES = ("Round", "Square", "Triangular", "Linear")
_FINDINGS = ("A lesion", "A calcified vessel", "Motion artifact", "Normal tissue")


def _four_choices(item: ImageItem) -> tuple[list[str], str]:
    if item.options:
        return list(item.options), item.answer
    if item.answer in ("yes", "no"):
        return list(_YES_NO), item.answer.capitalize()
    if item.answer in ("round", "square"):
        return list(_SHAPES), item.answer.capitalize()
    return list(_FINDINGS), item.answer.capitalize()


def write(root: Path) -> Path:
    write_demo_images(root / "images")
    rows = []
    for i, item in enumerate(image_items()):
        choices, answer = _four_choices(item)
        shift = i % 4  # rotate the choices so the correct letter varies
        choices = choices[shift:] + choices[:shift]
        label = "ABCD"[choices.index(answer)]
        rows.append({
            "Figure_path": f"{item.image.name}.jpg", "Question": item.question,
            "Answer": f"{label}:{answer}" if i % 5 == 0 else answer, "Answer_label": label,
            **{f"Choice {c}": f" {c}:{text} " for c, text in zip("ABCD", choices, strict=True)},
        })  # fmt: skip
    cut = len(rows) * 2 // 3
    train, test = rows[:cut], rows[cut:]
    # Two broken rows so the demo shows rejects: a label outside A-D and a figure that is not there.
    train.append({**rows[0], "Answer_label": "E"})
    test.append({**rows[1], "Figure_path": "PMC0000000_missing.jpg"})
    scan = DEMO_IMAGES[-1]  # a scan the test rows above show already
    for q in eval_questions():
        label = "ABCD"[q.answer]
        test.append({
            "Figure_path": f"{scan.name}.jpg", "Question": q.question, "Answer": q.options[q.answer],
            "Answer_label": label, **{f"Choice {c}": f" {c}:{text} " for c, text in zip("ABCD", q.options, strict=True)},
        })  # fmt: skip
    for name, part in (("train.csv", train), ("test.csv", test)):
        with (root / name).open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(part)
    return root
