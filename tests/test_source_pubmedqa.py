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


def test_real_files_counts_and_m1_halves():
    """The real PQA-L: 1000 records, split into m1's halves (UCSC-VLAA/m1 src/collect_data/pubmedqa.py:93-96:
    datasets' train_test_split(test_size=0.5, seed=0, shuffle=True) over the rows in order)."""
    import datasets

    path = realdata("pubmedqa")
    items = list(get_source("pubmedqa").read(path=path))
    records = [i for i in items if not isinstance(i, Rejected)]
    assert len(items) == 1000 and len(records) == 1000
    assert Counter(r.split for r in records) == {"train": 500, "test": 500}
    assert Counter(r.answer for r in records) == {"yes": 552, "no": 338, "maybe": 110}
    pmids = list(json.loads(realdata("pubmedqa", "ori_pqal.json").read_text()))
    halves = datasets.Dataset.from_dict({"pmid": pmids}).train_test_split(test_size=0.5, seed=0, shuffle=True)
    assert {r.source_id for r in records if r.split == "train"} == set(halves["train"]["pmid"])
    assert {r.source_id for r in records if r.split == "test"} == set(halves["test"]["pmid"])
    # m1's halves are not the official split: the official test PMIDs fall on both sides
    truth = json.loads(realdata("pubmedqa", "test_ground_truth.json").read_text())
    official = {r.source_id for r in records if r.meta["official_test"]}
    assert official == set(truth)
    assert len(official & set(halves["test"]["pmid"])) == 262
    assert len(official & set(halves["train"]["pmid"])) == 238
    assert all(r.options == OPTIONS and r.license == "MIT" for r in records)
    assert all(r.question.startswith("Context: ") for r in records)
    first = records[0]
    assert (first.source_id, first.split, first.answer_label, first.answer) == (
        "21645374",
        "train",
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
    assert [r.source_id for r in only_test] == [r.source_id for r in records if r.split == "test"]


def test_real_files_official_scheme_is_the_ground_truth_split():
    source = get_source("pubmedqa", "official")
    records = [i for i in source.read(path=realdata("pubmedqa")) if not isinstance(i, Rejected)]
    truth = json.loads(realdata("pubmedqa", "test_ground_truth.json").read_text())
    assert Counter(r.split for r in records) == {"train": 500, "test": 500}
    assert {r.source_id: r.answer for r in records if r.split == "test"} == truth
    only_test = list(source.read(path=realdata("pubmedqa"), split="test"))
    assert len(only_test) == 500 and {r.source_id for r in only_test} == set(truth)


def test_local_without_ground_truth_gets_m1_halves(tmp_path):
    data = {
        "101": _entry("Does A help?", ["A was given.", "B improved."], ["METHODS", "RESULTS"], "yes"),
        "102": _entry("Does C help?", ["C was given.", "Nothing changed."], ["METHODS"], "No "),
    }
    (tmp_path / "ori_pqal.json").write_text(json.dumps(data))
    items = list(get_source("pubmedqa").read(path=tmp_path))
    # train_test_split(test_size=0.5, seed=0) of two rows puts row 0 in test, row 1 in train
    assert [(r.source_id, r.split, r.answer_label, r.answer) for r in items] == [
        ("101", "test", "A", "yes"),
        ("102", "train", "B", "No"),
    ]
    assert items[0].question == "Context: METHODS: A was given.\nRESULTS: B improved.\n\nDoes A help?"
    # labels that do not align with the contexts are left out
    assert items[1].question == "Context: C was given.\nNothing changed.\n\nDoes C help?"
    assert items[0].meta == {"file": "ori_pqal.json", "original_question": "Does A help?",
                             "long_answer": "Conclusion for Does A help?", "meshes": ["Humans"],
                             "year": "2020"}  # fmt: skip
    with pytest.raises(SourceError, match=r"official split scheme needs test_ground_truth\.json"):
        list(get_source("pubmedqa", "official").read(path=tmp_path, split="test"))
    with pytest.raises(SourceError, match="unknown split scheme 'random'; known: m1, official"):
        get_source("pubmedqa", "random")
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
    items = list(get_source("pubmedqa", "official").read(path=tmp_path))
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
    # the m1 scheme checks the ground truth as well, and splits by position (train: rows 0, 1 and 5)
    m1 = list(get_source("pubmedqa").read(path=tmp_path))
    assert [(i.ref if isinstance(i, Rejected) else i.source_id, i.split) for i in m1] == [
        ("201", "train"), ("202", "train"), ("203", "test"), ("204", "test"), ("205", "test"),
        ("206", "train"), ("207", "test"),
    ]  # fmt: skip
    assert m1[0].meta["official_test"] is True and isinstance(m1[4], Rejected)


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
    # m1's halves of four rows by position: train 1 and 3, test 0 and 2
    assert [(r.source_id, r.split, r.answer_label, r.answer) for r in records] == [
        ("301", "test", "A", "yes"),
        ("302", "train", "C", "maybe"),
    ]
    assert records[0].question == "Context: METHODS: A was given.\nRESULTS: B improved.\n\nDoes A help?"
    assert records[0].options == OPTIONS
    assert records[0].meta == {"file": str(repo), "original_question": "Does A help?",
                               "long_answer": "So: yes.", "meshes": ["Humans", "Adult"]}  # fmt: skip
    rejected = [i for i in items if isinstance(i, Rejected)]
    assert [(r.ref, r.reason, r.split) for r in rejected] == [
        ("303", "unknown-answer", "test"), ("304", "no-context", "train"),
    ]  # fmt: skip
    assert f"{repo} [train] row 2 (PMID 303)" in rejected[0].detail
    train = list(get_source("pubmedqa").read(hub=str(repo), split="train"))
    assert [i.ref if isinstance(i, Rejected) else i.source_id for i in train] == ["302", "304"]
    with pytest.raises(SourceError, match="official split scheme needs the local layout"):
        list(get_source("pubmedqa", "official").read(hub=str(repo)))


def test_demo_files_read(tmp_path):
    root = demo.write(tmp_path)
    items = list(get_source("pubmedqa").read(path=root))
    records = [i for i in items if not isinstance(i, Rejected)]
    rejected = [i for i in items if isinstance(i, Rejected)]
    assert len(items) == 30 and len(records) == 28
    assert Counter(r.split for r in records) == {"train": 15, "test": 13}  # m1's halves of 30 rows
    assert Counter(r.answer for r in records) == {"yes": 12, "no": 11, "maybe": 5}
    first = records[0]
    assert first.question.endswith("\n\nWhich organ secretes insulin: is it Pancreas?")
    assert first.question.startswith("Context: BACKGROUND: ") and first.answer == "yes"
    assert sorted((r.reason, r.ref) for r in rejected) == [
        ("label-mismatch", "90000029"),
        ("unknown-answer", "90000003"),
    ]
