"""Named splits as recipes: a YAML file of parameters (``{split}.yaml``, dashes as underscores) and a
small module that returns the build plan.

Each recipe module has a docstring (sources, license, purpose), a ``VERSION`` integer (bumped when
the recipe's output changes) and ``plan(split, params, context) -> BuildPlan``. A plan is pure: making
it reads the packaged YAML and nothing else (no local layout, no Hub, no backend); the build checks
and resolves it before its first stage (:mod:`medvlt_data.pipeline.plan`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from importlib import resources
from types import ModuleType
from typing import Any

import yaml

from medvlt_data.ingest import SourceSpec
from medvlt_data.pipeline.plan import BuildError, BuildPlan, source_spec

#: Split name -> recipe module (the two hard splits share one).
RECIPES = {
    "text-all": "text_all",
    "image-all": "image_all",
    "eval": "eval",
    "text-hard": "hard",
    "image-hard": "hard",
}


@dataclass
class BuildContext:
    """What the command line adds to a recipe: local layouts, the benchmarks, a subset, difficulty."""

    source_paths: dict[str, str] = field(default_factory=dict)  # source or benchmark name -> local layout
    decontaminate_against: list[str] | None = None  # None: the recipe's list
    eval_build: str | None = None  # the evaluation benchmarks' questions from this eval build
    only_sources: list[str] | None = None  # keep only these sources (or benchmarks) of the recipe
    difficulty: dict[str, Any] = field(default_factory=dict)  # DifficultySettings fields to use instead


def recipe_module(split: str) -> ModuleType:
    if split not in RECIPES:
        raise BuildError(f"unknown split {split!r}; known splits: {', '.join(RECIPES)}")
    return importlib.import_module(f"medvlt_data.recipes.{RECIPES[split]}")


def recipe_params(split: str) -> dict[str, Any]:
    """The YAML parameters of a recipe."""
    recipe_module(split)  # an unknown split is named with the known ones
    name = f"{split.replace('-', '_')}.yaml"
    text = resources.files("medvlt_data.recipes").joinpath(name).read_text(encoding="utf-8")
    return yaml.safe_load(text) or {}


def describe(split: str) -> tuple[int, str]:
    """(VERSION, first docstring line) of a recipe, with the pool it builds on where it has one."""
    module = recipe_module(split)
    line = (module.__doc__ or "").strip().splitlines()[0]
    base = recipe_params(split).get("base")
    return module.VERSION, line + (f" (base: {base})" if base else "")


def make_plan(split: str, context: BuildContext) -> BuildPlan:
    """The build plan of ``split`` for ``context``; touches no file and no network."""
    plan = recipe_module(split).plan(split, recipe_params(split), context)
    if context.difficulty and plan.difficulty is None:
        raise BuildError(f"{split} has no difficulty stage; the difficulty settings "
                         f"({', '.join(sorted(context.difficulty))}) apply to text-hard and image-hard")  # fmt: skip
    return plan


def source_specs(entries: list[dict[str, Any]], context: BuildContext) -> list[SourceSpec]:
    """Source specs from recipe entries (:func:`~medvlt_data.pipeline.plan.source_spec`), only those
    ``--sources`` names (by source or benchmark name) when it is given."""

    def names(entry: dict[str, Any]) -> set[str]:
        return {n for n in (entry["name"], entry.get("benchmark")) if n}

    if context.only_sources is None:
        return [source_spec(entry, context.source_paths) for entry in entries]
    known = set().union(*(names(e) for e in entries))
    unknown = sorted(set(context.only_sources) - known)
    if unknown:
        raise BuildError(f"--sources: {unknown} not in this recipe (it has {sorted(known)})")
    chosen = set(context.only_sources)
    return [source_spec(entry, context.source_paths) for entry in entries if names(entry) & chosen]
