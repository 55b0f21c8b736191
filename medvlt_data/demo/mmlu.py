"""Demo MMLU file (a decontamination reference): the embedded-choices layout with a ``subject`` column.

Made-up dose-arithmetic questions over m1's five medical subjects and anatomy (a subject m1 did not
decontaminate against), plus one question that repeats a demo training question (the insulin one), so
the demo text-all build shows a record removed as ``contaminated:mmlu_medical``, and one broken row (a
label outside the options) so the demo shows a reject.
"""

from __future__ import annotations

from pathlib import Path

from medvlt_data.demo.bank import TEXT_ITEMS, write_jsonl
from medvlt_data.schema import LETTERS

SUBJECTS = ("clinical_knowledge", "college_biology", "college_medicine", "medical_genetics",
            "professional_medicine", "anatomy")  # fmt: skip


def rows() -> list[dict]:
    """The demo rows (the broken one last)."""
    insulin = TEXT_ITEMS[0]
    items = [(insulin.question, list(insulin.options), insulin.answer, "clinical_knowledge")]
    for i in range(20):
        weight, per_kg = 40 + 5 * i, 2 + i % 4
        dose = weight * per_kg
        options = [str(dose + delta) for delta in (-10, 0, 10, 20)]
        question = f"A patient of {weight} kg needs {per_kg} mg/kg of a drug; what is the whole dose in mg?"
        items.append((question, options, 1, SUBJECTS[i % len(SUBJECTS)]))
    out = []
    for question, options, answer, subject in items:
        choices = " ".join(f"({LETTERS[j]}) {o}" for j, o in enumerate(options))
        out.append({"question": f"{question}\nAnswer Choices: {choices}", "label": [LETTERS[answer]],
                    "subject": subject})  # fmt: skip
    out.append({**out[-1], "label": ["H"]})
    return out


def write(root: Path) -> Path:
    write_jsonl(root / "test.jsonl", rows())
    return root
