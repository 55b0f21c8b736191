"""Exact dedup: the key of a record, the columns its stage (dedup-exact) reads, and the step that drops copies.

- :func:`dedup_key`: sha1 of the record's :func:`~medvlt_data.text.key_text` question, option set
  and image hashes; the :class:`DedupKey` step of the prepare stage sets it on every Document;
- :data:`STAGE_COLUMNS`: the columns of the prepared shards that the dedup-exact stage reads without parsing
  the metadata (the ordinal, and the key's first 64 bits as ``dedup_key64``);
- :class:`DedupExact` (step ``dedup_exact``): merges the prepared shards in canonical order, drops
  the later copies of a key (reason ``duplicate``) and writes the canonical shards, so later
  stages see the same data whatever the number of workers that prepared it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from medvlt_data.pipeline.documents import document_options
from medvlt_data.pipeline.storage import Columns, rejects_writer, stage_schema
from medvlt_data.text import key_text


def dedup_key(question: str, options: dict[str, str], phashes: list[str]) -> str:
    """The exact-duplicate key of a record: sha1 of its question, option texts (both as
    :func:`~medvlt_data.text.key_text` sees them) and images.

    Option texts are compared as a set (sorted, so relettered options give the same key); images in
    prompt order, by perceptual hash.

    >>> a = dedup_key("What is shown?", {"A": "Cyst", "B": "Mass"}, ["c3a1e0f09b8d7c6e"])
    >>> a == dedup_key("  what is SHOWN ", {"A": "mass.", "B": "Cyst"}, ["c3a1e0f09b8d7c6e"])
    True
    >>> a == dedup_key("What is shown?", {"A": "Cyst", "B": "Mass"}, [])
    False
    >>> len(a)
    40
    """
    parts = [key_text(question), *sorted(key_text(v) for v in options.values())]
    payload = "\x1e".join(["\x1f".join(parts), "\x1f".join(phashes)])
    return hashlib.sha1(payload.encode("utf-8")).hexdigest()


class DedupKey(PipelineStep):
    """Sets ``metadata["dedup_key"]`` of every Document (after the image step, which sets the
    ``image_phash`` the key includes)."""

    name = "dedup key"
    type = "medvlt"

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            phashes = doc.metadata.get("image_phash") or []
            doc.metadata["dedup_key"] = dedup_key(doc.text, document_options(doc), phashes)
            yield doc


def _source_index(doc: Document) -> int:
    return doc.metadata["ordinal"][0]


def _position(doc: Document) -> int:
    return doc.metadata["ordinal"][1]


def _key64(doc: Document) -> int | None:
    key = doc.metadata.get("dedup_key")
    return int(key[:16], 16) if key else None


#: Columns of the prepared shards for the dedup-exact stage: ``source_index``/``position`` (the ordinal) and
#: ``dedup_key64`` (the first 64 bits of the dedup key, null for a Document without one).
STAGE_COLUMNS: Columns = {
    "source_index": (pa.int64(), _source_index),
    "position": (pa.int64(), _position),
    "dedup_key64": (pa.uint64(), _key64),
}
_SCHEMA = stage_schema(STAGE_COLUMNS)

#: Fewest canonical shards: later stages keep some parallelism on small builds.
MIN_SHARDS = 4


class DedupExact(PipelineStep):
    """Merges the prepared shards in canonical order, drops exact duplicates, writes canonical shards.

    The order and the duplicates are worked out from three columns of every prepared row (its
    ordinal and its dedup key: about 40 bytes a record, in numpy arrays); the rows themselves are
    then copied with Arrow, ``chunk_rows`` places of the merged order at a time, so memory does not
    grow with the size of the records. Of the records that share a dedup key, the first in
    canonical order is kept.

    There are ``ceil(rows / rows_per_shard)`` shards (at least ``MIN_SHARDS``, at most ``max_shards``;
    their number is written to ``SHARDS``), each a contiguous run of ``ceil(rows / shards)`` places
    of the merged order, so one shard is open at a time and the shards depend only on the data.
    """

    name = "dedup_exact"
    type = "medvlt"

    def __init__(
        self, input_dir: str, output_dir: str, rejects_root: str, rows_per_shard: int, max_shards: int,
        dedup: bool = True, chunk_rows: int = 2048,
    ):  # fmt: skip
        super().__init__()
        self.input_dir, self.output_dir, self.rejects_root = input_dir, output_dir, rejects_root
        self.rows_per_shard, self.max_shards, self.dedup = rows_per_shard, max_shards, dedup
        self.chunk_rows = chunk_rows

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        files = sorted(Path(self.input_dir).glob("*.parquet"))
        order, keep, first_of = self.plan(files)
        total = len(order)
        self.shards = min(self.max_shards, max(MIN_SHARDS, -(-total // self.rows_per_shard)))
        per_shard = max(1, -(-total // self.shards))
        out = Path(self.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        readers = [_TableCursor(f) for f in files]
        kept_before = np.concatenate([[0], np.cumsum(keep)])  # kept records before each merged place
        first_ids: dict[int, str] = {}  # merged place -> id, for the records that have duplicates
        needs_id = set(first_of[~keep].tolist())
        writer, shard = None, 0
        with rejects_writer(self.rejects_root, self.name) as rejects:
            for start in range(0, total, self.chunk_rows):
                stop = min(total, start + self.chunk_rows)
                counts = np.bincount(order[start:stop], minlength=len(files))
                table = _gather(
                    [r.take(int(n)) for r, n in zip(readers, counts, strict=True)], order[start:stop]
                )
                ids = table.column("id").to_pylist()
                for place in needs_id.intersection(range(start, stop)):
                    first_ids[place] = ids[place - start]
                for local in np.nonzero(~keep[start:stop])[0]:
                    row = table.slice(int(local), 1).to_pylist()[0]
                    metadata = orjson.loads(row["metadata"])
                    metadata["filter_reason"] = "duplicate"
                    metadata["reject_detail"] = (
                        f"exact duplicate of {first_ids[int(first_of[start + local])]}"
                    )
                    rejects.write(Document(text=row["text"], id=row["id"], metadata=metadata), rank)
                self.stat_update("dropped_duplicate", value=int((~keep[start:stop]).sum()))
                table = table.filter(pa.array(keep[start:stop]))
                # place the kept rows into their shards (kept record k goes to shard k // per_shard)
                base = int(kept_before[start])
                while table.num_rows:
                    target = base // per_shard
                    if target != shard or writer is None:
                        writer = _next_writer(writer, out, shard, target, self.shards)
                        shard = target
                    room = (shard + 1) * per_shard - base
                    writer.write_table(table.slice(0, room))
                    base += min(room, table.num_rows)
                    table = table.slice(room)
        _next_writer(writer, out, shard, self.shards, self.shards)  # the last shard, and any left empty
        (out / "SHARDS").write_text(str(self.shards), encoding="utf-8")
        self.stat_update("kept", value=int(keep.sum()))
        return
        yield  # a generator step with no output

    def plan(self, files: list[Path]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For each place of the merged order: the file its row comes from, whether it is kept, and
        the place of the first record with its dedup key (itself when it is the first)."""
        columns = ["source_index", "position", "dedup_key64"]
        tables = [pq.ParquetFile(f, pre_buffer=False).read(columns=columns, use_threads=False) for f in files]
        origin = np.concatenate(
            [np.full(t.num_rows, i, dtype=np.int64) for i, t in enumerate(tables)] or [[]]
        )
        first, second, keys, with_key = (
            np.concatenate([np.asarray(part) for part in parts] or [[]])
            for parts in zip(*(
                (t.column("source_index").to_numpy(), t.column("position").to_numpy(),
                 t.column("dedup_key64").fill_null(0).to_numpy(), t.column("dedup_key64").is_valid().to_numpy(zero_copy_only=False))
                for t in tables
            ), strict=True)
        )  # fmt: skip
        merged = np.lexsort((second, first))
        order, keys, with_key = origin[merged], keys[merged], with_key[merged].astype(bool)
        places = np.arange(len(order))
        first_of = places.copy()
        if self.dedup and with_key.any():
            _, firsts, inverse = np.unique(keys[with_key], return_index=True, return_inverse=True)
            keyed = places[with_key]
            first_of[keyed] = keyed[firsts[inverse.reshape(-1)]]
        return order, first_of == places, first_of


class _TableCursor:
    """Reads a stage shard front to back, ``take(n)`` rows at a time."""

    def __init__(self, path: Path):
        self.batches = pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=1024, use_threads=False)
        self.pending: pa.Table | None = None

    def take(self, count: int) -> pa.Table:
        parts, pending = [], self.pending
        while count:
            if pending is None or pending.num_rows == 0:
                pending = pa.Table.from_batches([next(self.batches)])
            part = pending.slice(0, count)
            parts.append(part)
            count -= part.num_rows
            pending = pending.slice(part.num_rows)
        self.pending = pending
        return pa.concat_tables(parts) if parts else None


def _gather(parts: list[pa.Table | None], origin: np.ndarray) -> pa.Table:
    """Interleave per-file slices into merged order (``origin``: the file of each place)."""
    tables = [p for p in parts if p is not None]
    table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    offsets = np.concatenate([[0], np.cumsum([p.num_rows if p is not None else 0 for p in parts])])
    rank_in_file = np.zeros(len(origin), dtype=np.int64)
    for f in np.unique(origin):
        at = origin == f
        rank_in_file[at] = np.arange(int(at.sum()))
    return table.take(pa.array(offsets[origin] + rank_in_file))


def _next_writer(writer: pq.ParquetWriter | None, out: Path, shard: int, target: int, shards: int):
    """Close ``writer`` (of shard ``shard``), write the shards before ``target`` that stay empty, and
    open ``target`` (nothing to open when it is ``shards``, past the last)."""
    start = shard
    if writer is not None:
        writer.close()
        start = shard + 1
    for empty in range(start, min(target, shards)):
        pq.ParquetWriter(out / f"{empty:05d}.parquet", _SCHEMA).close()
    return pq.ParquetWriter(out / f"{target:05d}.parquet", _SCHEMA) if target < shards else None
