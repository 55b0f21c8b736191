"""What a training run leaves in its output folder besides the trainer's files: the run record
(``medvlt_run.json``: recipe, data, prompt, rewards, versions, the weights' hash), the model card, and,
when asked, the push of the whole folder to the Hub as a tagged version.

Only the main process writes these; under ZeRO-3 every process takes part in saving the weights.

No secret is written: a recipe's ``hub_token`` becomes this process's Hugging Face token (``HF_TOKEN``,
which the push and TRL use) and is cleared from the TRL config before any trainer exists, so no
``training_args.bin`` (the trainer's pickle of its config, in the folder and every checkpoint) holds
it; the run record, and the card made from it, are redacted (:func:`medvlt_data.redact.redact`).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub_cards.model_card import RUN_FILE, write_model_card
from medvlt_data.benchmarks import card_columns
from medvlt_data.datasets import DatasetSource
from medvlt_data.hub import update_from_file
from medvlt_data.redact import redact, remember

if TYPE_CHECKING:
    from medvlt_train.recipes import TrainingRun

__all__ = [
    "check_before_training",
    "check_keep_epoch",
    "check_push_target",
    "finish_run",
    "keep_epoch_checkpoint",
    "library_versions",
    "main",
    "prompt_template",
    "run_record",
    "start_run",
    "take_hub_token",
    "train",
    "weight_files",
    "weights_sha256",
]

log = logging.getLogger(__name__)

_LIBRARIES = ("medvlt", "transformers", "trl", "torch", "accelerate", "datasets", "huggingface_hub",
              "deepspeed", "vllm")  # fmt: skip
#: Files whose bytes define the trained model (the card and the logs are not part of its version).
_WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "config.json", "generation_config.json")
#: Files a checkpoint's model is copied with when ``keep_epoch`` makes it the run's model.
_MODEL_FILES = ("*.safetensors", "*.safetensors.index.json", "pytorch_model*.bin", "pytorch_model*.bin.index.json",
                "config.json", "generation_config.json")  # fmt: skip


def main(kind: str, argv: list[str] | None = None) -> str:
    """The entry point of ``python -m medvlt_train.{kind}``: parse ``[RECIPE] [key=value ...]`` as a
    ``kind`` run (sft or rlvr) and train it; returns the output folder (model + processor)."""
    from medvlt_train.recipes import parse_command_line

    return train(parse_command_line(argv, kind))


def train(run: TrainingRun) -> str:
    """Train ``run`` with the trainer of its kind (:mod:`medvlt_train.sft` or :mod:`medvlt_train.rlvr`)."""
    return importlib.import_module(f"medvlt_train.{run.kind}").train(run)


def start_run(run: TrainingRun) -> DatasetSource:
    """Check ``run`` before anything trains, seed it, and resolve its dataset (local build or Hub id)."""
    import transformers

    from medvlt_data.datasets import resolve_dataset

    take_hub_token(run.config)
    check_before_training(run)
    transformers.set_seed(run.config.seed)
    return resolve_dataset(run.args.dataset)


def take_hub_token(config: Any) -> None:
    """Make ``config.hub_token`` (TRL's field; a recipe key) this process's Hugging Face token and clear
    it from ``config``, whose pickle the trainer saves as ``training_args.bin``."""
    token = getattr(config, "hub_token", None)
    if token:
        os.environ["HF_TOKEN"] = token  # huggingface_hub reads it: medvlt's push, TRL's push_to_hub
        remember(token)
        config.hub_token = None


def check_before_training(run: TrainingRun) -> None:
    """Fail before training, not after it: model and dataset set, the push target and ``keep_epoch`` usable."""
    run.check_required()
    check_push_target(run.args.push_to)
    check_keep_epoch(run.args.keep_epoch, run.config)


def check_push_target(target: str | None, token: str | None = None) -> None:
    """Fail before training, not after it, when ``push_to`` is not a repo id or no Hub token is set
    (``token``: the recipe's ``hub_token``, else huggingface_hub's)."""
    from medvlt_data.hub import is_repo_id

    if not target:
        return
    if not is_repo_id(str(target)):
        raise ValueError(f"push_to {target!r} is not a Hub repo id ORG/NAME")
    from huggingface_hub import get_token

    if not (token or get_token()):
        raise ValueError(
            f"pushing to {target} needs a Hugging Face token: set HF_TOKEN, pass hub_token=TOKEN, "
            "or log in with `hf auth login`"
        )


def check_keep_epoch(epoch: int | None, config: Any) -> None:
    """Fail before training, not after it, when ``keep_epoch`` cannot be honoured by ``config``: it needs
    a checkpoint at the end of every epoch (``save_strategy: epoch``), a run of at least that many epochs
    (no ``max_steps``) and no ``save_total_limit`` that would delete that checkpoint."""
    if epoch is None:
        return
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 1:
        raise ValueError(f"keep_epoch {epoch!r} is not an epoch number (1, 2, ...)")
    strategy = getattr(config.save_strategy, "value", config.save_strategy)
    if strategy != "epoch":
        raise ValueError(
            f"keep_epoch {epoch} needs save_strategy=epoch (the recipe has save_strategy={strategy})"
        )
    if config.max_steps and config.max_steps > 0:
        raise ValueError(
            f"keep_epoch {epoch} needs a run counted in epochs; max_steps={config.max_steps} is set"
        )
    if epoch > config.num_train_epochs:
        raise ValueError(f"keep_epoch {epoch} is beyond num_train_epochs={config.num_train_epochs:g}")
    limit = config.save_total_limit
    if limit is not None and limit < config.num_train_epochs - epoch + 1:
        raise ValueError(f"save_total_limit={limit} would delete the epoch-{epoch} checkpoint; unset it")


def keep_epoch_checkpoint(output_dir: str | Path, epoch: int) -> dict[str, Any]:
    """Make the ``checkpoint-*`` folder saved at the end of ``epoch`` the model of ``output_dir``: its weight and
    config files replace the final ones there (which stay in the last checkpoint). Returns what the run
    record says about it: ``{"epoch", "global_step", "checkpoint"}``.

    The epoch of a checkpoint is the ``epoch`` of its ``trainer_state.json`` (exactly N.0 at the end of epoch N).
    """
    import shutil

    output_dir = Path(output_dir)
    found: dict[str, float] = {}
    for state_file in sorted(output_dir.glob("checkpoint-*/trainer_state.json")):
        state = json.loads(state_file.read_text(encoding="utf-8"))
        found[state_file.parent.name] = float(state.get("epoch") or 0.0)
        if abs(found[state_file.parent.name] - epoch) < 1e-6:
            checkpoint, step = state_file.parent, int(state["global_step"])
            break
    else:
        seen = ", ".join(f"{name} (epoch {value:g})" for name, value in found.items()) or "none"
        raise FileNotFoundError(f"{output_dir}: no checkpoint of epoch {epoch}; checkpoints: {seen}")
    sources = sorted({p for pattern in _MODEL_FILES for p in checkpoint.glob(pattern)})
    if not any(p.suffix in (".safetensors", ".bin") for p in sources):
        raise FileNotFoundError(f"{checkpoint}: no model weights to keep")
    for pattern in _MODEL_FILES:  # the final model's files go first: its shards may be named otherwise
        for stale in output_dir.glob(pattern):
            stale.unlink()
    for source in sources:
        shutil.copy2(source, output_dir / source.name)
    log.info(
        "kept the epoch-%d checkpoint %s (step %d) as the model of %s",
        epoch,
        checkpoint.name,
        step,
        output_dir,
    )
    return {"epoch": epoch, "global_step": step, "checkpoint": checkpoint.name}


def library_versions() -> dict[str, str]:
    """Versions of Python and of the libraries a run depends on (those installed)."""
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def weight_files(folder: str | Path) -> list[Path]:
    """The weight and config files of a saved model, sorted (not ``training_args.bin``, which holds paths
    and dates)."""
    folder = Path(folder)
    return sorted(
        {p for pattern in _WEIGHT_PATTERNS for p in folder.glob(pattern) if p.name != "training_args.bin"}
    )


def weights_sha256(folder: str | Path) -> str:
    """sha256 over the names and bytes of the weight and config files of a saved model."""
    folder = Path(folder)
    files = weight_files(folder)
    if not files:
        raise FileNotFoundError(f"no weights in {folder}")
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0")
        update_from_file(digest, path)
    return digest.hexdigest()


def prompt_template(prompt: str) -> str:
    """The prompt with placeholders for the question and its options (two shown), as a card shows it."""
    from medvlt_data.verify import build_prompt

    return build_prompt("{question}", {"A": "{option A}", "B": "{option B}"}, prompt=prompt)


def _reward_rows(rewards: dict[str, float] | None) -> list[dict[str, Any]]:
    import inspect

    from medvlt_train.rewards import DEFAULT_REWARDS, get_rewards

    rewards = rewards or DEFAULT_REWARDS
    rows = []
    for name, function, weight in zip(rewards, *get_rewards(rewards), strict=True):
        doc = inspect.cleandoc(function.__doc__ or "").split("\n\n")[0].replace("\n", " ")
        rows.append({"name": name, "weight": weight, "function": function.__name__, "definition": doc})
    return rows


def run_record(run: TrainingRun, trainer: Any, dataset: DatasetSource, counts: dict[str, int], output_dir: Path,
               kept: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """The run record (schema: :mod:`hub_cards.model_card`) of a finished run saved in ``output_dir``;
    ``kept`` is what :func:`keep_epoch_checkpoint` returned when an epoch's checkpoint is the model."""
    sha = weights_sha256(output_dir)
    kind, args = run.kind, run.args
    record = {
        "kind": kind,
        "recipe": run.recipe,
        "recipe_fields": run.fields,
        "base_model": str(args.model),
        "dataset": dataset.describe(),
        "demo": dataset.demo,  # trained on a demo build (made-up questions): the card says so
        "data": counts,
        "prompt": {"name": args.prompt, "template": prompt_template(args.prompt)},
        "world_size": int(trainer.args.world_size),
        "global_step": int(trainer.state.global_step),
        "model_version": f"{kind}-{sha[:12]}",
        "weights_sha256": sha,
        "versions": library_versions(),
        "model_name": output_dir.name,
    }
    if kind == "rlvr":
        record["rewards"] = _reward_rows(args.rewards)
    if kept is not None:
        record["kept_checkpoint"] = {**kept, "of_epochs": float(trainer.args.num_train_epochs)}
    if args.push_to:
        record["repo_id"] = args.push_to
        record["model_name"] = args.push_to.split("/")[-1]
    return redact(record)  # a hub_token given is "***"; the card is made from this record


def finish_run(
    run: TrainingRun, trainer: Any, processor: Any, dataset: DatasetSource, counts: dict[str, int]
) -> str:
    """Save the model, processor and trainer state; on the main process write the run record and the
    card, and push when ``push_to`` names a repository. Returns the output folder."""
    output_dir = Path(trainer.args.output_dir)
    trainer.save_model(str(output_dir))  # collective under ZeRO-3: every process calls it
    if not trainer.is_world_process_zero():
        return str(output_dir)
    processor.save_pretrained(output_dir)
    trainer.save_state()
    args = run.args
    kept = keep_epoch_checkpoint(output_dir, args.keep_epoch) if args.keep_epoch else None
    record = run_record(run, trainer, dataset, counts, output_dir, kept)
    (output_dir / RUN_FILE).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    write_model_card(output_dir, eval_results=args.eval_results, benchmarks=card_columns())
    log.info("model card written to %s", output_dir / "README.md")
    if args.push_to:
        from medvlt_data.hub import push_folder

        pushed = push_folder(output_dir, args.push_to, repo_type="model", tag=record["model_version"],
                             private=args.private)  # fmt: skip
        state = "pushed" if pushed.created else "already on the Hub"
        log.info("%s: %s at tag %s (commit %s)", state, pushed.repo_id, pushed.tag, pushed.commit)
    return str(output_dir)
