"""image-all plus difficulty scoring: questions a base model answers correctly 1 to 7 times in 16.

Sources: those of image-all. Purpose: the RLVR training set of the recipe. The difficulty stage puts
every question k times to the base model (Qwen2.5-VL-3B-Instruct through a vLLM server by default;
any OpenAI-compatible endpoint or a local ``transformers serve`` with --backend), grades the answers
with the recipe's strict grader and keeps 1 <= pass_count <= 7.
"""

from __future__ import annotations

from typing import Any

from medvlt_data.pipeline.build import BuildPlan
from medvlt_data.recipes import BuildContext

VERSION = 1


def plan(params: dict[str, Any], context: BuildContext) -> BuildPlan:
    from medvlt_data.recipes.pools import hard_plan

    return hard_plan("image-hard", VERSION, __doc__, "image-all", params, context)
