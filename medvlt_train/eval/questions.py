"""The questions of an evaluation: the six benchmarks of the paper, read from an ``eval`` build (a local
build folder or a Hub dataset id) or built on the spot by the curation pipeline.

An eval build has one split per benchmark (``data/{benchmark}-*.parquet``), closed questions already
turned into multiple choice; nothing here re-implements that.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from hub_cards.model_card import BENCHMARKS
from medvlt_train.data import DatasetSource, load_records

__all__ = ["BENCHMARK_KEYS", "Question", "build_eval_split", "load_questions"]

#: The benchmarks in the paper's column order (PMC, MMMU, MedX-M, PathVQA, SLAKE, VQA-Rad).
BENCHMARK_KEYS = tuple(BENCHMARKS)


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
    unknown = sorted(set(benchmarks) - set(BENCHMARK_KEYS))
    if unknown:
        raise ValueError(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARK_KEYS)}")
    by_benchmark: dict[str, list[Question]] = {b: [] for b in benchmarks}
    seen: Counter[str] = Counter()
    for record in load_records(source):
        benchmark = record.meta.get("benchmark") or record.split
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
    return [q for b in BENCHMARK_KEYS if b in by_benchmark for q in by_benchmark[b]]


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

        corpus = write_demo_corpus(out / ".work" / "demo-corpus")
        paths = {**{name: str(path) for name, path in corpus.items()}, **paths}
    context = BuildContext(out=out, source_paths=paths, only_sources=list(benchmarks))
    run_build(make_plan("eval", context), out)
    return out
