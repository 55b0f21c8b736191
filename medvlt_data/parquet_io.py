"""Records on disk: Parquet shards in the Hugging Face datasets layout, and reading them back.

Shards are ``data/{split}-{i:05d}-of-{n:05d}.parquet`` with the ``datasets`` feature metadata in the
Arrow schema, so ``datasets.load_dataset("parquet", data_files=...)`` decodes ``images`` as images.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

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


class RecordWriter:
    """Writes records into Parquet shards per split, ``shard_size`` rows each."""

    def __init__(self, out_dir: str | Path, shard_size: int = 5000):
        self.data_dir = Path(out_dir) / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.shard_size = shard_size
        self.schema = record_features().arrow_schema
        self._buffers: dict[str, list[dict]] = {}
        self._shards: dict[str, list[Path]] = {}
        self.counts: dict[str, int] = {}

    def write(self, record: Record) -> None:
        split = record.split or "train"
        buffer = self._buffers.setdefault(split, [])
        buffer.append(to_row(record))
        self.counts[split] = self.counts.get(split, 0) + 1
        if len(buffer) >= self.shard_size:
            self._flush(split)

    def _flush(self, split: str) -> None:
        rows = self._buffers.get(split)
        if not rows:
            return
        shards = self._shards.setdefault(split, [])
        path = self.data_dir / f"{split}-{len(shards):05d}.parquet.tmp"
        pq.write_table(pa.Table.from_pylist(rows, schema=self.schema), path)
        shards.append(path)
        self._buffers[split] = []

    def close(self) -> dict[str, list[Path]]:
        """Flush and give the shards their final ``-of-`` names; returns the files per split."""
        for split in list(self._buffers):
            self._flush(split)
        final: dict[str, list[Path]] = {}
        for split, shards in self._shards.items():
            total = len(shards)
            final[split] = []
            for i, tmp in enumerate(shards):
                target = self.data_dir / f"{split}-{i:05d}-of-{total:05d}.parquet"
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
