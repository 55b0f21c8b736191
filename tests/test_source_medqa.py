"""MedQA adapter: local embedded-choices layout (real file) and the Hub layout (written fixture)."""

from __future__ import annotations

import json

import pytest

from medvlt_data.sources import Rejected, SourceError, get_source
from tests import hub_server
from tests.conftest import realdata

hub = hub_server.hub  # the loopback Hub fixture


def test_real_local_file_counts():
    items = list(get_source("medqa").read(path=realdata("medqa")))
    records = [i for i in items if not isinstance(i, Rejected)]
    assert len(items) == 1273
    assert len(records) == 1273
    first = records[0]
    assert first.source_id == "test-00000"
    assert first.answer_label == "B"
    assert first.answer == "Tell the attending that he cannot fail to disclose this mistake"
    assert list(first.options) == ["A", "B", "C", "D"]
    assert "Answer Choices" not in first.question
    assert first.question.endswith(
        "Which of the following is the correct next action for the resident to take?"
    )
    assert first.license == "CC-BY-4.0"


def test_hub_layout(hub_repo):
    options = {"A": "Aorta", "B": "Vena cava", "C": "Portal vein", "D": "Carotid"}
    rows = [
        {"question": "Which vessel drains the gut?", "answer": "Portal vein", "options": options,
         "meta_info": "step1", "answer_idx": "C"},
        {"question": "Which vessel?", "answer": "Aorta", "options": options, "meta_info": "step1",
         "answer_idx": "Z"},
        {"question": "Which vessel again?", "answer": "Carotid", "options": options, "meta_info": "step2",
         "answer_idx": "A"},
    ]  # fmt: skip
    repo = hub_repo({"train": rows[:2], "test": rows[2:]})
    items = list(get_source("medqa").read(hub=str(repo)))
    assert len(items) == 3
    kept = [i for i in items if not isinstance(i, Rejected)]
    rejected = [i for i in items if isinstance(i, Rejected)]
    assert [(r.question, r.answer_label, r.answer, r.split) for r in kept] == [
        ("Which vessel drains the gut?", "C", "Portal vein", "train")
    ]
    assert kept[0].meta["meta_info"] == "step1"
    reasons = sorted(r.reason for r in rejected)
    assert reasons == ["answer-mismatch", "unknown-answer-letter"]
    mismatch = next(r for r in rejected if r.reason == "answer-mismatch")
    assert "Carotid" in mismatch.detail and "Aorta" in mismatch.detail
    only_test = list(get_source("medqa").read(hub=str(repo), split="test"))
    assert len(only_test) == 1


def test_malformed_lines_are_rejected_with_file_and_line(tmp_path):
    good = {"id": "q1", "question": "Q?\nAnswer Choices: (A) x (B) y", "label": ["A"]}
    path = tmp_path / "train.jsonl"
    path.write_text(
        json.dumps(good) + "\n"
        + '{"id": "q2", "question": "trunc\n'
        + json.dumps({"id": "q3", "question": "Q?\nAnswer Choices: (A) x (B) y", "label": ["E"]}) + "\n"
        + json.dumps({"id": "q4", "question": "Q? no choices", "label": ["A"]}) + "\n"
        + json.dumps({"id": "q5", "question": "Q?\nAnswer Choices: (A)  (B) y", "label": ["B"]}) + "\n"
    )  # fmt: skip
    items = list(get_source("medqa").read(path=tmp_path))
    assert len(items) == 5
    reasons = {i.ref: i.reason for i in items if isinstance(i, Rejected)}
    assert reasons == {"line 2": "malformed-json", "q3": "unknown-answer-letter", "q4": "no-options",
                       "q5": "empty-option"}  # fmt: skip
    for item in items:
        if isinstance(item, Rejected):
            assert str(path) in item.detail or item.file == str(path)


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(SourceError, match="path does not exist"):
        list(get_source("medqa").read(path=tmp_path / "nope"))
    with pytest.raises(SourceError, match=r"no \*\.jsonl file"):
        list(get_source("medqa").read(path=tmp_path))


def test_a_shared_read_skips_other_tasks_lines_unparsed_and_keeps_positions(tmp_path):
    from medvlt_data.sources.base import SKIPPED, Share

    lines = [
        json.dumps({"id": f"q{i}", "question": f"Q{i}?\nAnswer Choices: (A) x (B) y", "label": ["A"]})
        for i in range(5)
    ]
    lines.insert(2, "{not json")  # a broken line is still one item (a rejection) in its place
    (tmp_path / "train.jsonl").write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    source = get_source("medqa")
    full = list(source.read(path=tmp_path, validate=False))
    shares = [
        list(get_source("medqa").read(path=tmp_path, validate=False, share=Share(r, 2))) for r in (0, 1)
    ]
    assert len(full) == 6 and all(len(items) == 6 for items in shares)
    for position, item in enumerate(full):
        mine, other = shares[position % 2][position], shares[1 - position % 2][position]
        assert other is SKIPPED
        assert type(mine) is type(item) and getattr(mine, "source_id", None) == getattr(
            item, "source_id", None
        )
    with pytest.raises(SourceError, match="shared read needs a local layout"):
        list(get_source("pathvqa").read(path=tmp_path, share=Share(0, 2)))


def test_real_hub_file_names_through_the_loopback_hub(tmp_path, hub):
    """GBaker/MedQA-USMLE-4-options as the Hub holds it (commit 0fb93dd): phrases_no_exclude_train.jsonl
    and phrases_no_exclude_test.jsonl at the root, with metamap_phrases; m1 medqa.py:21-31 loads split
    train and reads options, question and answer_idx. The splits come from the file names."""
    from tests.text_hub_layouts import medqa_row, upload, write_medqa

    options = {"A": "Ampicillin", "B": "Ceftriaxone", "C": "Doxycycline", "D": "Nitrofurantoin"}
    train = [
        medqa_row("A 23-year-old pregnant woman has burning on urination. Which drug is best?", options, "D")
    ]
    test = [
        medqa_row(
            "A 4-year-old boy has a barking cough. What is the cause?", {**options, "A": "Parainfluenza"}, "A"
        )
    ]
    upload(write_medqa(tmp_path / "medqa", train, test), "GBaker/MedQA-USMLE-4-options")
    (record,) = list(get_source("medqa").read(hub="GBaker/MedQA-USMLE-4-options", split="train"))
    assert (record.source_id, record.split, record.answer_label, record.answer) == ("train-00000", "train", "D",
                                                                                    "Nitrofurantoin")  # fmt: skip
    assert record.options == options and record.meta["meta_info"] == "step1"
    (held_out,) = list(get_source("medqa").read(hub="GBaker/MedQA-USMLE-4-options", split="test"))
    assert (held_out.split, held_out.answer) == ("test", "Parainfluenza")
