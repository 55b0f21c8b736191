"""PubMedQA adapter: the real PQA-L files, the Hub layout, malformed rows, the demo files."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from medvlt_data.demo import pubmedqa as demo
from medvlt_data.sources import Rejected, SourceError, get_source
from tests.conftest import realdata

OPTIONS = {"A": "yes", "B": "no", "C": "maybe"}


def _entry(question, contexts, labels, decision, year="2020"):
    return {"QUESTION": question, "CONTEXTS": contexts, "LABELS": labels, "MESHES": ["Humans"], "YEAR": year,
            "reasoning_required_pred": "yes", "reasoning_free_pred": "yes", "final_decision": decision,
            "LONG_ANSWER": f"Conclusion for {question}"}  # fmt: skip


def test_real_files_counts_and_test_split():
    items = list(get_source("pubmedqa").read(path=realdata("pubmedqa")))
    records = [i for i in items if not isinstance(i, Rejected)]
    assert len(items) == 1000
    assert len(records) == 1000
    assert Counter(r.split for r in records) == {"train": 500, "test": 500}
    assert Counter(r.answer for r in records) == {"yes": 552, "no": 338, "maybe": 110}
    truth = json.loads(realdata("pubmedqa", "test_ground_truth.json").read_text())
    test = {r.source_id: r.answer for r in records if r.split == "test"}
    assert test == truth
    assert all(r.options == OPTIONS and r.license == "MIT" for r in records)
    assert all(r.question.startswith("Context: ") for r in records)
    first = records[0]
    assert (first.source_id, first.split, first.answer_label, first.answer) == (
        "21645374",
        "test",
        "A",
        "yes",
    )
    assert first.question.startswith("Context: BACKGROUND: Programmed cell death (PCD) is the regulated")
    assert "\nRESULTS: The following paper elucidates" in first.question
    question = "Do mitochondria play a role in remodelling lace plant leaves during programmed cell death?"
    assert first.question.endswith(f"non-PCD cells.\n\n{question}")
    assert first.meta["original_question"].startswith("Do mitochondria play a role")
    assert first.meta["year"] == "2011"
    assert first.meta["meshes"][:2] == ["Alismataceae", "Apoptosis"]
    assert first.meta["long_answer"].startswith("Results depicted mitochondrial dynamics")
    assert sum(1 for r in records if "year" not in r.meta) == 58  # YEAR is null for 58 PMIDs
    only_test = list(get_source("pubmedqa").read(path=realdata("pubmedqa", "ori_pqal.json"), split="test"))
    assert len(only_test) == 500 and {r.source_id for r in only_test} == set(truth)


def test_local_without_ground_truth_is_all_train(tmp_path):
    data = {
        "101": _entry("Does A help?", ["A was given.", "B improved."], ["METHODS", "RESULTS"], "yes"),
        "102": _entry("Does C help?", ["C was given.", "Nothing changed."], ["METHODS"], "No "),
    }
    (tmp_path / "ori_pqal.json").write_text(json.dumps(data))
    items = list(get_source("pubmedqa").read(path=tmp_path))
    assert [(r.source_id, r.split, r.answer_label, r.answer) for r in items] == [
        ("101", "train", "A", "yes"),
        ("102", "train", "B", "No"),
    ]
    assert items[0].question == "Context: METHODS: A was given.\nRESULTS: B improved.\n\nDoes A help?"
    # labels that do not align with the contexts are left out
    assert items[1].question == "Context: C was given.\nNothing changed.\n\nDoes C help?"
    assert items[0].meta == {"file": str(tmp_path / "ori_pqal.json"), "original_question": "Does A help?",
                             "long_answer": "Conclusion for Does A help?", "meshes": ["Humans"],
                             "year": "2020"}  # fmt: skip
    with pytest.raises(SourceError, match=r"split 'test' needs test_ground_truth\.json"):
        list(get_source("pubmedqa").read(path=tmp_path, split="test"))
    with pytest.raises(SourceError, match="unknown split 'validation'"):
        list(get_source("pubmedqa").read(path=tmp_path, split="validation"))


def test_malformed_rows_are_rejected_with_file_and_pmid(tmp_path):
    data = {
        "201": _entry("Does A help?", ["A was given.", " "], ["METHODS", "RESULTS"], "maybe"),
        "202": _entry("Does B help?", ["B was given."], ["METHODS"], "probably"),
        "203": _entry("Does C help?", [], [], "yes"),
        "204": ["not", "an", "object"],
        "205": _entry("Does D help?", ["D was given."], ["METHODS"], "no"),
        "206": _entry("", ["E was given."], ["METHODS"], "no"),
        "207": _entry("Does F help?", ["F was given."], ["METHODS"], None),
    }
    path = tmp_path / "ori_pqal.json"
    path.write_text(json.dumps(data))
    (tmp_path / "test_ground_truth.json").write_text(json.dumps({"201": "maybe", "205": "yes", "999": "no"}))
    items = list(get_source("pubmedqa").read(path=tmp_path))
    assert len(items) == 7
    record = items[0]
    assert (record.source_id, record.split, record.answer_label) == ("201", "test", "C")
    assert record.question == "Context: METHODS: A was given.\n\nDoes A help?"  # blank section dropped
    rejected = {i.ref: i for i in items if isinstance(i, Rejected)}
    assert {ref: r.reason for ref, r in rejected.items()} == {
        "202": "unknown-answer", "203": "no-context", "204": "malformed-row", "205": "label-mismatch",
        "206": "empty-question", "207": "unknown-answer",
    }  # fmt: skip
    assert all(r.file == str(path) for r in rejected.values())
    assert f"{path} (PMID 202): final_decision 'probably'" in rejected["202"].detail
    assert f"{path} (PMID 203)" in rejected["203"].detail
    assert "'no' but test_ground_truth.json says 'yes'" in rejected["205"].detail
    assert rejected["205"].split == "test" and rejected["202"].split == "train"


def test_missing_or_broken_files_are_clear_errors(tmp_path):
    with pytest.raises(SourceError, match=r"no ori_pqal\.json"):
        list(get_source("pubmedqa").read(path=tmp_path))
    (tmp_path / "ori_pqal.json").write_text('{"1": {"QUESTION": "trunc')
    with pytest.raises(SourceError, match="invalid JSON"):
        list(get_source("pubmedqa").read(path=tmp_path))
    (tmp_path / "ori_pqal.json").write_text("[]")
    with pytest.raises(SourceError, match="keyed by PMID"):
        list(get_source("pubmedqa").read(path=tmp_path))


def _hub_features():
    import datasets

    text = datasets.Value("string")
    return datasets.Features({
        "pubid": datasets.Value("int32"), "question": text,
        "context": datasets.Sequence({"contexts": text, "labels": text, "meshes": text,
                                      "reasoning_required_pred": text, "reasoning_free_pred": text}),
        "long_answer": text, "final_decision": text,
    })  # fmt: skip


def _hub_row(pubid, question, contexts, labels, decision):
    context = {"contexts": contexts, "labels": labels, "meshes": ["Humans", "Adult"],
               "reasoning_required_pred": ["yes"], "reasoning_free_pred": ["yes"]}  # fmt: skip
    return {"pubid": pubid, "question": question, "context": context, "long_answer": f"So: {decision}.",
            "final_decision": decision}  # fmt: skip


def test_hub_layout(hub_repo):
    rows = [
        _hub_row(301, "Does A help?", ["A was given.", "B improved."], ["METHODS", "RESULTS"], "yes"),
        _hub_row(302, "Does B help?", ["B was given."], ["METHODS"], "maybe"),
        _hub_row(303, "Does C help?", ["C was given."], ["METHODS"], "unclear"),
        _hub_row(304, "Does D help?", [], [], "no"),
    ]
    repo = hub_repo({"train": rows}, features=_hub_features(), config="pqa_labeled")
    hub_repo({"train": rows[:1]}, features=_hub_features(), config="pqa_artificial")
    items = list(get_source("pubmedqa").read(hub=str(repo)))
    assert len(items) == 4
    records = [i for i in items if not isinstance(i, Rejected)]
    assert [(r.source_id, r.split, r.answer_label, r.answer) for r in records] == [
        ("301", "train", "A", "yes"),
        ("302", "train", "C", "maybe"),
    ]
    assert records[0].question == "Context: METHODS: A was given.\nRESULTS: B improved.\n\nDoes A help?"
    assert records[0].options == OPTIONS
    assert records[0].meta == {"file": str(repo), "original_question": "Does A help?",
                               "long_answer": "So: yes.", "meshes": ["Humans", "Adult"]}  # fmt: skip
    rejected = [i for i in items if isinstance(i, Rejected)]
    assert [(r.ref, r.reason) for r in rejected] == [("303", "unknown-answer"), ("304", "no-context")]
    assert f"{repo} [train] row 2 (PMID 303)" in rejected[0].detail


def test_demo_files_read(tmp_path):
    root = demo.write(tmp_path)
    items = list(get_source("pubmedqa").read(path=root))
    records = [i for i in items if not isinstance(i, Rejected)]
    rejected = [i for i in items if isinstance(i, Rejected)]
    assert len(items) == 30 and len(records) == 28
    assert Counter(r.split for r in records) == {"train": 19, "test": 9}
    assert Counter(r.answer for r in records) == {"yes": 12, "no": 11, "maybe": 5}
    first = records[0]
    assert first.question.endswith("\n\nWhich organ secretes insulin: is it Pancreas?")
    assert first.question.startswith("Context: BACKGROUND: ") and first.answer == "yes"
    assert sorted((r.reason, r.ref) for r in rejected) == [
        ("label-mismatch", "90000029"),
        ("unknown-answer", "90000003"),
    ]
