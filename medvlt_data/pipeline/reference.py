"""The decontamination reference of a build: the questions of the benchmarks its plan names, indexed
once per build folder.

The benchmarks are those of :mod:`medvlt_data.benchmarks` (the six evaluation benchmarks, and the text
benchmarks m1 decontaminated its pool against). Their questions come from each benchmark's source
(``--source-path BENCHMARK=DIR`` or ``--source-path ADAPTER=DIR`` for a local layout, the Hub
otherwise); with ``--eval-build DIR`` the evaluation benchmarks' questions come from that finished
eval build instead, and the text benchmarks' still from their sources.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from medvlt_data.pipeline.plan import BuildError, BuildPlan, check_sources, reference_specs, resolve_specs
from medvlt_data.schema import Record

#: What to do about a benchmark whose questions cannot be read.
REFERENCE_ADVICE = (
    "give their local layouts with --source-path NAME=DIR, an eval build with --eval-build DIR, or choose "
    "the benchmarks with --decontaminate-against"
)


def benchmark_records(plan: BuildPlan) -> Iterator[tuple[str, Record]]:
    """(benchmark, record) for every question of the benchmarks the plan is decontaminated against."""
    from medvlt_data.ingest import read_source
    from medvlt_data.sources import Rejected, SourceError

    against = set(plan.decontaminate_against)
    if plan.eval_build:
        from medvlt_data.parquet_io import read_records

        for record in read_records(plan.eval_build):
            if record.split in against:  # an eval build's split is the benchmark key
                yield record.split, record
    specs = reference_specs(plan)
    resolve_specs(specs)
    check_sources(specs, REFERENCE_ADVICE)
    for spec in specs:
        try:
            for item in read_source(spec):
                if not isinstance(item, Rejected):
                    yield spec.benchmark, item
        except SourceError as exc:
            raise BuildError(
                f"decontamination needs benchmark {spec.benchmark!r} ({exc}); give its local layout with "
                f"--source-path {spec.benchmark}=DIR (or {spec.name}=DIR), an eval build with --eval-build "
                f"DIR, or choose the benchmarks with --decontaminate-against"
            ) from exc


def build_benchmark_index(plan: BuildPlan, out: str | Path) -> None:
    """Index the plan's benchmarks into ``OUT/.work/benchmark_index.npz`` (unless an index of the same
    benchmarks and layouts is there already); set ``plan.benchmark_index`` and record the number of
    questions indexed per benchmark in ``plan.params["decontamination_reference"]`` (the card shows it)."""
    from medvlt_data.pipeline.decontaminate import FORMAT, BenchmarkIndex

    if not plan.decontaminate_against:
        return
    work = Path(out) / ".work"
    path, sidecar = work / "benchmark_index.npz", work / "benchmark_index.json"
    key = {
        "against": sorted(plan.decontaminate_against),
        "paths": plan.source_paths,
        "eval_build": plan.eval_build,
        "format": FORMAT,  # an index saved by another layout is built again
    }
    saved = json.loads(sidecar.read_text()) if path.exists() and sidecar.exists() else {}
    if saved.get("key") == key:
        counts = saved["counts"]
    else:
        work.mkdir(parents=True, exist_ok=True)
        found: Counter[str] = Counter()

        def counted() -> Iterator[tuple[str, Record]]:
            for benchmark, record in benchmark_records(plan):
                found[benchmark] += 1
                yield benchmark, record

        BenchmarkIndex.build(counted()).save(path)
        counts = {b: found.get(b, 0) for b in plan.decontaminate_against}
        sidecar.write_text(json.dumps({"key": key, "counts": counts}, sort_keys=True), encoding="utf-8")
    plan.benchmark_index = str(path)
    plan.params["decontamination_reference"] = counts
