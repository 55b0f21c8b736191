"""The six evaluation benchmarks of the paper, as one dataset with one split per benchmark.

Sources: PMC-VQA test (2,000), MMMU medical validation+dev multiple-choice (170), MedXpertQA MM test
(2,000), PathVQA test closed (3,362), SLAKE English test closed (416), VQA-RAD test closed (272):
8,220 questions when every source is complete. Licenses: those of each benchmark.
Purpose: `medvlt eval`, and the reference set that training pools are decontaminated against.
No deduplication and no decontamination: the benchmarks are kept exactly as published, closed
questions turned into multiple choice by the documented rule.
"""

from __future__ import annotations

from typing import Any

from medvlt_data.pipeline.build import BuildPlan
from medvlt_data.recipes import BuildContext, source_specs

VERSION = 1


def plan(params: dict[str, Any], context: BuildContext) -> BuildPlan:
    return BuildPlan(
        name="eval",
        version=VERSION,
        description=__doc__,
        sources=source_specs(params["sources"], context),
        dedup_exact=False,
        dedup_near=False,
        decontaminate=False,
        rows_per_shard=int(params.get("rows_per_shard", 20_000)),
        params=params,
    )
