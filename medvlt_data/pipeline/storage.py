"""Where a build keeps Documents between stages, and where dropped Documents go.

Between stages, Documents are Parquet rows ``{id, text, metadata (JSON), images (list of bytes)}``
written with datatrove's ParquetWriter and read back with its ParquetReader. Every dropped
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
        "metadata": orjson.dumps(document.metadata, option=orjson.OPT_SORT_KEYS).decode(),
        "images": [m.media_bytes for m in document.media],
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


def _from_row_for_near_duplicates(self, data: dict, path: str, id_in_file: int | str) -> dict[str, Any]:
    parsed = _from_row(self, data, path, id_in_file)
    metadata = parsed["metadata"]
    options = json.loads(metadata["row"]["options"])
    parsed["text"] = near_duplicate_text(parsed["text"], options, metadata.get("image_phash") or [])
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


def document_reader(folder: str | Path, *, for_near_duplicates: bool = False) -> ParquetReader:
    """A reader of stage Documents, files split among the tasks in name order.

    With ``for_near_duplicates`` the Document's text is :func:`near_duplicate_text` (the same stem
    with other options, or about another image, is another question).
    """
    adapter = _from_row_for_near_duplicates if for_near_duplicates else _from_row
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
