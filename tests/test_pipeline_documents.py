"""Records as Documents and back: the shortcut row equals the row of the rebuilt record."""

from __future__ import annotations

from medvlt_data.pipeline.documents import document_to_record, document_to_row, record_to_document
from medvlt_data.pipeline.prepare import Normalize
from medvlt_data.schema import Record, to_row


def test_document_to_row_equals_to_row_of_the_record_after_normalizing():
    record = Record(
        question="  Which\u00a0vessel  is shown? ", options={"A": "Aorta ", "B": "Vena\tcava"}, answer_label="A",
        answer="Aorta ", images=[b"\x89PNG-bytes"], source="slake", source_id=7, license="CC-BY-4.0",
        split="test", meta={"file": "x.json", "benchmark": "slake"},
    )  # fmt: skip
    doc = record_to_document(record, (0, 3))
    doc = next(Normalize().run(iter([doc])))
    row = document_to_row(doc)
    assert row == to_row(document_to_record(doc))
    assert row["question"] == "Which vessel is shown?" and row["hash"] != to_row(record)["hash"]
