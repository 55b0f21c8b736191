"""Training recipes: flat YAML files of TRL config fields plus a few medvlt keys, and their parsing.

A recipe is a package file ``medvlt_train/recipes/{name}.yaml`` or any YAML path. Its keys are fields of
TRL's :class:`~trl.SFTConfig` (``kind="sft"``) or :class:`~trl.GRPOConfig` (``kind="rlvr"``), plus the
medvlt keys in :data:`MEDVLT_KEYS`:

* ``kind``: ``sft`` or ``rlvr`` (checked against the entry point that loads it);
* ``model``: a Hub id, a local folder, or ``tiny`` (the cached tiny random Qwen2.5-VL);
* ``dataset`` / ``split``: what :func:`medvlt_train.data.load_records` reads;
* ``prompt``: ``paper`` (the paper's literal-backslash-n prompt) or ``default``;
* ``rewards`` (RLVR only): ``{name: weight}`` for :func:`medvlt_train.rewards.get_rewards`;
* ``accelerate``: the accelerate config a multi-process launch uses (``ddp``, ``zero3`` or a YAML path);
* ``push_to`` / ``private``: a Hub repo ``ORG/NAME`` to push the trained model to, and its visibility;
* ``eval_results``: a ``medvlt eval`` results file whose accuracies go into the model card;
* ``keep_epoch``: the epoch whose checkpoint becomes the run's model (needs ``save_strategy: epoch``). The
  published MedVLThinker SFT(m23k) models are epoch 3 of a 5-epoch run, so the SFT recipes keep epoch 3; the
  final weights stay in their ``checkpoint-*`` folder (see :func:`medvlt_train.run.keep_epoch_checkpoint`);
* ``max_prompt_length`` (RLVR only): the longest prompt in tokens, images expanded; a dataset with a longer
  one is refused before training, as verl's ``data.truncation='error'`` stops on it (GRPOConfig has no such
  field).

A packaged recipe is named in full (``rlvr-qwen2.5-vl-3b``) or without its kind (``qwen2.5-vl-3b``,
``tiny``), which the entry point completes (``rlvr-tiny`` for ``medvlt train rlvr``).

``seed`` is a field of both configs (``TrainingArguments.seed``) and stays with them.

Command-line overrides are ``key=value`` strings. Config fields are typed by the config's own
``HfArgumentParser`` (the argparse ``type`` it derives from the dataclass field), medvlt keys are read as
YAML (``rewards={medvlt: 1.0, format: 0.1}``).
"""

from __future__ import annotations

import dataclasses
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "MEDVLT_KEYS",
    "RecipeError",
    "apply_overrides",
    "build_config",
    "config_class",
    "list_recipes",
    "load_recipe",
    "parse_overrides",
    "recipe_source",
    "split_recipe",
]

KINDS = ("sft", "rlvr")

#: Recipe keys that are not fields of the TRL config, with their defaults.
MEDVLT_KEYS: dict[str, Any] = {
    "kind": None,
    "model": None,
    "dataset": None,
    "split": "train",
    "prompt": "paper",
    "rewards": None,
    "accelerate": "ddp",
    "push_to": None,
    "private": False,
    "eval_results": None,
    "keep_epoch": None,
    "max_prompt_length": None,
}


class RecipeError(ValueError):
    """A recipe that cannot be found, parsed or turned into a config; the message says why."""


def config_class(kind: str):
    """TRL's config dataclass for ``kind`` (``sft`` -> SFTConfig, ``rlvr`` -> GRPOConfig)."""
    if kind not in KINDS:
        raise RecipeError(f"unknown recipe kind {kind!r}; known: {', '.join(KINDS)}")
    from trl import GRPOConfig, SFTConfig

    return SFTConfig if kind == "sft" else GRPOConfig


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
    """The recipe ``name_or_path`` (see :func:`recipe_source`) as a dict, checked for ``kind``.

    Every key must be a medvlt key or a field of the ``kind``'s TRL config.
    """
    config_class(kind)  # validates kind
    label, source = recipe_source(name_or_path, kind)
    data = _read(source, label)
    declared = data.get("kind", kind)
    if declared != kind:
        raise RecipeError(f"recipe {label} is a {declared!r} recipe, not {kind!r}")
    data["kind"] = kind
    _check_keys(data, kind, f"recipe {label}")
    return data


def _fields(kind: str) -> set[str]:
    return {f.name for f in dataclasses.fields(config_class(kind)) if f.init}


def _check_keys(data: dict[str, Any], kind: str, label: str) -> None:
    unknown = sorted(set(data) - set(MEDVLT_KEYS) - _fields(kind))
    if unknown:
        raise RecipeError(
            f"{label}: unknown key(s) {', '.join(unknown)}; keys are medvlt keys "
            f"({', '.join(MEDVLT_KEYS)}) or fields of {config_class(kind).__name__}"
        )
    if kind == "sft" and data.get("rewards") is not None:
        raise RecipeError(f"{label}: 'rewards' is an RLVR key; SFT recipes have no rewards")
    if kind == "sft" and data.get("max_prompt_length") is not None:
        raise RecipeError(f"{label}: 'max_prompt_length' is an RLVR key; SFT recipes use max_length")


def parse_overrides(overrides: list[str], kind: str) -> dict[str, Any]:
    """``["key=value", ...]`` -> typed values: config fields through the config's ``HfArgumentParser``,
    medvlt keys as YAML scalars/mappings."""
    from transformers import HfArgumentParser

    pairs: list[tuple[str, str]] = []
    for item in overrides:
        key, sep, value = item.partition("=")
        key = key.strip().lstrip("-").replace("-", "_")
        if not sep or not key:
            raise RecipeError(f"override {item!r} is not of the form key=value")
        pairs.append((key, value))
    fields = _fields(kind)
    unknown = sorted({k for k, _ in pairs} - fields - set(MEDVLT_KEYS))
    if unknown:
        raise RecipeError(
            f"unknown override key(s) {', '.join(unknown)}; keys are medvlt keys "
            f"({', '.join(MEDVLT_KEYS)}) or fields of {config_class(kind).__name__}"
        )
    result: dict[str, Any] = {}
    argv: list[str] = []
    for key, value in pairs:
        if key in MEDVLT_KEYS:
            try:
                result[key] = yaml.safe_load(value) if value.strip() else None
            except yaml.YAMLError as exc:
                raise RecipeError(f"override {key}: invalid YAML value {value!r}: {exc}") from exc
        else:
            argv += [f"--{key}", value]
    if argv:
        # parse_known_args converts each value with the type HfArgumentParser derived from the field,
        # without building the dataclass (whose __post_init__ checks need the full recipe).
        parser = HfArgumentParser(config_class(kind))
        try:
            namespace, rest = parser.parse_known_args(argv)
        except SystemExit as exc:  # argparse reports bad values by exiting
            raise RecipeError(f"could not parse overrides {' '.join(argv)}") from exc
        if rest:
            raise RecipeError(f"could not parse overrides: {' '.join(rest)}")
        for key, _ in pairs:
            if key not in MEDVLT_KEYS:
                result[key] = getattr(namespace, key)
    return result


def apply_overrides(recipe: dict[str, Any], overrides: list[str], kind: str) -> dict[str, Any]:
    """A copy of ``recipe`` with ``overrides`` (``key=value`` strings) applied."""
    merged = {**recipe, **parse_overrides(overrides, kind)}
    _check_keys(merged, kind, "recipe with overrides")
    return merged


def split_recipe(recipe: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(medvlt settings with defaults filled in, config fields)."""
    medvlt = {key: recipe.get(key, default) for key, default in MEDVLT_KEYS.items()}
    config = {key: value for key, value in recipe.items() if key not in MEDVLT_KEYS}
    return medvlt, config


def build_config(config_fields: dict[str, Any], kind: str):
    """The TRL config for ``config_fields`` (through ``HfArgumentParser.parse_dict``)."""
    from transformers import HfArgumentParser

    (config,) = HfArgumentParser(config_class(kind)).parse_dict(config_fields)
    return config


def parse_command_line(argv: list[str] | None, kind: str, prog: str, default: str):
    """``[RECIPE] [key=value ...]`` -> (medvlt settings, TRL config fields). ``RECIPE`` is a name or a
    YAML path (``default`` when the first argument is an override). The settings also hold ``recipe``
    (the name as given) and ``recipe_fields`` (every key of the recipe after the overrides)."""
    import argparse

    parser = argparse.ArgumentParser(
        prog=prog,
        description=f"medvlt {kind}: train from a recipe. Recipes: {', '.join(list_recipes(kind))}.",
    )
    parser.add_argument("recipe", nargs="?", default=default, help="recipe name or YAML path")
    parser.add_argument("overrides", nargs="*", help="key=value: TRL config fields or medvlt keys")
    args = parser.parse_args(argv)
    overrides = list(args.overrides)
    recipe_name = args.recipe
    if "=" in recipe_name:  # no recipe given, only overrides
        overrides.insert(0, recipe_name)
        recipe_name = default
    recipe = apply_overrides(load_recipe(recipe_name, kind), overrides, kind)
    medvlt, fields = split_recipe(recipe)
    medvlt["recipe"] = recipe_source(recipe_name, kind)[0]
    medvlt["recipe_fields"] = {k: v for k, v in recipe.items() if k != "kind"}
    for key in ("model", "dataset"):
        if not medvlt[key]:
            raise RecipeError(f"recipe {recipe_name} sets no {key}; pass {key}=...")
    return medvlt, fields
