"""A build plan: what a recipe asks for, and the checks between the plan and the first stage.

A recipe (:func:`medvlt_data.recipes.make_plan`) returns a :class:`BuildPlan` without touching a file
or the network, so a plan can be printed (:func:`describe_plan`, ``medvlt data build --dry-run``) and
tested without data. :func:`~medvlt_data.pipeline.build.run_build` then takes these steps, each of
its own, before any stage starts:

1. :func:`resolve_specs` of the plan's sources: which of the recipe's splits each local layout holds;
2. :func:`check_plan`: every Hub source can be read (and the commit it resolves to) and the difficulty
   backend can start here;
3. ``OUT`` is claimed (:func:`~medvlt_data.out_folder.claim`) and
   :func:`~medvlt_data.pipeline.build.settle_build` checks the plan's fingerprint
   (:func:`~medvlt_data.fingerprint.build_fingerprint`) against the one the folder was started with;
4. :func:`~medvlt_data.pipeline.reference.build_benchmark_index`: the decontamination reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medvlt_data.benchmarks import BENCHMARKS
from medvlt_data.ingest import SourceSpec

if TYPE_CHECKING:
    from medvlt_data.pipeline.difficulty import DifficultySettings

__all__ = ["BuildError", "BuildPlan", "check_plan", "check_sources", "describe_plan", "reference_specs",
           "resolve_specs", "source_spec", "stage_names"]  # fmt: skip

#: What to do about a training source that cannot be read.
SOURCE_ADVICE = (
    "give their local layouts with --source-path NAME=DIR, or build without them with --sources NAME,NAME"
)


class BuildError(RuntimeError):
    """A build that cannot run or did not finish (the message says which stage and why)."""


@dataclass
class BuildPlan:
    """What a recipe asks for: its sources, which curation stages run and with what settings."""

    name: str
    version: int
    description: str
    sources: list[SourceSpec]
    dedup_exact: bool = True
    dedup_near: bool = True
    decontaminate_against: list[str] = field(default_factory=list)  # benchmark keys (medvlt_data.benchmarks)
    source_paths: dict[str, str] = field(default_factory=dict)  # local layouts (of the benchmarks too)
    eval_build: str | None = None  # an eval build whose questions are the reference of its benchmarks
    rows_per_shard: int = 20_000  # canonical shard size: bounds the memory of every later task
    max_shards: int = 256  # the task count of later stages on Slurm, where it is fixed before the data
    minhash: dict[str, Any] = field(
        default_factory=lambda: {"n_grams": 5, "num_buckets": 14, "hashes_per_bucket": 8}
    )
    benchmark_index: str | None = None  # path of the saved BenchmarkIndex (set by build_benchmark_index)
    difficulty: DifficultySettings | None = None  # the hard splits: adds the "difficulty" stage
    resize_images: bool = True  # False for eval builds: images keep their source bytes
    params: dict[str, Any] = field(default_factory=dict)  # the recipe as built (stats.json, the card)
    demo: bool = False  # built from medvlt's embedded demo corpus: stats, card and results say so
    # what to do about a source that cannot be read, in the caller's options
    source_advice: str = SOURCE_ADVICE

    @property
    def splits_are_benchmarks(self) -> bool:
        """An eval build: its sources name benchmarks and each record's split is its benchmark key."""
        return any(spec.benchmark for spec in self.sources)

    @property
    def decontaminate(self) -> bool:
        """Whether the decontamination filter runs (the plan names benchmarks to decontaminate against)."""
        return bool(self.decontaminate_against)


def source_spec(entry: dict[str, Any], source_paths: dict[str, str]) -> SourceSpec:
    """The spec of a recipe's source entry (``name`` the adapter, ``hub``, ``splits``, optionally
    ``config``, ``revision``, ``benchmark``, ``expected``); a local layout given for its benchmark or
    its adapter name (``--source-path NAME=DIR``) replaces the Hub id."""
    spec = SourceSpec(
        name=entry["name"], hub=entry.get("hub"), splits=entry.get("splits"), revision=entry.get("revision"),
        config=entry.get("config"), benchmark=entry.get("benchmark"),
    )  # fmt: skip
    if "expected" in entry:
        spec.options["expected"] = int(entry["expected"])
    path = source_paths.get(spec.benchmark or "") or source_paths.get(spec.name)
    if path:
        spec.path, spec.hub, spec.revision = str(path), None, None
    return spec


def reference_specs(plan: BuildPlan) -> list[SourceSpec]:
    """Source specs of the benchmarks the plan is decontaminated against that are read from their sources
    (with an eval build, only those it does not hold: the text benchmarks)."""
    keys = [k for k in plan.decontaminate_against if not (plan.eval_build and BENCHMARKS[k].evaluated)]
    return [source_spec(entry, plan.source_paths) for key in keys for entry in BENCHMARKS[key].entries()]


def stage_names(plan: BuildPlan) -> list[str]:
    """The stages a build of ``plan`` runs, in order (those of :mod:`medvlt_data.pipeline.build`)."""
    names = ["prepare", "dedup-exact"]
    if plan.dedup_near:
        names += ["minhash-signatures", "minhash-buckets", "minhash-cluster"]
    names.append("finish")
    if plan.difficulty is not None:
        names.append("difficulty")
    return [*names, "finalize"]


def resolve_specs(specs: list[SourceSpec]) -> None:
    """For each spec with a local layout, keep the splits the layout holds; when it holds none of
    them, every file is read and ``options["note"]`` says so (the card shows it)."""
    from medvlt_data.sources import SourceError, get_source

    for spec in specs:
        if not spec.path or not spec.splits:
            continue
        source = get_source(spec.name, spec.config)
        found = []
        for split in spec.splits:
            try:
                next(iter(source.read(path=spec.path, split=split, validate=False)), None)
                found.append(split)
            except SourceError:
                continue
        if found:
            spec.splits = found
        else:
            spec.options["note"] = f"splits {spec.splits} not in {spec.path}: every file read"
            spec.splits = None


def check_sources(specs: list[SourceSpec], advice: str = SOURCE_ADVICE) -> dict[str, str]:
    """Fail fast, naming every source that cannot be read (a Hub id the Hub does not answer for);
    returns the commit each Hub source's id and revision resolves to, by source group (where the Hub
    says)."""
    from huggingface_hub import HfApi

    problems, commits = [], {}
    for spec in specs:
        if spec.path is not None or Path(spec.hub).is_dir():
            continue
        try:
            info = HfApi().dataset_info(spec.hub, revision=spec.revision, timeout=10)
        except Exception as exc:
            problems.append(f"{spec.group} (hub:{spec.hub}): {type(exc).__name__}: {str(exc)[:160]}")
            continue
        if isinstance(getattr(info, "sha", None), str):
            commits[spec.group] = info.sha
    if problems:
        raise BuildError(
            "cannot read these sources:\n  " + "\n  ".join(dict.fromkeys(problems)) + f"\n{advice}"
        )
    return commits


def check_plan(plan: BuildPlan) -> dict[str, str]:
    """Fail before any work when a source cannot be read or the difficulty backend cannot start here;
    returns the Hub commits of the sources (:func:`check_sources`)."""
    from medvlt_data.inference.backends import BackendError

    commits = check_sources(plan.sources, plan.source_advice)
    if plan.difficulty is not None:
        try:
            plan.difficulty.backend.preflight()
        except BackendError as exc:
            raise BuildError(f"{plan.name}: {exc}") from exc
    return commits


def _source_line(spec: SourceSpec) -> str:
    config = f"  config {spec.config}" if spec.config else ""
    splits = ", ".join(spec.splits) if spec.splits else "all"
    return f"  {spec.group:<20}{spec.origin}{config}  splits: {splits}"


def describe_plan(plan: BuildPlan) -> str:
    """The plan as text: sources with their origins, the stages, the settings, the benchmarks it is
    decontaminated against (with where their questions come from) and the difficulty settings."""
    base = f" (base: {plan.params['base']})" if plan.params.get("base") else ""
    title = f"{plan.name} v{plan.version}{base}{' (demo)' if plan.demo else ''}"
    lines = [f"{title}: {plan.description.strip().splitlines()[0]}", "sources:"]
    lines += [_source_line(spec) for spec in plan.sources]
    lines.append(f"stages: {', '.join(stage_names(plan))}")
    near = "on (MinHash " + ", ".join(f"{k} {v}" for k, v in plan.minhash.items()) + ")"
    lines.append(f"exact dedup: {'on' if plan.dedup_exact else 'off'}; near dedup: {near if plan.dedup_near else 'off'}; "
                 f"images: {'resized' if plan.resize_images else 'as released'}; "
                 f"rows per shard: {plan.rows_per_shard}")  # fmt: skip
    if plan.decontaminate_against:
        lines.append(f"decontaminated against {len(plan.decontaminate_against)} benchmark(s): "
                     + ", ".join(plan.decontaminate_against))  # fmt: skip
        if plan.eval_build:
            lines.append(f"  the evaluation benchmarks' questions from the eval build {plan.eval_build}")
        lines += [_source_line(spec) for spec in reference_specs(plan)]
    else:
        lines.append("decontamination: off")
    if plan.difficulty is not None:
        d = plan.difficulty
        where = f" at {d.backend.endpoint}" if d.backend.backend == "endpoint" else ""
        lines.append(
            f"difficulty: {d.backend.model} via {d.backend.backend}{where}; {d.rollouts} rollouts a question, "
            f"temperature {d.temperature}, top_p {d.top_p}, max_tokens {d.max_tokens}, prompt {d.prompt}; "
            f"keep {d.min_pass} <= pass_count <= {d.max_pass}; order {d.order}; concurrency {d.concurrency}"
        )
    return "\n".join(lines) + "\n"
