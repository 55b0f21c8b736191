"""GPQA (text; a decontamination reference of m1: decontaminate.py:30-34, ``Idavidrein/gpqa`` config
``gpqa_diamond``, split ``train``, column ``Question``).

Hub: ``Idavidrein/gpqa`` (gated), one CSV per config at the repository root (``gpqa_diamond.csv``,
198 rows; ``gpqa_main.csv``, ``gpqa_extended.csv``, ``gpqa_experts.csv``), each read as split
``train``; columns include Question, Correct Answer, Incorrect Answer 1..3, Record ID, Subdomain,
High-level domain (UKGovernmentBEIS/inspect_ai benchmarks/gpqa.py reads Question, Correct Answer,
Incorrect Answer 1-3 and Record ID from the same CSV).

Local: that CSV (or a folder holding ``{config}.csv``), or rows of the same columns as JSON Lines.

GPQA gives the correct answer apart from three wrong ones, with no order. medvlt orders the four
answers by the sha256 of ``{Record ID}:{answer text}`` (deterministic, and the label is not always
A); only the question text matters for decontamination. source_id is the Record ID.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from medvlt_data.schema import LETTERS
from medvlt_data.sources import register
from medvlt_data.sources.base import HasConfigs, Item, Source, SourceError
from medvlt_data.sources.hub import hub_rows
from medvlt_data.sources.mmlu_pro import rows_of

WRONG_COLUMNS = ("Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3")


@register
class GPQA(HasConfigs, Source):
    name = "gpqa"
    modality = "text"
    license = "CC-BY-4.0"
    hub_id = "Idavidrein/gpqa"
    hub_config = "gpqa_diamond"
    local_layout = "gpqa_diamond.csv (Question, Correct Answer, Incorrect Answer 1-3, Record ID)"
    description = "GPQA: graduate-level science questions (a benchmark; the diamond subset)"

    def read_local(self, root: Path, split: str | None) -> Iterator[Item]:
        path = root if root.is_file() else root / f"{self.config}.csv"
        if not path.is_file():
            raise SourceError(f"{self.name}: no {self.config}.csv in {root}")
        if split not in (None, "train"):
            raise SourceError(f"{self.name}: unknown split {split!r}; GPQA has one split, train")
        for index, row, error in rows_of(path):
            if error:
                yield self.reject(
                    getattr(error, "reason", "malformed-json"),
                    f"{path} row {index}: {error}",
                    path,
                    f"row {index}",
                    "train",
                )
                continue
            yield self._row(row, index, path, f"{path} row {index}")

    def read_hub(self, repo_id: str, split: str | None, revision: str | None) -> Iterator[Item]:
        rows = hub_rows(repo_id, config=self.config, split=split, revision=revision, source=self.name)
        for name, index, row in rows:
            yield self._row(row, index, repo_id, f"{repo_id} [{self.config}/{name}] row {index}", split=name)

    def _row(self, row: dict[str, Any], index: int, file: Any, where: str, split: str = "train") -> Item:
        ref = str(row.get("Record ID") or "").strip() or f"{split}-{index:05d}"  # a blank id is no id
        where = f"{where} ({ref})"
        correct = str(row.get("Correct Answer") or "").strip()
        wrong = [str(row.get(c) or "").strip() for c in WRONG_COLUMNS]
        if not correct or not all(wrong):
            return self.reject(
                "empty-options",
                f"{where}: Correct Answer and Incorrect Answer 1-3 must all be given",
                file,
                ref,
                split,
            )
        answers = sorted(
            [correct, *wrong], key=lambda text: hashlib.sha256(f"{ref}:{text}".encode()).hexdigest()
        )
        return self.record(
            question=row.get("Question") or "", options=answers, label=LETTERS[answers.index(correct)],
            source_id=ref, split=split, file=file, subdomain=row.get("Subdomain"),
        )  # fmt: skip
