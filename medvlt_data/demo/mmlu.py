"""Demo MMLU file (a decontamination reference): the embedded-choices layout with a ``subject`` column.

One question repeats a demo training question (the insulin one), so the demo text-all build shows a
record removed as ``contaminated:mmlu_medical``; one row is of a subject m1 did not use (anatomy).
"""

from __future__ import annotations

import json
from pathlib import Path

from medvlt_data.demo.bank import TEXT_ITEMS
from medvlt_data.schema import LETTERS

_OWN = (
    ("Which blood group is the universal red-cell donor for transfusion in an emergency?",
     ("AB positive", "O negative", "A positive", "B negative"), 1, "clinical_knowledge"),
    ("Which organelle of the eukaryotic cell holds the enzymes of the citric acid cycle?",
     ("Nucleus", "Golgi apparatus", "Mitochondrial matrix", "Lysosome"), 2, "college_biology"),
    ("Which inheritance pattern does cystic fibrosis follow in most families studied so far?",
     ("Autosomal dominant", "Autosomal recessive", "X-linked recessive", "Mitochondrial"), 1, "medical_genetics"),
    ("Which bone of the forearm lies on the thumb side when the palm faces forward?",
     ("Ulna", "Radius", "Humerus", "Scaphoid"), 1, "anatomy"),
)  # fmt: skip


def write(root: Path) -> Path:
    insulin = TEXT_ITEMS[0]
    items = [(insulin.question, insulin.options, insulin.answer, "clinical_knowledge"), *_OWN]
    rows = []
    for question, options, answer, subject in items:
        choices = " ".join(f"({LETTERS[j]}) {o}" for j, o in enumerate(options))
        rows.append({"question": f"{question}\nAnswer Choices: {choices}", "label": [LETTERS[answer]],
                     "subject": subject})  # fmt: skip
    with (root / "test.jsonl").open("w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in rows)
    return root
