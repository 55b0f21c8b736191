"""The batched MinHash stages give what datatrove's own stages give on the same input."""

from __future__ import annotations

import random
import struct

import numpy as np
import pytest
from datatrove.pipeline.dedup.minhash import MinhashDedupBuckets

from medvlt_data.pipeline.near_dedup import MinhashBuckets, MinhashSignatures, minhash_config
from medvlt_data.text import batch_shingles, words

WORDS = [
    "heart",
    "lung",
    "liver",
    "kidney",
    "insulin",
    "aorta",
    "femur",
    "nerve",
    "cell",
    "blood",
    "which",
    "most",
    "likely",
    "cause",
    "of",
    "the",
]


def _texts(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randrange(0, 60))) for _ in range(count)]
    return [*texts, "Too short", "", "?!", "a b c d e"]


def _reference(step: MinhashSignatures, text: str) -> list[int] | None:
    """One text's signature in plain Python integers: min over shingles of (a*x + b) mod 2**64."""
    grams, _ = batch_shingles([words(text)], step.config.n_grams)
    if not grams.size:
        return None
    a, b = (row[0].tolist() for row in step.parameters)
    return [min(((ai | 1) * int(x) + bi) % 2**64 for x in grams) for ai, bi in zip(a, b, strict=True)]


def test_batch_signatures_equal_a_per_document_reference(tmp_path):
    step = MinhashSignatures(str(tmp_path / "canonical"), str(tmp_path / "sigs"), config=minhash_config(
        n_grams=5, num_buckets=4, hashes_per_bucket=3))  # fmt: skip
    texts = _texts(300)
    sigs, present = step.batch_signatures(texts)
    expected = {i: _reference(step, t) for i, t in enumerate(texts)}
    assert list(present) == [i for i, sig in expected.items() if sig is not None]
    assert "" not in [texts[i] for i in present] and "?!" not in [texts[i] for i in present]
    for row, i in zip(sigs, present, strict=True):
        assert row.tolist() == expected[i], texts[i]


def test_near_copies_share_most_signature_values_and_strangers_almost_none(tmp_path):
    step = MinhashSignatures(str(tmp_path / "c"), str(tmp_path / "s"), config=minhash_config(
        n_grams=5, num_buckets=20, hashes_per_bucket=10))  # fmt: skip
    rng = random.Random(3)
    original = " ".join(rng.choice(WORDS) + str(rng.randrange(50)) for _ in range(60))
    words = original.split()
    near = " ".join([*words[:30], "also", *words[30:]]).upper()
    stranger = " ".join(rng.choice(WORDS) + str(rng.randrange(50)) for _ in range(60))
    sigs, _ = step.batch_signatures([original, near, stranger])
    same_near = float(np.mean(sigs[0] == sigs[1]))
    same_stranger = float(np.mean(sigs[0] == sigs[2]))
    assert same_near > 0.75  # Jaccard of the 5-gram sets is 52/61 = 0.85
    assert same_stranger < 0.05


def _write_sigs(folder, config, rng: random.Random, shards: int = 3, docs: int = 400) -> None:
    """Sorted signature files with planted equal signatures, within and across shards."""
    fmt = f"<{config.hashes_per_bucket}QI"
    pool = [
        tuple(rng.randrange(0, (1 << 61) - 1) for _ in range(config.hashes_per_bucket)) for _ in range(50)
    ]
    for bucket in range(config.num_buckets):
        for shard in range(shards):
            rows = []
            for doc in range(docs):
                sig = rng.choice(pool) if rng.random() < 0.2 else tuple(
                    rng.randrange(0, (1 << 61) - 1) for _ in range(config.hashes_per_bucket))  # fmt: skip
                rows.append((*sig, doc))
            path = folder / f"bucket_{bucket:03d}" / f"{shard:05d}.minhash.sig"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"".join(struct.pack(fmt, *row) for row in sorted(rows)))


@pytest.mark.parametrize("rows_in_memory", [1_000_000, 97])
def test_bucket_pairs_equal_datatrove_heap_merge(tmp_path, rows_in_memory):
    config = minhash_config(n_grams=5, num_buckets=2, hashes_per_bucket=3)
    _write_sigs(tmp_path / "sigs", config, random.Random(1))
    for step, _out in (
        (MinhashBuckets(str(tmp_path / "sigs"), str(tmp_path / "ours"), config=config,
                        rows_in_memory=rows_in_memory), "ours"),
        (MinhashDedupBuckets(str(tmp_path / "sigs"), str(tmp_path / "theirs"), config=config), "theirs"),
    ):  # fmt: skip
        for rank in range(config.num_buckets):
            step.run(rank=rank, world_size=config.num_buckets)
    for bucket in range(config.num_buckets):
        ours = (tmp_path / "ours" / f"{bucket:05d}_00.dups").read_bytes()
        theirs = (tmp_path / "theirs" / f"{bucket:05d}_00.dups").read_bytes()
        assert len(theirs) > 16 * 100  # the planted signatures give many pairs
        assert ours == theirs


def test_bucket_stage_refuses_a_task_count_that_is_not_a_multiple(tmp_path):
    config = minhash_config(n_grams=5, num_buckets=4, hashes_per_bucket=2)
    with pytest.raises(ValueError, match="multiple of 4"):
        MinhashBuckets(str(tmp_path), str(tmp_path / "o"), config=config).run(rank=0, world_size=6)
