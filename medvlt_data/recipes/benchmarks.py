"""The evaluation benchmarks as a decontamination index, built once per build folder.

The benchmark questions come from the ``eval`` recipe's sources (``--source-path`` for local
layouts, the Hub otherwise) or from a finished eval build (``--eval-build DIR``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from medvlt_data.pipeline.build import BuildError
from medvlt_data.recipes import BuildContext, recipe_params, source_specs
from medvlt_data.schema import Record


def benchmark_records(against: list[str], context: BuildContext) -> Iterator[tuple[str, Record]]:
    """(benchmark, record) for every question of the named benchmarks."""
    from medvlt_data.sources import Rejected, SourceError, get_source

    if context.eval_build:
        from medvlt_data.parquet_io import read_records

        for record in read_records(context.eval_build):
            benchmark = record.meta.get("benchmark") or record.source
            if benchmark in against:
                yield benchmark, record
        return
    entries = [e for e in recipe_params("eval")["sources"] if e["benchmark"] in against]
    unknown = sorted(set(against) - {e["benchmark"] for e in entries})
    if unknown:
        raise BuildError(
            f"unknown benchmark(s) {unknown}; known: {[e['benchmark'] for e in recipe_params('eval')['sources']]}"
        )
    for spec in source_specs(entries, replace(context, only_sources=None)):
        source = get_source(spec.name, spec.config)
        try:
            for split in spec.splits or [None]:
                for item in source.read(path=spec.path, hub=spec.hub, split=split, revision=spec.revision):
                    if not isinstance(item, Rejected):
                        yield spec.benchmark, item
        except SourceError as exc:
            raise BuildError(
                f"decontamination needs benchmark {spec.benchmark!r} ({exc}); give its local layout with "
                f"--source-path {spec.name}=DIR, an eval build with --eval-build DIR, or choose the "
                f"benchmarks with --decontaminate-against"
            ) from exc


def benchmark_index(against: list[str], context: BuildContext) -> Path:
    """Path of the saved index of ``against`` under ``OUT/.work`` (built unless already there)."""
    from medvlt_data.pipeline.decontaminate import BenchmarkIndex

    work = context.out / ".work"
    path, sidecar = work / "benchmark_index.npz", work / "benchmark_index.json"
    key = {"against": sorted(against), "paths": context.source_paths, "eval_build": context.eval_build}
    if path.exists() and sidecar.exists() and json.loads(sidecar.read_text()) == key:
        return path
    work.mkdir(parents=True, exist_ok=True)
    index = BenchmarkIndex.build(benchmark_records(against, context))
    index.save(path)
    sidecar.write_text(json.dumps(key, sort_keys=True), encoding="utf-8")
    return path
