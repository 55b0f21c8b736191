"""Near-duplicate detection: datatrove's MinHash stages 1 and 2, computed in batches with numpy.

The files between the stages are datatrove's own (sorted ``bucket_BBB/RRRRR.minhash.sig``
signature files, ``BBBBB_WW.dups`` pair files), so datatrove's clustering (stage 3) and filter
(stage 4) run on them unchanged. What differs is how they are computed:

- **shingles**: text is lower-cased and split into runs of letters and digits (so case, whitespace
  and punctuation do not matter); each word is hashed once (xxh64) and the hashes of an n-gram's
  words are rotated by position and xor-ed, for a whole batch of documents at a time;
- **signatures**: ``min((a * shingle + b) mod 2**64)`` (``a`` odd) over each document's shingles,
  for a batch at once (``np.minimum.reduceat``), written already sorted. datatrove reduces modulo
  the prime ``2**61 - 1``; on inputs that are already hash values the wrap-around family is as good
  and takes half the arithmetic, which is most of this stage's time;
- **buckets**: each bucket's sorted signature files are read in slices of the hash range, sorted
  together with numpy and scanned for equal neighbours, which are the pairs datatrove's heap merge
  writes, in the same order.

>>> import numpy as np
>>> grams, docs = batch_shingles(["Which organ makes insulin in the human body?",
...                               "WHICH organ makes insulin, in the human body", "Too short", ""], 5)
>>> [int((docs == d).sum()) for d in range(4)]  # 8 words: 4 five-grams; 2 words: 1 shingle; none
[4, 4, 1, 0]
>>> bool(np.array_equal(np.sort(grams[docs == 0]), np.sort(grams[docs == 1])))
True
"""

from __future__ import annotations

import re
from itertools import chain, pairwise
from pathlib import Path

import numpy as np
import orjson
import pyarrow.parquet as pq
import xxhash
from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupBuckets, MinhashDedupSignature
from datatrove.utils.hashing import HashConfig
from fsspec.implementations.local import LocalFileSystem

from medvlt_data.pipeline.storage import near_duplicate_text

_WORDS = re.compile(r"\w+")
_ROTATION = 13  # bits each position's word hash is rotated by
_CHUNK = 256  # shingles per block of the signature products


def minhash_config(**params) -> MinhashConfig:
    """A MinhashConfig with 64-bit xxhash signatures and the recipe's n-gram and bucket sizes."""
    return MinhashConfig(hash_config=HashConfig(precision=64, hash_fc="xxhash"), **params)


def batch_shingles(texts: list[str], n: int) -> tuple[np.ndarray, np.ndarray]:
    """(shingle hashes, index of the text each belongs to), grouped by text in order.

    A text of at least ``n`` words has one shingle per n-gram; a shorter one is a single shingle of
    all its words; a text without words has none.
    """
    words = [_WORDS.findall(text.lower()) for text in texts]
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    total = int(lengths.sum())
    hashes = np.fromiter(
        map(xxhash.xxh64_intdigest, chain.from_iterable(words)), dtype=np.uint64, count=total
    )
    owner = np.repeat(np.arange(len(texts)), lengths)
    starts = np.cumsum(lengths) - lengths
    grams = np.empty(0, dtype=np.uint64)
    gram_owner = np.empty(0, dtype=np.int64)
    if total >= n:
        count = total - n + 1
        grams = hashes[:count].copy()
        for k in range(1, n):
            grams ^= _rotate(hashes[k : k + count], k * _ROTATION)
        owner_at = owner[:count]
        whole = (np.arange(count) - starts[owner_at]) + n <= lengths[owner_at]  # n-gram inside one text
        grams, gram_owner = grams[whole], owner_at[whole]
    short = np.nonzero((lengths > 0) & (lengths < n))[0]
    if short.size:
        singles = np.zeros(short.size, dtype=np.uint64)
        for j, d in enumerate(short):
            for k in range(int(lengths[d])):
                singles[j] ^= _rotate(hashes[starts[d] + k : starts[d] + k + 1], k * _ROTATION)[0]
        grams = np.concatenate([grams, singles])
        gram_owner = np.concatenate([gram_owner, short])
        order = np.argsort(gram_owner, kind="stable")
        grams, gram_owner = grams[order], gram_owner[order]
    return grams, gram_owner


def _rotate(values: np.ndarray, bits: int) -> np.ndarray:
    bits %= 64
    if bits == 0:
        return values
    return (values << np.uint64(bits)) | (values >> np.uint64(64 - bits))


def _sig_dtype(config: MinhashConfig, with_doc: bool = True) -> np.dtype:
    fmt = f"<{config.hash_config.struct_format}"
    fields = [(f"h{i}", fmt) for i in range(config.hashes_per_bucket)]
    return np.dtype(fields + ([("doc", "<u4")] if with_doc else []))


class MinhashSignatures(MinhashDedupSignature):
    """MinHash stage 1: task ``rank`` reads canonical shard ``rank`` itself and writes its sorted
    signature files. The text compared is :func:`~medvlt_data.pipeline.storage.near_duplicate_text`.
    """

    name = "MinHash signatures (batched)"

    def __init__(self, canonical_dir: str, output_folder: str, config: MinhashConfig | None = None,
                 batch_size: int = 256):  # fmt: skip
        from medvlt_data.pipeline.steps import RegexWordTokenizer  # spaCy-free; shingles are batch_shingles

        super().__init__(output_folder, config=config or minhash_config(), language=RegexWordTokenizer())
        self.canonical_dir, self.batch_size = canonical_dir, batch_size

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
        """(signatures of the texts with shingles, one row each; their indices in ``texts``).

        Hash ``i`` of a shingle ``x`` is ``(a_i * x + b_i) mod 2**64`` with ``a_i`` odd (a bijection
        whose high bits depend on every bit of ``x``; the shingles are already xxh64 values), the
        minimum over a text's shingles its signature value. Computed over runs of whole texts of
        about ``_CHUNK`` shingles, so the (shingles x hashes) products stay in the processor's cache.
        """
        grams, owner = batch_shingles(texts, self.config.n_grams)
        present, first = np.unique(owner, return_index=True)
        sigs = np.empty((len(present), self.num_hashes), dtype=np.uint64)
        a, b = self.parameters
        a = a | np.uint64(1)
        bounds = np.append(first, len(grams))
        i = 0
        while i < len(present):
            j = min(len(present), max(i + 1, int(np.searchsorted(bounds, bounds[i] + _CHUNK, "right")) - 1))
            values = grams[bounds[i] : bounds[j], None] * a  # wraps at 2**64
            values += b
            sigs[i:j] = np.minimum.reduceat(values, first[i:j] - bounds[i], axis=0)
            i = j
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
