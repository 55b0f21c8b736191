"""Demo MedMCQA files: the local embedded-choices JSON Lines layout, train and validation.

The train split ends with the learnable demo's training questions (:mod:`medvlt_data.demo.rules`), each
with its reasoning trace as the explanation, so ``text-all``/``text-hard --demo`` hold a pool that the
demo base model answers right some of the time.
"""

from __future__ import annotations

from pathlib import Path

from medvlt_data.demo.bank import TEXT_ITEMS, write_jsonl
from medvlt_data.demo.rules import training_questions
from medvlt_data.schema import LETTERS


def write(root: Path) -> Path:
    rows = []
    for i, item in enumerate(TEXT_ITEMS):
        choices = " ".join(f"({LETTERS[j]}) {o}" for j, o in enumerate(item.options))
        rationale = f"Ans. {LETTERS[item.answer].lower()}. {item.options[item.answer]}" if i % 3 else None
        rows.append({
            "id": f"demo-mcqa-{i:03d}", "question": f"{item.question}\nAnswer Choices: {choices}",
            "label": [LETTERS[item.answer]], "label_rationale": rationale, "subject_name": item.topic,
            "topic_name": None,
        })  # fmt: skip
    train, validation = rows[:22], rows[22:]
    for q in training_questions():
        choices = " ".join(f"({LETTERS[j]}) {o}" for j, o in enumerate(q.options))
        train.append({
            "id": f"demo-{q.id}", "question": f"{q.question}\nAnswer Choices: {choices}",
            "label": [LETTERS[q.answer]], "label_rationale": q.reasoning, "subject_name": "Pharmacology",
            "topic_name": "Made-up drug classes",
        })  # fmt: skip
    # Two broken rows so the demo shows rejects: an unknown answer letter and a truncated line.
    train.append({**rows[1], "id": "demo-mcqa-bad-label", "label": ["E"]})
    write_jsonl(
        root / "train.jsonl", train, tail='{"id": "demo-mcqa-truncated", "question": "Which vitamin\n'
    )
    write_jsonl(root / "validation.jsonl", validation)
    return root
