"""Demo MMMU files: the Hub repo's Parquet layout, one folder per medical subject (dev, validation, test)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medvlt_data.demo.bank import DEMO_IMAGES, image_items
from medvlt_data.schema import LETTERS
from medvlt_data.sources.mmmu_medical import IMAGE_COLUMNS, SUBJECTS


def hub_features() -> Any:
    """The column types of ``MMMU/MMMU`` (every subject config has the same ones)."""
    import datasets

    text = datasets.Value("string")
    columns = {"id": text, "question": text, "options": text, "explanation": text}
    columns.update({column: datasets.Image() for column in IMAGE_COLUMNS})
    columns.update({"img_type": text, "answer": text, "topic_difficulty": text, "question_type": text,
                    "subfield": text})  # fmt: skip
    return datasets.Features(columns)


def _row(question: str, options: list[str], answer: str, images: list[bytes], **extra: Any) -> dict:
    row = {"question": question, "options": repr(options), "answer": answer, "explanation": "",
           "img_type": "['Body Scans: MRI, CT scans, and X-rays']", "topic_difficulty": "Easy",
           "question_type": "multiple-choice", "subfield": "Demo imaging"}  # fmt: skip
    for n, column in enumerate(IMAGE_COLUMNS):
        row[column] = {"bytes": images[n], "path": f"demo_{n + 1}.png"} if n < len(images) else None
    return {**row, **extra}


def _questions() -> list[dict]:
    rows = []
    for item in image_items():
        png = item.image.png()
        if item.options:
            letter = LETTERS[item.answer_index]
            rows.append(_row(f"<image 1> {item.question}", list(item.options), letter, [png]))
        elif item.answer in ("yes", "no"):
            letter = "A" if item.answer == "yes" else "B"
            rows.append(_row(f"{item.question} <image 1>", ["Yes", "No"], letter, [png]))
    round_, square = DEMO_IMAGES[0], DEMO_IMAGES[2]
    for first, second in ((round_, square), (square, round_)):
        rows.append(_row(
            "Which of the two scans shows a round lesion?\n<image 1>\n<image 2>", ["<image 1>", "<image 2>"],
            "A" if first.shape == "round" else "B", [first.png(), second.png()],
        ))  # fmt: skip
    return rows


def write(root: Path) -> Path:
    import datasets
    import pyarrow.parquet as pq

    features = hub_features()
    rows = _questions()
    png = DEMO_IMAGES[1].png()
    # Broken rows so the demo shows rejects: an open question, a letter with no option, and the
    # test split, whose answers are withheld ("?").
    broken = [
        _row("What does the bright area in <image 1> show?", [], "a lesion", [png], question_type="open"),
        _row("Is the lesion in <image 1> round?", ["Yes", "No"], "F", [png]),
    ]
    test = [_row("Is there a bright lesion in <image 1>?", ["Yes", "No"], "?", [png])]
    for number, subject in enumerate(SUBJECTS):
        own = rows[number :: len(SUBJECTS)]
        splits = {"dev": own[:2], "validation": own[2:] + broken[number : number + 1], "test": test}
        folder = root / subject
        folder.mkdir(parents=True, exist_ok=True)
        for split, split_rows in splits.items():
            split_rows = [{**r, "id": f"{split}_{subject}_{i + 1}"} for i, r in enumerate(split_rows)]
            columns = {name: [r.get(name) for r in split_rows] for name in features}
            dataset = datasets.Dataset.from_dict(columns, features=features)
            # the Arrow table carries the features in its metadata, as the Hub's Parquet files do
            pq.write_table(dataset.data.table, folder / f"{split}-00000-of-00001.parquet")
    return root
