"""The write stage: kept Documents as medvlt Parquet records, read back, and the finished dataset.

- :class:`RecordShardWriter` writes a task's kept Documents (through
  :class:`~medvlt_data.parquet_io.RowFiles`) and :class:`RecordReader` reads them back as Documents
  (the scoring stage reads the finish stage's records);
- :class:`Finalize` (the last stage, :func:`finalize`) assembles ``data/{split}-NNNNN-of-NNNNN.parquet``,
  counts every record in and out, computes the content hash and writes ``stats.json`` and the card.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from medvlt_data import __version__
from medvlt_data.parquet_io import RowFiles, record_features, row_digest
from medvlt_data.pipeline.documents import document_to_row, record_to_document
from medvlt_data.pipeline.plan import BuildError, BuildPlan
from medvlt_data.pipeline.storage import count_rejects
from medvlt_data.schema import from_row


class RecordShardWriter(PipelineStep):
    """Writes kept Documents as medvlt Parquet records: ``{folder}/{split}/{rank:05d}.parquet``, or
    with ``by_pass_count`` one file per pass_count, ``{folder}/{split}/{rank:05d}-pass{NN}.parquet``."""

    name = "write"
    type = "medvlt"

    def __init__(self, folder: str, by_pass_count: bool = False):
        super().__init__()
        self.folder, self.by_pass_count = folder, by_pass_count

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        files = RowFiles(self._path)
        written: Counter[str] = Counter()
        for doc in data:
            row = document_to_row(doc)
            split = row["split"] or "train"
            name = f"{split}/{rank:05d}"
            if self.by_pass_count:
                name += f"-pass{row['pass_count']:02d}"
            files.add(name, row)
            written[split] += 1
            yield doc
        files.close()
        for split, count in written.items():
            self.stat_update(f"written_{split}", value=count)

    def _path(self, name: str, number: int) -> Path:
        return Path(self.folder) / f"{name}.parquet"


class RecordReader(PipelineStep):
    """Reads medvlt Parquet records (``{folder}/{split}/*.parquet``) back as Documents; task ``rank``
    takes files ``rank, rank + world_size, ...`` in name order."""

    name = "read records"
    type = "medvlt"

    def __init__(self, folder: str):
        super().__init__()
        self.folder = folder

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        files = sorted(Path(self.folder).glob("*/*.parquet"))[rank::world_size]
        for number, path in enumerate(files):
            for batch in pq.ParquetFile(path).iter_batches(batch_size=256):
                for position, row in enumerate(batch.to_pylist()):
                    yield record_to_document(from_row(row), (number, position))


class Finalize(PipelineStep):
    """The last stage: assemble ``data/``, count, hash, write stats and card (see :func:`finalize`)."""

    name = "finalize"
    type = "medvlt"

    def __init__(self, plan: BuildPlan, out: str):
        super().__init__()
        self.plan, self.out = plan, out

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        finalize(self.plan, Path(self.out))
        return
        yield  # a generator step with no output


def _shards(plan: BuildPlan, written: Path) -> list[tuple[str, Path, str]]:
    """(split, stage file, its name in the build: ``data/{split}-NNNNN-of-NNNNN.parquet``) in order."""
    shards = []
    for split_dir in sorted(p for p in written.glob("*") if p.is_dir()):
        parts = sorted(split_dir.glob("*.parquet"))
        if plan.difficulty is not None and plan.difficulty.order == "easy-to-hard":  # most passes first
            parts.sort(key=lambda p: (-int(p.stem.rsplit("-pass", 1)[1]), p.name))
        for i, part in enumerate(parts):
            shards.append(
                (split_dir.name, part, f"data/{split_dir.name}-{i:05d}-of-{len(parts):05d}.parquet")
            )
    return shards


def finalize(plan: BuildPlan, out: Path) -> dict[str, Any]:
    """Assemble ``data/``, count records in and out, hash the content, write stats and card.

    Of ``data/``, only the shards the build wrote before are replaced (the folder's marker lists
    them, :func:`~medvlt_data.out_folder.replace_files`); any other file there stays."""
    from hub_cards.dataset_card import write_dataset_card
    from medvlt_data.out_folder import replace_files

    work = out / ".work"
    splits: dict[str, int] = {}
    per_source: Counter[str] = Counter()
    licenses: set[str] = set()
    digest = hashlib.sha256()
    by_benchmark = plan.splits_are_benchmarks
    shards = _shards(plan, work / ("scored" if plan.difficulty is not None else "final"))

    def write() -> None:
        (out / "data").mkdir(parents=True, exist_ok=True)
        for split, part, target in shards:
            shutil.copyfile(part, out / target)
            for batch in pq.ParquetFile(part).iter_batches(batch_size=512):  # streamed: memory stays flat
                splits[split] = splits.get(split, 0) + batch.num_rows
                for row in batch.to_pylist():
                    per_source[row["split"] if by_benchmark else row["source"]] += 1  # SourceSpec.group
                    licenses.add(row["license"].lower() or "other")
                    digest.update(row_digest(row))

    replace_files(out, "files", [target for _, _, target in shards], write)
    read = Counter()
    for path in sorted((work / "read_counts").glob("*.json")):
        read.update(json.loads(path.read_text()))
    drops, dropped_by_source = count_rejects(out)
    sources = []
    for spec in plan.sources:
        key = spec.group
        sources.append({"name": key, "origin": spec.origin, "read": read[key], "kept": per_source[key],
                        "dropped": dropped_by_source[key], **spec.options})  # fmt: skip
    lost = [s["name"] for s in sources if s["read"] != s["kept"] + s["dropped"]]
    if lost:
        raise BuildError(f"records unaccounted for in sources {lost}: read != kept + dropped")
    content_hash = digest.hexdigest()
    stats = {
        "name": plan.name,
        "pretty_name": f"medvlt {plan.name}" + (" (demo)" if plan.demo else ""),
        "demo": plan.demo,
        "description": plan.description,
        "recipe_version": plan.version,
        "version": f"v{plan.version}-{content_hash[:12]}",
        "content_hash": content_hash,
        "medvlt_version": __version__,
        "num_records": sum(splits.values()),
        "num_read": sum(read.values()),
        "splits": dict(sorted(splits.items())),
        "sources": sources,
        "drops": drops,
        "decontaminated_against": list(plan.decontaminate_against),  # [] when no decontamination step ran
        "decontamination": {k.split(":", 1)[1]: v for k, v in drops.get("decontaminate", {}).items()},
        "licenses": sorted(licenses) or ["other"],
        "modality": _modality(plan),
        "features": list(record_features()),
        "pass_counts": _pass_counts(plan, work),
        "difficulty": plan.difficulty.summary() if plan.difficulty is not None else None,
        "recipe": plan.params,
    }
    if any("expected" in s for s in sources):  # an eval build: its counts against the paper's
        from medvlt_data.benchmarks import benchmark_counts

        stats["benchmark_counts"] = benchmark_counts(sources, out)
    from medvlt_data.redact import redact

    stats = redact(stats)  # no secret-named setting's value, no secret in use, in stats.json or the card
    (out / "stats.json").write_text(json.dumps(stats, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    write_dataset_card(stats, out)
    return stats


def _pass_counts(plan: BuildPlan, work: Path) -> dict[str, int] | None:
    if plan.difficulty is None:
        return None
    from medvlt_data.pipeline.difficulty import read_pass_counts

    return {str(k): v for k, v in (read_pass_counts(work) or {}).items()}


def _modality(plan: BuildPlan) -> str:
    from medvlt_data.sources import SOURCES

    kinds = {SOURCES[spec.name].modality for spec in plan.sources}
    return kinds.pop() if len(kinds) == 1 else "mixed"
