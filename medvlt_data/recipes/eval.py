"""The six evaluation benchmarks of the paper, built from their raw sources, one split per benchmark.

Sources: PMC-VQA test (2,000), MMMU medical validation+dev multiple-choice (170), MedXpertQA MM test
(2,000), PathVQA test closed (3,362), SLAKE English test closed (416), VQA-RAD test closed (272):
8,220 questions in the paper. Licenses: those of each benchmark.
Purpose: the documented alternative to the paper's released set (``medvlt eval`` evaluates on
UCSC-VLAA/MedVLThinker-Eval by default), and the reference set that training pools are
decontaminated against. No deduplication and no decontamination: the benchmarks are kept as
published, closed questions turned into multiple choice by the documented rule, images as released
(never resized). The card compares each benchmark's count with the paper's and says why they differ.
Each benchmark's Hub id, adapter, splits, count and count note are its record in
:mod:`medvlt_data.benchmarks`.
"""

from __future__ import annotations

from typing import Any

from medvlt_data.benchmarks import BENCHMARKS, EVAL_BENCHMARKS, check_benchmarks
from medvlt_data.pipeline.plan import BuildError, BuildPlan
from medvlt_data.recipes import BuildContext, source_specs

VERSION = 1


def plan(split: str, params: dict[str, Any], context: BuildContext) -> BuildPlan:
    try:
        check_benchmarks(params["benchmarks"], EVAL_BENCHMARKS)
    except ValueError as exc:
        raise BuildError(f"{split}: {exc}") from None
    entries = [entry for key in params["benchmarks"] for entry in BENCHMARKS[key].entries()]
    return BuildPlan(
        name=split,
        version=VERSION,
        description=__doc__,
        sources=source_specs(entries, context),
        dedup_exact=False,
        dedup_near=False,
        resize_images=False,
        rows_per_shard=int(params.get("rows_per_shard", 20_000)),
        params=params,
    )
