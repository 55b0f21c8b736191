"""Reasoning traces from a teacher: ``medvlt data distill``.

Every question of a dataset (a medvlt build folder, or a Hub id ``ORG/NAME[@revision]``: see
:mod:`medvlt_data.datasets`) is put to the teacher ``n`` times with the recipe's prompt; the first answer
the strict grader marks correct gives the record its ``reasoning``: the server's separate reasoning field
when it returns one (DeepSeek-R1 style), else the text inside ``<think>...</think>``. Questions without a
correct sample keep an empty ``reasoning`` and are counted. The result is a new dataset version (same
records, same order, reasoning filled) with its card. Completions are checkpointed one by one under
what was asked (the prompt and the images, not the record's id), so an interrupted run resumes without
asking again and two records that share a source id never share samples. A re-run resumes only the
same work: ``--out`` records the input's shards and the teacher's settings (:func:`distill_fingerprint`),
and a run with other ones is refused, naming what changed.
"""

from __future__ import annotations

import asyncio
import json
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
from medvlt_data.inference.limits import DEFAULT_REQUEST_TIMEOUT, check_settings
from medvlt_data.inference.rollouts import (
    RolloutLog,
    chat_messages,
    request_key,
    settings_key,
    unread_checkpoints,
)
from medvlt_data.verify import think_block


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
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT  # seconds for one answer

    def __post_init__(self) -> None:
        check_settings({name: getattr(self, name) for name in self.__dataclass_fields__ if name != "backend"})


def reasoning_of(completion: Completion) -> str:
    """The reasoning of a completion: the server's reasoning field, else the text inside <think>."""
    if completion.reasoning.strip():
        return completion.reasoning.strip()
    found = think_block(completion.text)
    return "" if found is None else found.strip()


def distill(
    dataset: str,
    out: str | Path,
    settings: DistillSettings,
    progress: Callable[[int], None] | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Distill ``dataset`` into ``out``; returns the new stats (see the module doc).

    ``out`` must be empty, or a distillation of the same input with the same teacher settings (which
    resumes); ``overwrite`` starts over in any other folder, removing only medvlt's own files."""
    from medvlt_data.out_folder import FolderError, claim, settle_fingerprint

    out = Path(out)
    work = out / ".work"
    source = resolve_dataset(dataset).path
    parts = sorted((source / "data").glob("*.parquet"))
    if not parts:
        raise DistillError(f"{source}: no data/*.parquet (a medvlt build or a dataset in its layout)")
    try:
        claim(out, "distill", overwrite=overwrite)
        settle_fingerprint(out, distill_fingerprint(parts, settings, work), "a distillation")
    except FolderError as exc:
        raise DistillError(str(exc)) from None
    key = settings_key(model=settings.backend.model, n=settings.n, temperature=settings.temperature,
                       max_tokens=settings.max_tokens, prompt=settings.prompt)  # fmt: skip
    counts = {"questions": 0, "with_trace": 0, "without_trace": 0}
    staging = work / "data"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    note = unread_checkpoints(work / "rollouts", key)
    if note:
        from datatrove.utils.logging import logger

        logger.warning(note)
    with (
        RolloutLog(work / "rollouts" / f"{key}.jsonl") as log,
        open_backend(settings.backend, work / "logs") as (url, model),
    ):
        asyncio.run(_distill_parts(parts, staging, url, model, settings, log, counts, progress, key))
    return _publish(source, staging, out, dataset, settings, counts)


async def _distill_parts(parts, staging, url, model, settings, log, counts, progress, key) -> None:
    from medvlt_data.schema import from_row
    from medvlt_data.verify import build_prompt, grade_strict

    params = {"temperature": settings.temperature, "max_tokens": settings.max_tokens}
    async with ChatClient.for_run(url, model, settings) as client:
        await client.check()

        async def trace(row: dict[str, Any]) -> str | None:
            record = from_row(row)
            prompt = build_prompt(record.question, record.options, settings.prompt)
            name = request_key(prompt, record.images, key)  # what is asked, not the record's id
            async with log.lock(name):  # an equal prompt in flight: wait, then read its samples
                have = log.done.get(name, [])
                for completion in have:  # an earlier run's samples, in order
                    if grade_strict(completion.text, record.answer_label, record.answer):
                        return reasoning_of(completion)
                messages = chat_messages(prompt, record.images)
                for _ in range(settings.n - len(have)):  # one at a time: stop at the first correct one
                    (completion,) = await client.generate(
                        messages, 1, lambda c: log.add(name, c, record.ref), **params
                    )
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


def distill_fingerprint(parts: list[Path], settings: DistillSettings, work: Path) -> dict[str, Any]:
    """What decides a distillation's output: the input's shards (size and sha256 of each, by name), the
    teacher and how it is asked, and medvlt's version."""
    from medvlt_data import __version__
    from medvlt_data.fingerprint import FileHashes

    hashes = FileHashes(work)
    teacher = {"model": settings.backend.model, "backend": settings.backend.backend, "n": settings.n,
               "temperature": settings.temperature, "max_tokens": settings.max_tokens,
               "prompt": settings.prompt}  # fmt: skip
    found = {
        "medvlt_version": __version__,
        "input": {part.name: [part.stat().st_size, hashes.sha256(part)] for part in parts},
        "teacher": teacher,
    }
    hashes.save()
    return json.loads(json.dumps(found, sort_keys=True, default=str))


def _publish(source: Path, staging: Path, out: Path, dataset: str, settings: DistillSettings,
             counts: dict[str, int]) -> dict[str, Any]:  # fmt: skip
    from hub_cards.dataset_card import write_dataset_card
    from medvlt_data.out_folder import replace_files
    from medvlt_data.parquet_io import content_hash as hash_of

    staged = sorted(staging.glob("*.parquet"))
    content_hash = hash_of(staged)

    def copy() -> None:  # only the shards of an earlier run are replaced: other files in data/ stay
        (out / "data").mkdir(parents=True, exist_ok=True)
        for part in staged:
            shutil.copyfile(part, out / "data" / part.name)

    replace_files(out, "files", [f"data/{part.name}" for part in staged], copy)
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
    from medvlt_data.redact import redact

    stats = redact(stats)  # no secret-named setting's value, no secret in use, in stats.json or the card
    (out / "stats.json").write_text(json.dumps(stats, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    write_dataset_card(stats, out)
    return stats
