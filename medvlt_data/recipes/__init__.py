"""Named splits as recipes: a YAML file of parameters and a small module that returns the build plan.

Each recipe module has a docstring (sources, license, purpose), a ``VERSION`` integer (bumped when
the recipe's output changes) and ``plan(params, context) -> BuildPlan``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from medvlt_data.pipeline.build import BuildError, BuildPlan
from medvlt_data.pipeline.steps import SourceSpec

#: Split name -> recipe module.
RECIPES = {
    "text-all": "text_all",
    "image-all": "image_all",
    "eval": "eval",
    "text-hard": "text_hard",
    "image-hard": "image_hard",
}


@dataclass
class BuildContext:
    """What the command line adds to a recipe: local paths per source and the output folder."""

    out: Path
    source_paths: dict[str, str] = field(default_factory=dict)
    decontaminate_against: list[str] | None = None
    eval_build: str | None = None
    only_sources: list[str] | None = None  # keep only these sources (or benchmarks) of the recipe
    scoring: dict[str, Any] = field(default_factory=dict)  # difficulty settings from the command line


def recipe_module(split: str) -> ModuleType:
    if split not in RECIPES:
        raise BuildError(f"unknown split {split!r}; known splits: {', '.join(RECIPES)}")
    return importlib.import_module(f"medvlt_data.recipes.{RECIPES[split]}")


def recipe_params(split: str) -> dict[str, Any]:
    """The YAML parameters of a recipe."""
    text = (
        resources.files("medvlt_data.recipes").joinpath(f"{RECIPES[split]}.yaml").read_text(encoding="utf-8")
    )
    return yaml.safe_load(text) or {}


def describe(split: str) -> tuple[int, str]:
    """(VERSION, first docstring line) of a recipe."""
    module = recipe_module(split)
    return module.VERSION, (module.__doc__ or "").strip().splitlines()[0]


def make_plan(split: str, context: BuildContext) -> BuildPlan:
    """The build plan of ``split`` for ``context``."""
    module = recipe_module(split)
    return module.plan(recipe_params(split), context)


def source_specs(entries: list[dict[str, Any]], context: BuildContext) -> list[SourceSpec]:
    """Source specs from recipe entries; ``--source-path NAME=DIR`` replaces the Hub id of NAME.

    A local layout is read for the recipe's splits when it has them; otherwise every file it holds
    is read, and the spec's ``options["note"]`` says so (the card shows it).
    """
    from medvlt_data.sources import SourceError, get_source

    def names(entry: dict[str, Any]) -> set[str]:
        return {n for n in (entry["name"], entry.get("benchmark")) if n}

    if context.only_sources is not None:
        known = set().union(*(names(e) for e in entries))
        unknown = sorted(set(context.only_sources) - known)
        if unknown:
            raise BuildError(f"--sources: {unknown} not in this recipe (it has {sorted(known)})")
    specs = []
    for entry in entries:
        if context.only_sources is not None and not names(entry) & set(context.only_sources):
            continue
        spec = SourceSpec(
            name=entry["name"], hub=entry.get("hub"), splits=entry.get("splits"), revision=entry.get("revision"),
            config=entry.get("config"), benchmark=entry.get("benchmark"),
        )  # fmt: skip
        if "expected" in entry:
            spec.options["expected"] = int(entry["expected"])
        path = context.source_paths.get(spec.benchmark or "") or context.source_paths.get(spec.name)
        if path:
            spec.path, spec.hub, spec.revision = str(path), None, None
            source = get_source(spec.name, spec.config)
            found = []
            for split in spec.splits or []:
                try:
                    next(iter(source.read(path=path, split=split, validate=False)), None)
                    found.append(split)
                except SourceError:
                    continue
            if spec.splits and not found:
                spec.options["note"] = f"splits {spec.splits} not in {path}: every file read"
                spec.splits = None
            elif spec.splits:
                spec.splits = found
        specs.append(spec)
    preflight(specs)
    return specs


def preflight(specs: list[SourceSpec]) -> None:
    """Fail fast, naming every source that cannot be read, before any stage starts."""
    from huggingface_hub import HfApi

    problems = []
    for spec in specs:
        if spec.path is not None:
            continue
        if Path(spec.hub).is_dir():
            continue
        try:
            HfApi().dataset_info(spec.hub, revision=spec.revision, timeout=10)
        except Exception as exc:
            problems.append(f"{spec.group} (hub:{spec.hub}): {type(exc).__name__}: {str(exc)[:160]}")
    if problems:
        raise BuildError(
            "cannot read these sources:\n  " + "\n  ".join(problems) + "\ngive their local layouts with "
            "--source-path NAME=DIR, or build without them with --sources NAME,NAME"
        )
