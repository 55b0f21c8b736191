"""Multi-process launches: ``medvlt train sft|rlvr ... --num-processes N`` runs the entry point under
``accelerate launch`` with a packaged accelerate config (``ddp``: PyTorch DDP; ``zero3``: DeepSpeed ZeRO
stage 3) or a YAML file of one's own.

The packaged configs are single-node, one process per GPU. Mixed precision comes from the recipe
(``bf16``) for DDP; ZeRO-3 is written for bf16 as every GPU recipe uses it.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

from medvlt_train.recipes import RecipeError

__all__ = ["accelerate_command", "accelerate_config", "check_launchable", "list_accelerate_configs"]


def list_accelerate_configs() -> list[str]:
    """Names of the packaged accelerate configs."""
    folder = resources.files("medvlt_train").joinpath("accelerate")
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def accelerate_config(name_or_path: str) -> Path:
    """The path of a packaged accelerate config (``ddp``, ``zero3``) or of a YAML file, checked to load."""
    from accelerate.commands.config.config_args import load_config_from_file

    path = Path(name_or_path)
    if not (path.suffix in (".yaml", ".yml", ".json") or path.exists()):
        source = resources.files("medvlt_train").joinpath("accelerate", f"{name_or_path}.yaml")
        if not source.is_file():
            known = ", ".join(list_accelerate_configs())
            raise RecipeError(
                f"unknown accelerate config {name_or_path!r}; packaged: {known}, or a YAML path"
            )
        path = Path(str(source))
    if not path.is_file():
        raise RecipeError(f"accelerate config {path} does not exist")
    try:
        load_config_from_file(str(path))
    except Exception as exc:  # accelerate raises TypeError/ValueError/YAMLError for a bad file
        raise RecipeError(f"accelerate config {path} does not load: {exc}") from exc
    return path


def accelerate_command(kind: str, args: list[str], num_processes: int, config: str) -> list[str]:
    """The ``accelerate launch`` command line that runs ``medvlt_train.{kind}`` with ``args`` on
    ``num_processes`` processes."""
    if kind not in ("sft", "rlvr"):
        raise RecipeError(f"unknown training kind {kind!r}")
    return [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(accelerate_config(config)),
            "--num_processes", str(num_processes), "-m", f"medvlt_train.{kind}", *args]  # fmt: skip


def check_launchable(config: str) -> None:
    """Refuse, before anything starts, an accelerate config that needs DeepSpeed where it is not
    installed (the packaged ``zero3``, which the GPU recipes use as verl sharded its actor)."""
    import importlib.util

    from accelerate.commands.config.config_args import load_config_from_file

    path = accelerate_config(config)
    distributed = str(getattr(load_config_from_file(str(path)), "distributed_type", "") or "")
    if "DEEPSPEED" in distributed.upper() and importlib.util.find_spec("deepspeed") is None:
        raise RecipeError(
            f"accelerate config {config!r} runs DeepSpeed, which is not installed: "
            "pip install 'medvlt[deepspeed]', or choose --accelerate-config ddp (a model that fits one GPU)"
        )
