"""MedQA + MedMCQA + PubMedQA + HeadQA train pools: the text-only training pool, curated.

Sources: GBaker/MedQA-USMLE-4-options (CC-BY-4.0), openlifescienceai/medmcqa (Apache-2.0),
qiaojin/PubMedQA pqa_labeled (MIT), openlifescienceai/headqa (MIT); train splits.
Purpose: the recipe's text pool (about 23.5k questions after curation in the paper), input to
difficulty scoring (text-hard) and distillation. Exact and near-duplicate questions are removed,
and so is anything overlapping the six evaluation benchmarks.
"""

from __future__ import annotations

from typing import Any

from medvlt_data.pipeline.build import BuildPlan
from medvlt_data.recipes import BuildContext

VERSION = 1


def plan(params: dict[str, Any], context: BuildContext) -> BuildPlan:
    from medvlt_data.recipes.pools import pool_plan

    return pool_plan("text-all", VERSION, __doc__, params, context)
