"""MMLU (text; a decontamination reference): the five medical subjects m1 decontaminated against.

UCSC-VLAA/m1 src/collect_data/decontaminate.py:48-59 loads ``cais/mmlu`` configs clinical_knowledge,
college_biology, college_medicine, medical_genetics and professional_medicine, split ``test``, column
``question`` (anatomy, the sixth "medical" subject of many evaluations, is not among them).

Hub: ``cais/mmlu``, one config per subject (and ``all``), splits test / validation / dev (and
auxiliary_train), Parquet under ``{subject}/``; columns question (string), subject (string), choices
(list of 4 strings), answer (a class label 0-3 -> A-D). The adapter's ``config`` is the subject.

Local: the embedded-choices JSON Lines layout (``Answer Choices: (A) ... (B) ...`` in the question,
label ``["B"]``, a ``subject`` column), as m1's evaluation inputs hold MMLU's medical subjects; with a
``config`` only the rows of that subject are read (rows of other subjects are not part of that
config, so they are neither records nor rejections). The split is read from the file name.

source_id is ``{subject}-{split}-{index:05d}`` on the Hub and the ``line N`` reference locally.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from medvlt_data.schema import LETTERS
from medvlt_data.sources import register
from medvlt_data.sources.base import Item, Source, SourceError, files_by_split, read_json_lines
from medvlt_data.sources.embedded_choices import read_embedded_choices_jsonl
from medvlt_data.sources.hub import hub_rows

#: The MMLU subjects m1 decontaminated against (decontaminate.py:52-58).
M1_MEDICAL_SUBJECTS = (
    "clinical_knowledge",
    "college_biology",
    "college_medicine",
    "medical_genetics",
    "professional_medicine",
)


@register
class MMLU(Source):
    name = "mmlu"
    modality = "text"
    license = "MIT"
    hub_id = "cais/mmlu"
    local_layout = "*.jsonl with embedded 'Answer Choices: (A) ...', label ['B'] and a subject column"
    description = "MMLU multiple-choice exam questions (a benchmark: its medical subjects)"

    def __init__(self, config: str | None = None):
        self.subject = config

    def read_local(self, root: Path, split: str | None) -> Iterator[Item]:
        for name, path in files_by_split(root, ".jsonl", split, self.name):
            subjects = _line_subjects(path)
            items = read_embedded_choices_jsonl(self, path, name, extra_fields=("subject",))
            for subject, item in zip(subjects, items, strict=True):
                if self.subject is None or subject == self.subject:
                    yield item

    def read_hub(self, repo_id: str, split: str | None, revision: str | None) -> Iterator[Item]:
        config = self.subject or "all"
        for name, index, row in hub_rows(
            repo_id, config=config, split=split, revision=revision, source=self.name
        ):
            subject = str(row.get("subject") or config)
            ref = f"{subject}-{name}-{index:05d}"
            where = f"{repo_id} [{config}/{name}] row {index}"
            choices = row.get("choices")
            if not isinstance(choices, (list, tuple)) or not choices:
                yield self.reject("empty-options", f"{where}: no choices", repo_id, ref, name)
                continue
            answer = row.get("answer")
            if not isinstance(answer, int) or not 0 <= answer < len(choices):
                yield self.reject(
                    "unknown-answer-letter", f"{where}: answer {answer!r} is not an index into {len(choices)} "
                    "choices", repo_id, ref, name,
                )  # fmt: skip
                continue
            yield self.record(
                question=row.get("question") or "", options=list(choices), label=LETTERS[answer],
                source_id=ref, split=name, file=repo_id, subject=subject,
            )  # fmt: skip


def _line_subjects(path: Path) -> list[str | None]:
    """The ``subject`` of every non-blank line (None where a line is no JSON object or not UTF-8), in
    order, so that subjects pair with the items :func:`read_embedded_choices_jsonl` yields."""
    subjects = [str(row.get("subject")) if row is not None else None for _, row, _ in read_json_lines(path)]
    if not subjects:
        raise SourceError(f"mmlu: {path} holds no rows")
    return subjects
