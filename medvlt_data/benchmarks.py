"""The benchmarks medvlt knows, one :class:`Benchmark` record each: the paper's six evaluation
benchmarks (``medvlt eval``, the ``eval`` recipe, the model card's table) and the text benchmarks m1
decontaminated its pool against (decontamination references only).

Cards, evaluation, recipes and the command line read these records; nothing else names a benchmark's
title, Hub id or count. The module imports nothing of medvlt, so any layer may use it.

>>> EVAL_BENCHMARKS
('pmc_vqa', 'mmmu_medical', 'medxpertqa_mm', 'pathvqa', 'slake', 'vqa_rad')
>>> sum(BENCHMARKS[key].paper_count for key in EVAL_BENCHMARKS)
8220
>>> parse_benchmarks("vqa_rad, slake", EVAL_BENCHMARKS)
['vqa_rad', 'slake']
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "BENCHMARKS",
    "EVAL_BENCHMARKS",
    "TEXT_BENCHMARKS",
    "Benchmark",
    "benchmark_counts",
    "card_columns",
    "check_benchmarks",
    "parse_benchmarks",
]


@dataclass(frozen=True)
class Benchmark:
    """One benchmark: where its questions come from and how many the paper counts."""

    key: str  # medvlt's name: a split of an eval build, a --benchmarks / --decontaminate-against value
    title: str  # column title of the paper's table (the six) or a short name (the text benchmarks)
    hub: str  # the Hub dataset its questions are read from
    adapter: str  # the source adapter (medvlt_data.sources) that reads it
    splits: tuple[str, ...]
    paper_count: int  # questions in the paper (the six) or in the real split m1 read (the text ones)
    evaluated: bool  # one of the paper's six evaluation benchmarks; else a decontamination reference only
    config: str | None = None  # the adapter's config
    parts: tuple[tuple[str, int], ...] = ()  # (config, questions) of a benchmark read from several configs
    revision: str | None = None
    count_note: str = ""  # why an eval build's count can differ from the paper's

    def entries(self) -> list[dict[str, Any]]:
        """Source entries in the recipes' form (``name`` the adapter), one per config read."""
        base = {"benchmark": self.key, "name": self.adapter, "hub": self.hub, "splits": list(self.splits)}
        if self.revision:
            base["revision"] = self.revision
        if not self.parts:
            return [{**base, "config": self.config, "expected": self.paper_count}]
        return [{**base, "config": config, "expected": count} for config, count in self.parts]


# The six of the paper's evaluation, in its table's column order; `paper_count` is its count of questions
# (8,220 in all; UCSC-VLAA/MedVLThinker data_process/eval_data_stats.ipynb, prepare_vlm_eval_data_v2.py:14,
# 65-82, 231-237). The paper evaluated on its released set UCSC-VLAA/MedVLThinker-Eval (the default of
# `medvlt eval`); it took PMC-VQA, PathVQA, SLAKE and VQA-RAD from AdaptLLM/biomed-VQA-benchmark (configs
# PMC-VQA, PathVQA, SLAKE, VQA_RAD; data_process/prepare_vlm_eval_data.py:59-120), MMMU medical and
# MedXpertQA MM as prepare_vlm_eval_data_v2.py does. Each of these four adapters also reads the AdaptLLM
# layout: `--source-path pathvqa=DIR` with DIR a copy of that repository, or `medvlt data ingest --source
# pathvqa --hub AdaptLLM/biomed-VQA-benchmark`. The Hub ids below are the raw sources the `eval` recipe
# builds from; images are kept as released (the recipe never resizes them).
_EVAL = (
    Benchmark("pmc_vqa", "PMC", "RadGenome/PMC-VQA", "pmc_vqa", ("test_clean",), 2000, True,
              count_note="the paper read AdaptLLM/biomed-VQA-benchmark PMC-VQA test (2,000 rows, no filter); "
              "from RadGenome/PMC-VQA test_clean.csv (also 2,000 rows) rows whose label, choices and answer "
              "disagree are dropped here"),
    Benchmark("mmmu_medical", "MMMU", "MMMU/MMMU", "mmmu_medical", ("validation", "dev"), 170, True,
              count_note="the same rule as the paper's: validation + dev of the five medical subjects, "
              "multiple-choice only"),
    Benchmark("medxpertqa_mm", "MedX-M", "TsinghuaC3I/MedXpertQA", "medxpertqa", ("test",), 2000, True,
              config="MM", count_note="the same rule as the paper's: the MM test split; rows without a "
              "readable image are dropped here"),
    Benchmark("pathvqa", "PathVQA", "flaviagiammarino/path-vqa", "pathvqa", ("test",), 3362, True,
              count_note="the paper kept the 3,362 CLOSED (all yes/no) of AdaptLLM/biomed-VQA-benchmark "
              "PathVQA; from a layout without answer_type the closed-question rule decides"),
    Benchmark("slake", "SLAKE", "BoKelvin/SLAKE", "slake", ("test",), 416, True,
              count_note="the paper kept the 416 CLOSED English test questions and had GPT-4o write their "
              "options; CLOSED questions the rule cannot give options are dropped here (closed-no-options)"),
    Benchmark("vqa_rad", "VQA-Rad", "flaviagiammarino/vqa-rad", "vqa_rad", ("test",), 272, True,
              count_note="the paper kept the 272 CLOSED test questions and had GPT-4o write their options; "
              "CLOSED questions the rule cannot give options are dropped here (closed-no-options); a layout "
              "without answer_type (flaviagiammarino/vqa-rad) leaves the rule alone to decide"),
)  # fmt: skip

# The text benchmarks m1 decontaminated its pool against (UCSC-VLAA/m1 src/collect_data/decontaminate.py:13-65),
# decontamination references of the training pools; `paper_count` is the number of questions in the real
# split. The PubMedQA half is m1's own test half (pubmedqa.py:93-101), not the official test set. MMLU
# medical is five subjects of cais/mmlu (decontaminate.py:49-59). GPQA is gated on the Hub: give its CSV
# with --source-path gpqa_diamond=FILE.
_TEXT = (
    Benchmark("medqa_test", "MedQA test", "GBaker/MedQA-USMLE-4-options", "medqa", ("test",), 1273, False),
    Benchmark("medmcqa_validation", "MedMCQA validation", "openlifescienceai/medmcqa", "medmcqa",
              ("validation",), 4183, False),
    Benchmark("pubmedqa_test", "PubMedQA test half", "qiaojin/PubMedQA", "pubmedqa", ("test",), 500, False),
    Benchmark("mmlu_medical", "MMLU medical", "cais/mmlu", "mmlu", ("test",), 954, False,
              parts=(("clinical_knowledge", 265), ("college_biology", 144), ("college_medicine", 173),
                     ("medical_genetics", 100), ("professional_medicine", 272))),
    Benchmark("mmlu_pro", "MMLU-Pro", "TIGER-Lab/MMLU-Pro", "mmlu_pro", ("test",), 12032, False),
    Benchmark("gpqa_diamond", "GPQA-diamond", "Idavidrein/gpqa", "gpqa", ("train",), 198, False,
              config="gpqa_diamond"),
)  # fmt: skip

#: Every benchmark by key: the six evaluation benchmarks in the paper's column order, then the text ones.
BENCHMARKS: dict[str, Benchmark] = {b.key: b for b in (*_EVAL, *_TEXT)}
#: The paper's six evaluation benchmarks, in its table's column order.
EVAL_BENCHMARKS: tuple[str, ...] = tuple(b.key for b in _EVAL)
#: The text benchmarks, decontamination references only.
TEXT_BENCHMARKS: tuple[str, ...] = tuple(b.key for b in _TEXT)


def check_benchmarks(names: Iterable[str], known: Iterable[str] = tuple(BENCHMARKS)) -> None:
    """Raise ``ValueError`` naming the unknown benchmarks and the known ones.

    >>> check_benchmarks(["mmlu"])
    Traceback (most recent call last):
    ...
    ValueError: unknown benchmark(s) ['mmlu']; known: ['pmc_vqa', 'mmmu_medical', 'medxpertqa_mm', 'pathvqa', 'slake', 'vqa_rad', 'medqa_test', 'medmcqa_validation', 'pubmedqa_test', 'mmlu_medical', 'mmlu_pro', 'gpqa_diamond']
    """
    known = list(known)
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ValueError(f"unknown benchmark(s) {unknown}; known: {known}")


def parse_benchmarks(
    value: str, known: Iterable[str] = tuple(BENCHMARKS), allow_none: bool = False
) -> list[str]:
    """Benchmark keys from a comma-separated list, checked against ``known``; ``none`` is the empty
    list where ``allow_none``. An adapter name that reads exactly one of the ``known`` benchmarks stands
    for it (``medxpertqa`` is ``medxpertqa_mm``); an unknown name is named with the known ones and the
    closest of them.

    >>> parse_benchmarks("none", allow_none=True)
    []
    >>> parse_benchmarks("medxpertqa,vqa_rad", EVAL_BENCHMARKS)
    ['medxpertqa_mm', 'vqa_rad']
    """
    import difflib

    known = list(known)
    if allow_none and value.strip().lower() == "none":
        return []
    aliases = _aliases(known)
    given = [name.strip() for name in value.split(",") if name.strip()]
    unknown = sorted({name for name in given if name not in known and name not in aliases})
    if unknown:
        words = [*known, *aliases]
        close = [aliases.get(m, m) for name in unknown for m in difflib.get_close_matches(name, words, n=2)]
        hint = f"; did you mean {', '.join(dict.fromkeys(close))}?" if close else ""
        raise ValueError(f"unknown benchmark(s) {unknown}; known: {known}{hint}")
    if not given:
        raise ValueError(f"no benchmark named; known: {known}")
    return list(dict.fromkeys(aliases.get(name, name) for name in given))


def _aliases(known: list[str]) -> dict[str, str]:
    """Adapter name -> benchmark key, for the adapters that read exactly one of ``known`` (and are not
    themselves a key)."""
    keys: dict[str, list[str]] = {}
    for key in known:
        keys.setdefault(BENCHMARKS[key].adapter, []).append(key)
    return {adapter: found[0] for adapter, found in keys.items() if len(found) == 1 and adapter not in known}


def card_columns(keys: Iterable[str] = EVAL_BENCHMARKS) -> dict[str, dict[str, str]]:
    """What the model card needs of each benchmark, as plain data: key -> ``{"title", "hub_id"}``, in order."""
    return {key: {"title": BENCHMARKS[key].title, "hub_id": BENCHMARKS[key].hub} for key in keys}


def benchmark_counts(sources: list[dict[str, Any]], out: str | Path) -> list[dict[str, Any]]:
    """Per benchmark of an eval build: its count against the paper's and the drops that explain it.

    ``sources`` are the build's per-source rows (``name``, ``read``, ``kept``, ``expected``); the
    drops are read from ``out/rejects``. Each row: ``benchmark``, ``paper`` (the paper's count),
    ``kept``, ``difference`` (kept - paper), ``drops`` (reason -> count for this benchmark) and
    ``note`` (why the construction can differ, :attr:`Benchmark.count_note`).
    """
    reasons: dict[str, Counter[str]] = {}
    for path in sorted((Path(out) / "rejects").glob("*/*.jsonl")):
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    reject = json.loads(line)
                    reasons.setdefault(reject["source"], Counter())[reject["reason"]] += 1
    rows = []
    for source in sources:
        if "expected" not in source:
            continue
        name = source["name"]
        rows.append({
            "benchmark": name,
            "paper": int(source["expected"]),
            "kept": int(source["kept"]),
            "difference": int(source["kept"]) - int(source["expected"]),
            "drops": dict(sorted(reasons.get(name, Counter()).items())),
            "note": BENCHMARKS[name].count_note if name in BENCHMARKS else "",
        })  # fmt: skip
    return rows
