"""MedQA-USMLE, 4 options (text).

Hub: ``GBaker/MedQA-USMLE-4-options`` (commit 0fb93dd): ``phrases_no_exclude_train.jsonl`` (train)
and ``phrases_no_exclude_test.jsonl`` (test, 1,273 rows) at the root, columns question, answer, options
{A..D}, meta_info, answer_idx, metamap_phrases. UCSC-VLAA/m1 src/collect_data/medqa.py:21-31 loads split
train and reads options, question and answer_idx; decontaminate.py:40-43 uses split test. (m1 also
shuffles the four options with numpy ``default_rng(42)``, medqa.py:32-36, 63; medvlt keeps A-D.)
Local: JSON Lines whose question embeds ``Answer Choices: (A) ... (B) ...`` and whose label is a
list such as ``["B"]``; the split is read from the file name (``test.jsonl`` -> test).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from medvlt_data.sources import register
from medvlt_data.sources.base import Item, Rejected, Source, files_by_split
from medvlt_data.sources.embedded_choices import read_embedded_choices_jsonl
from medvlt_data.sources.hub import hub_rows


@register
class MedQA(Source):
    name = "medqa"
    modality = "text"
    license = "CC-BY-4.0"
    hub_id = "GBaker/MedQA-USMLE-4-options"
    local_layout = "*.jsonl with embedded 'Answer Choices: (A) ...' and label ['B']"
    description = "USMLE-style clinical vignettes, 4 options"
    one_item_per_line = True

    def read_local(self, root: Path, split: str | None) -> Iterator[Item]:
        for name, path in files_by_split(root, ".jsonl", split, self.name):
            yield from read_embedded_choices_jsonl(self, path, name)

    def read_hub(self, repo_id: str, split: str | None, revision: str | None) -> Iterator[Item]:
        for name, index, row in hub_rows(repo_id, split=split, revision=revision, source=self.name):
            options = row.get("options") or {}
            if not isinstance(options, dict) or not options:
                yield self.reject(
                    "empty-options", f"{repo_id} [{name}] row {index}: no options", repo_id, index, name
                )
                continue
            options = {str(k).strip(): str(v).strip() for k, v in sorted(options.items()) if v is not None}
            label = self.answer_letter(
                row.get("answer_idx"), options, column="answer_idx",
                where=f"{repo_id} [{name}] row {index}", file=repo_id, ref=index, split=name,
            )  # fmt: skip
            if isinstance(label, Rejected):
                yield label
                continue
            yield self.record(
                question=row.get("question") or "", options=options, label=label,
                source_id=f"{name}-{index:05d}", split=name, file=repo_id,
                answer=row.get("answer"), meta_info=row.get("meta_info"),
            )  # fmt: skip
