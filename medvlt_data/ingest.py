"""Ingest one source into medvlt records: Parquet shards, a rejects file with reasons, a summary.

Every row read is accounted for: ``read == kept + rejected`` and the rejects file lists each
rejected row with its file, record reference and reason.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from medvlt_data.parquet_io import RecordWriter
from medvlt_data.sources import Rejected, get_source


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
) -> IngestSummary:
    """Read ``source_name`` from ``path`` or ``hub`` and write records and rejects under ``out_dir``."""
    source = get_source(source_name, config)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    origin = str(path) if path is not None else f"hub:{hub}" + (f"@{revision}" if revision else "")
    summary = IngestSummary(source=source.name, origin=origin)
    reasons: Counter[str] = Counter()
    writer = RecordWriter(out)
    with (out / "rejects.jsonl").open("w", encoding="utf-8") as rejects:
        for item in source.read(path=path, hub=hub, split=split, revision=revision):
            summary.read += 1
            if isinstance(item, Rejected):
                reasons[item.reason] += 1
                rejects.write(json.dumps(item.as_dict(), ensure_ascii=False) + "\n")
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
    (out / "summary.json").write_text(json.dumps(summary.as_dict(), indent=2) + "\n", encoding="utf-8")
    return summary
