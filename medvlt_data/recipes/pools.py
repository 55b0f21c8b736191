"""The shared shape of the training-pool recipes (text-all, image-all): read, curate, decontaminate."""

from __future__ import annotations

from typing import Any

from medvlt_data.benchmarks import check_benchmarks
from medvlt_data.pipeline.plan import BuildError, BuildPlan
from medvlt_data.recipes import BuildContext, source_specs


def pool_plan(
    name: str, version: int, description: str, params: dict[str, Any], context: BuildContext
) -> BuildPlan:
    """A training-pool plan: every stage on, decontaminated against the recipe's benchmarks (or those
    the command line names)."""
    against = context.decontaminate_against
    if against is None:
        against = list(params.get("decontaminate_against", []))
    try:
        check_benchmarks(against)
    except ValueError as exc:
        raise BuildError(f"{name}: {exc}") from None
    return BuildPlan(
        name=name,
        version=version,
        description=description,
        sources=source_specs(params["sources"], context),
        dedup_exact=params.get("dedup_exact", True),
        dedup_near=params.get("dedup_near", True),
        decontaminate_against=against,
        source_paths=dict(context.source_paths),
        eval_build=context.eval_build,
        rows_per_shard=int(params.get("rows_per_shard", 20_000)),
        minhash=params.get("minhash", {}),
        params={**params, "decontaminate_against": against},
    )
