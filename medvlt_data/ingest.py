"""Reading sources, and ingesting one into medvlt records: Parquet shards, rejects with reasons, a summary.

A :class:`SourceSpec` says which adapter reads what; :func:`read_source` reads it split by split,
for :func:`ingest` and for a build's reader alike. In an ingest every row read is accounted for:
``read == kept + rejected``, and ``rejects.jsonl`` holds a reject row
(:func:`~medvlt_data.schema.reject_row`, step ``ingest``) for each rejected one.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from medvlt_data.parquet_io import RecordWriter
from medvlt_data.sources import Item, Rejected, SourceError, get_source
from medvlt_data.sources.base import Share


@dataclass
class SourceSpec:
    """One source of a recipe: which adapter, where from, which splits; ``benchmark`` names an eval set.

    In an eval build (its sources name benchmarks) a record's ``split`` is its benchmark key: that is
    where eval, decontamination against an eval build and the card read the benchmark from; the split
    the question came from is kept as ``meta["source_split"]``."""

    name: str
    path: str | None = None
    hub: str | None = None
    splits: list[str] | None = None
    revision: str | None = None
    config: str | None = None
    benchmark: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def group(self) -> str:
        """What the build counts and lists this source's records under (stats.json ``sources[].name``,
        the reject rows' ``group``): its benchmark (then also its records' split), else its name."""
        return self.benchmark or self.name

    @property
    def origin(self) -> str:
        if self.path:
            return str(self.path)
        return f"hub:{self.hub}" + (f"@{self.revision}" if self.revision else "")


def read_source(spec: SourceSpec, *, validate: bool = True, share: Share | None = None) -> Iterator[Item]:
    """Records and rejections of one source spec, split after split (all its splits when
    ``splits`` is None); ``validate`` as in :meth:`~medvlt_data.sources.base.Source.read` (a build
    validates in its own step). With a ``share`` of a one-item-per-line local layout, other tasks'
    rows come as ``SKIPPED``."""
    source = get_source(spec.name, spec.config)
    for split in spec.splits or [None]:
        yield from source.read(
            path=spec.path, hub=spec.hub, split=split, revision=spec.revision, validate=validate, share=share
        )


@dataclass
class IngestSummary:
    """Counts of one ingest run."""

    source: str
    origin: str
    read: int = 0
    kept: int = 0
    rejected: int = 0
    kept_by_split: dict[str, int] = field(default_factory=dict)
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def ingest(
    source_name: str,
    out_dir: str | Path,
    *,
    path: str | Path | None = None,
    hub: str | None = None,
    split: str | None = None,
    revision: str | None = None,
    config: str | None = None,
    progress: Callable[[int], None] | None = None,
    overwrite: bool = False,
) -> IngestSummary:
    """Read ``source_name`` from ``path`` or ``hub`` and write records and rejects under ``out_dir``.

    ``out_dir`` must be empty or an earlier ingest (whose shards this one replaces); ``overwrite`` writes
    into any other folder, removing only the files an ingest writes."""
    from medvlt_data.out_folder import FolderError, claim, record_files

    spec = SourceSpec(source_name, path=str(path) if path is not None else None, hub=hub,
                      splits=[split] if split else None, revision=revision, config=config)  # fmt: skip
    source = get_source(spec.name, spec.config)
    items = read_source(spec)
    first = next(items, None)  # an unknown split or a missing file fails here, before OUT is made
    out = Path(out_dir)
    try:
        claim(out, "ingest", overwrite=overwrite)
    except FolderError as exc:
        raise SourceError(str(exc)) from None
    summary = IngestSummary(source=source.name, origin=spec.origin)
    reasons: Counter[str] = Counter()
    writer = RecordWriter(out)
    with (out / "rejects.jsonl").open("w", encoding="utf-8") as rejects:
        for item in itertools.chain([first] if first is not None else [], items):
            summary.read += 1
            if isinstance(item, Rejected):
                reasons[item.reason] += 1
                rejects.write(json.dumps(item.as_row("ingest"), ensure_ascii=False) + "\n")
            else:
                writer.write(item)
            if progress is not None:
                progress(1)
    shards = writer.close()
    summary.kept = sum(writer.counts.values())
    summary.rejected = sum(reasons.values())
    summary.kept_by_split = dict(sorted(writer.counts.items()))
    summary.rejected_by_reason = dict(reasons.most_common())
    summary.files = [str(p.relative_to(out)) for files in shards.values() for p in files]
    record_files(out, "files", [p.relative_to(out).as_posix() for files in shards.values() for p in files])
    (out / "summary.json").write_text(json.dumps(summary.as_dict(), indent=2) + "\n", encoding="utf-8")
    return summary
