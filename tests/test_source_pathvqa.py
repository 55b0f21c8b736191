"""PathVQA adapter: the real question files (exact counts), the per-image layout, the Hub layout."""

from __future__ import annotations

import io
import json
from collections import Counter

import pytest
from PIL import Image

from medvlt_data.closed_vqa import closed_to_choices
from medvlt_data.demo import pathvqa as pathvqa_demo
from medvlt_data.sources import Rejected, SourceError, get_source
from tests.conftest import realdata


def _png(color=(200, 100, 150)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), color).save(buffer, format="PNG")
    return buffer.getvalue()


def _entry(img_id, *pairs):
    return {
        "img_id": img_id,
        "labelf": {"pvqa": [{answer: 1} for _, answer in pairs]},
        "sentf": {"pvqa": [question for question, _ in pairs]},
    }


def _by_ref(items):
    return {(i.ref if isinstance(i, Rejected) else i.source_id): i for i in items}


# (split, records, open-ended, duplicates) measured on the real question files; every record is yes/no.
REAL_COUNTS = {
    "train": (19755, 9751, 9903, 101),
    "validation": (6279, 3125, 3134, 20),
    "test": (6761, 3362, 3357, 42),
}


@pytest.mark.parametrize("split", list(REAL_COUNTS))
def test_real_question_files_exact_counts(split):
    folder = realdata("pathvqa")
    questions, records, open_ended, duplicates = REAL_COUNTS[split]
    items = list(get_source("pathvqa").read(path=folder, split=split))
    assert len(items) == questions
    recs = [i for i in items if not isinstance(i, Rejected)]
    reasons = Counter(i.reason for i in items if isinstance(i, Rejected))
    assert reasons == {"open-ended": open_ended, "duplicate": duplicates}
    assert len(recs) == records
    # unique (image, question, answer) = records + open-ended; no "X or Y" question converts
    assert all(list(r.options.values()) == ["Yes", "No"] for r in recs)
    assert all(r.images == [] and r.meta["image_missing"] is True for r in recs)
    assert {r.split for r in recs} == {split}
    assert len({r.source_id for r in recs}) == records


def test_real_test_split_contents():
    folder = realdata("pathvqa")
    raw = json.loads((folder / "pvqa_test.json").read_text())
    assert len(raw) == 991 and sum(len(e["sentf"]["pvqa"]) for e in raw) == 6761
    unique = {
        (e["img_id"], q, next(iter(a)))
        for e in raw
        for q, a in zip(e["sentf"]["pvqa"], e["labelf"]["pvqa"], strict=True)
    }
    assert len(unique) == 6719
    assert sum(a in ("yes", "no") for _, _, a in unique) == 3362
    # questions naming alternatives ("X or Y") whose answer is not yes/no: the rule converts none
    or_questions = [(q, a) for _, q, a in unique if " or " in q and a not in ("yes", "no")]
    assert len(or_questions) == 7 and all(closed_to_choices(q, a) is None for q, a in or_questions)

    by_ref = _by_ref(get_source("pathvqa").read(path=folder / "pvqa_test.json"))
    record = by_ref["test_0001-q1"]
    assert record.question.startswith("Is squamous cell carcinoma composed of nests of malignant cells")
    assert (record.options, record.answer_label, record.answer) == ({"A": "Yes", "B": "No"}, "A", "Yes")
    assert record.meta["image_id"] == "test_0001" and record.meta["question_index"] == 1
    assert record.license == "MIT" and record.meta["file"].endswith("pvqa_test.json")
    assert by_ref["test_0001-q0"].reason == "open-ended"
    assert "'squamous cell carcinoma'" in by_ref["test_0001-q0"].detail
    duplicate = by_ref["test_0225-q16"]
    assert duplicate.reason == "duplicate"
    assert (
        "pvqa_test.json (test_0225-q16): same image, question and answer as test_0225-q2" in duplicate.detail
    )


def test_local_layout_with_images(tmp_path):
    (tmp_path / "images" / "test").mkdir(parents=True)
    (tmp_path / "images" / "test" / "test_0000.jpg").write_bytes(_png())
    (tmp_path / "images" / "test_0001.png").write_bytes(_png((0, 0, 255)))
    (tmp_path / "images" / "test" / "test_0003.jpg").write_bytes(b"\xff\xd8\xff\xe0 broken")
    entries = [
        _entry("test_0000", ("Is this stained with eosin?", "yes"), ("What is shown?", "a granuloma"),
               ("Is the nucleus central or peripheral?", "peripheral"), ("Is this stained with eosin?", "yes")),
        _entry("test_0001", ("Is there necrosis?", "no")),
        _entry("test_0002", ("Is there fibrosis?", "yes"), ("Where is it?", "left")),
        _entry("test_0003", ("Is there fibrosis?", "no")),
    ]  # fmt: skip
    (tmp_path / "pvqa_test.json").write_text(json.dumps(entries))
    items = list(get_source("pathvqa").read(path=tmp_path))
    assert len(items) == 8
    by_ref = _by_ref(items)
    assert by_ref["test_0000-q0"].images == [_png()] and by_ref["test_0000-q0"].answer_label == "A"
    assert "image_missing" not in by_ref["test_0000-q0"].meta
    assert by_ref["test_0000-q1"].reason == "open-ended"
    nucleus = by_ref["test_0000-q2"]
    assert (nucleus.options, nucleus.answer_label, nucleus.answer) == (
        {"A": "Central", "B": "Peripheral"}, "B", "Peripheral",
    )  # fmt: skip
    assert by_ref["test_0000-q3"].reason == "duplicate" and "as test_0000-q0" in by_ref["test_0000-q3"].detail
    assert by_ref["test_0001-q0"].images == [_png((0, 0, 255))] and by_ref["test_0001-q0"].answer_label == "B"
    missing = by_ref["test_0002-q0"]
    assert missing.reason == "missing-image"
    assert "pvqa_test.json (test_0002-q0)" in missing.detail and "test_0002.jpg" in missing.detail
    assert by_ref["test_0002-q1"].reason == "open-ended"  # open questions need no image
    assert by_ref["test_0003-q0"].reason == "undecodable-image"


def test_local_layout_without_images_folder_marks_records(tmp_path):
    (tmp_path / "pvqa_val.json").write_text(json.dumps([_entry("val_0000", ("Is there necrosis?", "yes"))]))
    (tmp_path / "pvqa_train.json").write_text(json.dumps([_entry("train_0000", ("Is it benign?", "no"))]))
    items = list(get_source("pathvqa").read(path=tmp_path, split="val"))
    assert [(i.source_id, i.split, i.images, i.meta["image_missing"]) for i in items] == [
        ("val_0000-q0", "validation", [], True)
    ]
    assert [i.split for i in get_source("pathvqa").read(path=tmp_path)] == ["train", "validation"]
    with pytest.raises(SourceError, match="no data file"):
        list(get_source("pathvqa").read(path=tmp_path, split="test"))


def test_malformed_entries(tmp_path):
    entries = [
        "not an object",
        {"img_id": "train_0001", "sentf": {"pvqa": ["Is it red?"]}},
        {"img_id": "train_0004", "labelf": {"pvqa": [{"yes": 1}]}},
        _entry("train_0002", ("Is it red?", "yes"), ("Is it blue?", "no")),
        {"img_id": "train_0003", "sentf": {"pvqa": ["Is it red?", "Is it blue?", "Is it round?"]},
         "labelf": {"pvqa": [{}, {"yes": 1, "no": 1}, {"yes": 1}]}},
    ]  # fmt: skip
    entries[3]["labelf"]["pvqa"].pop()
    (tmp_path / "pvqa_train.json").write_text(json.dumps(entries))
    items = list(get_source("pathvqa").read(path=tmp_path))
    rejected = [(i.ref, i.reason) for i in items if isinstance(i, Rejected)]
    assert rejected == [
        ("entry 0", "malformed-row"), ("train_0001-q0", "no-answer"), ("train_0004", "malformed-row"),
        ("train_0002-q0", "label-mismatch"), ("train_0002-q1", "label-mismatch"),
        ("train_0003-q0", "no-answer"), ("train_0003-q1", "ambiguous-answer"),
    ]  # fmt: skip
    assert [(i.source_id, i.answer) for i in items if not isinstance(i, Rejected)] == [
        ("train_0003-q2", "Yes")
    ]
    assert "pvqa_train.json (train_0001-q0): no labelf.pvqa list" in items[1].detail
    assert "pvqa_train.json (train_0004): expected img_id, sentf.pvqa" in items[2].detail
    assert "has 2 questions but 1 answers" in items[3].detail
    (tmp_path / "pvqa_train.json").write_text(json.dumps(entries)[:-30])
    with pytest.raises(SourceError, match=r"pvqa_train\.json: invalid JSON"):
        list(get_source("pathvqa").read(path=tmp_path))


def test_hub_layout(hub_repo):
    import datasets

    features = datasets.Features(
        {"image": datasets.Image(), "question": datasets.Value("string"), "answer": datasets.Value("string")}
    )
    one, two = {"bytes": _png(), "path": None}, {"bytes": _png((9, 9, 9)), "path": None}
    rows = [
        {"image": one, "question": "Is there necrosis?", "answer": "yes"},
        {"image": one, "question": "Is the infiltrate acute or chronic?", "answer": "chronic"},
        {"image": one, "question": "What is present?", "answer": "necrosis"},
        {"image": one, "question": "Is there necrosis?", "answer": "yes"},
        {"image": two, "question": "Is there necrosis?", "answer": "yes"},
    ]
    repo = hub_repo({"train": rows[:1], "validation": rows[:1], "test": rows}, features=features)
    items = list(get_source("pathvqa").read(hub=str(repo)))
    assert Counter(i.split for i in items) == {"train": 1, "validation": 1, "test": 5}
    test = _by_ref(i for i in items if i.split == "test")
    assert (test["test-00000"].answer_label, test["test-00000"].images) == ("A", [_png()])
    chronic = test["test-00001"]
    assert (chronic.options, chronic.answer_label) == ({"A": "Acute", "B": "Chronic"}, "B")
    assert test["test-00002"].reason == "open-ended"
    assert test["test-00003"].reason == "duplicate" and "row 3: same image" in test["test-00003"].detail
    assert "as test-00000" in test["test-00003"].detail
    assert test["test-00004"].images == [_png((9, 9, 9))]  # same question, other image: kept
    only = list(get_source("pathvqa").read(hub=str(repo), split="val"))
    assert [(i.source_id, i.split) for i in only] == [("validation-00000", "validation")]


def test_demo_corpus_reads(tmp_path):
    items = list(get_source("pathvqa").read(path=pathvqa_demo.write(tmp_path)))
    records = [i for i in items if not isinstance(i, Rejected)]
    rejected = [i for i in items if isinstance(i, Rejected)]
    assert len(records) == 24
    assert Counter(r.split for r in records) == {"train": 16, "validation": 4, "test": 4}
    assert all(len(r.images) == 1 and r.images[0][:2] == b"\xff\xd8" for r in records)
    assert sum(list(r.options.values()) == ["Round", "Square"] for r in records) == 6
    assert Counter(r.reason for r in rejected) == {"open-ended": 6, "duplicate": 1, "missing-image": 1}
    missing = next(r for r in rejected if r.reason == "missing-image")
    assert missing.ref == "test_0099-q0" and "pvqa_test.json" in missing.detail
