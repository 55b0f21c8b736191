"""The shared shape of the training-pool recipes (text-all, image-all): read, curate, decontaminate."""

from __future__ import annotations

from typing import Any

from medvlt_data.pipeline.build import BuildPlan
from medvlt_data.recipes import BuildContext, source_specs


def pool_plan(
    name: str, version: int, description: str, params: dict[str, Any], context: BuildContext
) -> BuildPlan:
    """A training-pool plan: every stage on, decontaminated against the eval benchmarks."""
    from medvlt_data.recipes.benchmarks import benchmark_index

    against = context.decontaminate_against
    if against is None:
        against = params.get("decontaminate_against", [])
    plan = BuildPlan(
        name=name,
        version=version,
        description=description,
        sources=source_specs(params["sources"], context),
        dedup_exact=params.get("dedup_exact", True),
        dedup_near=params.get("dedup_near", True),
        decontaminate=bool(against),
        rows_per_shard=int(params.get("rows_per_shard", 20_000)),
        minhash=params.get("minhash", {}),
        params={**params, "decontaminate_against": against},
    )
    if against:
        index, counts = benchmark_index(against, context)
        plan.benchmark_index = str(index)
        plan.params["decontamination_reference"] = counts  # questions indexed per benchmark (the card)
    return plan


def hard_plan(
    name: str, version: int, description: str, base: str, params: dict[str, Any], context: BuildContext
) -> BuildPlan:
    """A hard split: the ``base`` pool's plan plus the difficulty stage (recipe's ``difficulty``
    block, overridden by the command line's scoring options)."""
    from medvlt_data.pipeline.build import BuildError
    from medvlt_data.pipeline.difficulty import settings_from_params
    from medvlt_data.recipes import recipe_params

    base_params = recipe_params(base)
    plan = pool_plan(name, version, description, base_params, context)
    from medvlt_data.inference.backends import BackendError

    try:
        plan.difficulty = settings_from_params(params.get("difficulty", {}), context.scoring)
        plan.difficulty.backend.preflight()
    except (TypeError, ValueError, BackendError) as exc:
        raise BuildError(f"{name}: {exc}") from exc
    plan.params = {**plan.params, "base": base, "difficulty": plan.difficulty.summary()}
    return plan
