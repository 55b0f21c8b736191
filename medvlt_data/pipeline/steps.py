"""The datatrove steps of a medvlt build that are not filters of their own module.

- :class:`RecipeReader` reads the recipe's sources through the adapters (a share per task);
- :class:`Normalize` tidies whitespace and Unicode of questions and options;
- :class:`Validate` drops records that break the schema, with the problem as the reason;
- :class:`CanonicalMerge` merges the tasks' outputs in canonical order, drops exact duplicates and
  writes a fixed number of canonical shards, so later stages see the same data whatever the
  number of workers;
- :class:`RecordShardWriter` writes kept records in medvlt's Parquet layout.
"""

from __future__ import annotations

import heapq
import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.utils.word_tokenizers import WordTokenizer

from medvlt_data.pipeline.documents import document_to_record, record_to_document
from medvlt_data.pipeline.storage import STAGE_SCHEMA, rejects_writer
from medvlt_data.schema import to_row, validate_record


@dataclass
class SourceSpec:
    """One source of a recipe: which adapter, where from, which splits; ``benchmark`` names an eval set."""

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
        """What the build counts this source's records under: its benchmark, else its name."""
        return self.benchmark or self.name

    @property
    def origin(self) -> str:
        if self.path:
            return str(self.path)
        return f"hub:{self.hub}" + (f"@{self.revision}" if self.revision else "")


def read_source(spec: SourceSpec) -> Iterator[Any]:
    """Records and rejections of one source spec, split after split, unvalidated."""
    from medvlt_data.sources import get_source

    source = get_source(spec.name, spec.config)
    for split in spec.splits or [None]:
        yield from source.read(
            path=spec.path, hub=spec.hub, split=split, revision=spec.revision, validate=False
        )


class RecipeReader(PipelineStep):
    """Reads every source of a recipe; task ``rank`` takes rows ``rank, rank + world_size, ...``.

    Rows the adapter rejects go to ``{rejects_root}/rejects/read/``; every row read is counted per
    source in ``{work_dir}/read_counts/{rank}.json``.
    """

    name = "read"
    type = "medvlt"

    def __init__(self, specs: list[SourceSpec], work_dir: str, rejects_root: str):
        super().__init__()
        self.specs = specs
        self.work_dir = work_dir
        self.rejects_root = rejects_root

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        from medvlt_data.sources import Rejected

        counts: dict[str, int] = {}
        with rejects_writer(self.rejects_root, "read") as rejects:
            for index, spec in enumerate(self.specs):
                key = spec.group
                counts.setdefault(key, 0)
                for position, item in enumerate(read_source(spec)):
                    if position % world_size != rank:
                        continue
                    counts[key] += 1
                    if isinstance(item, Rejected):
                        rejects.write(_rejected_document(item, key), rank)
                        continue
                    if spec.benchmark:  # an eval build has one split per benchmark
                        item.meta["benchmark"] = spec.benchmark
                        item.meta["source_split"] = item.split
                        item.split = spec.benchmark
                    doc = record_to_document(item, (index, position))
                    doc.metadata["group"] = key
                    yield doc
        for key, count in counts.items():
            self.stat_update(f"read_{key}", value=count)
        folder = Path(self.work_dir) / "read_counts"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{rank:05d}.json").write_text(json.dumps(counts, sort_keys=True), encoding="utf-8")


def _rejected_document(item: Any, group: str) -> Document:
    row = {"source": group, "split": item.split, "source_id": item.ref}
    return Document(
        text="",
        id=f"{item.source}:{item.split or '-'}:{item.ref}",
        metadata={"row": row, "filter_reason": item.reason, "reject_detail": item.detail},
    )


_SPACES = re.compile(r"[ \t\u00a0]+")
_UNTIDY = re.compile(r"^\s|\s$|[\t\u00a0\r]|  |[^\S\n]\n|\n[^\S\n]")


def normalize_text(text: str) -> str:
    """NFC, non-breaking spaces and tabs to spaces, runs of spaces collapsed, lines stripped.

    >>> normalize_text("  Which\\u00a0organ  makes\\tinsulin? \\n\\n Options ")
    'Which organ makes insulin?\\n\\nOptions'
    """
    text = unicodedata.normalize("NFC", str(text))
    if not _UNTIDY.search(text):  # the common case: nothing to tidy
        return text
    lines = [_SPACES.sub(" ", line).strip() for line in text.replace("\r\n", "\n").split("\n")]
    return "\n".join(lines).strip()


class Normalize(PipelineStep):
    """Tidies the question, the options and the answer text (see :func:`normalize_text`)."""

    name = "normalize"
    type = "medvlt"

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            row = doc.metadata["row"]
            doc.text = normalize_text(doc.text)
            options = {k: normalize_text(v) for k, v in json.loads(row["options"]).items()}
            row["options"] = json.dumps(options, ensure_ascii=False)
            row["answer"] = normalize_text(row["answer"])
            self.stat_update("normalized")
            yield doc


class Validate(BaseFilter):
    """Drops records that break the schema; the reason is the first problem's code, all are kept."""

    name = "validate"
    type = "medvlt"

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        problems = validate_record(document_to_record(doc), check_images=False)
        if not problems:
            return True
        doc.metadata["reject_detail"] = "; ".join(map(str, problems))
        return False, problems[0].code


class RegexWordTokenizer(WordTokenizer):
    """An offline word tokenizer for MinHash: runs of letters/digits, lower-cased by the normalizer."""

    _WORDS = re.compile(r"\w+", re.UNICODE)

    def __init__(self):
        super().__init__("en")

    def word_tokenize(self, text: str) -> list[str]:
        return self._WORDS.findall(text)

    def sent_tokenize(self, text: str) -> list[str]:
        return [s for s in re.split(r"(?<=[.!?])\s+", text) if s]

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in self._WORDS.finditer(text)]


#: Fewest canonical shards: later stages keep some parallelism on small builds.
MIN_SHARDS = 4


class CanonicalMerge(PipelineStep):
    """Merges the prepared shards in canonical order, drops exact duplicates, writes canonical shards.

    Each prepared shard is already sorted by ordinal, so the merge streams (memory does not grow
    with the data, apart from one 64-bit key per kept record). There are
    ``ceil(rows / rows_per_shard)`` shards (at least ``MIN_SHARDS``, at most ``max_shards``; their
    number is written to ``SHARDS``) and record ``i`` of the
    merged order goes to shard ``i % shards``: the canonical shards depend only on the data.
    """

    name = "dedup_exact"
    type = "medvlt"

    def __init__(
        self, input_dir: str, output_dir: str, rejects_root: str, rows_per_shard: int, max_shards: int,
        dedup: bool = True,
    ):  # fmt: skip
        super().__init__()
        self.input_dir, self.output_dir, self.rejects_root = input_dir, output_dir, rejects_root
        self.rows_per_shard, self.max_shards, self.dedup = rows_per_shard, max_shards, dedup

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        files = sorted(Path(self.input_dir).glob("*.parquet"))
        total = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
        self.shards = min(self.max_shards, max(MIN_SHARDS, -(-total // self.rows_per_shard)))
        out = Path(self.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        writers: list[pq.ParquetWriter | None] = [None] * self.shards
        buffers: list[list[dict]] = [[] for _ in range(self.shards)]
        seen: dict[int, str] = {}
        kept = 0
        with rejects_writer(self.rejects_root, self.name) as rejects:
            for _, row, metadata in heapq.merge(*(_rows(f) for f in files), key=itemgetter(0)):
                key = metadata.get("dedup_key")
                key = int(key[:16], 16) if key is not None else None  # 64 bits of the sha1: compact
                if self.dedup and key is not None and key in seen:
                    metadata["filter_reason"] = "duplicate"
                    metadata["reject_detail"] = f"exact duplicate of {seen[key]}"
                    rejects.write(Document(text=row["text"], id=row["id"], metadata=metadata), rank)
                    self.stat_update("dropped_duplicate")
                    continue
                if key is not None:
                    seen[key] = row["id"]
                shard = kept % self.shards
                buffers[shard].append(row)
                kept += 1
                if len(buffers[shard]) >= 512:
                    writers[shard] = _flush(writers[shard], buffers[shard], out / f"{shard:05d}.parquet")
                    buffers[shard] = []
        for shard in range(self.shards):
            writers[shard] = _flush(writers[shard], buffers[shard], out / f"{shard:05d}.parquet", final=True)
            if writers[shard] is not None:
                writers[shard].close()
        (out / "SHARDS").write_text(str(self.shards), encoding="utf-8")
        self.stat_update("kept", value=kept)
        return
        yield  # a generator step with no output


def _rows(path: Path) -> Iterator[tuple[tuple[int, int], dict, dict]]:
    """(ordinal, row, parsed metadata) of a stage shard, in file order (which is ordinal order)."""
    for batch in pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=256, use_threads=False):
        for row in batch.to_pylist():
            metadata = orjson.loads(row["metadata"])
            first, second = metadata["ordinal"]
            yield (int(first), int(second)), row, metadata


def _flush(writer, rows: list[dict], path: Path, final: bool = False):
    if writer is None and (rows or final):
        writer = pq.ParquetWriter(path, STAGE_SCHEMA)
    if rows:
        writer.write_table(pa.Table.from_pylist(rows, schema=STAGE_SCHEMA))
    return writer


class RecordShardWriter(PipelineStep):
    """Writes kept Documents as medvlt Parquet records: ``{folder}/{split}/{rank:05d}.parquet``."""

    name = "write"
    type = "medvlt"

    def __init__(self, folder: str):
        super().__init__()
        self.folder = folder

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        from medvlt_data.parquet_io import record_features

        schema = record_features().arrow_schema
        writers: dict[str, pq.ParquetWriter] = {}
        buffers: dict[str, list[dict]] = {}
        for doc in data:
            record = document_to_record(doc)
            split = record.split or "train"
            buffers.setdefault(split, []).append(to_row(record))
            if len(buffers[split]) >= 256:
                self._flush(writers, buffers, split, schema, rank)
            self.stat_update(f"written_{split}")
            yield doc
        for split in list(buffers):
            self._flush(writers, buffers, split, schema, rank)
        for writer in writers.values():
            writer.close()

    def _flush(self, writers, buffers, split, schema, rank) -> None:
        if split not in writers:
            path = Path(self.folder) / split / f"{rank:05d}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            writers[split] = pq.ParquetWriter(path, schema)
        writers[split].write_table(pa.Table.from_pylist(buffers[split], schema=schema))
        buffers[split] = []
