"""One evaluation: questions -> prompts -> generations (per run, checkpointed) -> grades -> results.

``run_eval(settings, source)`` asks the backend only for the questions that have no saved generation
in ``OUT/generations/run-{r}.jsonl``, so an interrupted evaluation re-run with the same settings and
``--out`` continues where it stopped. The settings that decide the answers (model, prompt, token
budget, benchmarks, limit, seeds, dataset) are written to ``OUT/eval_config.json`` the first time; a
later run with other settings into the same folder is refused rather than mixed in. More runs may be
added to a finished folder.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from medvlt_data.benchmarks import EVAL_BENCHMARKS
from medvlt_data.datasets import DatasetSource
from medvlt_data.inference.limits import DEFAULT_REQUEST_TIMEOUT
from medvlt_data.verify import build_prompt
from medvlt_train.eval.backend import EvalBackend, GenerationRequest
from medvlt_train.eval.generations import GenerationLog, graded_row, run_file
from medvlt_train.eval.questions import Question, load_questions
from medvlt_train.eval.report import CONFIG_FILE, write_results

__all__ = ["EvalSettings", "run_eval"]

#: Settings that change the answers: a folder holds one value of each.
_PINNED = ("model", "prompt", "max_new_tokens", "benchmarks", "limit", "seed")


@dataclass
class EvalSettings:
    model: str
    out: Path
    benchmarks: list[str] = field(default_factory=lambda: list(EVAL_BENCHMARKS))
    backend: str = "auto"  # auto: vllm with a GPU, else transformers
    runs: int = 3
    seed: int = 42
    limit: int | None = None
    max_new_tokens: int = 4096
    prompt: str = "paper"
    batch_size: int = 8
    concurrency: int = 64
    endpoint: str | None = None
    api_key_env: str | None = None
    tensor_parallel: int = 1
    data_parallel: int = 1
    trust_remote_code: bool = False
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT  # servers: seconds for one answer
    max_retries: int = 6  # servers: tries after the first of a request that failed for a passing reason

    def resolved_backend(self) -> str:
        from medvlt_data.inference.backends import resolve_backend

        return resolve_backend(self.backend)


def _generator(settings: EvalSettings) -> EvalBackend:
    backend = settings.resolved_backend()
    if backend == "transformers":
        from medvlt_train.eval.transformers_backend import TransformersGenerator

        return TransformersGenerator(settings.model, batch_size=settings.batch_size,
                                     max_new_tokens=settings.max_new_tokens,
                                     trust_remote_code=settings.trust_remote_code)  # fmt: skip
    from medvlt_data.inference.backends import BACKENDS, BackendSpec

    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose auto or one of {', '.join(BACKENDS)}")
    from medvlt_train.eval.server_backend import ServerGenerator

    spec = BackendSpec(backend=backend, model=settings.model, endpoint=settings.endpoint,
                       api_key_env=settings.api_key_env, tensor_parallel=settings.tensor_parallel,
                       data_parallel=settings.data_parallel,
                       trust_remote_code=settings.trust_remote_code)  # fmt: skip
    spec.preflight()
    return ServerGenerator(spec, max_new_tokens=settings.max_new_tokens, concurrency=settings.concurrency,
                           log_dir=settings.out, timeout=settings.request_timeout,
                           max_retries=settings.max_retries)  # fmt: skip


def model_files(model: str) -> dict[str, list[int]] | None:
    """For a model given as a local folder, the size and modification time of each weight and config
    file (so a model retrained in place is another model); None for a Hub id or a name."""
    from medvlt_train.run import weight_files

    folder = Path(model)
    if not folder.is_dir():
        return None
    return {p.name: [p.stat().st_size, p.stat().st_mtime_ns] for p in weight_files(folder)}


def _config(settings: EvalSettings, source: DatasetSource, questions: list[Question]) -> dict[str, Any]:
    from medvlt_data.redact import redact
    from medvlt_train.run import library_versions

    pinned = {key: value for key, value in asdict(settings).items() if key in _PINNED}
    return redact({**pinned, "backend": {"backend": settings.resolved_backend()},
                   "model_files": model_files(settings.model),
                   "dataset": source.describe(), "questions": dict(Counter(q.benchmark for q in questions)),
                   "seeds": [settings.seed + r for r in range(settings.runs)],
                   "versions": library_versions()})  # fmt: skip


def _settle_config(out: Path, config: dict[str, Any]) -> dict[str, Any]:
    """Write the folder's config, or check it against the one there (more runs may be added)."""
    path = out / CONFIG_FILE
    if path.is_file():
        old = json.loads(path.read_text(encoding="utf-8"))
        keys = [*_PINNED, "questions"]
        changed = [k for k in keys if old.get(k) != config[k]]
        # recorded since these were compared; a folder from before is resumed on the other keys
        changed += [k for k in ("backend", "model_files") if k in old and old[k] != config[k]]
        if old.get("versions", {}).get("medvlt") not in (None, config["versions"].get("medvlt")):
            changed.append("medvlt version")
        if old.get("dataset", {}).get("content_hash") != config["dataset"].get("content_hash"):
            changed.append("dataset")
        if changed:
            raise ValueError(
                f"{out} holds an evaluation with other settings ({', '.join(changed)} differ); "
                f"use another --out, the same settings to resume, or --overwrite to start over"
            )
        config = {**config, "seeds": max(old["seeds"], config["seeds"], key=len)}
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return config


def _request(question: Question, prompt: str) -> GenerationRequest:
    return GenerationRequest(text=build_prompt(question.question, question.options, prompt=prompt),
                             images=question.images)  # fmt: skip


def run_eval(settings: EvalSettings, source: DatasetSource, progress: Any = None) -> dict[str, Any]:
    """Generate what is missing, grade it, write ``results.json``/``results.md``; return the results.

    ``progress(run, done, total)`` is called after every saved answer."""
    out = Path(settings.out)
    questions = load_questions(source, settings.benchmarks, settings.limit)
    config = _settle_config(out, _config(settings, source, questions))
    with contextlib.ExitStack() as stack:
        logs = {
            run: stack.enter_context(GenerationLog(run_file(out, run)))
            for run in range(1, len(config["seeds"]) + 1)
        }
        todo = {run: log.missing(questions, settings.prompt) for run, log in logs.items()}
        if any(todo.values()):
            generator = stack.enter_context(_generator(settings))
            for run, missing in todo.items():
                seed, log = config["seeds"][run - 1], logs[run]

                def save(index: int, text: str, run=run, seed=seed, log=log, missing=missing) -> None:
                    log.add(graded_row(missing[index], run, seed, text, settings.prompt))
                    if progress is not None:
                        progress(run, len(log.rows), len(questions))

                generator.generate_each([_request(q, settings.prompt) for q in missing], seed, save)
    return write_results(out)
