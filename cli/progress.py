"""Progress display for long CLI work (a tqdm bar on stderr)."""

from __future__ import annotations

import sys
from pathlib import Path

from tqdm import tqdm

from medvlt_data.ingest import IngestSummary, ingest


def run_ingest(source: str, out_dir: Path, **kwargs) -> IngestSummary:
    """Run :func:`medvlt_data.ingest.ingest` with a progress bar counting rows read."""
    with tqdm(desc=f"ingest {source}", unit=" rows", file=sys.stderr, leave=False, mininterval=0.5) as bar:
        return ingest(source, out_dir, progress=bar.update, **kwargs)
