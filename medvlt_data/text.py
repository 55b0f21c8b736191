"""Text as medvlt shows it and as it compares it: normalization, folding, words, shingles, MinHash.

Which stage uses which:

- :func:`normalize_text` (display): the build's normalize step tidies questions, options and
  answers with it; the text stays as written, only spacing and the Unicode form change;
- :func:`fold` (comparison): NFKC, casefolded, whitespace collapsed. Validation compares an answer
  with its labelled option folded, and source adapters compare answer texts with it;
- :func:`key_text` (exact dedup): :func:`fold`, then punctuation at the ends dropped, so "Mass." and
  "mass" give the same exact-duplicate key;
- :func:`words` (near dedup and decontamination): the runs of letters and digits of the folded text;
- :func:`batch_shingles` and :func:`minhash_signatures`: the one shingling and MinHash stack. Near
  dedup signs canonical shards with it (and writes datatrove's signature files); decontamination
  indexes benchmark questions with it and verifies candidates by the exact Jaccard similarity of
  the shingle sets.

A shingle is the xxh64 hashes of an n-gram's words, each rotated by its position, xor-ed; a text
of fewer than ``n`` words is one shingle of all its words. A signature value is
``min((a * shingle + b) mod 2**64)`` with ``a`` odd over a text's shingles.

>>> grams, owner = batch_shingles([words("Which organ makes insulin in the human body?"),
...                                words("WHICH organ makes insulin, in the human body"),
...                                words("Too short"), []], 5)
>>> [int((owner == d).sum()) for d in range(4)]  # 8 words: 4 five-grams; 2 words: 1 shingle; none
[4, 4, 1, 0]
>>> bool(np.array_equal(np.sort(grams[owner == 0]), np.sort(grams[owner == 1])))
True
"""

from __future__ import annotations

import re
import unicodedata
from itertools import chain

import numpy as np
import xxhash

_SPACES = re.compile(r"[ \t\u00a0]+")
_WORDS = re.compile(r"\w+")
_ROTATION = 13  # bits each position's word hash is rotated by in a shingle
_CHUNK = 256  # shingles per block of the signature products
_MERSENNE = (1 << 61) - 1  # the range datatrove draws its MinHash parameters from

#: The one 64-bit text hash (UTF-8 bytes, seed 0): words of shingles, decontamination's exact keys.
hash64 = xxhash.xxh64_intdigest


# ---- normalization ----------------------------------------------------------------------------------


def _tidy(text: str) -> bool:
    """True when :func:`normalize_text` would leave ``text`` as it is (checked without regexes)."""
    if "  " in text or "\t" in text or "\u00a0" in text or "\r" in text or text != text.strip():
        return False
    return "\n" not in text or all(line == line.strip() for line in text.split("\n"))


def normalize_text(text: str) -> str:
    """NFC, non-breaking spaces and tabs to spaces, runs of spaces collapsed, lines stripped.

    >>> normalize_text("  Which\\u00a0organ  makes\\tinsulin? \\n\\n Options ")
    'Which organ makes insulin?\\n\\nOptions'
    """
    text = unicodedata.normalize("NFC", str(text))
    if _tidy(text):  # the common case
        return text
    lines = [_SPACES.sub(" ", line).strip() for line in text.replace("\r\n", "\n").split("\n")]
    return "\n".join(lines).strip()


def _casefold(text: str) -> str:
    text = str(text)
    if text.isascii():  # ASCII is already NFKC, and casefolds as it lower-cases
        return text.lower()
    return unicodedata.normalize("NFKC", text).casefold()


def fold(text: str) -> str:
    """Text as compared: NFKC, casefolded, whitespace collapsed.

    >>> fold("  Left\\u00a0VENTRICLE ")
    'left ventricle'
    """
    return " ".join(_casefold(text).split())


def key_text(text: str) -> str:
    """Text as the exact-dedup key sees it: :func:`fold`, punctuation at the ends gone.

    >>> key_text("  What   IS shown here?? ")
    'what is shown here'
    """
    text = fold(text)
    start, end = 0, len(text)
    while start < end and _is_edge_junk(text[start]):
        start += 1
    while end > start and _is_edge_junk(text[end - 1]):
        end -= 1
    return text[start:end]


def _is_edge_junk(char: str) -> bool:
    return char.isspace() or unicodedata.category(char).startswith("P")


def words(text: str) -> list[str]:
    """The words of a text as near dedup and decontamination see them: runs of letters and digits
    of the NFKC-casefolded text (case, spacing and punctuation do not count).

    >>> words("A 65-year-old MAN: what's next?")
    ['a', '65', 'year', 'old', 'man', 'what', 's', 'next']
    """
    return _WORDS.findall(_casefold(text))


# ---- shingles and MinHash -----------------------------------------------------------------------


def batch_shingles(word_lists: list[list[str]], n: int) -> tuple[np.ndarray, np.ndarray]:
    """(shingle hashes, index of the word list each belongs to), grouped by list in order.

    A list of at least ``n`` words has one shingle per n-gram; a shorter one is a single shingle of
    all its words; an empty one has none.
    """
    lengths = np.fromiter(map(len, word_lists), dtype=np.int64, count=len(word_lists))
    total = int(lengths.sum())
    hashes = np.fromiter(map(hash64, chain.from_iterable(word_lists)), dtype=np.uint64, count=total)
    owner = np.repeat(np.arange(len(word_lists)), lengths)
    starts = np.cumsum(lengths) - lengths
    grams = np.empty(0, dtype=np.uint64)
    gram_owner = np.empty(0, dtype=np.int64)
    if total >= n:
        count = total - n + 1
        grams = hashes[:count].copy()
        for k in range(1, n):
            grams ^= _rotate(hashes[k : k + count], k * _ROTATION)
        owner_at = owner[:count]
        whole = (np.arange(count) - starts[owner_at]) + n <= lengths[owner_at]  # n-gram inside one list
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


def minhash_parameters(count: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``(a, b)``, each of shape ``(1, count)``: the draws datatrove's MinHash stage makes from
    ``seed`` (``numpy.random.RandomState``, deterministic on every platform)."""
    gen = np.random.RandomState(seed)
    a = gen.randint(1, _MERSENNE, dtype=np.uint64, size=(1, count))
    b = gen.randint(0, _MERSENNE, dtype=np.uint64, size=(1, count))
    return a, b


def minhash_signatures(
    grams: np.ndarray, owner: np.ndarray, a: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(signatures of the texts that have shingles, one row each; those texts' indices).

    ``grams`` and ``owner`` are :func:`batch_shingles`' result. Hash ``i`` of a shingle ``x`` is
    ``(a_i * x + b_i) mod 2**64`` with ``a_i`` made odd (a bijection whose high bits depend on every
    bit of ``x``; shingles are already hash values, so this wrap-around family does as well as a
    prime modulus with half the arithmetic). Computed over runs of whole texts of about ``_CHUNK``
    shingles, so the (shingles x hashes) products stay in the processor's cache.
    """
    present, first = np.unique(owner, return_index=True)
    sigs = np.empty((len(present), a.shape[-1]), dtype=np.uint64)
    a = a.reshape(1, -1) | np.uint64(1)
    b = b.reshape(1, -1)
    bounds = np.append(first, len(grams))
    i = 0
    while i < len(present):
        j = min(len(present), max(i + 1, int(np.searchsorted(bounds, bounds[i] + _CHUNK, "right")) - 1))
        values = grams[bounds[i] : bounds[j], None] * a  # wraps at 2**64
        values += b
        sigs[i:j] = np.minimum.reduceat(values, first[i:j] - bounds[i], axis=0)
        i = j
    return sigs, present
