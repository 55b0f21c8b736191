"""The ``AdaptLLM/biomed-VQA-benchmark`` layout of PMC-VQA, PathVQA, SLAKE and VQA-RAD (image).

MedVLThinker took the questions of four of its six benchmarks from this repository
(UCSC-VLAA/MedVLThinker data_process/prepare_vlm_eval_data.py:59-120: configs ``PMC-VQA``,
``PathVQA``, ``SLAKE``, ``VQA_RAD``, split ``test``; the last three filtered to
``answer_type == "CLOSED"``). Its layout, as those loaders and the notebook output of
data_process/eval_data_exploration.ipynb show (``columns: [...]`` of each config):

- ``PMC-VQA``: ``image`` (Image), ``input`` (``"Question: ...\\nThe choices are:\\n(A) ..."``),
  ``label`` (a letter), ``A``, ``B``, ``C``, ``D`` (the option texts); 2,000 rows.
- ``PathVQA`` / ``SLAKE`` / ``VQA_RAD``: ``image``, ``input`` (the question), ``label`` (the answer
  text), ``answer_type`` (``"OPEN"`` / ``"CLOSED"``); 6,719 / 1,061 / 451 rows, of which 3,362 /
  416 / 272 CLOSED (data_process/eval_data_stats.ipynb).

The repository stores each config as a ``datasets`` save (``pmc_vqa/``, ``pathvqa/``, ``SLAKE/``,
``vqa_rad/``, each ``data-00000-of-00001.arrow`` + ``dataset_info.json`` + ``state.json``) that the
README's ``configs`` map to the config names (``- config_name: VQA_RAD data_files: - split: test
path: vqa_rad/data-*.arrow``, as a copy of its dataset card shows); it is read through ``datasets``
like any Hub dataset, from the Hub or from a local copy of the repository.

How rows become records (one item per row):

- PMC-VQA: the question is ``input`` without its leading ``"Question: "`` and everything from
  ``"\\nThe choices are:"`` on, the options are ``A``-``D``, the answer the labelled option
  (prepare_vlm_eval_data.py:27-56, the same steps);
- closed benchmarks: ``OPEN`` rows are ``open-ended``; ``CLOSED`` rows get their options by the rule
  of :mod:`medvlt_data.closed_vqa` (yes/no answers: ``["Yes", "No"]``, as the paper's option prompt
  asks). The paper had GPT-4o write the options of every CLOSED row (extract_options.py); a CLOSED row
  the rule cannot convert is rejected as ``closed-no-options``, so the build's card counts exactly
  how many of the paper's questions cannot be reproduced without it. ``meta["paper_hash"]`` is the
  paper's row hash, ``sha256(input + label)[:16]`` (prepare_vlm_eval_data.py:23-24, :140), the
  ``hash`` column of the released evaluation set.

``source_id`` is ``{split}-{row:05d}`` (row counts from 0 in the config's order).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from medvlt_data.closed_vqa import NO_OPTIONS, answer_type_problem, closed_to_choices
from medvlt_data.images import ImageError, image_to_bytes
from medvlt_data.sources.base import Item, Source, SourceError
from medvlt_data.sources.hub import hub_rows, local_copy

BIOMED_HUB_ID = "AdaptLLM/biomed-VQA-benchmark"

#: medvlt source name -> (config name, the folder that holds the config's files in the repository).
BIOMED_CONFIGS = {
    "pmc_vqa": ("PMC-VQA", "pmc_vqa"),
    "pathvqa": ("PathVQA", "pathvqa"),
    "slake": ("SLAKE", "SLAKE"),
    "vqa_rad": ("VQA_RAD", "vqa_rad"),
}
_PMC_OPTION_COLUMNS = ("A", "B", "C", "D")


def paper_row_hash(question: str, answer: str) -> str:
    """MedVLThinker's row hash: the first 16 hex digits of sha256(question + answer).

    >>> paper_row_hash("Is this a CT?", "yes")
    '2d47792b75bfae57'
    """
    return hashlib.sha256(f"{question}{answer}".encode()).hexdigest()[:16]


def is_local_copy(root: Path, source: str) -> bool:
    """True when ``root`` is a local copy of the biomed-VQA-benchmark repository holding ``source``."""
    folder = Path(root) / BIOMED_CONFIGS[source][1]
    return Path(root).is_dir() and folder.is_dir() and any(folder.glob("data-*.arrow"))


class BiomedLayout:
    """Mixin of the four adapters that also read the biomed-VQA-benchmark layout.

    The adapter's ``config`` is the biomed config name (``VQA_RAD`` for vqa_rad, ...); given one, or
    reading the repository :data:`BIOMED_HUB_ID` or a local copy of it, the adapter reads that layout;
    otherwise its own layouts, ``read_own_local`` and ``read_own_hub``.
    """

    name: ClassVar[str]
    hub_id: ClassVar[str]
    local_layout: ClassVar[str]

    def __init__(self, config: str | None = None):
        expected = BIOMED_CONFIGS[self.name][0]
        if config is not None and config != expected:
            raise SourceError(
                f"{self.name}: unknown config {config!r}; the only one is {expected!r} "
                f"(the {BIOMED_HUB_ID} layout)"
            )
        self.config = config

    @property
    def layouts(self) -> str:
        config = BIOMED_CONFIGS[self.name][0]
        return (
            f"hub ({self.hub_id}; or {BIOMED_HUB_ID} with --config {config}), local ({self.local_layout}; "
            f"or a copy of {BIOMED_HUB_ID})"
        )

    def read_local(self, root: Path, split: str | None) -> Iterator[Item]:
        if is_local_copy(root, self.name):
            yield from self.read_biomed(str(root), split, None)
        else:
            yield from self.read_own_local(root, split)

    def read_hub(self, repo_id: str, split: str | None, revision: str | None) -> Iterator[Item]:
        if self.reads_biomed(repo_id):
            yield from self.read_biomed(repo_id, split, revision)
        else:
            yield from self.read_own_hub(repo_id, split, revision)

    def read_own_local(self, root: Path, split: str | None) -> Iterator[Item]:
        raise NotImplementedError

    def read_own_hub(self, repo_id: str, split: str | None, revision: str | None) -> Iterator[Item]:
        raise NotImplementedError

    def reads_biomed(self, repo_id: str) -> bool:
        """Whether a Hub read of ``repo_id`` is one of the biomed layout."""
        return self.config is not None or repo_id == BIOMED_HUB_ID

    def read_biomed(self, repo_id: str, split: str | None, revision: str | None) -> Iterator[Item]:
        """Every row of this adapter's biomed config as a record or a rejection."""
        assert isinstance(self, Source)
        config = BIOMED_CONFIGS[self.name][0]
        rows = hub_rows(repo_id, config=config, split=split, revision=revision, image_columns=("image",),
                        source=self.name)  # fmt: skip
        for name, index, row in rows:
            where = f"{repo_id} [{config}/{name}] row {index}"
            if self.name == "pmc_vqa":
                yield biomed_pmc_item(self, row, split=name, index=index, where=where, file=repo_id)
            else:
                yield biomed_closed_item(self, row, split=name, index=index, where=where, file=repo_id)


def _image(source: Source, row: dict[str, Any], where: str, file: Any, ref: str, split: str) -> Any:
    try:
        return image_to_bytes(row.get("image"), root=local_copy(str(file)))
    except ImageError as exc:
        return source.reject(exc.reason, f"{where}: {exc}", file, ref, split)


def biomed_pmc_item(source: Source, row: dict[str, Any], *, split: str, index: int, where: str,
                    file: Any) -> Item:  # fmt: skip
    """A row of the ``PMC-VQA`` config as a record (or a rejection naming the row)."""
    ref = f"{split}-{index:05d}"
    missing = [c for c in ("input", "label", *_PMC_OPTION_COLUMNS) if c not in row]
    if missing:
        return source.reject(
            "malformed-row", f"{where}: lacks column(s) {', '.join(missing)}", file, ref, split
        )
    text = str(row["input"] or "")
    question = text.replace("Question: ", "", 1).strip().split("\nThe choices are:")[0].strip()
    options = {letter: str(row[letter] or "").strip() for letter in _PMC_OPTION_COLUMNS}
    label = str(row["label"] or "").strip().upper()
    if label not in options:
        return source.reject(
            "unknown-answer-letter", f"{where}: label {row['label']!r} is not one of A-D", file, ref, split
        )
    image = _image(source, row, where, file, ref, split)
    if not isinstance(image, bytes):
        return image
    return source.record(question=question, options=options, label=label, source_id=ref, split=split,
                         file=file, images=[image], row=index, layout=BIOMED_HUB_ID)  # fmt: skip


def biomed_closed_item(source: Source, row: dict[str, Any], *, split: str, index: int, where: str,
                       file: Any) -> Item:  # fmt: skip
    """A row of the ``PathVQA`` / ``SLAKE`` / ``VQA_RAD`` config as a record (or a rejection)."""
    ref = f"{split}-{index:05d}"
    missing = [c for c in ("input", "label", "answer_type") if c not in row]
    if missing:
        return source.reject(
            "malformed-row", f"{where}: lacks column(s) {', '.join(missing)}", file, ref, split
        )
    problem = answer_type_problem(row["answer_type"])
    if problem:
        return source.reject(problem[0], f"{where}: {problem[1]}", file, ref, split)
    question, answer = str(row["input"] or ""), str(row["label"] or "")
    if not answer.strip():
        return source.reject("no-answer", f"{where}: empty label", file, ref, split)
    converted = closed_to_choices(question, answer)
    if converted is None:
        return source.reject(
            NO_OPTIONS,
            f"{where}: CLOSED question {question!r} with answer {answer!r}: no yes/no answer and no "
            f"alternatives in the question (the paper's options for it were written by GPT-4o)",
            file, ref, split,
        )  # fmt: skip
    image = _image(source, row, where, file, ref, split)
    if not isinstance(image, bytes):
        return image
    options, label = converted
    return source.record(
        question=question, options=options, label=label, source_id=ref, split=split, file=file,
        images=[image], original_answer=answer, paper_hash=paper_row_hash(question, answer), row=index,
        layout=BIOMED_HUB_ID,
    )  # fmt: skip
