"""Running a build: the stages of a recipe on a datatrove executor, then the finished dataset.

Stages (each a datatrove pipeline; logs and completion marks under ``OUT/.work/logs/<stage>``, so
an interrupted build re-run with the same arguments skips the tasks that finished):

1. ``prepare`` (``workers`` tasks): read -> normalize -> validate -> images -> stage shards;
2. ``merge`` (1 task): canonical order, exact dedup, canonical shards of ``rows_per_shard`` rows;
3. ``minhash-*`` (near-duplicate questions, when the recipe asks): batched signatures and buckets
   (:mod:`~medvlt_data.pipeline.near_dedup`), then datatrove's clustering;
4. ``finish`` (a task per canonical shard): near-dup filter -> decontamination -> record writer;
   then, for the hard splits, ``score`` (1 task): k rollouts per question through an
   OpenAI-compatible server, pass_count, the difficulty band (:mod:`.difficulty`);
5. ``finalize`` (1 task): :func:`finalize` assembles ``data/{split}-NNNNN-of-NNNNN.parquet``, counts every record in
and out, computes the content hash and writes ``stats.json`` and the dataset card.

On Slurm the stages are submitted as one chain of array jobs, each depending on the previous.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
from datatrove.pipeline.base import PipelineStep

from medvlt_data import __version__
from medvlt_data.parquet_io import record_features
from medvlt_data.pipeline.merge import CanonicalMerge
from medvlt_data.pipeline.steps import (
    Normalize,
    RecipeReader,
    RecordReader,
    RecordShardWriter,
    SourceSpec,
    Validate,
)
from medvlt_data.pipeline.storage import StageWriter, count_rejects, document_reader, rejects_writer


class BuildError(RuntimeError):
    """A build that cannot run or did not finish (the message says which stage and why)."""


@dataclass
class BuildPlan:
    """What a recipe asks for: its sources and which curation stages run."""

    name: str
    version: int
    description: str
    sources: list[SourceSpec]
    dedup_exact: bool = True
    dedup_near: bool = True
    decontaminate: bool = True
    rows_per_shard: int = 20_000  # canonical shard size: bounds the memory of every later task
    max_shards: int = 256  # the task count of later stages on Slurm, where it is fixed before the data
    minhash: dict[str, Any] = field(
        default_factory=lambda: {"n_grams": 5, "num_buckets": 14, "hashes_per_bucket": 8}
    )
    benchmark_index: str | None = None  # path of a saved BenchmarkIndex
    difficulty: Any = None  # ScoringSettings of the hard splits: adds the "score" stage
    resize_images: bool = True  # False for eval builds: images keep their source bytes
    params: dict[str, Any] = field(default_factory=dict)
    demo: bool = False  # built from medvlt's embedded demo corpus: stats, card and results say so


@dataclass
class ExecutorOptions:
    kind: str = "local"  # local | slurm | ray
    workers: int = 1
    slurm: dict[str, Any] = field(default_factory=dict)
    ray: dict[str, Any] = field(default_factory=dict)


def early_stages(plan: BuildPlan, out: Path, workers: int) -> list[tuple[str, list, int]]:
    """(stage name, datatrove pipeline, tasks) of the stages up to the canonical shards."""
    from medvlt_data.pipeline.image_step import ImagePrep

    work = out / ".work"
    w = str(work)
    return [
        (
            "prepare",
            [
                RecipeReader(plan.sources, w, str(out)),
                Normalize(),
                Validate(exclusion_writer=rejects_writer(str(out), "validate")),
                ImagePrep(exclusion_writer=rejects_writer(str(out), "images"), resize=plan.resize_images),
                StageWriter(work / "prepared"),
            ],
            workers,
        ),
        (
            "merge",
            [
                CanonicalMerge(
                    str(work / "prepared"),
                    str(work / "canonical"),
                    str(out),
                    plan.rows_per_shard,
                    plan.max_shards,
                    plan.dedup_exact,
                )
            ],
            1,
        ),
    ]


def late_stages(plan: BuildPlan, out: Path, shards: int) -> list[tuple[str, list, int]]:
    """The stages after the merge, one task per canonical shard (``shards`` of them)."""
    work = out / ".work"
    stages: list[tuple[str, list, int]] = []
    finish: list = [document_reader(work / "canonical")]
    if plan.dedup_near:
        from datatrove.pipeline.dedup.minhash import MinhashDedupCluster, MinhashDedupFilter

        from medvlt_data.pipeline.near_dedup import MinhashBuckets, MinhashSignatures, minhash_config

        config = minhash_config(**plan.minhash)
        sigs, buckets, clusters = (
            work / "minhash" / "sigs",
            work / "minhash" / "buckets",
            work / "minhash" / "remove",
        )
        stages += [
            ("minhash-signatures", [MinhashSignatures(str(work / "canonical"), str(sigs), config=config)], shards),
            ("minhash-buckets", [MinhashBuckets(str(sigs), str(buckets), config=config)], config.num_buckets),
            ("minhash-cluster", [MinhashDedupCluster(str(buckets), str(clusters), config=config)], 1),
        ]  # fmt: skip
        near = rejects_writer(str(out), "dedup_near")
        near.default_reason = "near-duplicate"
        finish.append(MinhashDedupFilter(str(clusters), exclusion_writer=near))
    if plan.decontaminate:
        from medvlt_data.pipeline.decontaminate import DecontaminationFilter

        if not plan.benchmark_index:
            raise BuildError(f"{plan.name}: decontamination needs a benchmark index")
        finish.append(
            DecontaminationFilter(
                plan.benchmark_index, exclusion_writer=rejects_writer(str(out), "decontaminate")
            )
        )
    finish.append(RecordShardWriter(str(work / "final")))
    stages.append(("finish", finish, shards))
    if plan.difficulty is not None:
        from medvlt_data.pipeline.difficulty import DifficultyScorer

        by_pass = plan.difficulty.order == "easy-to-hard"
        scorer = DifficultyScorer(plan.difficulty, str(work), rejects_writer(str(out), "difficulty"))
        # one task: the server runs the rollouts in parallel (vLLM's data parallelism for GPUs)
        stages.append(("score", [RecordReader(str(work / "final")), scorer,
                                 RecordShardWriter(str(work / "scored"), by_pass_count=by_pass)], 1))  # fmt: skip
    stages.append(("finalize", [Finalize(plan, str(out))], 1))
    return stages


class Finalize(PipelineStep):
    """The last stage: assemble ``data/``, count, hash, write stats and card (see :func:`finalize`)."""

    name = "finalize"
    type = "medvlt"

    def __init__(self, plan: BuildPlan, out: str):
        super().__init__()
        self.plan, self.out = plan, out

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        finalize(self.plan, Path(self.out))
        return
        yield  # a generator step with no output


_PRELOAD = [
    "medvlt_data.pipeline.build",
    "medvlt_data.pipeline.steps",
    "medvlt_data.pipeline.merge",
    "medvlt_data.pipeline.image_step",
    "medvlt_data.pipeline.near_dedup",
    "medvlt_data.pipeline.decontaminate",
    "medvlt_data.sources",
]


def make_executor(options: ExecutorOptions, pipeline: list, tasks: int, logging_dir: Path, stage: str):
    """A datatrove executor of the chosen kind for one stage."""
    if options.kind == "local":
        import multiprocess
        from datatrove.executor import LocalPipelineExecutor

        # Workers fork from datatrove's forkserver; with medvlt's modules imported there once, a
        # stage's workers start in milliseconds instead of importing everything again.
        multiprocess.get_context("forkserver").set_forkserver_preload(_PRELOAD)

        return LocalPipelineExecutor(
            pipeline, tasks=tasks, workers=min(options.workers, tasks), logging_dir=str(logging_dir)
        )
    if options.kind == "ray":
        import ray
        from datatrove.executor import RayPipelineExecutor

        if not ray.is_initialized():  # joins RAY_ADDRESS when set, else starts a local instance
            ray.init(log_to_driver=False)

        return RayPipelineExecutor(
            pipeline, tasks=tasks, workers=options.workers, logging_dir=str(logging_dir), **options.ray
        )
    if options.kind == "slurm":
        from datatrove.executor import SlurmPipelineExecutor

        slurm = {"time": "24:00:00", "partition": "cpu", **options.slurm}
        return SlurmPipelineExecutor(
            pipeline, tasks=tasks, workers=options.workers, logging_dir=str(logging_dir),
            job_name=f"medvlt-{stage}", **slurm,
        )  # fmt: skip
    raise BuildError(f"unknown executor {options.kind!r}; choose local, slurm or ray")


def run_build(
    plan: BuildPlan,
    out: str | Path,
    options: ExecutorOptions | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run every stage of ``plan`` into ``out`` and finalize; returns the build's stats.

    ``progress`` receives one line as each stage starts and ends.
    """
    options = options or ExecutorOptions()
    out = Path(out)
    logs = out / ".work" / "logs"
    early = early_stages(plan, out, options.workers)
    if options.kind == "slurm":  # one chain of dependent jobs, so the shard count is fixed up front
        previous = None
        stages = early + late_stages(plan, out, plan.max_shards)
        for stage, pipeline, tasks in stages:
            executor = make_executor(options, pipeline, tasks, logs / stage, stage)
            executor.depends = previous
            previous = executor
        previous.run()
        return {"submitted": [s for s, _, _ in stages], "logs": str(logs)}
    for stage, pipeline, tasks in early:
        _run_stage(stage, pipeline, tasks, options, logs, progress)
    shards = canonical_shard_count(out)
    for stage, pipeline, tasks in late_stages(plan, out, shards):
        _run_stage(stage, pipeline, tasks, options, logs, progress)
    return json.loads((out / "stats.json").read_text(encoding="utf-8"))


def canonical_shard_count(out: Path) -> int:
    """How many canonical shards the merge stage wrote."""
    return int((out / ".work" / "canonical" / "SHARDS").read_text())


def _run_stage(
    stage: str, pipeline: list, tasks: int, options: ExecutorOptions, logs: Path, progress
) -> None:
    executor = make_executor(options, pipeline, tasks, logs / stage, stage)
    started = time.perf_counter()
    if progress:
        progress(f"{stage}: {tasks} task(s) ...")
    try:
        executor.run()
    except Exception as exc:  # a task failed: datatrove has logged its traceback under logs/
        raise BuildError(
            f"stage {stage!r} failed: {type(exc).__name__}: {exc} (task logs in {logs / stage}/logs); "
            "fix the cause and re-run the same command to resume"
        ) from exc
    missing = executor.get_incomplete_ranks(range(tasks))
    if missing:
        raise BuildError(
            f"stage {stage!r}: {len(missing)} of {tasks} tasks did not finish (see {logs / stage}/logs); "
            "fix the cause and re-run the same command to resume"
        )
    if progress:
        progress(f"{stage}: done in {time.perf_counter() - started:.1f}s")


def finalize(plan: BuildPlan, out: Path) -> dict[str, Any]:
    """Assemble ``data/``, count records in and out, hash the content, write stats and card."""
    from hub_cards.dataset_card import write_dataset_card

    work = out / ".work"
    data = out / "data"
    if data.exists():
        shutil.rmtree(data)
    data.mkdir(parents=True)
    splits: dict[str, int] = {}
    per_source: Counter[str] = Counter()
    licenses: set[str] = set()
    digest = hashlib.sha256()
    written = work / ("scored" if plan.difficulty is not None else "final")
    for split_dir in sorted(p for p in written.glob("*") if p.is_dir()):
        parts = sorted(split_dir.glob("*.parquet"))
        if plan.difficulty is not None and plan.difficulty.order == "easy-to-hard":  # most passes first
            parts.sort(key=lambda p: (-int(p.stem.rsplit("-pass", 1)[1]), p.name))
        for i, part in enumerate(parts):
            target = data / f"{split_dir.name}-{i:05d}-of-{len(parts):05d}.parquet"
            shutil.copyfile(part, target)
            for batch in pq.ParquetFile(part).iter_batches(batch_size=512):  # streamed: memory stays flat
                splits[split_dir.name] = splits.get(split_dir.name, 0) + batch.num_rows
                for row in batch.to_pylist():
                    benchmark = (
                        json.loads(row["meta"]).get("benchmark") if '"benchmark"' in row["meta"] else None
                    )
                    per_source[benchmark or row["source"]] += 1
                    licenses.add(row["license"].lower() or "other")
                    digest.update(row_digest(row))
    read = Counter()
    for path in sorted((work / "read_counts").glob("*.json")):
        read.update(json.loads(path.read_text()))
    drops, dropped_by_source = count_rejects(out)
    sources = []
    for spec in plan.sources:
        key = spec.group
        sources.append({"name": key, "origin": spec.origin, "read": read[key], "kept": per_source[key],
                        "dropped": dropped_by_source[key], **spec.options})  # fmt: skip
    lost = [s["name"] for s in sources if s["read"] != s["kept"] + s["dropped"]]
    if lost:
        raise BuildError(f"records unaccounted for in sources {lost}: read != kept + dropped")
    content_hash = digest.hexdigest()
    stats = {
        "name": plan.name,
        "pretty_name": f"medvlt {plan.name}" + (" (demo)" if plan.demo else ""),
        "demo": plan.demo,
        "description": plan.description,
        "recipe_version": plan.version,
        "version": f"v{plan.version}-{content_hash[:12]}",
        "content_hash": content_hash,
        "medvlt_version": __version__,
        "num_records": sum(splits.values()),
        "num_read": sum(read.values()),
        "splits": dict(sorted(splits.items())),
        "sources": sources,
        "drops": drops,
        "decontamination": {k.split(":", 1)[1]: v for k, v in drops.get("decontaminate", {}).items()},
        "licenses": sorted(licenses) or ["other"],
        "modality": _modality(plan),
        "features": list(record_features()),
        "pass_counts": _pass_counts(plan, work),
        "difficulty": plan.difficulty.summary() if plan.difficulty is not None else None,
        "recipe": plan.params,
    }
    if any("expected" in s for s in sources):  # an eval build: its counts against the paper's
        from medvlt_data.recipes.eval import benchmark_counts

        stats["benchmark_counts"] = benchmark_counts(sources, out)
    (out / "stats.json").write_text(json.dumps(stats, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    write_dataset_card(stats, out)
    return stats


def _pass_counts(plan: BuildPlan, work: Path) -> dict[str, int] | None:
    if plan.difficulty is None:
        return None
    from medvlt_data.pipeline.difficulty import read_pass_counts

    return {str(k): v for k, v in (read_pass_counts(work) or {}).items()}


def _modality(plan: BuildPlan) -> str:
    from medvlt_data.sources import SOURCES

    kinds = {SOURCES[spec.name].modality for spec in plan.sources}
    return kinds.pop() if len(kinds) == 1 else "mixed"


def content_hash(files: list[Path]) -> str:
    """The content hash of a dataset: sha256 over :func:`row_digest` of every row of ``files``, in order
    (a build's ``data/*.parquet`` sorted by name, which is the order finalize writes them in)."""
    from medvlt_data.parquet_io import iter_rows

    digest = hashlib.sha256()
    for _, row in iter_rows(files):
        digest.update(row_digest(row))
    return digest.hexdigest()


def row_digest(row: dict) -> bytes:
    """The content-hash contribution of one record row (images by their bytes' sha256)."""
    images = [hashlib.sha256(im["bytes"] or b"").hexdigest() for im in row["images"] or []]
    fields = {k: v for k, v in row.items() if k != "images"}
    return hashlib.sha256(orjson.dumps([fields, images], option=orjson.OPT_SORT_KEYS, default=str)).digest()
