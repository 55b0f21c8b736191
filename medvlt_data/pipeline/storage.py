"""Where a build keeps Documents between stages, and where dropped Documents go.

Between stages, Documents are Parquet rows ``{id, text, metadata (JSON), images (list of bytes)}``
written by :class:`StageWriter` and read back with datatrove's ParquetReader. Every dropped
Document is written by a step's exclusion writer as one JSON line
``{id, step, reason, source, split, source_id, detail}`` under ``rejects/<step>/``.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline, MediaType
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.readers import ParquetReader
from datatrove.pipeline.writers import JsonlWriter

#: Arrow schema of stage shards. ``source_index``/``position`` (the ordinal) and ``dedup_key64`` (the
#: first 64 bits of the dedup key) repeat metadata fields as columns, so the merge reads them
#: without parsing the metadata.
STAGE_SCHEMA = pa.schema(
    [("id", pa.string()), ("text", pa.string()), ("metadata", pa.string()), ("images", pa.list_(pa.binary())),
     ("source_index", pa.int64()), ("position", pa.int64()), ("dedup_key64", pa.uint64())]
)  # fmt: skip


def _stage_row(document: Document) -> dict[str, Any]:
    first, second = document.metadata["ordinal"]
    key = document.metadata.get("dedup_key")
    return {
        "id": document.id,
        "text": document.text,
        "metadata": orjson.dumps(document.metadata, option=orjson.OPT_SORT_KEYS).decode(),
        "images": [m.media_bytes for m in document.media],
        "source_index": first,
        "position": second,
        "dedup_key64": int(key[:16], 16) if key else None,
    }


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


_HEX_AS_LETTERS = str.maketrans("0123456789abcdef", "ghijklmnopqrstuv")


def near_duplicate_text(question: str, options: dict[str, str], phashes: list[str]) -> str:
    r"""What near-duplicate detection compares: the question and its options, and for a record with
    images every word tagged with the images' hashes, so that the same words about another image
    share no shingle.

    >>> near_duplicate_text("Is it round?", {"A": "Yes", "B": "No"}, [])
    'Is it round?\nYes\nNo'
    >>> near_duplicate_text("Is it round?", {"A": "Yes"}, ["0f"])
    'Isxgv itxgv roundxgv Yesxgv'
    """
    text = question + "\n" + "\n".join(options.values())
    if not phashes:
        return text
    tag = "x" + "".join(phashes).translate(_HEX_AS_LETTERS)
    return " ".join(re.sub(r"\W+", "", word) + tag for word in text.split())


class StageWriter(PipelineStep):
    """Writes a task's Documents as one stage shard ``{folder}/{rank:05d}.parquet`` (uncompressed:
    the next stage reads it once), in batches of ``batch_size`` rows."""

    name = "stage writer"
    type = "medvlt"

    def __init__(self, folder: str | Path, batch_size: int = 512):
        super().__init__()
        self.folder, self.batch_size = str(folder), batch_size

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        path = Path(self.folder) / f"{rank:05d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        rows: list[dict[str, Any]] = []
        written = 0
        with pq.ParquetWriter(path, STAGE_SCHEMA, compression="none") as writer:
            for doc in data:
                rows.append(_stage_row(doc))
                if len(rows) >= self.batch_size:
                    writer.write_table(pa.Table.from_pylist(rows, schema=STAGE_SCHEMA))
                    written, rows = written + len(rows), []
                yield doc
            writer.write_table(pa.Table.from_pylist(rows, schema=STAGE_SCHEMA))
        self.stat_update("written", value=written + len(rows))


def document_reader(folder: str | Path) -> ParquetReader:
    """A reader of stage Documents, files split among the tasks in name order."""
    return ParquetReader(str(folder), adapter=_from_row, glob_pattern="*.parquet", batch_size=256)


def _reject_row(self, document: Document) -> dict[str, Any]:
    row = document.metadata.get("row", {})
    return {
        "id": document.id,
        "step": self.step_name,
        "reason": document.metadata.get("filter_reason") or getattr(self, "default_reason", "unknown"),
        "source": document.metadata.get("group") or row.get("source", ""),
        "split": row.get("split", ""),
        "source_id": row.get("source_id", ""),
        "detail": document.metadata.get("reject_detail", ""),
    }


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
    """From the rejects folders of a build, in one pass: step -> reason -> count (steps and reasons
    sorted by name), and the number of rejects per source."""
    counts: dict[str, Counter[str]] = {}
    by_source: Counter[str] = Counter()
    for path in sorted((Path(root) / "rejects").glob("*/*.jsonl")):
        step = path.parent.name
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    reject = json.loads(line)
                    counts.setdefault(step, Counter())[reject["reason"]] += 1
                    by_source[reject["source"]] += 1
    return {step: dict(sorted(c.items())) for step, c in counts.items()}, by_source
