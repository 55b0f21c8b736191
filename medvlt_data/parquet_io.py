"""Records on disk: Parquet shards in the Hugging Face datasets layout, reading them back, hashing them.

Shards are ``data/{split}-{i:05d}-of-{n:05d}.parquet`` with the ``datasets`` feature metadata in the
Arrow schema, so ``datasets.load_dataset("parquet", data_files=...)`` decodes ``images`` as images.
:class:`RowFiles` is the one writing core: :class:`RecordWriter` (ingest, pull) and the build's
record writer (:mod:`medvlt_data.pipeline.write`) both write through it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from medvlt_data.schema import Record, from_row, to_row


def record_features():
    """The ``datasets.Features`` of medvlt's Parquet layout."""
    import datasets

    string = datasets.Value("string")
    return datasets.Features(
        {
            "images": datasets.Sequence(datasets.Image()),
            "question": string,
            "options": string,
            "answer_label": string,
            "answer": string,
            "reasoning": string,
            "source": string,
            "source_id": string,
            "license": string,
            "split": string,
            "pass_count": datasets.Value("int32"),
            "num_rollouts": datasets.Value("int32"),
            "difficulty": datasets.Value("float32"),
            "meta": string,
            "hash": string,
        }
    )


class RowFiles:
    """Rows of medvlt's Parquet layout written to files by key: ``path(key, n)`` is the ``n``-th file
    of ``key``; rows are buffered and written ``batch_rows`` at a time (a row group each), and a key
    moves to its next file after ``file_rows`` rows (never, when None)."""

    def __init__(self, path: Callable[[str, int], Path], batch_rows: int = 256, file_rows: int | None = None):
        self.path, self.batch_rows, self.file_rows = path, batch_rows, file_rows
        self.schema = record_features().arrow_schema
        self.files: dict[str, list[Path]] = {}
        self._buffers: dict[str, list[dict]] = {}
        self._writers: dict[str, pq.ParquetWriter] = {}
        self._in_file: dict[str, int] = {}

    def add(self, key: str, row: dict) -> None:
        buffer = self._buffers.setdefault(key, [])
        buffer.append(row)
        room = self.file_rows - self._in_file.get(key, 0) if self.file_rows else None
        if len(buffer) >= self.batch_rows or len(buffer) == room:
            self._flush(key)

    def _flush(self, key: str) -> None:
        rows = self._buffers.get(key)
        if not rows:
            return
        if key not in self._writers:
            path = self.path(key, len(self.files.get(key, [])))
            path.parent.mkdir(parents=True, exist_ok=True)
            self._writers[key] = pq.ParquetWriter(path, self.schema)
            self.files.setdefault(key, []).append(path)
            self._in_file[key] = 0
        self._writers[key].write_table(pa.Table.from_pylist(rows, schema=self.schema))
        self._in_file[key] += len(rows)
        self._buffers[key] = []
        if self.file_rows and self._in_file[key] >= self.file_rows:
            self._writers.pop(key).close()
            del self._in_file[key]

    def close(self) -> dict[str, list[Path]]:
        """Write what is buffered, close every file; returns the files per key, in order."""
        for key in list(self._buffers):
            self._flush(key)
        for writer in self._writers.values():
            writer.close()
        self._writers = {}
        return self.files


class RecordWriter:
    """Writes records into ``data/`` shards per split, ``shard_size`` rows each (one row group)."""

    def __init__(self, out_dir: str | Path, shard_size: int = 5000):
        self.data_dir = Path(out_dir) / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._files = RowFiles(self._part, batch_rows=shard_size, file_rows=shard_size)
        self.counts: dict[str, int] = {}

    def _part(self, split: str, number: int) -> Path:
        return self.data_dir / f"{split}-{number:05d}.parquet.tmp"

    def write(self, record: Record) -> None:
        split = record.split or "train"
        self._files.add(split, to_row(record))
        self.counts[split] = self.counts.get(split, 0) + 1

    def close(self) -> dict[str, list[Path]]:
        """Flush and give the shards their final ``-of-`` names; returns the files per split."""
        final: dict[str, list[Path]] = {}
        for split, shards in self._files.close().items():
            final[split] = []
            for i, tmp in enumerate(shards):
                target = self.data_dir / f"{split}-{i:05d}-of-{len(shards):05d}.parquet"
                tmp.replace(target)
                final[split].append(target)
        return final

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_records(records: Iterable[Record], out_dir: str | Path) -> dict[str, list[Path]]:
    """Write all ``records`` to ``out_dir``; returns the shard files per split."""
    writer = RecordWriter(out_dir)
    for record in records:
        writer.write(record)
    return writer.close()


def parquet_files(path: str | Path) -> list[Path]:
    """The Parquet files of a build folder, a ``data/`` folder or a single file."""
    path = Path(path)
    if path.is_file():
        return [path]
    files = sorted(path.glob("data/*.parquet")) or sorted(path.glob("*.parquet"))
    return files


def shard_split(file: Path) -> str:
    """The split a shard holds, from its name: ``data/train-00000-of-00001.parquet`` -> ``train``."""
    return file.name.split("-", 1)[0] if "-" in file.name else file.stem


def iter_rows(files: Iterable[Path]) -> Iterator[tuple[Path, dict]]:
    """(file, row as a dict) for every row of ``files`` in order, streamed 512 rows at a time."""
    for file in files:
        for batch in pq.ParquetFile(file).iter_batches(batch_size=512):
            for row in batch.to_pylist():
                yield file, row


def read_any_records(files: list[Path]) -> Iterator[Record]:
    """Records of shards in medvlt's layout or in MedVLThinker's released one (no ``source`` column;
    read with :func:`~medvlt_data.schema.from_medvlthinker`, the split taken from the shard name)."""
    from medvlt_data.schema import from_medvlthinker

    for file, row in iter_rows(files):
        yield from_row(row) if "source" in row else from_medvlthinker(row, split=shard_split(file))


def read_records(path: str | Path) -> Iterator[Record]:
    """Yield the records stored under ``path`` (see :func:`parquet_files`)."""
    for _, row in iter_rows(parquet_files(path)):
        yield from_row(row)


def content_hash(files: list[Path]) -> str:
    """The content hash of a dataset: sha256 over :func:`row_digest` of every row of ``files``, in order
    (a build's ``data/*.parquet`` sorted by name, which is the order a build writes them in)."""
    digest = hashlib.sha256()
    for _, row in iter_rows(files):
        digest.update(row_digest(row))
    return digest.hexdigest()


def row_digest(row: dict) -> bytes:
    """The content-hash contribution of one record row (images by their bytes' sha256)."""
    images = [hashlib.sha256(im["bytes"] or b"").hexdigest() for im in row["images"] or []]
    fields = {k: v for k, v in row.items() if k != "images"}
    return hashlib.sha256(orjson.dumps([fields, images], option=orjson.OPT_SORT_KEYS, default=str)).digest()
