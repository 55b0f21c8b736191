"""MedMCQA adapter: the real local validation file, the Hub layout, malformed rows, the demo files."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from medvlt_data.demo import medmcqa as demo
from medvlt_data.sources import Rejected, SourceError, get_source
from tests import hub_server
from tests.conftest import realdata

hub = hub_server.hub  # the loopback Hub fixture


def _features(cop=None):
    import datasets

    text = datasets.Value("string")
    return datasets.Features({
        "id": text, "question": text, "opa": text, "opb": text, "opc": text, "opd": text,
        "cop": cop or datasets.ClassLabel(names=["a", "b", "c", "d"]), "choice_type": text, "exp": text,
        "subject_name": text, "topic_name": text,
    })  # fmt: skip


def _row(id, question, options, cop, exp="", subject="Anatomy", topic=None, choice_type="single"):
    a, b, c, d = options
    return {"id": id, "question": question, "opa": a, "opb": b, "opc": c, "opd": d, "cop": cop,
            "choice_type": choice_type, "exp": exp, "subject_name": subject, "topic_name": topic}  # fmt: skip


def test_real_local_file_counts():
    items = list(get_source("medmcqa").read(path=realdata("medmcqa")))
    records = [i for i in items if not isinstance(i, Rejected)]
    assert len(items) == 4183
    assert len(records) == 4183
    assert Counter(r.answer_label for r in records) == {"A": 1348, "B": 1085, "C": 925, "D": 825}
    assert len({r.source_id for r in records}) == 4183
    assert all(list(r.options) == ["A", "B", "C", "D"] for r in records)
    assert not any("Answer Choices" in r.question for r in records)
    assert sum(1 for r in records if "explanation" in r.meta) == 2206
    assert sum(1 for r in records if "topic_name" in r.meta) == 423
    assert all("label_rationale" not in r.meta and "subject_name" in r.meta for r in records)
    first, second = records[0], records[1]
    assert first.source_id == "45258d3d-b974-44dd-a161-c3fccbdadd88"
    assert first.question == "Which of the following is not true for myelinated nerve fibers:"
    assert first.answer_label == "A"
    assert first.answer == "Impulse through myelinated fibers is slower than non-myelinated fibers"
    assert (
        first.options["D"]
        == "Local anesthesia is effective only when the nerve is not covered by myelin sheath"
    )
    assert first.meta["subject_name"] == "Physiology" and "explanation" not in first.meta
    assert second.meta["explanation"].startswith("Ans-a. The oncotic pressure")
    assert first.license == "Apache-2.0"
    assert first.split == "medmcqa_input"  # the file name has no split word


def test_hub_layout(hub_repo):
    options = ("Aorta", "Vena cava", "Portal vein", "Carotid")
    train = [
        _row("u1", "Which vessel drains the gut to the liver?", options, 2, exp="Portal circulation.",
             topic="Abdomen"),
        _row("u2", "Which vessel leaves the left ventricle?", options, 0, choice_type="multi"),
        _row("u3", "Which vessel?", (None, "", " ", None), 1),
    ]  # fmt: skip
    test = [_row("u4", "Which vessel is in the neck?", options, -1, exp=None, subject=None)]
    features = _features()
    repo = hub_repo({"train": train, "validation": train[:1], "test": test}, features=features)
    items = list(get_source("medmcqa").read(hub=str(repo)))
    assert len(items) == 5
    records = [i for i in items if not isinstance(i, Rejected)]
    assert [(r.source_id, r.split, r.answer_label, r.answer) for r in records] == [
        ("u1", "train", "C", "Portal vein"),
        ("u2", "train", "A", "Aorta"),
        ("u1", "validation", "C", "Portal vein"),
    ]  # fmt: skip
    assert records[0].options == {"A": "Aorta", "B": "Vena cava", "C": "Portal vein", "D": "Carotid"}
    assert records[0].meta == {
        "file": str(repo), "row": 0, "explanation": "Portal circulation.", "subject_name": "Anatomy",
        "topic_name": "Abdomen", "choice_type": "single",
    }  # fmt: skip
    assert records[1].meta["choice_type"] == "multi"
    rejected = {(i.split, i.ref): i for i in items if isinstance(i, Rejected)}
    assert rejected[("train", "u3")].reason == "empty-options"
    assert "row 2 (u3)" in rejected[("train", "u3")].detail
    assert rejected[("test", "u4")].reason == "no-answer"
    assert "row 0 (u4)" in rejected[("test", "u4")].detail and "-1" in rejected[("test", "u4")].detail
    only_validation = list(get_source("medmcqa").read(hub=str(repo), split="validation"))
    assert [(r.source_id, r.split) for r in only_validation] == [("u1", "validation")]


def test_hub_plain_integer_cop(hub_repo):
    import datasets

    options = ("Aorta", "Vena cava", "Portal vein", "Carotid")
    rows = [
        _row("v1", "Which vessel is in the neck?", options, 3),
        _row("v2", "Which vessel?", options, 7),
        _row("v3", "Which vessel again?", options, None),
        {**_row("v4", "Which vessel once more?", options, 1), "opb": None},
        _row(None, "Which vessel has no id?", options, 1),
    ]
    repo = hub_repo({"test": rows}, features=_features(datasets.Value("int64")))
    items = list(get_source("medmcqa").read(hub=str(repo)))
    assert len(items) == 5
    assert (items[0].source_id, items[0].answer_label, items[0].answer) == ("v1", "D", "Carotid")
    assert (items[1].reason, items[1].ref) == ("unknown-answer-letter", "v2")
    assert "cop 7" in items[1].detail
    assert (items[2].reason, items[2].ref) == ("no-answer", "v3")
    assert (items[3].reason, items[3].ref) == ("empty-option", "v4")
    assert (items[4].source_id, items[4].answer) == ("test-00004", "Vena cava")


def test_malformed_lines_are_rejected_with_file_and_line(tmp_path):
    good = {"id": "q1", "question": "Q?\nAnswer Choices: (A) x (B) y (C) z (D) w", "label": ["D"],
            "label_rationale": "Because w.", "subject_name": "Anatomy", "topic_name": "Limbs"}  # fmt: skip
    path = tmp_path / "dev.jsonl"
    path.write_text(
        json.dumps(good) + "\n"
        + '{"id": "q2", "question": "trunc\n'
        + json.dumps({**good, "id": "q3", "label": ["E"]}) + "\n"
        + json.dumps({**good, "id": "q4", "question": "Q? no choices"}) + "\n"
        + json.dumps({**good, "id": "q5", "question": "Q?\nAnswer Choices: (A)  (B) y", "label": "B"}) + "\n"
    )  # fmt: skip
    items = list(get_source("medmcqa").read(path=tmp_path))
    assert len(items) == 5
    record = items[0]
    # the official download names its validation file dev.json; the file name gives the split
    assert (record.source_id, record.split, record.answer_label, record.answer) == ("q1", "dev", "D", "w")
    assert record.meta == {"file": path.name, "line": 1, "explanation": "Because w.",
                           "subject_name": "Anatomy", "topic_name": "Limbs"}  # fmt: skip
    reasons = {i.ref: i.reason for i in items if isinstance(i, Rejected)}
    assert reasons == {"line 2": "malformed-json", "q3": "unknown-answer-letter", "q4": "no-options",
                       "q5": "empty-option"}  # fmt: skip
    by_ref = {i.ref: i for i in items if isinstance(i, Rejected)}
    assert f"{path}:2" in by_ref["line 2"].detail
    assert f"{path}:3 (q3)" in by_ref["q3"].detail
    assert by_ref["q5"].file == str(path)


def test_missing_path_and_split_are_clear_errors(tmp_path):
    with pytest.raises(SourceError, match="path does not exist"):
        list(get_source("medmcqa").read(path=tmp_path / "nope"))
    with pytest.raises(SourceError, match=r"no \*\.jsonl file"):
        list(get_source("medmcqa").read(path=tmp_path))


def test_demo_files_read(tmp_path):
    root = demo.write(tmp_path)
    items = list(get_source("medmcqa").read(path=root))
    records = [i for i in items if not isinstance(i, Rejected)]
    rejected = [i for i in items if isinstance(i, Rejected)]
    # 30 general questions and, in train, the learnable demo's 120 drug-class questions with their traces
    assert len(records) == 150
    assert Counter(r.split for r in records) == {"train": 142, "validation": 8}
    rule = next(r for r in records if r.source_id == "demo-rule-000")
    assert (rule.answer_label, rule.answer) == ("A", "Beta blocker")
    assert rule.meta["explanation"] == "Darolol ends in -olol, so it is a beta blocker."
    assert records[0].question == "Which organ secretes insulin?" and records[0].answer == "Pancreas"
    assert records[1].meta["explanation"] == "Ans. c. Vitamin C"
    assert sorted((r.reason, r.ref) for r in rejected) == [
        ("malformed-json", "line 144"), ("unknown-answer-letter", "demo-mcqa-bad-label"),
    ]  # fmt: skip
    assert all(r.file == str(root / "train.jsonl") for r in rejected)


def test_real_hub_layout_through_the_loopback_hub(tmp_path, hub):
    """openlifescienceai/medmcqa: data/{train,validation,test}-*.parquet, cop an int64 0-3 (-1 in test);
    m1 medmcqa.py:21-37 loads split train and maps cop 0-3 to A-D."""
    from tests.text_hub_layouts import medmcqa_row, upload, write_medmcqa

    options = ["Vitamin A", "Vitamin B1", "Vitamin C", "Vitamin K"]
    splits = {"train": [medmcqa_row("u1", "Deficiency of which vitamin causes beriberi?", options, 1)],
              "validation": [medmcqa_row("u2", "Which vitamin is needed for clotting factors?", options, 3)],
              "test": [medmcqa_row("u3", "Which vitamin deficiency causes scurvy?", options, -1)]}  # fmt: skip
    upload(write_medmcqa(tmp_path / "medmcqa", splits), "openlifescienceai/medmcqa")
    items = list(get_source("medmcqa").read(hub="openlifescienceai/medmcqa"))
    by_split = {i.split: i for i in items}
    assert (by_split["train"].source_id, by_split["train"].answer_label, by_split["train"].answer) == (
        "u1", "B", "Vitamin B1",
    )  # fmt: skip
    assert (by_split["validation"].answer_label, by_split["validation"].answer) == ("D", "Vitamin K")
    assert (by_split["test"].reason, by_split["test"].ref) == ("no-answer", "u3")
