"""Exact dedup: the key, and the merge: canonical order whatever the prepared shards, exact duplicates,
shard layout."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
from datatrove.data import Document

from medvlt_data.pipeline.exact_dedup import MIN_SHARDS, STAGE_COLUMNS, DedupExact, dedup_key
from medvlt_data.pipeline.storage import StageWriter


def _doc(source: int, position: int, key: str | None) -> Document:
    metadata = {"ordinal": [source, position], "row": {"source": "medqa", "split": "train",
                                                      "source_id": f"s{source}-{position}"}}  # fmt: skip
    if key is not None:
        metadata["dedup_key"] = key
    return Document(
        text=f"question {source}-{position}", id=f"medqa:train:{source}-{position}", metadata=metadata
    )


def test_dedup_key_parts():
    base = dedup_key("What is shown?", {"A": "Cyst", "B": "Mass"}, ["aa", "bb"])
    assert base == dedup_key("what  is shown", {"A": "Mass", "B": "CYST"}, ["aa", "bb"])
    assert base != dedup_key("What is shown?", {"A": "Cyst", "B": "Mass"}, ["bb", "aa"])  # image order
    assert base != dedup_key("What is shown?", {"A": "Cyst", "B": "Tumor"}, ["aa", "bb"])
    assert base != dedup_key("What is not shown?", {"A": "Cyst", "B": "Mass"}, ["aa", "bb"])


def _prepare(folder, tasks: list[list[Document]]) -> None:
    for rank, docs in enumerate(tasks):
        list(StageWriter(folder, STAGE_COLUMNS).run(iter(docs), rank=rank))


def _canonical(folder) -> list[list[str]]:
    shards = int((folder / "SHARDS").read_text())
    return [pq.read_table(folder / f"{i:05d}.parquet").column("id").to_pylist() for i in range(shards)]


def test_merge_orders_by_ordinal_keeps_the_first_copy_and_lists_the_others(tmp_path):
    key = lambda n: f"{n:016x}" + "0" * 24  # noqa: E731  (the merge compares the first 64 bits)
    docs = [
        _doc(s, p, key(p % 7) if s == 1 else None if p == 0 else key(100 + p))
        for s in (0, 1)
        for p in range(10)
    ]
    # two tasks took alternate rows, as the reader hands them out
    _prepare(tmp_path / "prepared", [docs[0::2], docs[1::2]])
    list(DedupExact(str(tmp_path / "prepared"), str(tmp_path / "canonical"), str(tmp_path), 3, 256).run())
    shards = _canonical(tmp_path / "canonical")
    merged = [i for shard in shards for i in shard]
    # source 0: ten distinct keys (or none); source 1: keys 0..6 then 0, 1, 2 again
    assert merged == [d.id for d in docs[:17]]
    assert [len(s) for s in shards] == [3, 3, 3, 3, 3, 2, 0]  # ceil(20 / 3) = 7 shards of ceil(20 / 7) = 3
    rejects = [json.loads(line) for f in (tmp_path / "rejects" / "dedup_exact").glob("*.jsonl")
               for line in f.read_text().splitlines()]  # fmt: skip
    assert sorted((r["id"], r["reason"], r["detail"]) for r in rejects) == [
        (f"medqa:train:1-{p}", "duplicate", f"exact duplicate of medqa:train:1-{p - 7}") for p in (7, 8, 9)
    ]


def test_merge_of_nothing_but_copies_writes_every_shard_file(tmp_path):
    docs = [_doc(0, p, "ab" * 20) for p in range(9)]
    _prepare(tmp_path / "prepared", [docs])
    list(DedupExact(str(tmp_path / "prepared"), str(tmp_path / "canonical"), str(tmp_path), 1000, 256).run())
    shards = _canonical(tmp_path / "canonical")
    assert len(shards) == MIN_SHARDS
    assert shards == [["medqa:train:0-0"], [], [], []]
