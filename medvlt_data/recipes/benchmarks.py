"""The evaluation benchmarks as a decontamination index, built once per build folder.

Two sets of benchmark definitions: the six VQA benchmarks of the ``eval`` recipe (``eval.yaml``) and
the text benchmarks m1 decontaminated its pool against (``text_benchmarks.yaml``: MedQA test, MedMCQA
validation, m1's PubMedQA test half, the five MMLU medical subjects, MMLU-Pro, GPQA-diamond). The
questions come from each entry's source (``--source-path BENCHMARK=DIR`` or ``--source-path
SOURCE=DIR`` for a local layout, the Hub otherwise); with ``--eval-build DIR`` the eval recipe's
benchmarks come from that finished eval build instead, and the text benchmarks still from their sources.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from medvlt_data.pipeline.build import BuildError
from medvlt_data.recipes import BuildContext, recipe_params, source_specs
from medvlt_data.schema import Record

#: The file of the text benchmarks' definitions (beside the recipes).
TEXT_BENCHMARKS_FILE = "text_benchmarks.yaml"


def text_benchmark_entries() -> list[dict[str, Any]]:
    """The entries of ``text_benchmarks.yaml`` (same keys as the eval recipe's sources)."""
    text = resources.files("medvlt_data.recipes").joinpath(TEXT_BENCHMARKS_FILE).read_text(encoding="utf-8")
    return list((yaml.safe_load(text) or {}).get("sources", []))


def benchmark_entries() -> list[dict[str, Any]]:
    """Every benchmark definition: the eval recipe's six, then the text benchmarks."""
    return list(recipe_params("eval")["sources"]) + text_benchmark_entries()


def known_benchmarks() -> list[str]:
    """Benchmark names, in definition order, each once."""
    return list(dict.fromkeys(e["benchmark"] for e in benchmark_entries()))


def benchmark_records(against: list[str], context: BuildContext) -> Iterator[tuple[str, Record]]:
    """(benchmark, record) for every question of the named benchmarks."""
    from medvlt_data.sources import Rejected, SourceError, get_source

    unknown = sorted(set(against) - set(known_benchmarks()))
    if unknown:
        raise BuildError(f"unknown benchmark(s) {unknown}; known: {known_benchmarks()}")
    entries = benchmark_entries()
    if context.eval_build:
        from medvlt_data.parquet_io import read_records

        in_build = {e["benchmark"] for e in recipe_params("eval")["sources"]}
        for record in read_records(context.eval_build):
            benchmark = record.meta.get("benchmark") or record.source
            if benchmark in against:
                yield benchmark, record
        entries = text_benchmark_entries()
        against = [b for b in against if b not in in_build]
    entries = [e for e in entries if e["benchmark"] in against]
    if not entries:
        return
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
                f"--source-path {spec.benchmark}=DIR (or {spec.name}=DIR), an eval build with --eval-build "
                f"DIR, or choose the benchmarks with --decontaminate-against"
            ) from exc


def benchmark_index(against: list[str], context: BuildContext) -> tuple[Path, dict[str, int]]:
    """Path of the saved index of ``against`` under ``OUT/.work`` (built unless already there), and
    the number of questions indexed per benchmark."""
    from medvlt_data.pipeline.decontaminate import BenchmarkIndex

    work = context.out / ".work"
    path, sidecar = work / "benchmark_index.npz", work / "benchmark_index.json"
    key = {"against": sorted(against), "paths": context.source_paths, "eval_build": context.eval_build}
    if path.exists() and sidecar.exists():
        saved = json.loads(sidecar.read_text())
        if saved.get("key") == key:
            return path, saved["counts"]
    work.mkdir(parents=True, exist_ok=True)
    counts: Counter[str] = Counter()

    def counted() -> Iterator[tuple[str, Record]]:
        for benchmark, record in benchmark_records(against, context):
            counts[benchmark] += 1
            yield benchmark, record

    index = BenchmarkIndex.build(counted())
    index.save(path)
    ordered = {b: counts.get(b, 0) for b in against}
    sidecar.write_text(json.dumps({"key": key, "counts": ordered}, sort_keys=True), encoding="utf-8")
    return path, ordered
