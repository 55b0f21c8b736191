"""Demo MedXpertQA files: the local JSON Lines layout of the MM subset (MM/dev.jsonl, MM/test.jsonl)
with the figures in images/, five options per question and the "Answer Choices:" tail in the text."""

from __future__ import annotations

import json
from pathlib import Path

from medvlt_data.demo.bank import ImageItem, image_items, write_demo_images

#: A made-up fifth option per kind of question (MedXpertQA MM has five, A-E).
_EXTRA = {"side": "Both sides", "shape": "Irregular", "yes/no": "Not assessable"}
_YES_NO = ["Yes", "No", "Only after contrast", "Cannot be determined"]
_SHAPES = ["Round", "Square", "Triangular", "Linear"]
_FINDINGS = ["A lesion", "A calcified vessel", "Motion artifact", "Normal tissue", "A foreign body"]


def _five_options(item: ImageItem) -> tuple[list[str], str, str]:
    """Options, the answer text, and the question type for one bank item."""
    if item.options and "side" in item.question:
        return [*item.options, _EXTRA["side"]], item.answer, "Understanding"
    if item.options or item.answer in ("round", "square"):
        return [*_SHAPES, _EXTRA["shape"]], item.answer.capitalize(), "Understanding"
    if item.answer in ("yes", "no"):
        return [*_YES_NO, _EXTRA["yes/no"]], item.answer.capitalize(), "Reasoning"
    return list(_FINDINGS), item.answer.capitalize(), "Reasoning"


def write(root: Path) -> Path:
    write_demo_images(root / "images", ".jpeg")
    rows = []
    for i, item in enumerate(image_items()):
        options, answer, kind = _five_options(item)
        shift = i % 5  # rotate the options so the correct letter varies
        options = options[shift:] + options[:shift]
        letters = "ABCDE"
        choices = " ".join(f"({c}) {text}" for c, text in zip(letters, options, strict=True))
        rows.append({
            "id": f"MM-demo-{i:03d}", "question": f"{item.question}\nAnswer Choices: {choices}",
            "options": [{"letter": c, "content": text} for c, text in zip(letters, options, strict=True)],
            "label": [letters[options.index(answer)]], "images": [{"image_path": f"{item.image.name}.jpeg"}],
            "medical_task": "Diagnosis", "body_system": "Other", "question_type": kind,
        })  # fmt: skip
    dev, test = rows[:5], rows[5:]
    # Two broken rows so the demo shows rejects: a label outside A-E and an image that is not there.
    test.append({**rows[0], "id": "MM-demo-bad-label", "label": ["F"]})
    test.append({**rows[1], "id": "MM-demo-no-image", "images": [{"image_path": "MM-missing-a.jpeg"}]})
    folder = root / "MM"
    folder.mkdir(exist_ok=True)
    for name, part in (("dev.jsonl", dev), ("test.jsonl", test)):
        with (folder / name).open("w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row) + "\n" for row in part)
    return root
