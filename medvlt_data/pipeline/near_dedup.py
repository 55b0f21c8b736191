"""Near-duplicate detection: datatrove's MinHash stage 1 with a vectorized shingler.

datatrove hashes every word n-gram as a joined string in a Python loop; here each word is hashed
once (xxh64) and the n-gram hashes are combined with numpy (word hashes rotated by position and
xor-ed). Text is lower-cased and split into runs of letters and digits, so case, whitespace and
punctuation do not matter. The signatures, buckets, clustering and filtering stay datatrove's.

>>> import numpy as np
>>> step = FastMinhashSignature("/tmp/unused-sigs")
>>> a = step.get_shingles("Which organ makes insulin in the human body?")
>>> b = step.get_shingles("WHICH organ makes insulin, in the human body")
>>> bool(np.array_equal(a, b)), a.shape
(True, (4, 1))
>>> step.get_shingles("Too short").shape  # fewer words than n: one shingle of them all
(1, 1)
"""

from __future__ import annotations

import re

import numpy as np
import xxhash
from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature
from datatrove.utils.hashing import HashConfig

_WORDS = re.compile(r"\w+")
_ROTATION = 13  # bits each position's word hash is rotated by


def minhash_config(**params) -> MinhashConfig:
    """A MinhashConfig with 64-bit xxhash signatures and the recipe's n-gram and bucket sizes."""
    return MinhashConfig(hash_config=HashConfig(precision=64, hash_fc="xxhash"), **params)


class FastMinhashSignature(MinhashDedupSignature):
    """MinHash stage 1 (signatures) with :meth:`get_shingles` vectorized."""

    name = "MinHash signatures (vectorized shingles)"

    def __init__(self, output_folder: str, config: MinhashConfig | None = None):
        from medvlt_data.pipeline.steps import RegexWordTokenizer

        super().__init__(output_folder, config=config or minhash_config(), language=RegexWordTokenizer())

    def get_shingles(self, text: str) -> np.ndarray:
        words = _WORDS.findall(text.lower())
        if not words:
            return np.empty((0, 1), dtype=np.uint64)
        hashes = np.fromiter((xxhash.xxh64_intdigest(w) for w in words), dtype=np.uint64, count=len(words))
        n = self.config.n_grams
        if len(words) < n:  # a short text is one shingle
            return np.array([[np.bitwise_xor.reduce(_rotate_each(hashes))]], dtype=np.uint64)
        count = len(words) - n + 1
        grams = hashes[:count].copy()
        for k in range(1, n):
            grams ^= _rotate(hashes[k : k + count], k * _ROTATION)
        return np.unique(grams).reshape((-1, 1))


def _rotate(values: np.ndarray, bits: int) -> np.ndarray:
    bits %= 64
    if bits == 0:
        return values
    return (values << np.uint64(bits)) | (values >> np.uint64(64 - bits))


def _rotate_each(values: np.ndarray) -> np.ndarray:
    return np.array([_rotate(v, i * _ROTATION) for i, v in enumerate(values)], dtype=np.uint64)
