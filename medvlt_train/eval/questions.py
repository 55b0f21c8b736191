"""The questions of an evaluation: the six benchmarks of the paper, by default the paper's own released
set ``UCSC-VLAA/MedVLThinker-Eval`` (converted once per commit by :func:`medvlt_data.pull.pull_eval_dataset`,
images as released), else an ``eval`` build (a local folder or a Hub dataset id) or one built on the spot
by the curation pipeline.

An eval folder has one split per benchmark (``data/{benchmark}-*.parquet``), closed questions already
turned into multiple choice; nothing here re-implements that.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from medvlt_data.benchmarks import EVAL_BENCHMARKS, check_benchmarks
from medvlt_data.datasets import DatasetSource, load_records, resolve_dataset
from medvlt_data.released import PAPER_EVAL_DATASET

__all__ = [
    "PAPER_EVAL_DATASET",
    "Question",
    "build_eval_split",
    "load_questions",
    "resolve_eval_dataset",
]


#: What to do about a benchmark whose questions cannot be read, in `medvlt eval`'s own options.
EVAL_SOURCE_ADVICE = (
    "give their local layouts with --source-path BENCHMARK=DIR, leave them out with --benchmarks NAME,NAME, "
    "or evaluate on questions at hand with --dataset (an eval folder or Hub ID) or --demo"
)


@dataclass(frozen=True)
class Question:
    """One benchmark question; ``id`` is ``{benchmark}/{source_id}`` (made unique with ``#k``)."""

    id: str
    benchmark: str
    source_id: str
    question: str
    options: dict[str, str]
    answer_label: str
    answer: str
    images: tuple[bytes, ...]


def load_questions(source: DatasetSource, benchmarks: list[str], limit: int | None = None) -> list[Question]:
    """The questions of ``benchmarks`` in ``source``, benchmark by benchmark in the paper's order, each
    in file order; ``limit`` keeps the first N of each benchmark. A benchmark with no question is an error."""
    check_benchmarks(benchmarks, EVAL_BENCHMARKS)
    by_benchmark: dict[str, list[Question]] = {b: [] for b in benchmarks}
    seen: Counter[str] = Counter()
    for record in load_records(source):
        benchmark = record.split  # an eval set's split is the benchmark key
        if benchmark not in by_benchmark or (limit is not None and len(by_benchmark[benchmark]) >= limit):
            continue
        base = f"{benchmark}/{record.source_id}"
        seen[base] += 1
        qid = base if seen[base] == 1 else f"{base}#{seen[base]}"
        by_benchmark[benchmark].append(
            Question(
                id=qid,
                benchmark=benchmark,
                source_id=record.source_id,
                question=record.question,
                options=dict(record.options),
                answer_label=record.answer_label,
                answer=record.answer,
                images=tuple(record.images),
            )
        )
    empty = [b for b, questions in by_benchmark.items() if not questions]
    if empty:
        raise ValueError(
            f"dataset {source.label} has no questions for benchmark(s) {', '.join(empty)} "
            f"(an eval build has one split per benchmark: data/BENCHMARK-*.parquet)"
        )
    return [q for b in EVAL_BENCHMARKS if b in by_benchmark for q in by_benchmark[b]]


def resolve_eval_dataset(dataset: str | Path = PAPER_EVAL_DATASET) -> DatasetSource:
    """Where an evaluation's questions come from, with what names their version.

    A local path (an eval build, a Parquet file, or a folder of ``medvlt data pull``, whose
    ``pull.json`` supplies repository, revision and commit) is read in place. A Hub id ``ORG/NAME[@rev]``
    is resolved to a commit and pulled once per commit into medvlt's cache: a medvlt eval build is
    copied with its content hash checked, MedVLThinker's released ``MedVLThinker-Eval`` (the default)
    is converted with its images as released. A Hub error says how to evaluate without the Hub.
    """
    from medvlt_data.hub import HubError, split_revision
    from medvlt_data.pull import pull_eval_dataset, read_pull_record

    spec = str(dataset)
    path = Path(dataset)
    if not path.exists():
        try:
            split_revision(spec)
        except HubError:
            return resolve_dataset(path)  # the loader's message: neither a local path nor a Hub id
    else:
        source = resolve_dataset(path)
        pulled = read_pull_record(path) if path.is_dir() else None
        if pulled is None or source.repo_id is not None:
            return source
        return replace(source, repo_id=pulled.get("repo_id"), revision=pulled.get("revision"),
                       commit=pulled.get("commit"),
                       content_hash=source.content_hash or pulled.get("content_hash"))  # fmt: skip
    folder, pulled = pull_eval_dataset(spec)
    local = resolve_dataset(folder)
    return DatasetSource(spec=spec, path=folder, repo_id=pulled["repo_id"], revision=pulled.get("revision"),
                         commit=pulled["commit"], version=local.version or pulled.get("version"),
                         content_hash=local.content_hash or pulled.get("content_hash"),
                         name=local.name or pulled["repo_id"].split("/", 1)[1], demo=local.demo)  # fmt: skip


def build_eval_split(
    out: Path, benchmarks: list[str], source_paths: dict[str, str], demo: bool = False
) -> Path:
    """Build the ``eval`` split of ``benchmarks`` into ``out`` with the curation pipeline (local layouts
    from ``source_paths``, the Hub otherwise, or the embedded demo corpus); an interrupted build resumes."""
    from medvlt_data.pipeline.build import run_build
    from medvlt_data.recipes import BuildContext, make_plan

    paths = dict(source_paths)
    if demo:
        from medvlt_data.demo import write_demo_corpus
        from medvlt_data.out_folder import FolderError, claim
        from medvlt_data.pipeline.build import BuildError

        try:  # claimed before the demo corpus goes into OUT/.work
            claim(out, "build")
        except FolderError as exc:
            raise BuildError(str(exc)) from None
        corpus = write_demo_corpus(out / ".work" / "demo-corpus")
        paths = {**{name: str(path) for name, path in corpus.items()}, **paths}
    context = BuildContext(source_paths=paths, only_sources=list(benchmarks))
    plan = make_plan("eval", context)
    plan.demo = demo  # results and model cards of this eval say they are demo results
    plan.source_advice = EVAL_SOURCE_ADVICE
    run_build(plan, out)
    return out
