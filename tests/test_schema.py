"""The record schema: validation reports every problem; round trips through both column layouts."""

from __future__ import annotations

import io
import json

from PIL import Image

from medvlt_data.schema import Record, from_medvlthinker, from_row, record_hash, to_row, validate_record


def medvlthinker_row(record: Record, index: int) -> dict:
    """A row of MedVLThinker's released layout holding ``record``: medvlt's columns less source,
    source_id, license, split, scores and meta, plus dataset_name and dataset_index."""
    row = to_row(record)
    kept = ("images", "question", "options", "answer_label", "answer", "reasoning", "hash")
    return {**{k: row[k] for k in kept}, "dataset_name": record.source, "dataset_index": index}


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "white").save(buffer, format="PNG")
    return buffer.getvalue()


def _record(**changes) -> Record:
    base = dict(
        question="Which chamber pumps into the aorta?",
        options={"A": "Right atrium", "B": "Left ventricle", "C": "Left atrium"},
        answer_label="B",
        answer="Left ventricle",
        source="demo",
        source_id="q1",
        images=[_png()],
        split="train",
        meta={"subject": "anatomy"},
    )
    base.update(changes)
    return Record(**base)


def test_valid_record_has_no_problems():
    assert validate_record(_record()) == []


def test_every_problem_is_reported_not_just_the_first():
    bad = _record(question="  ", options={"A": "only"}, answer_label="C", images=[b"not an image"])
    codes = [p.code for p in validate_record(bad)]
    assert codes == ["empty-question", "too-few-options", "label-not-in-options", "undecodable-image"]


def test_answer_must_equal_the_labelled_option():
    problems = validate_record(_record(answer="Right atrium"))
    assert [p.code for p in problems] == ["answer-mismatch"]
    assert "Right atrium" in problems[0].message and "Left ventricle" in problems[0].message
    # whitespace and case differences are not a mismatch
    assert validate_record(_record(answer=" left  VENTRICLE ")) == []


def test_option_letters_and_limits():
    eleven = {chr(65 + i): f"o{i}" for i in range(11)}
    codes = [p.code for p in validate_record(_record(options=eleven, answer_label="A", answer="o0"))]
    assert "too-many-options" in codes
    ten = {chr(65 + i): f"o{i}" for i in range(10)}
    assert validate_record(_record(options=ten, answer_label="J", answer="o9")) == []
    skipped = {"A": "x", "C": "y"}
    codes = [p.code for p in validate_record(_record(options=skipped, answer_label="A", answer="x"))]
    assert codes == ["bad-option-letters"]
    codes = [
        p.code for p in validate_record(_record(options={"A": "x", "B": " "}, answer_label="A", answer="x"))
    ]
    assert codes == ["empty-option"]


def test_medvlthinker_round_trip():
    record = _record(reasoning="The left ventricle pumps into the aorta.")
    row = medvlthinker_row(record, index=7)
    assert set(row) == {
        "images", "question", "options", "answer_label", "answer", "reasoning", "dataset_name",
        "dataset_index", "hash",
    }  # fmt: skip
    assert json.loads(row["options"]) == record.options
    assert row["dataset_name"] == "demo" and row["dataset_index"] == 7
    assert row["hash"] == record_hash(record.question, record.answer) == row["hash"][:16]
    assert len(row["hash"]) == 16
    back = from_medvlthinker(row, split="train")
    assert (back.question, back.options, back.answer_label, back.answer, back.reasoning) == (
        record.question, record.options, record.answer_label, record.answer, record.reasoning,
    )  # fmt: skip
    assert back.images == record.images
    assert back.source == "demo" and back.source_id == "7" and back.meta == {"hash": row["hash"]}


def test_medvlthinker_text_options_are_parsed():
    row = {"question": "Q?", "options": "A. yes\nB. no", "answer_label": "B", "answer": "no", "images": []}
    record = from_medvlthinker(row)
    assert record.options == {"A": "yes", "B": "no"}
    assert validate_record(record) == []


def test_own_row_round_trip():
    record = _record(pass_count=3, num_rollouts=16, difficulty=0.8125)
    back = from_row(to_row(record))
    assert back == record


def test_record_writer_shards_each_split_and_the_rows_read_back(tmp_path):
    from medvlt_data.parquet_io import RecordWriter, read_records

    writer = RecordWriter(tmp_path, shard_size=2)
    for i, split in enumerate("aabaa"):
        writer.write(_record(split=split, source_id=str(i)))
    files = writer.close()
    assert {k: [f.name for f in v] for k, v in files.items()} == {
        "a": ["a-00000-of-00002.parquet", "a-00001-of-00002.parquet"], "b": ["b-00000-of-00001.parquet"]
    }  # fmt: skip
    assert writer.counts == {"a": 4, "b": 1}
    assert [r.source_id for r in read_records(tmp_path)] == ["0", "1", "3", "4", "2"]
    assert next(read_records(tmp_path)) == _record(split="a", source_id="0")
