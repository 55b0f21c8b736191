"""The difficulty stage: how many of a base model's rollouts answer each question correctly, and the band
the recipe keeps.

Each record's question is put to the model ``rollouts`` times with the recipe's prompt (images
first, as data URIs); each answer is graded by the strict grader of :mod:`medvlt_data.verify`;
``pass_count`` (correct answers), ``num_rollouts`` and ``difficulty`` (1 - pass_count / rollouts) are
stored on the record. Records with ``min_pass <= pass_count <= max_pass`` are kept, the others go to
``rejects/difficulty/`` as ``too-hard`` or ``too-easy``. Every finished completion is checkpointed
(:class:`~medvlt_data.inference.rollouts.RolloutLog`) under what was asked (prompt, images, settings;
:func:`~medvlt_data.inference.rollouts.request_key`), so a re-run asks only for what is missing and two
records that share a source id never share answers.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from medvlt_data.inference.backends import BackendSpec, open_backend
from medvlt_data.inference.client import ChatClient
from medvlt_data.inference.limits import DEFAULT_REQUEST_TIMEOUT, SettingError, check_settings
from medvlt_data.inference.rollouts import (
    RolloutLog,
    chat_messages,
    complete_k,
    request_key,
    settings_key,
    unread_checkpoints,
)

#: The record orders of a hard split: canonical, or pass_count high to low.
ORDERS = ("none", "easy-to-hard")


@dataclass
class DifficultySettings:
    """How the difficulty stage asks and keeps (the recipe's ``difficulty`` block; command-line options
    override)."""

    backend: BackendSpec = field(default_factory=BackendSpec)
    rollouts: int = 16
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 4096
    min_pass: int = 1
    max_pass: int = 7
    order: str = "none"  # "none" (canonical order) or "easy-to-hard" (pass_count high to low)
    prompt: str = "paper"
    concurrency: int = 64
    max_retries: int = 6
    backoff: float = 1.0
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT  # seconds for one answer

    def __post_init__(self) -> None:
        """Every number in its range (:mod:`medvlt_data.inference.limits`) and a band that can keep a
        question; a :class:`~medvlt_data.inference.limits.SettingError` says which value is wrong."""
        check_settings({name: getattr(self, name) for name in self.__dataclass_fields__ if name != "backend"})
        if self.min_pass > self.max_pass:
            raise SettingError(
                f"min_pass {self.min_pass} is above max_pass {self.max_pass}: no question can be kept"
            )
        if self.min_pass > self.rollouts:
            raise SettingError(
                f"min_pass {self.min_pass} is above the {self.rollouts} rollouts: no question can be kept"
            )
        if self.order not in ORDERS:
            raise SettingError(f"order must be one of {', '.join(ORDERS)}, got {self.order!r}")

    def request_params(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "top_p": self.top_p, "max_tokens": self.max_tokens}

    def checkpoint_name(self) -> str:
        """Checkpoint file stem: a hash of what shapes an answer (the model, prompt and sampling)."""
        return settings_key(model=self.backend.model, prompt=self.prompt, **self.request_params())

    def summary(self) -> dict[str, Any]:
        """What the card and stats.json record (no endpoint credentials)."""
        found = {
            "model": self.backend.model, "backend": self.backend.backend, "rollouts": self.rollouts,
            "band": [self.min_pass, self.max_pass], "order": self.order, "prompt": self.prompt,
            **self.request_params(),
        }  # fmt: skip
        return {**found, "note": TINY_NOTE} if self.backend.model == "tiny" else found


#: What a card says when medvlt's tiny test model did the scoring or the answering.
TINY_NOTE = (
    "'tiny' is a Qwen2.5-VL with random weights (2 text layers) that medvlt builds for its tests and "
    "demo; its answers are noise, so these numbers show the pipeline working, not the questions' difficulty."
)


class DifficultyScorer(PipelineStep):
    """Scores Documents (see the module doc); yields the kept ones with their counts set."""

    name = "difficulty"
    type = "medvlt"

    def __init__(self, settings: DifficultySettings, work_dir: str, exclusion_writer: Any):
        super().__init__()
        self.settings, self.work_dir, self.exclusion_writer = settings, work_dir, exclusion_writer

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        s = self.settings
        work = Path(self.work_dir)
        histogram: Counter[int] = Counter()
        stale = f"{rank:05d}.jsonl"  # an interrupted run's drops; this run writes its own (if any)
        if self.exclusion_writer.output_folder.exists(stale):
            self.exclusion_writer.output_folder.rm(stale)
        loop = asyncio.new_event_loop()
        checkpoint = work / "rollouts" / f"{s.checkpoint_name()}-{rank:05d}.jsonl"
        note = unread_checkpoints(checkpoint.parent, s.checkpoint_name()) if rank == 0 else None
        if note:
            from datatrove.utils.logging import logger

            logger.warning(note)
        window: deque[tuple[Document, asyncio.Task]] = deque()
        # enough questions in flight to keep the server busy
        limit = max(4, 2 * s.concurrency // max(1, s.rollouts))
        try:
            with RolloutLog(checkpoint) as log, open_backend(s.backend, work / "logs") as (url, model):
                client = ChatClient.for_run(url, model, s)
                loop.run_until_complete(client.__aenter__())
                try:
                    loop.run_until_complete(client.check())
                    started, cpu = (
                        time.perf_counter(),
                        time.process_time(),
                    )  # the server is up: timed from here
                    with self.exclusion_writer as rejects:
                        for doc in data:
                            window.append((doc, loop.create_task(self._rollouts(client, log, doc))))
                            if len(window) >= limit:
                                yield from self._settle(loop, *window.popleft(), histogram, rejects, rank)
                        while window:
                            yield from self._settle(loop, *window.popleft(), histogram, rejects, rank)
                    self.stat_update("requests", value=client.requests)
                    self.stat_update("retried", value=client.retries)
                    timing = {"seconds": time.perf_counter() - started, "busy_seconds": client.busy_seconds,
                              "medvlt_cpu_seconds": time.process_time() - cpu,
                              "requests": client.requests, "rollouts": sum(histogram.values()) * s.rollouts}  # fmt: skip
                    (work / "difficulty_timing").mkdir(parents=True, exist_ok=True)
                    (work / "difficulty_timing" / f"{rank:05d}.json").write_text(
                        json.dumps(timing), encoding="utf-8"
                    )
                finally:
                    for _, task in window:  # interrupted: what finished is in the checkpoint already
                        task.cancel()
                    if window:
                        loop.run_until_complete(
                            asyncio.gather(*(t for _, t in window), return_exceptions=True)
                        )
                    loop.run_until_complete(client.__aexit__(None, None, None))
        finally:
            loop.close()
        folder = work / "pass_counts"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{rank:05d}.json").write_text(
            json.dumps(dict(sorted(histogram.items()))), encoding="utf-8"
        )

    async def _rollouts(self, client: ChatClient, log: RolloutLog, doc: Document) -> list:
        from medvlt_data.verify import build_prompt

        row, s = doc.metadata["row"], self.settings
        prompt = build_prompt(doc.text, json.loads(row["options"]), s.prompt)
        images = [m.media_bytes for m in doc.media]
        key = request_key(prompt, images, s.checkpoint_name())
        messages = chat_messages(prompt, images)
        return await complete_k(client, log, key, messages, s.rollouts, ref=doc.id, **s.request_params())

    def _settle(self, loop, doc: Document, task: asyncio.Task, histogram: Counter, rejects, rank: int):
        from medvlt_data.verify import grade_strict

        completions = loop.run_until_complete(task)
        row = doc.metadata["row"]
        passed = sum(grade_strict(c.text, row["answer_label"], row["answer"]) for c in completions)
        rollouts = len(completions)
        row.update(pass_count=passed, num_rollouts=rollouts, difficulty=1 - passed / rollouts)
        histogram[passed] += 1
        self.stat_update(f"pass_count_{passed}")
        if passed < self.settings.min_pass or passed > self.settings.max_pass:
            doc.metadata["filter_reason"] = "too-hard" if passed < self.settings.min_pass else "too-easy"
            doc.metadata["reject_detail"] = (
                f"pass_count {passed} of {rollouts}, outside {self.settings.min_pass}..{self.settings.max_pass}"
            )
            rejects.write(doc, rank)
            return
        yield doc


def read_pass_counts(work_dir: str | Path) -> dict[int, int] | None:
    """The pass-count histogram of every scored record (kept or not), or None when nothing was scored."""
    files = sorted((Path(work_dir) / "pass_counts").glob("*.json"))
    if not files:
        return None
    total: Counter[int] = Counter()
    for path in files:
        total.update({int(k): v for k, v in json.loads(path.read_text()).items()})
    return dict(sorted(total.items()))


def settings_from_params(params: dict[str, Any], overrides: dict[str, Any]) -> DifficultySettings:
    """DifficultySettings from a recipe's ``difficulty`` block, then the command line's overrides
    (``None`` values mean "not given"); the backend's fields (:class:`BackendSpec`) live beside the others."""
    merged = {**params, **{k: v for k, v in overrides.items() if v is not None}}
    backend_fields = set(BackendSpec.__dataclass_fields__)
    backend = BackendSpec(**{k: v for k, v in merged.items() if k in backend_fields})
    known = set(DifficultySettings.__dataclass_fields__) - {"backend"}
    unknown = set(merged) - known - backend_fields
    if unknown:
        raise ValueError(f"unknown difficulty settings: {sorted(unknown)}")
    return DifficultySettings(backend=backend, **{k: v for k, v in merged.items() if k in known})
