"""MedVLThinker's four released datasets: their real layouts, and one row of them as a medvlt record.

The releases (UCSC-VLAA/MedVLThinker scripts/upload_weights/upload_datasets.py:33-38, README.md:191-196)
are copies of the authors' working repositories, made by ``datasets``' ``push_to_hub`` (so one
``data/{split}-NNNNN-of-NNNNN.parquet`` shard set per split, images as a ``Sequence(Image())`` column,
i.e. a list of ``{"bytes", "path"}`` structs in the Parquet file):

- ``UCSC-VLAA/MedVLThinker-Eval`` (from ``med-vlm-eval-v2``), split ``test``, 8,220 rows:
  ``images, question, options, answer_label, answer, hash, dataset_name, reasoning, misc,
  dataset_index``. PMC-VQA, PathVQA, SLAKE and VQA-RAD rows come from ``med-vlm-eval``
  (data_process/prepare_vlm_eval_data.py:27-56 and 182-254: ``AdaptLLM/biomed-VQA-benchmark``,
  ``answer_type == "CLOSED"``, options written by a model, ``dataset_name`` ``pmc_vqa``,
  ``pathvqa_closed``, ``slake_closed``, ``vqa_rad_closed``; ``hash`` is null for pmc_vqa); MMMU and
  MedXpertQA rows are added by data_process/prepare_vlm_eval_data_v2.py:130-181 and 246-291
  (``dataset_name`` ``MMMU-medical`` and ``MedXpertQA-MM``, ``reasoning`` and ``hash`` null, ``misc`` a
  JSON text of the source's extra fields); ``dataset_index`` is renumbered 0..N-1 over the whole set
  (prepare_vlm_eval_data_v2.py:203-208). The images are not resized (the resized copy,
  ``med-vlm-eval-qwen2_5_vl_size`` of data_process/train_dataset/resize_image.py:56-95, is not the
  release). eval/run_offline_inference_v2.py:439-442 evaluates on it by default, split ``test``, reading
  ``options`` with ``json.loads`` (line 326) and converting the images to RGB only (line 341).
- ``UCSC-VLAA/MedVLThinker-pmc_vqa`` (from ``med-vlm-pmc_vqa``), split ``train``:
  data_process/train_dataset/prepare_pmc_vqa.py:141-171: ``images, question, options, answer_label,
  answer, dataset_name`` (``pmc_vqa``), ``hash`` (null), ``dataset_index`` (int32); images resized into
  28..1024 px before the push; no ``reasoning`` column.
- ``UCSC-VLAA/MedVLThinker-pmc_vqa-gpt_4o_reasoning-tokenized``, split ``train``: the pmc_vqa columns
  plus ``reasoning`` (merge_pmc_vqa_cot.py:51-57), only rows with a reasoning
  (convert_trl_format_for_vlm.py:129), plus ``text``, the chat-template rendering of prompt and target
  (convert_trl_format_for_vlm.py:19-51).
- ``UCSC-VLAA/MedVLThinker-m23k-tokenized``, split ``train``: text-only, the m23k columns
  (``question, options, answer_label, answer, reasoning, dataset_name, dataset_index``) plus ``text``
  (data_process/train_dataset/convert_trl_format.py:19-43); eval/estimate_pass_rate.sh:3-9 rolls it
  out with eval/run_offline_inference.py, which reads ``row.get("images", None)`` (line 340), so an
  absent images column is read as no images.

``pass_count`` is not a released column (data_process/train_dataset/assign_pass_count.py:62-99 adds it
to a local copy, ``-1`` meaning "not evaluated"); a copy that has it keeps it (``-1`` -> none). The
``text`` column is not kept: medvlt formats prompts and targets from the fields.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from medvlt_data.parquet_io import shard_split
from medvlt_data.schema import Record, from_medvlthinker

__all__ = [
    "CONVERTER_VERSION",
    "EVAL_DATASET_NAMES",
    "PAPER_EVAL_DATASET",
    "RELEASES",
    "ReleasedLayoutError",
    "benchmark_of",
    "check_columns",
    "is_eval_release",
    "released_record",
]

#: Version of the conversion below; a cached conversion made by another version is made again.
CONVERTER_VERSION = 1
#: The paper's eval set, as eval/run_offline_inference_v2.py:439 names it.
PAPER_EVAL_DATASET = "UCSC-VLAA/MedVLThinker-Eval"
#: The released repositories and the split each holds (see the module docstring).
RELEASES = {
    "UCSC-VLAA/MedVLThinker-Eval": "test",
    "UCSC-VLAA/MedVLThinker-pmc_vqa": "train",
    "UCSC-VLAA/MedVLThinker-pmc_vqa-gpt_4o_reasoning-tokenized": "train",
    "UCSC-VLAA/MedVLThinker-m23k-tokenized": "train",
}
#: ``dataset_name`` values of MedVLThinker-Eval -> medvlt's benchmark keys (prepare_vlm_eval_data.py:229-234,
#: prepare_vlm_eval_data_v2.py:156 and 268; the same names key analysis/plot_pass_n.ipynb's tables).
EVAL_DATASET_NAMES = {
    "pmc_vqa": "pmc_vqa",
    "MMMU-medical": "mmmu_medical",
    "MedXpertQA-MM": "medxpertqa_mm",
    "pathvqa_closed": "pathvqa",
    "slake_closed": "slake",
    "vqa_rad_closed": "vqa_rad",
}
#: Columns every released row has.
_REQUIRED = ("question", "options", "answer_label", "answer", "dataset_name", "dataset_index")


class ReleasedLayoutError(ValueError):
    """A file or row that is not in a MedVLThinker release's layout; the message says what is missing."""


def _squash(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


_BY_SQUASHED = {
    **{_squash(bench): bench for bench in EVAL_DATASET_NAMES.values()},
    **{_squash(name): bench for name, bench in EVAL_DATASET_NAMES.items()},
}


def benchmark_of(name: str) -> str | None:
    """The benchmark key of a MedVLThinker-Eval ``dataset_name`` (the released names, or medvlt's keys,
    compared without case and punctuation), or None.

    >>> benchmark_of("pathvqa_closed"), benchmark_of("MMMU-medical"), benchmark_of("VQA-RAD"), benchmark_of("medqa")
    ('pathvqa', 'mmmu_medical', 'vqa_rad', None)
    """
    return _BY_SQUASHED.get(_squash(name))


def is_eval_release(repo_id: str) -> bool:
    """Whether ``repo_id`` is (a copy of) MedVLThinker-Eval: its name ends with ``Eval``."""
    return repo_id.lower().rstrip("/").endswith("eval")


def check_columns(columns: list[str], file: str, *, is_eval: bool) -> None:
    """Refuse a Parquet file whose columns are not a MedVLThinker release's (naming the file and what
    is missing); the Eval also needs ``images``."""
    required = (*_REQUIRED, "images") if is_eval else _REQUIRED
    missing = [c for c in required if c not in columns]
    if missing:
        raise ReleasedLayoutError(
            f"{file} lacks column(s) {', '.join(missing)} of MedVLThinker's released layout "
            f"(has {', '.join(columns)})"
        )


def released_record(row: dict[str, Any], *, shard: str, is_eval: bool) -> Record:
    """One released row -> a Record.

    ``source`` is the row's ``dataset_name`` as released, ``source_id`` its ``dataset_index``; ``hash``,
    ``dataset_index`` and the parsed ``misc`` go to ``meta``. The split is the shard's (``train-...``)
    for the training releases; for the Eval it is the benchmark, so the folder reads as an ``eval``
    build. Image bytes are taken as stored.
    """
    if row.get("dataset_index") is None:
        raise ReleasedLayoutError("dataset_index is null")
    try:
        record = from_medvlthinker(row, split=shard_split(Path(shard)))
    except (ValueError, TypeError) as exc:  # options that are not JSON, an undecodable image entry
        raise ReleasedLayoutError(f"{type(exc).__name__}: {exc}") from None
    meta: dict[str, Any] = {**record.meta, "dataset_index": int(row["dataset_index"])}
    if row.get("misc"):
        try:
            meta["misc"] = json.loads(row["misc"])
        except (TypeError, ValueError):
            meta["misc"] = row["misc"]
    pass_count = row.get("pass_count")
    if isinstance(pass_count, int) and pass_count >= 0:
        record.pass_count = pass_count
    if is_eval:
        benchmark = benchmark_of(record.source)
        if benchmark is None:
            raise ReleasedLayoutError(
                f"dataset_name {record.source!r} is none of the six benchmarks "
                f"({', '.join(EVAL_DATASET_NAMES)})"
            )
        record.split = benchmark
    record.meta = meta
    return record
