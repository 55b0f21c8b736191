"""The embedded demo corpus: made-up questions written in every source's local raw layout.

:func:`write_demo_corpus` writes one folder per source, each readable by that source's adapter with
``--path``. Each folder also holds one or two deliberately broken rows, so the demo shows rejects
with reasons as well as records.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from medvlt_data.sources import ADAPTER_MODULES

#: Modules of :mod:`medvlt_data.demo`, one per source adapter and named after it, each with
#: ``write(root) -> Path``.
DEMO_SOURCES = ADAPTER_MODULES


def write_demo_corpus(root: str | Path) -> dict[str, Path]:
    """Write the demo corpus under ``root``; returns source name -> the path to ingest."""
    root = Path(root)
    corpus: dict[str, Path] = {}
    for name in DEMO_SOURCES:
        module = importlib.import_module(f"medvlt_data.demo.{name}")
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        corpus[name] = module.write(folder)
    return corpus
