"""MedMCQA, Indian medical entrance exam questions, 4 options (text).

Hub: ``openlifescienceai/medmcqa``, splits train / validation / test, columns id, question, opa, opb,
opc, opd (options A-D), cop (the correct option as an index 0-3 -> A-D; a class label "a".."d"),
choice_type ("single"/"multi"), exp (explanation), subject_name, topic_name. The test split carries no
answers: its cop is -1 (or missing), and such rows are rejected as ``no-answer``. UCSC-VLAA/m1
src/collect_data/medmcqa.py:21-37 loads split train and maps cop 0-3 to A-D; decontaminate.py:36-39
uses split validation (4,183 rows). (m1 also shuffles the options with numpy ``default_rng(42)``,
medmcqa.py:40-44, 70; medvlt keeps opa..opd as A-D.)

Local: JSON Lines whose question embeds ``Answer Choices: (A) ... (B) ...`` and whose label is a list
such as ``["A"]``, with id, label_rationale, subject_name and topic_name beside them (the same layout
as the local MedQA files). The split is read from the file name (``validation.jsonl`` -> validation;
a name with no split word, such as ``medmcqa_input.jsonl``, keeps its stem as the split).

Both layouts keep the explanation (``exp`` / ``label_rationale``) as meta ``explanation``, and
subject_name and topic_name as meta of the same names; the Hub layout also keeps choice_type.
source_id is the dataset's own ``id`` (a UUID), or ``{split}-{index:05d}`` when a row has none.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from medvlt_data.schema import LETTERS, Record
from medvlt_data.sources import register
from medvlt_data.sources.base import Item, Source, files_by_split
from medvlt_data.sources.embedded_choices import read_embedded_choices_jsonl
from medvlt_data.sources.hub import hub_rows

_OPTION_COLUMNS = ("opa", "opb", "opc", "opd")


@register
class MedMCQA(Source):
    name = "medmcqa"
    modality = "text"
    license = "Apache-2.0"
    hub_id = "openlifescienceai/medmcqa"
    local_layout = "*.jsonl with embedded 'Answer Choices: (A) ...', label ['A'], label_rationale"
    description = "AIIMS / NEET PG medical entrance exam questions, 4 options"
    one_item_per_line = True

    def read_local(self, root: Path, split: str | None) -> Iterator[Item]:
        for name, path in files_by_split(root, ".jsonl", split, self.name):
            items = read_embedded_choices_jsonl(
                self, path, name, extra_fields=("label_rationale", "subject_name", "topic_name")
            )
            for item in items:
                if isinstance(item, Record) and "label_rationale" in item.meta:
                    item.meta["explanation"] = item.meta.pop("label_rationale")
                yield item

    def read_hub(self, repo_id: str, split: str | None, revision: str | None) -> Iterator[Item]:
        for name, index, row in hub_rows(repo_id, split=split, revision=revision, source=self.name):
            ref = str(row.get("id") or f"{name}-{index:05d}")
            where = f"{repo_id} [{name}] row {index} ({ref})"
            options = [row.get(column) for column in _OPTION_COLUMNS]
            if all(option is None or not str(option).strip() for option in options):
                yield self.reject("empty-options", f"{where}: opa..opd are all empty", repo_id, ref, name)
                continue
            cop = _answer_index(row.get("cop"))
            if cop is None:
                yield self.reject(
                    "no-answer", f"{where}: cop is {row.get('cop')!r} (no answer given)", repo_id, ref, name
                )
                continue
            if not 0 <= cop < len(options):
                yield self.reject(
                    "unknown-answer-letter", f"{where}: cop {row.get('cop')!r} is not an index 0-3",
                    repo_id, ref, name,
                )  # fmt: skip
                continue
            yield self.record(
                question=row.get("question") or "",
                options=["" if option is None else str(option) for option in options],
                label=LETTERS[cop], source_id=ref, split=name, file=repo_id, row=index,
                explanation=row.get("exp"), subject_name=row.get("subject_name"),
                topic_name=row.get("topic_name"), choice_type=row.get("choice_type"),
            )  # fmt: skip


def _answer_index(value: Any) -> int | None:
    """cop as an option index; None when the row has no answer (missing, blank or -1).

    An index that is not an integer comes back as -2, which callers reject as an unknown letter.
    """
    if value is None or isinstance(value, bool):
        return None if value is None else -2
    text = str(value).strip()
    if text in ("", "-1"):
        return None
    if len(text) == 1 and text.lower() in "abcd":
        return "abcd".index(text.lower())
    try:
        return int(text)
    except ValueError:
        return -2
