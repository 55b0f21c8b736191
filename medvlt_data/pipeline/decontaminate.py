"""Decontamination: drop training records whose question or images match an evaluation benchmark item.

A :class:`BenchmarkIndex` holds every benchmark item in two compact, picklable indexes:

- text: exact hashes of the question's words, and a MinHash LSH index over word 5-gram shingles
  (candidates are verified by the exact Jaccard similarity of their shingle sets); words, shingles
  and signatures are :mod:`medvlt_data.text`'s, the stack near dedup uses, with fixed parameters
  (:data:`MINHASH_SEED`);
- images: 64-bit perceptual hashes, found through five bit-bands (by the pigeonhole principle, two
  hashes within Hamming distance 4 agree on at least one of five bands) and verified by distance.

Which texts are indexed follows what identifies an item. A short question ("Is this image normal?",
"Which of the following is true?") recurs across datasets with other images or options, so:

- questions of at least ``min_words`` words (``image_min_words`` for items with images: a specific
  vignette) match exactly or near (Jaccard >= ``threshold``);
- shorter text-only items match exactly on question + option set;
- shorter items with images match exactly on question + option set, and only records without images
  (a text-only copy of a VQA question is a leak; the same generic question over another image is not),
  which otherwise match them through their images alone.

Perceptual hashes of flat images (fewer than :data:`MIN_PHASH_BITS` set bits: a blank or uniform
picture) carry no identity and are ignored. Every hash is deterministic (xxh64, seeded parameters),
so an index built once can be saved (:meth:`BenchmarkIndex.save`) and reused by any number of workers.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from medvlt_data.images import ImageError
from medvlt_data.pipeline.documents import document_options
from medvlt_data.pipeline.image_step import image_phash
from medvlt_data.schema import Record
from medvlt_data.text import batch_shingles, hash64, minhash_parameters, minhash_signatures, words

#: Word n-gram length of the text shingles.
SHINGLE_WORDS = 5
#: A perceptual hash with fewer set bits comes from a (nearly) flat image and is not matched.
MIN_PHASH_BITS = 16
#: Bit widths of the five bands of a 64-bit perceptual hash.
PHASH_BANDS = (13, 13, 13, 13, 12)

#: Seed of the MinHash parameters (:func:`~medvlt_data.text.minhash_parameters`): fixed, so saved
#: indexes and queries agree.
MINHASH_SEED = 1
#: Version of the saved index layout (2: xxh64 words, rotate-xor shingles, 2**64 MinHash).
FORMAT = 2

_FNV_PRIME = np.uint64(0x100000001B3)
_MATCH = tuple[str, str]


def shingle_set(word_list: list[str]) -> np.ndarray:
    """Sorted unique word 5-gram shingles of a question (one shingle of all words when it is shorter)."""
    return np.unique(batch_shingles([word_list], SHINGLE_WORDS)[0])


@functools.lru_cache(maxsize=4)
def _parameters(num_perm: int) -> tuple[np.ndarray, np.ndarray]:
    return minhash_parameters(num_perm, MINHASH_SEED)


def minhash_bands(shingles: np.ndarray, num_perm: int, bands: int) -> np.ndarray:
    """One 64-bit key per LSH band of the MinHash signature of ``shingles`` (``bands`` keys); a text
    without shingles has no signature (the callers send texts of ``min_words`` words or more)."""
    if len(shingles) == 0:
        raise ValueError("minhash_bands: no shingles (an empty text has no MinHash signature)")
    signature, _ = minhash_signatures(
        shingles, np.zeros(len(shingles), dtype=np.int64), *_parameters(num_perm)
    )
    keys = np.zeros(bands, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for row in signature[0].reshape(bands, num_perm // bands).T:
            keys = (keys ^ row) * _FNV_PRIME
    return keys


def _phash_bands(value: int) -> list[int]:
    shifts = np.cumsum((0, *PHASH_BANDS[:-1])).tolist()
    return [(value >> shift) & ((1 << width) - 1) for shift, width in zip(shifts, PHASH_BANDS, strict=True)]


def _sorted_table(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(keys, kind="stable")
    return keys[order], values[order]


def _band_tables(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per band (row of the result), the keys of ``matrix[:, band]`` sorted, and the rows they came from."""
    order = np.argsort(matrix.T, axis=1, kind="stable")
    return np.ascontiguousarray(np.take_along_axis(matrix.T, order, axis=1)), order.astype(np.int64)


def _lookup(keys: np.ndarray, values: np.ndarray, key: Any) -> np.ndarray:
    lo, hi = np.searchsorted(keys, key, side="left"), np.searchsorted(keys, key, side="right")
    return values[lo:hi]


class BenchmarkIndex:
    """Text and image fingerprints of benchmark items, queried by :meth:`match_text` and :meth:`match_images`.

    Build it with :meth:`build` from ``(benchmark name, Record)`` pairs or with :meth:`from_documents`.
    Items are named ``(benchmark, record.ref)``; a query matching several reports the first in sorted
    order, so results never depend on the order items were added.
    """

    def __init__(
        self,
        *,
        threshold: float = 0.8,
        hamming: int = 4,
        num_perm: int = 128,
        bands: int = 32,
        min_words: int = 10,
        image_min_words: int = 25,
    ):
        if num_perm % bands:
            raise ValueError(f"num_perm={num_perm} is not a multiple of bands={bands}")
        if not 0 <= hamming < len(PHASH_BANDS):
            raise ValueError(f"hamming must be in 0..{len(PHASH_BANDS) - 1} for the five-band index")
        self.params = dict(
            threshold=threshold,
            hamming=hamming,
            num_perm=num_perm,
            bands=bands,
            min_words=min_words,
            image_min_words=image_min_words,
        )
        self.items: list[_MATCH] = []
        self._set_text([], [], [], [])
        self._set_images([], [])

    # ---- building ---------------------------------------------------------------------------------

    @classmethod
    def build(cls, pairs: Iterable[tuple[str, Record]], **params: Any) -> BenchmarkIndex:
        """Index ``(benchmark, record)`` pairs; undecodable benchmark images are skipped."""
        entries, known = [], {}  # benchmarks ask many questions about one image: hash it once
        for benchmark, record in pairs:
            phashes = []
            for data in record.images:
                digest = hashlib.sha1(data).digest()
                if digest not in known:
                    try:
                        known[digest] = image_phash(data)
                    except ImageError:
                        known[digest] = None
                if known[digest] is not None:
                    phashes.append(known[digest])
            entries.append(
                (benchmark, record.ref, record.question, record.options, phashes, bool(record.images))
            )
        return cls._from_entries(entries, params)

    @classmethod
    def from_documents(
        cls, docs: Iterable[Document], benchmark: str | None = None, **params: Any
    ) -> BenchmarkIndex:
        """Index Documents (``benchmark`` defaults to each record's source); uses ``image_phash`` if set."""
        entries = []
        for doc in docs:
            name = benchmark or str(doc.metadata.get("row", {}).get("source", ""))
            phashes = _document_phashes(doc)
            entries.append((name, str(doc.id), doc.text, document_options(doc), phashes, bool(doc.media)))
        return cls._from_entries(entries, params)

    @classmethod
    def _from_entries(cls, entries: list, params: dict[str, Any]) -> BenchmarkIndex:
        index = cls(**params)
        p = index.params
        exact, near_keys, near_items, shingle_sets, phashes, phash_items = [], [], [], [], [], []
        for benchmark, ref, question, options, hashes, has_images in sorted(entries, key=lambda e: e[:2]):
            item = len(index.items)
            index.items.append((benchmark, ref))
            question_words = words(question)
            if has_images and len(question_words) < p["image_min_words"]:
                exact.append((_short_key(question_words, options, "image"), item))
            elif len(question_words) < p["min_words"]:
                exact.append((_short_key(question_words, options, "text"), item))
            else:
                exact.append((_long_key(question_words), item))
                shingles = shingle_set(question_words)
                shingle_sets.append(shingles)
                near_keys.append(minhash_bands(shingles, p["num_perm"], p["bands"]))
                near_items.append(item)
            for value in hashes:
                value = int(value, 16)
                if value.bit_count() >= MIN_PHASH_BITS:
                    phashes.append(value)
                    phash_items.append(item)
        index._set_text(exact, near_keys, near_items, shingle_sets)
        index._set_images(phashes, phash_items)
        return index

    def _set_text(self, exact: list, near_keys: list, near_items: list, shingle_sets: list) -> None:
        keys = np.array([k for k, _ in exact], dtype=np.uint64)
        self.exact_keys, self.exact_items = _sorted_table(
            keys, np.array([i for _, i in exact], dtype=np.int64)
        )
        bands = self.params["bands"]
        self.band_keys, self.band_items = _band_tables(
            np.array(near_keys, dtype=np.uint64).reshape(-1, bands)
        )
        self.near_items = np.array(near_items, dtype=np.int64)
        self.shingle_offsets = np.cumsum([0] + [len(s) for s in shingle_sets], dtype=np.int64)
        self.shingles = np.concatenate(shingle_sets) if shingle_sets else np.zeros(0, dtype=np.uint64)

    def _set_images(self, phashes: list[int], phash_items: list[int]) -> None:
        self.phashes = np.array(phashes, dtype=np.uint64)
        self.phash_items = np.array(phash_items, dtype=np.int64)
        bands = np.array([_phash_bands(v) for v in phashes], dtype=np.uint64).reshape(-1, len(PHASH_BANDS))
        self.phash_band_keys, self.phash_band_pos = _band_tables(bands)

    # ---- queries ----------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.items)

    @property
    def benchmarks(self) -> list[str]:
        """The benchmark names indexed, sorted."""
        return sorted({b for b, _ in self.items})

    def match_text(
        self, question: str, options: dict[str, str] | None = None, *, has_images: bool = False
    ) -> _MATCH | None:
        """The first benchmark item (``(benchmark, id)``) whose question matches, else None.

        Long questions match exactly or at Jaccard >= ``threshold`` on word 5-gram shingles; short
        items match exactly with their option set (``options``), short image items only when the
        query ``has_images`` is False.
        """
        question_words = words(question)
        found: set[int] = set()
        if options is not None:
            kinds = ["text"] if has_images else ["text", "image"]
            for kind in kinds:
                key = np.uint64(_short_key(question_words, options, kind))
                found.update(_lookup(self.exact_keys, self.exact_items, key).tolist())
        if len(question_words) < self.params["min_words"]:
            return self._first(found)
        found.update(
            _lookup(self.exact_keys, self.exact_items, np.uint64(_long_key(question_words))).tolist()
        )
        shingles = shingle_set(question_words)
        keys = minhash_bands(shingles, self.params["num_perm"], self.params["bands"])
        candidates: set[int] = set()
        for band, key in enumerate(keys):
            candidates.update(_lookup(self.band_keys[band], self.band_items[band], key).tolist())
        for row in sorted(candidates):
            stored = self.shingles[self.shingle_offsets[row] : self.shingle_offsets[row + 1]]
            common = len(np.intersect1d(stored, shingles, assume_unique=True))
            if common / (len(stored) + len(shingles) - common) >= self.params["threshold"]:
                found.add(int(self.near_items[row]))
        return self._first(found)

    def match_images(self, phashes: Iterable[str]) -> _MATCH | None:
        """The first benchmark item with an image within ``hamming`` bits of one of ``phashes``, else None."""
        found: set[int] = set()
        for text in phashes:
            value = int(text, 16)
            if value.bit_count() < MIN_PHASH_BITS:
                continue
            positions: set[int] = set()
            for band, key in enumerate(_phash_bands(value)):
                keys, pos = self.phash_band_keys[band], self.phash_band_pos[band]
                positions.update(_lookup(keys, pos, np.uint64(key)).tolist())
            for position in positions:
                if (int(self.phashes[position]) ^ value).bit_count() <= self.params["hamming"]:
                    found.add(int(self.phash_items[position]))
        return self._first(found)

    def _first(self, found: Iterable[Any]) -> _MATCH | None:
        matches = [self.items[int(i)] for i in found]
        return min(matches) if matches else None

    # ---- persistence ------------------------------------------------------------------------------

    _ARRAYS = ("exact_keys", "exact_items", "band_keys", "band_items", "shingles", "shingle_offsets",
               "near_items", "phashes", "phash_items", "phash_band_keys", "phash_band_pos")  # fmt: skip

    def save(self, path: str | Path) -> Path:
        """Write the index to one ``.npz`` file (arrays plus a JSON header; no pickled objects)."""
        path = Path(path)
        header = json.dumps({"format": FORMAT, "params": self.params, "items": self.items})
        with path.open("wb") as handle:
            np.savez_compressed(
                handle, header=np.array(header), **{k: getattr(self, k) for k in self._ARRAYS}
            )
        return path

    @classmethod
    def load(cls, path: str | Path) -> BenchmarkIndex:
        """Read an index written by :meth:`save`."""
        with np.load(Path(path), allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
            if header.get("format") != FORMAT:
                raise ValueError(f"{path}: benchmark index format {header.get('format')!r}, this medvlt reads "
                                 f"format {FORMAT}; delete the file to build the index again")  # fmt: skip
            index = cls(**header["params"])
            index.items = [(str(b), str(i)) for b, i in header["items"]]
            for name in cls._ARRAYS:
                setattr(index, name, data[name])
        return index


def _long_key(question_words: list[str]) -> int:
    return hash64("q\x1f" + " ".join(question_words))


def _short_key(question_words: list[str], options: dict[str, str], kind: str) -> int:
    texts = sorted(" ".join(words(v)) for v in options.values())
    return hash64(f"{kind}\x1f" + " ".join(question_words) + "\x1e" + "\x1f".join(texts))


def _document_phashes(doc: Document) -> list[str]:
    if "image_phash" in doc.metadata:
        return list(doc.metadata["image_phash"])
    out = []
    for media in doc.media:
        try:
            out.append(image_phash(media.media_bytes))
        except ImageError:
            continue
    return out


class DecontaminationFilter(BaseFilter):
    """Datatrove step: drops Documents whose question or images match a benchmark item.

    ``index`` is a :class:`BenchmarkIndex` or the path of a saved one (loaded on first use, so the
    step pickles small). A dropped Document gets ``metadata["contaminated_by"]`` (the item id) and the
    reason ``contaminated:{benchmark}``. Stats: ``text_match``, ``image_match``.
    """

    name = "decontaminate"

    def __init__(self, index: BenchmarkIndex | str | Path, exclusion_writer: Any = None):
        super().__init__(exclusion_writer=exclusion_writer)
        self._index = index if isinstance(index, BenchmarkIndex) else None
        self.index_path = None if isinstance(index, BenchmarkIndex) else str(index)

    @property
    def index(self) -> BenchmarkIndex:
        """The benchmark index, loaded from ``index_path`` on first use."""
        if self._index is None:
            self._index = BenchmarkIndex.load(self.index_path)
        return self._index

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if self.index_path is not None:
            state["_index"] = None
        return state

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        """Keep ``doc`` unless its question text or one of its images matches a benchmark item."""
        text = self.index.match_text(doc.text, document_options(doc), has_images=bool(doc.media))
        image = self.index.match_images(_document_phashes(doc)) if doc.media else None
        if text is not None:
            self.stat_update("text_match")
        if image is not None:
            self.stat_update("image_match")
        matches = [m for m in (text, image) if m is not None]
        if not matches:
            return True
        benchmark, item = min(matches)
        doc.metadata["contaminated_by"] = item
        return False, f"contaminated:{benchmark}"
