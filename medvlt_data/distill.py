"""Reasoning traces from a teacher: ``medvlt data distill``.

Every question of a dataset (a medvlt build folder, or a Hub id ``ORG/NAME[@revision]``: see
:mod:`medvlt_data.datasets`) is put to the teacher ``n`` times with the recipe's prompt; the first answer
the strict grader marks correct gives the record its ``reasoning``: the server's separate reasoning field
when it returns one (DeepSeek-R1 style), else the text inside ``<think>...</think>``. Questions without a
correct sample keep an empty ``reasoning`` and are counted. The result is a new dataset version (same
records, same order, reasoning filled) with its card. Completions are checkpointed one by one, so an
interrupted run resumes without asking again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from medvlt_data.datasets import resolve_dataset
from medvlt_data.inference.backends import BackendSpec, open_backend
from medvlt_data.inference.client import ChatClient, Completion
from medvlt_data.inference.rollouts import RolloutLog, chat_messages, settings_key

_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)


class DistillError(RuntimeError):
    """A distillation that cannot run (the message says why)."""


@dataclass
class DistillSettings:
    """How the teacher is asked. The defaults are MedVLThinker's GPT-4o run on PMC-VQA (UCSC-VLAA/MedVLThinker
    data_process/train_dataset/pmc_vqa-gpt_4o_cot.sh:11-13: ``--max_tokens 4096 --n 3 --temperature 1.0``).
    m1's DeepSeek-R1 traces of the text pool (m23k) were one sample at temperature 0 with ``max_tokens``
    8000 (UCSC-VLAA/m1 src/distill_data/distill_data.py:71-73), asked with m1's own ``\\boxed{}`` prompt
    (ibid. :40), not the paper's."""

    backend: BackendSpec = field(default_factory=lambda: BackendSpec(backend="endpoint", model=""))
    n: int = 3
    temperature: float = 1.0
    max_tokens: int = 4096
    prompt: str = "paper"
    concurrency: int = 32
    max_retries: int = 6
    backoff: float = 1.0
    timeout: float = 1800.0


def reasoning_of(completion: Completion) -> str:
    """The reasoning of a completion: the server's reasoning field, else the text inside <think>."""
    if completion.reasoning.strip():
        return completion.reasoning.strip()
    found = _THINK.search(completion.text)
    return found.group(1).strip() if found else ""


def distill(dataset: str, out: str | Path, settings: DistillSettings,
            progress: Callable[[int], None] | None = None) -> dict[str, Any]:  # fmt: skip
    """Distill ``dataset`` into ``out``; returns the new stats (see the module doc)."""
    out = Path(out)
    work = out / ".work"
    source = resolve_dataset(dataset).path
    parts = sorted((source / "data").glob("*.parquet"))
    if not parts:
        raise DistillError(f"{source}: no data/*.parquet (a medvlt build or a dataset in its layout)")
    key = settings_key(model=settings.backend.model, n=settings.n, temperature=settings.temperature,
                       max_tokens=settings.max_tokens, prompt=settings.prompt)  # fmt: skip
    counts = {"questions": 0, "with_trace": 0, "without_trace": 0}
    staging = work / "data"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with (
        RolloutLog(work / "rollouts" / f"{key}.jsonl") as log,
        open_backend(settings.backend, work / "logs") as (url, model),
    ):
        asyncio.run(_distill_parts(parts, staging, url, model, settings, log, counts, progress))
    return _publish(source, staging, out, dataset, settings, counts)


async def _distill_parts(parts, staging, url, model, settings, log, counts, progress) -> None:
    from medvlt_data.schema import from_row
    from medvlt_data.verify import build_prompt, grade_strict

    params = {"temperature": settings.temperature, "max_tokens": settings.max_tokens}
    async with ChatClient.for_run(url, model, settings) as client:
        await client.check()

        async def trace(row: dict[str, Any]) -> str | None:
            record = from_row(row)
            name = f"{record.ref}#{record_hash_key(row)}"
            have = log.done.get(name, [])
            for completion in have:  # an earlier run's samples, in order
                if grade_strict(completion.text, record.answer_label, record.answer):
                    return reasoning_of(completion)
            messages = chat_messages(
                build_prompt(record.question, record.options, settings.prompt), record.images
            )
            for _ in range(settings.n - len(have)):  # one at a time: stop at the first correct one
                (completion,) = await client.generate(messages, 1, lambda c: log.add(name, c), **params)
                if grade_strict(completion.text, record.answer_label, record.answer):
                    return reasoning_of(completion)
            return None

        for part in parts:
            reader = pq.ParquetFile(part)
            with pq.ParquetWriter(staging / part.name, reader.schema_arrow) as writer:
                for batch in reader.iter_batches(batch_size=max(64, 4 * settings.concurrency)):
                    rows = batch.to_pylist()
                    traces = await asyncio.gather(*(trace(row) for row in rows))
                    for row, found in zip(rows, traces, strict=True):
                        row["reasoning"] = found or None
                        counts["questions"] += 1
                        counts["with_trace" if found else "without_trace"] += 1
                    writer.write_table(pa.Table.from_pylist(rows, schema=reader.schema_arrow))
                    if progress:
                        progress(len(rows))


def record_hash_key(row: dict[str, Any]) -> str:
    """A key that changes when the question or its options change (so a stale sample is not reused)."""
    return hashlib.sha256(f"{row['question']}\x1f{row['options']}".encode()).hexdigest()[:12]


def _publish(source: Path, staging: Path, out: Path, dataset: str, settings: DistillSettings,
             counts: dict[str, int]) -> dict[str, Any]:  # fmt: skip
    from hub_cards.dataset_card import write_dataset_card
    from medvlt_data.parquet_io import content_hash as hash_of

    content_hash = hash_of(sorted(staging.glob("*.parquet")))
    data = out / "data"
    shutil.rmtree(data, ignore_errors=True)
    shutil.copytree(staging, data)
    stats = json.loads((source / "stats.json").read_text()) if (source / "stats.json").exists() else None
    if stats is None:
        raise DistillError(
            f"{source}: no stats.json; distill a medvlt build (or a dataset pulled with its stats)"
        )
    from medvlt_data.pipeline.difficulty import TINY_NOTE

    stats.update(
        name=f"{stats['name']}-distilled", pretty_name=f"{stats['pretty_name']} + reasoning traces",
        content_hash=content_hash, version=f"v{stats['recipe_version']}-{content_hash[:12]}",
        distillation={"teacher": settings.backend.model, "backend": settings.backend.backend, "n": settings.n,
                      "temperature": settings.temperature, "max_tokens": settings.max_tokens,
                      "prompt": settings.prompt, "input": dataset, "input_version": stats.get("version"),
                      **counts, **({"note": TINY_NOTE} if settings.backend.model == "tiny" else {})},
    )  # fmt: skip
    (out / "stats.json").write_text(json.dumps(stats, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    write_dataset_card(stats, out)
    return stats
