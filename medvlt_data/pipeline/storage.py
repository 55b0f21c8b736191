"""Where a build keeps Documents between stages, and where dropped Documents go.

Between stages, Documents are Parquet rows ``{id, text, metadata (JSON), images (list of bytes)}``
written with datatrove's ParquetWriter and read back with its ParquetReader. Every dropped
Document is written by a step's exclusion writer as one JSON line
``{id, step, reason, source, split, source_id, detail}`` under ``rejects/<step>/``.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
from datatrove.data import Document, MediaType
from datatrove.pipeline.readers import ParquetReader
from datatrove.pipeline.writers import JsonlWriter, ParquetWriter


#: Arrow schema of stage shards.
STAGE_SCHEMA = pa.schema(
    [("id", pa.string()), ("text", pa.string()), ("metadata", pa.string()), ("images", pa.list_(pa.binary()))]
)


def _to_row(self, document: Document) -> dict[str, Any]:
    return {
        "id": document.id,
        "text": document.text,
        "metadata": json.dumps(document.metadata, ensure_ascii=False, sort_keys=True),
        "images": [m.media_bytes for m in document.media],
    }


def _from_row(self, data: dict, path: str, id_in_file: int | str) -> dict[str, Any]:
    media = [
        {"id": f"{data['id']}#{i}", "type": MediaType.IMAGE, "url": "", "media_bytes": b}
        for i, b in enumerate(data.get("images") or [])
    ]
    return {"text": data["text"], "id": data["id"], "media": media, "metadata": json.loads(data["metadata"])}


def _from_row_with_options(self, data: dict, path: str, id_in_file: int | str) -> dict[str, Any]:
    parsed = _from_row(self, data, path, id_in_file)
    options = json.loads(parsed["metadata"]["row"]["options"])
    parsed["text"] = parsed["text"] + "\n" + "\n".join(options.values())
    return parsed


def document_writer(folder: str | Path) -> ParquetWriter:
    """A writer of stage Documents, one file per task: ``{rank:05d}.parquet``."""
    return ParquetWriter(
        str(folder),
        output_filename="${rank}.parquet",
        adapter=_to_row,
        compression=None,
        schema=STAGE_SCHEMA,
        use_content_defined_chunking=False,
        write_page_index=False,
    )


def document_reader(folder: str | Path, *, options_in_text: bool = False) -> ParquetReader:
    """A reader of stage Documents, files split among the tasks in name order.

    With ``options_in_text`` the Document's text is the question followed by its options (what
    near-duplicate detection compares: the same stem with other options is another question).
    """
    adapter = _from_row_with_options if options_in_text else _from_row
    return ParquetReader(str(folder), adapter=adapter, glob_pattern="*.parquet", batch_size=256)


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


def count_rejects(root: str | Path) -> dict[str, dict[str, int]]:
    """step -> reason -> count, from the rejects folders of a build (steps in pipeline order)."""
    counts: dict[str, Counter[str]] = {}
    folder = Path(root) / "rejects"
    for path in sorted(folder.glob("*/*.jsonl")):
        step = path.parent.name
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    counts.setdefault(step, Counter())[json.loads(line)["reason"]] += 1
    return {step: dict(sorted(c.items())) for step, c in counts.items()}
