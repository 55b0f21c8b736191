"""The source adapters, registered by name.

>>> sorted(SOURCES)[:3]
['gpqa', 'headqa', 'medmcqa']
"""

from __future__ import annotations

import importlib
import inspect

from medvlt_data.sources.base import Item, Rejected, Source, SourceError

#: Adapter modules, one per source; importing one registers its adapter.
ADAPTER_MODULES = (
    "medqa",
    "medmcqa",
    "pubmedqa",
    "headqa",
    "pmc_vqa",
    "vqa_rad",
    "slake",
    "pathvqa",
    "mmmu_medical",
    "medxpertqa",
    "mmlu",
    "mmlu_pro",
    "gpqa",
)

SOURCES: dict[str, type[Source]] = {}


def register(cls: type[Source]) -> type[Source]:
    """Class decorator: make an adapter available under its ``name``."""
    if cls.name in SOURCES:
        raise ValueError(f"source {cls.name!r} registered twice")
    SOURCES[cls.name] = cls
    return cls


def get_source(name: str, config: str | None = None) -> Source:
    """The adapter registered as ``name`` (with a dataset ``config`` where the source has several).

    Raises :class:`SourceError` for an unknown name, or a config given to a source without configs.
    """
    if name not in SOURCES:
        raise SourceError(f"unknown source {name!r}; known sources: {', '.join(SOURCES)}")
    cls = SOURCES[name]
    if config is None:
        return cls()
    if "config" not in inspect.signature(cls).parameters:
        raise SourceError(f"source {name!r} has no configs; drop --config {config}")
    return cls(config=config)


for _module in ADAPTER_MODULES:
    importlib.import_module(f"medvlt_data.sources.{_module}")

__all__ = ["SOURCES", "Item", "Rejected", "Source", "SourceError", "get_source", "register"]
