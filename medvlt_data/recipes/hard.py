"""A training pool plus difficulty: the questions a base model answers correctly 1 to 7 times in 16.

Sources: those of the pool the split builds on (its YAML's ``base``: text-all for text-hard,
image-all for image-hard). Purpose: the RLVR training sets of the recipe. The difficulty stage puts
every question ``rollouts`` times to the base model (Qwen2.5-VL-3B-Instruct through a vLLM server by
default; any OpenAI-compatible endpoint, ``transformers serve`` or generation in this process with
--backend), grades the answers with the recipe's strict grader and keeps 1 <= pass_count <= 7.
"""

from __future__ import annotations

from typing import Any

from medvlt_data.pipeline.plan import BuildError, BuildPlan
from medvlt_data.recipes import BuildContext, recipe_params

VERSION = 1


def plan(split: str, params: dict[str, Any], context: BuildContext) -> BuildPlan:
    """The ``base`` pool's plan plus the difficulty stage (the YAML's ``difficulty`` block, with the
    command line's difficulty settings in its place where given)."""
    from medvlt_data.pipeline.difficulty import settings_from_params
    from medvlt_data.recipes.pools import pool_plan

    base = params["base"]
    built = pool_plan(split, VERSION, __doc__, recipe_params(base), context)
    try:
        built.difficulty = settings_from_params(params.get("difficulty", {}), context.difficulty)
    except (TypeError, ValueError) as exc:
        raise BuildError(f"{split}: {exc}") from exc
    built.params = {**built.params, "base": base, "difficulty": built.difficulty.summary()}
    return built
