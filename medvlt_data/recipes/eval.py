"""The six evaluation benchmarks of the paper, built from their raw sources, one split per benchmark.

Sources: PMC-VQA test (2,000), MMMU medical validation+dev multiple-choice (170), MedXpertQA MM test
(2,000), PathVQA test closed (3,362), SLAKE English test closed (416), VQA-RAD test closed (272):
8,220 questions in the paper. Licenses: those of each benchmark.
Purpose: the documented alternative to the paper's released set (``medvlt eval`` evaluates on
UCSC-VLAA/MedVLThinker-Eval by default), and the reference set that training pools are
decontaminated against. No deduplication and no decontamination: the benchmarks are kept as
published, closed questions turned into multiple choice by the documented rule, images as released
(never resized). The card compares each benchmark's count with the paper's and says why they differ.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from medvlt_data.pipeline.build import BuildPlan
from medvlt_data.recipes import BuildContext, source_specs

VERSION = 1

#: Why a benchmark's count can differ from the paper's, whatever the layout it was read from.
#: The paper's construction: UCSC-VLAA/MedVLThinker data_process/prepare_vlm_eval_data.py (PMC-VQA,
#: PathVQA, SLAKE, VQA-RAD from AdaptLLM/biomed-VQA-benchmark, CLOSED rows with GPT-4o options) and
#: prepare_vlm_eval_data_v2.py (MMMU medical, MedXpertQA MM).
COUNT_NOTES = {
    "pmc_vqa": "the paper read AdaptLLM/biomed-VQA-benchmark PMC-VQA test (2,000 rows, no filter); "
    "from RadGenome/PMC-VQA test_clean.csv (also 2,000 rows) rows whose label, choices and answer "
    "disagree are dropped here",
    "mmmu_medical": "the same rule as the paper's: validation + dev of the five medical subjects, "
    "multiple-choice only",
    "medxpertqa_mm": "the same rule as the paper's: the MM test split; rows without a readable "
    "image are dropped here",
    "pathvqa": "the paper kept the 3,362 CLOSED (all yes/no) of AdaptLLM/biomed-VQA-benchmark "
    "PathVQA; from a layout without answer_type the closed-question rule decides",
    "slake": "the paper kept the 416 CLOSED English test questions and had GPT-4o write their "
    "options; CLOSED questions the rule cannot give options are dropped here (closed-no-options)",
    "vqa_rad": "the paper kept the 272 CLOSED test questions and had GPT-4o write their options; "
    "CLOSED questions the rule cannot give options are dropped here (closed-no-options); a layout "
    "without answer_type (flaviagiammarino/vqa-rad) leaves the rule alone to decide",
}


def plan(params: dict[str, Any], context: BuildContext) -> BuildPlan:
    return BuildPlan(
        name="eval",
        version=VERSION,
        description=__doc__,
        sources=source_specs(params["sources"], context),
        dedup_exact=False,
        dedup_near=False,
        decontaminate=False,
        resize_images=False,
        rows_per_shard=int(params.get("rows_per_shard", 20_000)),
        params=params,
    )


def benchmark_counts(sources: list[dict[str, Any]], out: str | Path) -> list[dict[str, Any]]:
    """Per benchmark of an eval build: its count against the paper's and the drops that explain it.

    ``sources`` are the build's per-source rows (``name``, ``read``, ``kept``, ``expected``); the
    drops are read from ``out/rejects``. Each row: ``benchmark``, ``paper`` (the paper's count),
    ``kept``, ``difference`` (kept - paper), ``drops`` (reason -> count for this benchmark) and
    ``note`` (why the construction can differ, :data:`COUNT_NOTES`).
    """
    reasons: dict[str, Counter[str]] = {}
    for path in sorted((Path(out) / "rejects").glob("*/*.jsonl")):
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    reject = json.loads(line)
                    reasons.setdefault(reject["source"], Counter())[reject["reason"]] += 1
    rows = []
    for source in sources:
        if "expected" not in source:
            continue
        name = source["name"]
        rows.append({
            "benchmark": name,
            "paper": int(source["expected"]),
            "kept": int(source["kept"]),
            "difference": int(source["kept"]) - int(source["expected"]),
            "drops": dict(sorted(reasons.get(name, Counter()).items())),
            "note": COUNT_NOTES.get(name, ""),
        })  # fmt: skip
    return rows
