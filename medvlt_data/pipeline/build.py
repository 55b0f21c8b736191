"""Running a build: the stages of a recipe on a datatrove executor, then the finished dataset.

Stages (each a datatrove pipeline; logs and completion marks under ``OUT/.work/logs/<stage>``, so
an interrupted build re-run with the same arguments skips the tasks that finished):

1. ``prepare`` (``workers`` tasks): read -> normalize -> validate -> images -> dedup key -> stage shards;
2. ``dedup-exact`` (1 task): canonical order, exact dedup (:mod:`.exact_dedup`), canonical shards of
   ``rows_per_shard`` rows;
3. ``minhash-*`` (near-duplicate questions, when the recipe asks): batched signatures and buckets
   (:mod:`~medvlt_data.pipeline.near_dedup`), then datatrove's clustering;
4. ``finish`` (a task per canonical shard): near-dup filter -> decontamination -> record writer;
   then, for the hard splits, ``difficulty`` (1 task): rollouts of every question through an
   OpenAI-compatible server, pass_count, the difficulty band (:mod:`.difficulty`);
5. ``finalize`` (1 task): :func:`.write.finalize` assembles ``data/{split}-NNNNN-of-NNNNN.parquet``, counts every record in
and out, computes the content hash and writes ``stats.json`` and the dataset card.

Before the first stage, :func:`run_build` claims ``OUT`` (:mod:`medvlt_data.out_folder`: a folder that
is not a medvlt build is refused unless ``overwrite``), resolves the plan's local layouts, checks its
sources and backend, checks the build's fingerprint (:mod:`medvlt_data.fingerprint`: a re-run into a
folder holding other work is refused, naming what changed) and builds its decontamination reference
(:mod:`.plan`, :mod:`.reference`). A resumed build keeps the prepare stage's task count it started with.
On Slurm the stages are submitted as one chain of array jobs, each depending on the previous.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medvlt_data.pipeline.exact_dedup import STAGE_COLUMNS, DedupExact, DedupKey
from medvlt_data.pipeline.plan import BuildError, BuildPlan, check_plan, reference_specs, resolve_specs
from medvlt_data.pipeline.prepare import Normalize, RecipeReader, Validate
from medvlt_data.pipeline.storage import StageWriter, document_reader, rejects_writer
from medvlt_data.pipeline.write import Finalize, RecordReader, RecordShardWriter


@dataclass
class ExecutorOptions:
    """Where the stages run: ``executor`` local, slurm or ray, with ``workers`` tasks at a time."""

    executor: str = "local"  # local | slurm | ray
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
                DedupKey(),
                StageWriter(work / "prepared", STAGE_COLUMNS),
            ],
            workers,
        ),
        (
            "dedup-exact",
            [
                DedupExact(
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
    """The stages after exact dedup, one task per canonical shard (``shards`` of them)."""
    work = out / ".work"
    stages: list[tuple[str, list, int]] = []
    finish: list = [document_reader(work / "canonical")]
    if plan.dedup_near:
        from medvlt_data.pipeline.near_dedup import minhash_config, near_dedup_stages

        minhash, near_filter = near_dedup_stages(
            work / "canonical", work, str(out), shards, minhash_config(**plan.minhash)
        )
        stages += minhash
        finish.append(near_filter)
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
        stages.append(("difficulty", [RecordReader(str(work / "final")), scorer,
                                 RecordShardWriter(str(work / "scored"), by_pass_count=by_pass)], 1))  # fmt: skip
    stages.append(("finalize", [Finalize(plan, str(out))], 1))
    return stages


_PRELOAD = [
    "medvlt_data.pipeline.build",
    "medvlt_data.pipeline.prepare",
    "medvlt_data.pipeline.image_step",
    "medvlt_data.pipeline.exact_dedup",
    "medvlt_data.pipeline.near_dedup",
    "medvlt_data.pipeline.decontaminate",
    "medvlt_data.pipeline.write",
    "medvlt_data.sources",
]


def _no_variable_dumps() -> None:
    """Task logs keep a failed task's traceback but not loguru's dump of every variable's value (which
    may hold record text or a credential): its handlers are added without ``diagnose`` and ``backtrace``,
    here and in the worker processes (through loguru's environment defaults, read when they start)."""
    import os

    from loguru import logger

    os.environ.setdefault("LOGURU_DIAGNOSE", "NO")
    os.environ.setdefault("LOGURU_BACKTRACE", "NO")
    if not getattr(logger.add, "medvlt_quiet", False):
        add = logger.add

        def quiet_add(*args: Any, **kwargs: Any) -> int:
            kwargs.setdefault("diagnose", False)
            kwargs.setdefault("backtrace", False)
            return add(*args, **kwargs)

        quiet_add.medvlt_quiet = True  # type: ignore[attr-defined]
        logger.add = quiet_add  # datatrove adds each task's handlers through this one logger


def make_executor(options: ExecutorOptions, pipeline: list, tasks: int, logging_dir: Path, stage: str):
    """A datatrove executor of the chosen kind for one stage."""
    _no_variable_dumps()
    if options.executor == "local":
        import multiprocess
        from datatrove.executor import LocalPipelineExecutor

        # Workers fork from datatrove's forkserver; with medvlt's modules imported there once, a
        # stage's workers start in milliseconds instead of importing everything again.
        multiprocess.get_context("forkserver").set_forkserver_preload(_PRELOAD)

        return LocalPipelineExecutor(
            pipeline, tasks=tasks, workers=min(options.workers, tasks), logging_dir=str(logging_dir)
        )
    if options.executor == "ray":
        import ray
        from datatrove.executor import RayPipelineExecutor

        if not ray.is_initialized():  # joins RAY_ADDRESS when set, else starts a local instance
            ray.init(log_to_driver=False)

        return RayPipelineExecutor(
            pipeline, tasks=tasks, workers=options.workers, logging_dir=str(logging_dir), **options.ray
        )
    if options.executor == "slurm":
        from datatrove.executor import SlurmPipelineExecutor

        slurm = {"time": "24:00:00", "partition": "cpu", **options.slurm}
        return SlurmPipelineExecutor(
            pipeline, tasks=tasks, workers=options.workers, logging_dir=str(logging_dir),
            job_name=f"medvlt-{stage}", **slurm,
        )  # fmt: skip
    raise BuildError(f"unknown executor {options.executor!r}; choose local, slurm or ray")


def run_build(
    plan: BuildPlan,
    out: str | Path,
    options: ExecutorOptions | None = None,
    progress: Callable[[str], None] | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Claim ``out``, resolve and check ``plan`` and its fingerprint, build its decontamination reference,
    then run every stage into ``out`` and finalize; returns the build's stats.

    ``overwrite`` starts over in a folder that is not this build's (only medvlt's own files are removed);
    ``progress`` receives one line as each stage starts and ends.
    """
    from medvlt_data.out_folder import FolderError, claim
    from medvlt_data.pipeline.reference import build_benchmark_index

    options = options or ExecutorOptions()
    out = Path(out)
    resolve_specs(plan.sources)
    commits = check_plan(plan)
    try:  # after the checks, which write nothing: a plan that cannot run leaves no folder behind
        claim(out, "build", overwrite=overwrite)
        tasks = settle_build(plan, out, commits, options.workers)
    except FolderError as exc:
        raise BuildError(str(exc)) from None
    build_benchmark_index(plan, out)
    logs = out / ".work" / "logs"
    early = early_stages(plan, out, tasks)
    if options.executor == "slurm":  # one chain of dependent jobs, so the shard count is fixed up front
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


def settle_build(plan: BuildPlan, out: Path, commits: dict[str, str], workers: int) -> int:
    """Check the fingerprint of ``plan`` against the one ``out`` was started with (or record it) and
    return the prepare stage's task count: the one the build started with, else ``workers``."""
    from medvlt_data.fingerprint import FileHashes, build_fingerprint
    from medvlt_data.out_folder import settle_fingerprint, write_marker

    hashes = FileHashes(out / ".work")
    fingerprint = build_fingerprint(plan, reference_specs(plan), hashes, commits)
    hashes.save()
    marker = settle_fingerprint(out, fingerprint, "a build")
    tasks = marker.get("prepare_tasks")
    if tasks is None:
        tasks = marker["prepare_tasks"] = workers
        write_marker(out, marker)
    return int(tasks)


def canonical_shard_count(out: Path) -> int:
    """How many canonical shards the dedup-exact stage wrote."""
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
