"""Where a build keeps Documents between stages, and where dropped Documents go.

Between stages, Documents are Parquet rows ``{id, text, metadata (JSON), images (list of bytes)}``
plus the columns a later stage reads without parsing the metadata, written by
:class:`StageWriter` and read back with datatrove's ParquetReader. Every dropped Document is
written by a step's exclusion writer as one reject row (:func:`~medvlt_data.schema.reject_row`)
under ``rejects/<step>/``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline, MediaType
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.readers import ParquetReader
from datatrove.pipeline.writers import JsonlWriter

from medvlt_data.schema import reject_row

#: Columns of every stage shard: a Document.
DOCUMENT_FIELDS = [
    ("id", pa.string()), ("text", pa.string()), ("metadata", pa.string()), ("images", pa.list_(pa.binary()))
]  # fmt: skip

#: Extra columns of a stage shard: name -> (Arrow type, the value of a Document).
Columns = Mapping[str, tuple[pa.DataType, Callable[[Document], Any]]]


def stage_schema(columns: Columns) -> pa.Schema:
    """The Arrow schema of stage shards with the extra ``columns``."""
    return pa.schema(DOCUMENT_FIELDS + [(name, kind) for name, (kind, _) in columns.items()])


def _stage_row(document: Document, columns: Columns) -> dict[str, Any]:
    row = {
        "id": document.id,
        "text": document.text,
        "metadata": orjson.dumps(document.metadata, option=orjson.OPT_SORT_KEYS).decode(),
        "images": [m.media_bytes for m in document.media],
    }
    for name, (_, value) in columns.items():
        row[name] = value(document)
    return row


def _from_row(self, data: dict, path: str, id_in_file: int | str) -> dict[str, Any]:
    media = [
        {"id": f"{data['id']}#{i}", "type": MediaType.IMAGE, "url": "", "media_bytes": b}
        for i, b in enumerate(data.get("images") or [])
    ]
    return {
        "text": data["text"],
        "id": data["id"],
        "media": media,
        "metadata": orjson.loads(data["metadata"]),
    }


class StageWriter(PipelineStep):
    """Writes a task's Documents as one stage shard ``{folder}/{rank:05d}.parquet`` (uncompressed:
    the next stage reads it once) with the extra ``columns``, in batches of ``batch_size`` rows."""

    name = "stage writer"
    type = "medvlt"

    def __init__(self, folder: str | Path, columns: Columns | None = None, batch_size: int = 512):
        super().__init__()
        self.folder, self.columns, self.batch_size = str(folder), dict(columns or {}), batch_size

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        path = Path(self.folder) / f"{rank:05d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        schema = stage_schema(self.columns)
        rows: list[dict[str, Any]] = []
        written = 0
        with pq.ParquetWriter(path, schema, compression="none") as writer:
            for doc in data:
                rows.append(_stage_row(doc, self.columns))
                if len(rows) >= self.batch_size:
                    writer.write_table(pa.Table.from_pylist(rows, schema=schema))
                    written, rows = written + len(rows), []
                yield doc
            writer.write_table(pa.Table.from_pylist(rows, schema=schema))
        self.stat_update("written", value=written + len(rows))


def document_reader(folder: str | Path) -> ParquetReader:
    """A reader of stage Documents, files split among the tasks in name order."""
    return ParquetReader(str(folder), adapter=_from_row, glob_pattern="*.parquet", batch_size=256)


def _reject_row(self, document: Document) -> dict[str, Any]:
    if "reject" in document.metadata:  # a row the reader rejected, already a reject row
        return document.metadata["reject"]
    row = document.metadata.get("row", {})
    meta = row.get("meta") or "{}"
    return reject_row(
        self.step_name,
        document.metadata.get("filter_reason") or getattr(self, "default_reason", "unknown"),
        id=document.id,
        source=document.metadata.get("group") or row.get("source", ""),
        split=row.get("split", ""),
        source_id=row.get("source_id", ""),
        file=str((orjson.loads(meta) if isinstance(meta, str) else meta).get("file", "")),
        detail=document.metadata.get("reject_detail", ""),
    )


def rejects_writer(root: str | Path, step: str) -> JsonlWriter:
    """The exclusion writer of ``step``: JSON lines under ``root/rejects/<step>/``."""
    writer = JsonlWriter(
        str(Path(root) / "rejects" / step),
        output_filename="${rank}.jsonl",
        adapter=_reject_row,
        compression=None,
    )
    writer.step_name = step
    return writer


def count_rejects(root: str | Path) -> tuple[dict[str, dict[str, int]], Counter[str]]:
    """From the reject rows under ``root`` (a build's ``rejects/<step>/*.jsonl``, an ingest's
    ``rejects.jsonl``), in one pass: step -> reason -> count (steps and reasons sorted by name),
    and the number of rejects per source."""
    counts: dict[str, Counter[str]] = {}
    by_source: Counter[str] = Counter()
    root = Path(root)
    for path in [*sorted(root.glob("rejects/*/*.jsonl")), *sorted(root.glob("rejects.jsonl"))]:
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    reject = json.loads(line)
                    counts.setdefault(reject["step"], Counter())[reject["reason"]] += 1
                    by_source[reject["source"]] += 1
    return {step: dict(sorted(c.items())) for step, c in sorted(counts.items())}, by_source
