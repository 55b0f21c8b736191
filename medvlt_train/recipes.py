"""Training recipes: flat YAML files whose keys are fields of :class:`MedvltArguments` and of TRL's
:class:`~trl.SFTConfig` (``kind: sft``) or :class:`~trl.GRPOConfig` (``kind: rlvr``), parsed by TRL's
own :class:`~trl.TrlParser`.

A recipe is a package file ``medvlt_train/recipes/{name}.yaml`` or any YAML path. A packaged recipe is named
in full (``rlvr-qwen2.5-vl-3b``) or without its kind (``qwen2.5-vl-3b``, ``tiny``), which the entry point
completes (``rlvr-tiny`` for ``medvlt train rlvr``). Its ``kind`` key says which entry point it is for.

Command-line overrides are ``key=value`` strings; :func:`override_argv` turns them into ``--key=value``
arguments for the parser, which types each value from its dataclass field (``max_steps=2`` -> 2,
``keep_epoch=null`` -> None). ``seed`` is a field of both TRL configs and stays with them.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import sys
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "KINDS",
    "MedvltArguments",
    "RecipeError",
    "TrainingRun",
    "config_class",
    "list_recipes",
    "load_recipe",
    "override_argv",
    "parse_command_line",
    "parse_recipe",
    "recipe_source",
]

KINDS = ("sft", "rlvr")


class RecipeError(ValueError):
    """A recipe that cannot be found, parsed or turned into a config; the message says why."""


def _help(text: str) -> dict[str, str]:
    return {"help": text}  # the text TRL's parser shows for a field


@dataclasses.dataclass
class MedvltArguments:
    """The recipe keys that are medvlt's own rather than fields of the TRL config."""

    model: str | None = dataclasses.field(
        default=None,
        metadata=_help(
            "Model to train: a Hub id (ID@rev pins a revision), a folder, or tiny, demo, demo-base."
        ),
    )
    dataset: str | None = dataclasses.field(
        default=None, metadata=_help("A medvlt build folder, a Parquet file or a Hub dataset ID[@revision].")
    )
    split: str = dataclasses.field(default="train", metadata=_help("The dataset split to train on."))
    prompt: str = dataclasses.field(
        default="paper",
        metadata=_help("Prompt variant: paper (the paper's literal-backslash-n prompt) or default."),
    )
    rewards: dict[str, float] | str | None = dataclasses.field(
        default=None,
        metadata=_help(
            "RLVR only: {name: weight} (YAML); a name is a registered reward (medvlt, medvlt_paper, accuracy, "
            "format) or an import path package.module:function. Unset: {medvlt: 1.0}."
        ),
    )
    accelerate: str = dataclasses.field(
        default="ddp",
        metadata=_help("Accelerate config of a multi-process launch: ddp, zero3 or a YAML path."),
    )
    push_to: str | None = dataclasses.field(
        default=None, metadata=_help("Hub repo ORG/NAME to push the trained model to.")
    )
    private: bool = dataclasses.field(default=False, metadata=_help("Create the pushed repo private."))
    eval_results: str | None = dataclasses.field(
        default=None, metadata=_help("A `medvlt eval` results file whose accuracies go into the model card.")
    )
    # The published MedVLThinker SFT(m23k) models are epoch 3 of a 5-epoch run, so the SFT recipes keep epoch 3;
    # the final weights stay in their checkpoint-* folder (see medvlt_train.run.keep_epoch_checkpoint).
    keep_epoch: int | None = dataclasses.field(
        default=None,
        metadata=_help("The epoch whose checkpoint becomes the run's model (needs save_strategy=epoch)."),
    )
    # verl stops on a longer prompt (data.truncation='error'); GRPOConfig has no such field.
    max_prompt_length: int | None = dataclasses.field(
        default=None,
        metadata=_help(
            "RLVR only: the longest prompt in tokens, images expanded; a dataset with a longer one is refused "
            "before training."
        ),
    )

    def __post_init__(self) -> None:
        from medvlt_data.verify import PROMPTS
        from medvlt_train.rewards import reward_weights

        if self.prompt not in PROMPTS:
            raise ValueError(f"unknown prompt {self.prompt!r}; known: {', '.join(sorted(PROMPTS))}")
        if isinstance(self.rewards, str):  # from the command line: YAML, e.g. {medvlt: 1.0, format: 0.1}
            try:
                self.rewards = yaml.safe_load(self.rewards) if self.rewards.strip() else None
            except yaml.YAMLError as exc:
                raise ValueError(f"rewards {self.rewards!r} is not valid YAML: {exc}") from exc
        if self.rewards is not None:
            self.rewards = reward_weights(self.rewards)


_MEDVLT_KEYS = ("kind", *(f.name for f in dataclasses.fields(MedvltArguments)))


def config_class(kind: str):
    """TRL's config dataclass for ``kind`` (``sft`` -> SFTConfig, ``rlvr`` -> GRPOConfig)."""
    if kind not in KINDS:
        raise RecipeError(f"unknown recipe kind {kind!r}; known: {', '.join(KINDS)}")
    from trl import GRPOConfig, SFTConfig

    return SFTConfig if kind == "sft" else GRPOConfig


def _parser(kind: str):
    """TRL's parser of the medvlt arguments and the ``kind``'s config; bad values raise, not exit."""
    from trl import TrlParser

    usage = f"python -m medvlt_train.{kind} [RECIPE] [key=value ...] (each key below as key=value)"
    return TrlParser([MedvltArguments, config_class(kind)], usage=usage, exit_on_error=False)


def list_recipes(kind: str | None = None) -> list[str]:
    """Names of the packaged recipes (optionally only those of ``kind``), sorted."""
    folder = resources.files("medvlt_train").joinpath("recipes")
    names = sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))
    if kind is not None:
        names = [n for n in names if _read(folder.joinpath(f"{n}.yaml"), n).get("kind") == kind]
    return names


def _read(source, label: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RecipeError(f"recipe {label}: invalid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RecipeError(f"recipe {label}: expected a mapping of keys to values, got {type(data).__name__}")
    return data


def recipe_source(name_or_path: str | Path, kind: str):
    """(label, readable source) of a recipe: a YAML path, a packaged name, or a packaged name without its
    kind prefix (``tiny`` -> ``{kind}-tiny``)."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise RecipeError(f"recipe file {path} does not exist")
        return str(path), path
    folder = resources.files("medvlt_train").joinpath("recipes")
    for name in (str(name_or_path), f"{kind}-{name_or_path}"):
        source = folder.joinpath(f"{name}.yaml")
        if source.is_file():
            return name, source
    raise RecipeError(f"unknown recipe {name_or_path!r}; known: {', '.join(list_recipes()) or 'none'}")


def load_recipe(name_or_path: str | Path, kind: str) -> dict[str, Any]:
    """The keys of recipe ``name_or_path`` (see :func:`recipe_source`) as written, checked for ``kind``:
    every key is ``kind``, a field of :class:`MedvltArguments` or a field of the ``kind``'s TRL config."""
    return _load(name_or_path, kind)[1]


def _load(name_or_path: str | Path, kind: str) -> tuple[str, dict[str, Any]]:
    config_class(kind)  # validates kind
    label, source = recipe_source(name_or_path, kind)
    data = _read(source, label)
    declared = data.get("kind", kind)
    if declared != kind:
        raise RecipeError(f"recipe {label} is a {declared!r} recipe, not {kind!r}")
    data["kind"] = kind
    _check_keys(data, kind, f"recipe {label}")
    return label, data


def _config_fields(kind: str) -> set[str]:
    return {f.name for f in dataclasses.fields(config_class(kind)) if f.init}


def _check_keys(data: Mapping[str, Any], kind: str, label: str, what: str = "key") -> None:
    unknown = sorted(set(data) - set(_MEDVLT_KEYS) - _config_fields(kind))
    if unknown:
        raise RecipeError(
            f"{label}: unknown {what}(s) {', '.join(unknown)}; keys are medvlt keys "
            f"({', '.join(_MEDVLT_KEYS)}) or fields of {config_class(kind).__name__}"
        )
    if kind == "sft" and data.get("rewards") is not None:
        raise RecipeError(f"{label}: 'rewards' is an RLVR key; SFT recipes have no rewards")
    if kind == "sft" and data.get("max_prompt_length") is not None:
        raise RecipeError(f"{label}: 'max_prompt_length' is an RLVR key; SFT recipes use max_length")


def override_argv(overrides: Iterable[str]) -> list[str]:
    """``["max_steps=2", ...]`` -> ``["--max_steps=2", ...]``: the parser's spelling of the overrides.

    >>> override_argv(["max_steps=2", "rewards={medvlt: 1.0}"])
    ['--max_steps=2', '--rewards={medvlt: 1.0}']
    """
    argv = []
    for item in overrides:
        key, sep, value = item.partition("=")
        key = key.strip().lstrip("-").replace("-", "_")
        if not sep or not key:
            raise RecipeError(f"override {item!r} is not of the form key=value")
        argv.append(f"--{key}={value}")
    return argv


@dataclasses.dataclass
class TrainingRun:
    """A recipe with its overrides, for the ``kind``'s entry point. ``fields`` holds every key of the recipe
    after the overrides (the run record's ``recipe_fields``); :attr:`args` and :attr:`config` are built from
    them by TRL's parser when first read."""

    kind: str
    recipe: str  # the packaged recipe's name, or the path as given
    fields: dict[str, Any]

    @functools.cached_property
    def _parsed(self) -> tuple[MedvltArguments, Any]:
        parser = _parser(self.kind)
        parser.set_defaults_with_config(**self.fields)  # as TrlParser does with a --config file
        try:
            args, config = parser.parse_args_into_dataclasses([])
        except (argparse.ArgumentError, ValueError) as exc:
            raise RecipeError(f"recipe {self.recipe}: {exc}") from exc
        return args, config

    @property
    def args(self) -> MedvltArguments:
        """The medvlt arguments."""
        return self._parsed[0]

    @property
    def config(self):
        """The TRL config (SFTConfig or GRPOConfig)."""
        return self._parsed[1]

    def check_required(self) -> None:
        """Fail when the recipe and overrides leave ``model`` or ``dataset`` unset."""
        for key in ("model", "dataset"):
            if not self.fields.get(key):
                raise RecipeError(f"recipe {self.recipe} sets no {key}; pass {key}=...")


def parse_recipe(recipe: str | Path | None, kind: str, overrides: Iterable[str] = (),
                 given: Mapping[str, Any] | None = None) -> TrainingRun:  # fmt: skip
    """The run of ``recipe`` (a name or a YAML path; None: ``{kind}-tiny``) with ``given`` (keys already
    typed, as command-line options give them) and then ``overrides`` (``key=value`` strings, typed by the
    parser) applied. Keys and values are checked here; the configs are built when first read."""
    recipe = f"{kind}-tiny" if recipe is None else recipe
    label, data = _load(recipe, kind)
    argv = override_argv(overrides)
    keys = [arg[2:].partition("=")[0] for arg in argv]
    _check_keys(dict.fromkeys(keys), kind, "overrides", what="override key")
    try:
        namespace, rest = _parser(kind).parse_known_args(argv)
    except argparse.ArgumentError as exc:
        raise RecipeError(f"could not parse overrides: {exc}") from exc
    if rest:
        raise RecipeError(f"could not parse overrides: {' '.join(rest)}")
    fields = {**data, **(given or {}), **{key: getattr(namespace, key) for key in keys}}
    fields.pop("kind")
    _check_keys(fields, kind, f"recipe {label} with overrides")
    return TrainingRun(kind=kind, recipe=label, fields=fields)


def parse_command_line(argv: list[str] | None, kind: str) -> TrainingRun:
    """``[RECIPE] [key=value ...]`` (``--help`` lists every key) -> the run. ``RECIPE`` is a name or a YAML
    path, ``{kind}-tiny`` when the first argument is an override."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["-h"], ["--help"]):
        parser = _parser(kind)
        parser.description = f"Recipes: {', '.join(list_recipes(kind))}, or a YAML path."
        parser.print_help()
        raise SystemExit(0)
    recipe = argv.pop(0) if argv and "=" not in argv[0] else None
    return parse_recipe(recipe, kind, argv)
