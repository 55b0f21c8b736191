"""Near-duplicate detection: datatrove's MinHash stages 1 and 2, computed in batches with numpy.

The files between the stages are datatrove's own (sorted ``bucket_BBB/RRRRR.minhash.sig``
signature files, ``BBBBB_WW.dups`` pair files), so datatrove's clustering (stage 3) and filter
(stage 4) run on them unchanged. What differs is how they are computed:

- **text**: :func:`near_duplicate_text`, the question and its options (for a record with images,
  every word tagged with the images' hashes);
- **shingles and signatures**: :mod:`medvlt_data.text`'s stack (:func:`~medvlt_data.text.words`,
  :func:`~medvlt_data.text.batch_shingles`, :func:`~medvlt_data.text.minhash_signatures`), for a
  batch of documents at once, written already sorted. datatrove reduces modulo the prime
  ``2**61 - 1``; on inputs that are already hash values the wrap-around family is as good and
  takes half the arithmetic, which is most of this stage's time;
- **buckets**: each bucket's sorted signature files are read in slices of the hash range, sorted
  together with numpy and scanned for equal neighbours, which are the pairs datatrove's heap merge
  writes, in the same order.

:func:`near_dedup_stages` assembles the three stages of a build and the filter of its finish stage.
"""

from __future__ import annotations

import re
from itertools import pairwise
from pathlib import Path

import numpy as np
import orjson
import pyarrow.parquet as pq
from datatrove.io import get_datafolder
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.dedup.minhash import (
    MinhashConfig,
    MinhashDedupBuckets,
    MinhashDedupCluster,
    MinhashDedupFilter,
)
from datatrove.utils.hashing import HashConfig
from fsspec.implementations.local import LocalFileSystem

from medvlt_data.pipeline.storage import rejects_writer
from medvlt_data.text import batch_shingles, minhash_parameters, minhash_signatures, words

_HEX_AS_LETTERS = str.maketrans("0123456789abcdef", "ghijklmnopqrstuv")


def minhash_config(**params) -> MinhashConfig:
    """A MinhashConfig with 64-bit xxhash signatures and the recipe's n-gram and bucket sizes."""
    return MinhashConfig(hash_config=HashConfig(precision=64, hash_fc="xxhash"), **params)


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


def _sig_dtype(config: MinhashConfig, with_doc: bool = True) -> np.dtype:
    fmt = f"<{config.hash_config.struct_format}"
    fields = [(f"h{i}", fmt) for i in range(config.hashes_per_bucket)]
    return np.dtype(fields + ([("doc", "<u4")] if with_doc else []))


class MinhashSignatures(PipelineStep):
    """MinHash stage 1: task ``rank`` reads canonical shard ``rank`` itself and writes its sorted
    signature files, in the layout of datatrove's ``MinhashDedupSignature`` (whose own tokenizer
    and shingling this stage does not use). The text compared is :func:`near_duplicate_text`.
    """

    name = "MinHash signatures (batched)"
    type = "medvlt"

    def __init__(self, canonical_dir: str, output_folder: str, config: MinhashConfig | None = None,
                 batch_size: int = 256):  # fmt: skip
        super().__init__()
        self.output_folder = get_datafolder(output_folder)
        self.config = config or minhash_config()
        self.num_hashes = self.config.num_buckets * self.config.hashes_per_bucket
        self.canonical_dir, self.batch_size = canonical_dir, batch_size
        self._parameters: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def parameters(self) -> tuple[np.ndarray, np.ndarray]:
        """``(a, b)`` of the hash functions, drawn as datatrove draws them from ``config.seed``."""
        if self._parameters is None:
            self._parameters = minhash_parameters(self.num_hashes, self.config.seed)
        return self._parameters

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        path = Path(self.canonical_dir) / f"{rank:05d}.parquet"
        if not path.exists():  # a Slurm task past the last shard
            return
        with self.track_time():
            sigs, docs, index = [], [], 0
            for batch in pq.ParquetFile(path).iter_batches(
                batch_size=self.batch_size, columns=["text", "metadata"]
            ):
                texts = []
                for text, raw in zip(
                    batch.column("text").to_pylist(), batch.column("metadata").to_pylist(), strict=True
                ):
                    metadata = orjson.loads(raw)
                    options = orjson.loads(metadata["row"]["options"])
                    texts.append(near_duplicate_text(text, options, metadata.get("image_phash") or []))
                signature, present = self.batch_signatures(texts)
                sigs.append(signature)
                docs.append(present + index)
                index += len(texts)
                self.stat_update("total", value=len(texts))
            self.write_buckets(
                rank, np.concatenate(sigs) if sigs else None, np.concatenate(docs) if docs else None
            )

    def batch_signatures(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(signatures of the texts with shingles, one row each; their indices in ``texts``)."""
        grams, owner = batch_shingles([words(text) for text in texts], self.config.n_grams)
        sigs, present = minhash_signatures(grams, owner, *self.parameters)
        if self.config.hash_config.precision == 32:
            sigs >>= np.uint64(32)  # the high half: the well-mixed bits
        return sigs, present

    def write_buckets(self, rank: int, sigs: np.ndarray | None, docs: np.ndarray | None) -> None:
        dtype = _sig_dtype(self.config)
        per = self.config.hashes_per_bucket
        for bucket in range(self.config.num_buckets):
            records = np.empty(0 if sigs is None else len(sigs), dtype=dtype)
            for i in range(per):
                records[f"h{i}"] = sigs[:, bucket * per + i] if sigs is not None else []
            records["doc"] = docs if docs is not None else []
            records.sort(order=dtype.names)
            with self.output_folder.open(f"bucket_{bucket:03d}/{rank:05d}.minhash.sig", mode="wb") as handle:
                handle.write(records.tobytes())


class MinhashBuckets(MinhashDedupBuckets):
    """MinHash stage 2 without an index: the duplicate pairs of one bucket (or of one slice of its
    hash range when there are several tasks per bucket), at most ``rows_in_memory`` signatures at a
    time."""

    name = "MinHash buckets (numpy)"

    def __init__(self, input_folder: str, output_folder: str, config: MinhashConfig | None = None,
                 rows_in_memory: int = 1_000_000):  # fmt: skip
        super().__init__(input_folder, output_folder, config=config or minhash_config())
        self.rows_in_memory = rows_in_memory

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        if world_size % self.config.num_buckets:
            raise ValueError(f"{world_size} tasks: the MinHash bucket stage needs a multiple of "
                             f"{self.config.num_buckets} (the number of buckets)")  # fmt: skip
        bucket, worker = divmod(rank, world_size // self.config.num_buckets)
        with self.track_time():
            files = self.input_folder.list_files(subdirectory=f"bucket_{bucket:03d}")
            low, high = (int(v) for v in self.get_worker_hash_range(files, rank, world_size))
            dtype = _sig_dtype(self.config)
            tables = [(int(Path(f).name.split(".")[0]), self._load(f, dtype)) for f in files]
            total = sum(len(t) for _, t in tables)
            slices = max(1, -(-total // self.rows_in_memory))
            edges = [low + (high - low) * i // slices for i in range(slices)] + [high]
            with self.output_folder.open(f"{bucket:05d}_{worker:02d}.dups", mode="wb") as out:
                for lo, hi in pairwise(edges):
                    pairs = self._pairs(tables, lo, hi)
                    out.write(pairs.tobytes())
                    self.stat_update("total_matches", value=len(pairs))

    def _load(self, name: str, dtype: np.dtype) -> np.ndarray:
        if self.input_folder.size(name) == 0:
            return np.empty(0, dtype=dtype)
        if isinstance(
            self.input_folder.fs, LocalFileSystem
        ):  # memory-mapped: a slice of the hash range is read when it is used
            return np.memmap(self.input_folder.resolve_paths(name), dtype=dtype, mode="r")
        with self.input_folder.open(name, "rb") as handle:
            return np.frombuffer(handle.read(), dtype=dtype)

    def _pairs(self, tables: list[tuple[int, np.ndarray]], lo: int, hi: int) -> np.ndarray:
        """(stem, doc, stem, doc) of each signature equal to the one before it, in sorted order."""
        per = self.config.hashes_per_bucket
        parts, stems = [], []
        for stem, table in tables:
            first = table["h0"]
            start, stop = np.searchsorted(first, lo, "left"), np.searchsorted(first, hi, "left")
            if stop > start:
                parts.append(np.asarray(table[start:stop]))
                stems.append(np.full(stop - start, stem, dtype=np.uint32))
        pair_dtype = np.dtype([("f1", "<u4"), ("d1", "<u4"), ("f2", "<u4"), ("d2", "<u4")])
        if not parts:
            return np.empty(0, dtype=pair_dtype)
        rows, stem = np.concatenate(parts), np.concatenate(stems)
        order = np.lexsort([rows["doc"], stem] + [rows[f"h{i}"] for i in reversed(range(per))])
        rows, stem = rows[order], stem[order]
        same = np.ones(len(rows) - 1, dtype=bool)
        for i in range(per):
            column = rows[f"h{i}"]
            same &= column[1:] == column[:-1]
        at = np.nonzero(same)[0]
        pairs = np.empty(len(at), dtype=pair_dtype)
        pairs["f1"], pairs["d1"] = stem[at], rows["doc"][at]
        pairs["f2"], pairs["d2"] = stem[at + 1], rows["doc"][at + 1]
        return pairs


def near_dedup_stages(
    canonical: Path, work: Path, rejects_root: str, shards: int, config: MinhashConfig
) -> tuple[list[tuple[str, list, int]], MinhashDedupFilter]:
    """(stage name, pipeline, tasks) of the three MinHash stages of a build, over ``shards``
    canonical shards, and the filter step that drops the near duplicates in the finish stage
    (reason ``near-duplicate``, rejects under ``rejects/dedup_near/``)."""
    sigs, buckets, clusters = (
        work / "minhash" / "sigs",
        work / "minhash" / "buckets",
        work / "minhash" / "remove",
    )
    stages = [
        ("minhash-signatures", [MinhashSignatures(str(canonical), str(sigs), config=config)], shards),
        ("minhash-buckets", [MinhashBuckets(str(sigs), str(buckets), config=config)], config.num_buckets),
        ("minhash-cluster", [MinhashDedupCluster(str(buckets), str(clusters), config=config)], 1),
    ]
    rejects = rejects_writer(rejects_root, "dedup_near")
    rejects.default_reason = "near-duplicate"
    return stages, MinhashDedupFilter(str(clusters), exclusion_writer=rejects)
