"""MedQA + MedMCQA + PubMedQA + HeadQA train pools: the text-only training pool, curated.

Sources: GBaker/MedQA-USMLE-4-options (CC-BY-4.0), openlifescienceai/medmcqa (Apache-2.0),
qiaojin/PubMedQA pqa_labeled (MIT; m1's train half), openlifescienceai/headqa (MIT); train splits.
Purpose: the recipe's text pool (about 23.5k questions after curation in the paper), input to
the difficulty stage (text-hard) and distillation. Exact and near-duplicate questions are removed,
and so is anything overlapping the six evaluation benchmarks or the text benchmarks m1
decontaminated against (MedQA test, MedMCQA validation, m1's PubMedQA test half, five MMLU medical
subjects, MMLU-Pro, GPQA-diamond).
"""

from __future__ import annotations

from typing import Any

from medvlt_data.pipeline.plan import BuildPlan
from medvlt_data.recipes import BuildContext

VERSION = 2  # 2: PubMedQA's m1 train half; decontaminated against the text benchmarks too


def plan(split: str, params: dict[str, Any], context: BuildContext) -> BuildPlan:
    from medvlt_data.recipes.pools import pool_plan

    return pool_plan(split, VERSION, __doc__, params, context)
