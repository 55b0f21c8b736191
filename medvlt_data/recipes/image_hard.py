"""image-all plus difficulty scoring: questions a base model answers correctly 1 to 7 times in 16.

Sources: those of image-all. Purpose: the RLVR training set of the recipe. The difficulty stage
(k rollouts of a base model through an OpenAI-compatible server, pass_count, band filter) is not
part of medvlt yet, so this split refuses to build rather than silently skip it.
"""

from __future__ import annotations

from typing import Any

from medvlt_data.pipeline.build import BuildPlan
from medvlt_data.recipes import BuildContext

VERSION = 1


def plan(params: dict[str, Any], context: BuildContext) -> BuildPlan:
    from medvlt_data.recipes.pools import refuse_without_scoring

    return refuse_without_scoring("image-hard", "image-all")
