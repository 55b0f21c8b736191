"""HEAD-QA adapter: the Hub layout (with and without the en/es configs), the release JSON layout,
broken rows, and the demo writer."""

from __future__ import annotations

import io
import json
from collections import Counter

import pytest
from PIL import Image

from medvlt_data.sources import Rejected, SourceError, get_source
from tests import hub_server

hub = hub_server.hub  # the loopback Hub fixture


def _png(color=(10, 120, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (24, 20), color).save(buffer, format="PNG")
    return buffer.getvalue()


def _features():
    import datasets

    text, integer = datasets.Value("string"), datasets.Value("int32")
    return datasets.Features({
        "name": text, "year": text, "category": text, "qid": integer, "qtext": text, "ra": integer,
        "image": datasets.Image(), "answers": [{"aid": integer, "atext": text}],
    })  # fmt: skip


def _row(qid, qtext, answers, ra, image=None, name="Cuaderno_2013_1_B"):
    return {"name": name, "year": "2013", "category": "biology", "qid": qid, "qtext": qtext, "ra": ra,
            "image": image, "answers": [{"aid": a, "atext": t} for a, t in answers]}  # fmt: skip


def _split(items):
    records = [i for i in items if not isinstance(i, Rejected)]
    return records, [i for i in items if isinstance(i, Rejected)]


def test_hub_layout_without_configs(hub_repo):
    png = _png()
    rows = [
        # answers stored out of aid order: options follow the aids, the label follows ra's position
        _row(1, "Which organ makes bile?", [(3, "Spleen"), (1, "Liver"), (2, "Pancreas"), (4, "Colon")], 1),
        _row(2, "Which structure is marked?", [(1, "Aorta"), (2, "Trachea"), (3, "Esophagus"),
                                               (4, "Thymus"), (5, "Heart")], 5, image={"bytes": png, "path": None}),
        _row(3, "Which ion?", [(1, "Na"), (2, "K")], 4),
        _row(4, "No answers here?", [], 1),
    ]  # fmt: skip
    test = [_row(7, "Which vitamin clots blood?", [(1, "K"), (2, "C"), (3, "D"), (4, "A")], 1, name="Exam_T")]
    repo = hub_repo({"train": rows, "test": test}, features=_features())
    items = list(get_source("headqa").read(hub=str(repo)))
    assert len(items) == 5
    records, rejected = _split(items)
    by_id = {r.source_id: r for r in records}
    assert set(by_id) == {"Cuaderno_2013_1_B-1", "Cuaderno_2013_1_B-2", "Exam_T-7"}
    first = by_id["Cuaderno_2013_1_B-1"]
    assert first.options == {"A": "Liver", "B": "Pancreas", "C": "Spleen", "D": "Colon"}
    assert (first.answer_label, first.answer, first.split, first.images) == ("A", "Liver", "train", [])
    assert first.meta["exam"] == "Cuaderno_2013_1_B" and first.meta["category"] == "biology"
    assert first.license == "MIT"
    pictured = by_id["Cuaderno_2013_1_B-2"]
    assert (pictured.answer_label, pictured.answer, pictured.images) == ("E", "Heart", [png])
    assert by_id["Exam_T-7"].split == "test"
    reasons = {r.ref: (r.reason, r.detail) for r in rejected}
    assert reasons["Cuaderno_2013_1_B-3"][0] == "unknown-answer-letter"
    assert (
        "ra 4 is not among the aids [1, 2]" in reasons["Cuaderno_2013_1_B-3"][1]
        and "[train] row 2" in reasons["Cuaderno_2013_1_B-3"][1]
    )
    assert reasons["Cuaderno_2013_1_B-4"][0] == "empty-options"
    assert [r.source_id for r in get_source("headqa").read(hub=str(repo), split="test")] == ["Exam_T-7"]


def test_hub_layout_with_en_and_es_configs_reads_en(hub_repo):
    answers = [(1, "Uno"), (2, "Dos")]
    hub_repo({"train": [_row(1, "Which one is first?", [(1, "One"), (2, "Two")], 1)]},
             features=_features(), config="en")  # fmt: skip
    repo = hub_repo(
        {"train": [_row(1, "¿Cuál es el primero?", answers, 1)]}, features=_features(), config="es"
    )
    records = list(get_source("headqa").read(hub=str(repo)))
    assert [(r.question, r.answer) for r in records] == [("Which one is first?", "One")]


def test_hub_json_copy_with_image_paths(tmp_path):
    # A copy of a repo that stores JSON rows (no README, no configs): images are repo-relative paths.
    repo = tmp_path / "repo"
    (repo / "images").mkdir(parents=True)
    (repo / "images" / "q2.png").write_bytes(_png())
    rows = [
        _row("1", "Which cell makes antibodies?", [(1, "Plasma cell"), (2, "Neutrophil")], "1", image=""),
        _row("2", "What does the image show?", [(1, "A cell"), (2, "A virus")], "2", image="images/q2.png"),
        _row("3", "What does this image show?", [(1, "A cell"), (2, "A virus")], "2", image="images/gone.png"),
    ]  # fmt: skip
    (repo / "validation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    items = list(get_source("headqa").read(hub=str(repo)))
    records, rejected = _split(items)
    assert [(r.source_id, r.split, r.answer, len(r.images)) for r in records] == [
        ("Cuaderno_2013_1_B-1", "validation", "Plasma cell", 0),
        ("Cuaderno_2013_1_B-2", "validation", "A virus", 1),
    ]
    assert records[1].images[0] == (repo / "images" / "q2.png").read_bytes()
    assert [(r.reason, r.ref) for r in rejected] == [("missing-image", "Cuaderno_2013_1_B-3")]
    assert "images/gone.png" in rejected[0].detail


def test_hub_missing_columns_is_a_source_error(hub_repo):
    repo = hub_repo({"train": [{"question": "Q?", "answer": "A"}]})
    with pytest.raises(
        SourceError, match=r"lacks column.*qtext.*expected id, subject_name, topic_name, data"
    ):
        list(get_source("headqa").read(hub=str(repo)))


def _release(exams, language="en"):
    return {"version": "1.0", "language": language, "exams": exams}


def _question(qid, text, answers, ra, image=""):
    # the release stores qid and ra as strings
    return {"qid": str(qid), "qtext": text, "ra": str(ra), "image": image,
            "answers": [{"aid": a, "atext": t} for a, t in answers]}  # fmt: skip


def test_local_release_layout(tmp_path):
    (tmp_path / "HEAD_EN").mkdir()
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "ok.png").write_bytes(_png())
    (tmp_path / "images" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    four = [(1, "Liver"), (2, "Spleen"), (3, "Kidney"), (4, "Heart")]
    train = _release({
        "Cuaderno_2014_1_M": {"name": "Cuaderno_2014_1_M", "year": "2014", "category": "medicine", "data": [
            _question(1, "Which organ filters blood?", four, 3),
            _question(2, "Which organ is shown?", four, 1, image="images/ok.png"),
            _question(3, "Which organ is this?", four, 4, image="images/missing.png"),
            _question(4, "Which organ is broken?", four, 2, image="images/bad.png"),
            _question(5, "Which organ?", four, 9),
            _question(6, "Which organ, again?", [], 1),
            "not a question",
        ]},
    })  # fmt: skip
    dev = _release({"E2": {"name": "E2", "year": "2015", "category": "nursing",
                           "data": [_question(1, "Which organ pumps blood?", four, 4)]}})  # fmt: skip
    (tmp_path / "HEAD_EN" / "train_HEAD_EN.json").write_text(json.dumps(train))
    (tmp_path / "HEAD_EN" / "dev_HEAD_EN.json").write_text(json.dumps(dev))
    items = list(get_source("headqa").read(path=tmp_path))
    assert len(items) == 8
    records, rejected = _split(items)
    assert [(r.source_id, r.split, r.answer_label, r.answer) for r in records] == [
        ("E2-1", "validation", "D", "Heart"),
        ("Cuaderno_2014_1_M-1", "train", "C", "Kidney"),
        ("Cuaderno_2014_1_M-2", "train", "A", "Liver"),
    ]
    assert records[2].images == [(tmp_path / "images" / "ok.png").read_bytes()]
    assert records[1].meta["year"] == "2014" and records[1].meta["qid"] == "1"
    train_file = str(tmp_path / "HEAD_EN" / "train_HEAD_EN.json")
    reasons = {r.ref: r.reason for r in rejected}
    assert reasons == {
        "Cuaderno_2014_1_M-3": "missing-image", "Cuaderno_2014_1_M-4": "undecodable-image",
        "Cuaderno_2014_1_M-5": "unknown-answer-letter", "Cuaderno_2014_1_M-6": "empty-options",
        "Cuaderno_2014_1_M question 6": "malformed-row",
    }  # fmt: skip
    for reject in rejected:
        assert reject.file == train_file and reject.split == "train"
    missing = next(r for r in rejected if r.reason == "missing-image")
    assert "missing.png" in missing.detail and "question 2" in missing.detail
    only_dev = list(get_source("headqa").read(path=tmp_path, split="validation"))
    assert [r.source_id for r in only_dev] == ["E2-1"]


def test_local_file_names_and_languages(tmp_path):
    two = [(1, "Yes"), (2, "No")]
    exam = {
        "name": "X",
        "year": "2016",
        "category": "biology",
        "data": [_question(1, "Is DNA a helix?", two, 1)],
    }
    (tmp_path / "HEAD_EN.json").write_text(json.dumps(_release({"X": exam})))
    (tmp_path / "HEAD.json").write_text(json.dumps(_release({"X": exam}, language="es")))
    items = list(get_source("headqa").read(path=tmp_path))
    records, rejected = _split(items)
    # a name without a split word is train; the Spanish file is read but its rows are rejected
    assert [(r.source_id, r.split, r.meta["file"]) for r in records] == [
        ("X-1", "train", "HEAD_EN.json")  # a record's file is relative to the source's root
    ]
    assert [(r.reason, r.ref, r.file) for r in rejected] == [
        ("non-english", "X-1", str(tmp_path / "HEAD.json"))
    ]
    assert "'es'" in rejected[0].detail


def test_local_json_lines_rows_with_a_truncated_line(tmp_path):
    path = tmp_path / "test.jsonl"
    good = _row(5, "Which gland makes insulin?", [(1, "Pancreas"), (2, "Thyroid")], 1)
    path.write_text(json.dumps(good) + "\n" + '{"name": "Cuaderno", "qid": 6, "qtext": "Whi\n' + "[1, 2]\n")
    items = list(get_source("headqa").read(path=path))
    records, rejected = _split(items)
    assert [(r.source_id, r.split, r.answer) for r in records] == [
        ("Cuaderno_2013_1_B-5", "test", "Pancreas")
    ]
    assert [(r.reason, r.ref) for r in rejected] == [
        ("malformed-json", "line 2"),
        ("malformed-json", "line 3"),
    ]
    assert all(str(path) in r.detail for r in rejected)


def test_whole_source_errors(tmp_path):
    with pytest.raises(SourceError, match="unknown split"):
        list(get_source("headqa").read(path=tmp_path, split="dev2"))
    with pytest.raises(SourceError, match="no HEAD-QA file"):
        list(get_source("headqa").read(path=tmp_path))
    (tmp_path / "HEAD_EN.json").write_text('{"version": "1", "exams": {"X": ')
    with pytest.raises(SourceError, match="invalid JSON"):
        list(get_source("headqa").read(path=tmp_path))


def test_demo_corpus(tmp_path):
    from medvlt_data.demo import headqa

    items = list(get_source("headqa").read(path=headqa.write(tmp_path)))
    records, rejected = _split(items)
    assert len(records) >= 20
    assert Counter(r.split for r in records) == {"train": 24, "test": 7}
    assert sorted((r.reason, r.ref) for r in rejected) == [
        ("empty-options", "DEMO_2099_medicine-901"),
        ("unknown-answer-letter", "DEMO_2099_medicine-900"),
    ]
    pictured = [r for r in records if r.images]
    assert len(pictured) == 1 and pictured[0].images[0][:4] == b"\x89PNG"
    insulin = next(r for r in records if r.question == "Which organ secretes insulin?")
    assert (insulin.answer_label, insulin.answer) == ("B", "Pancreas")


def test_openlifescienceai_layout_through_the_loopback_hub(tmp_path, hub):
    """The real layout of openlifescienceai/headqa (tests/text_hub_layouts.py: write_headqa), read
    through the unmodified ``datasets`` client from the loopback Hub, as m1 reads it (headqa.py:21-23)."""
    from tests.text_hub_layouts import headqa_row, upload, write_headqa

    four = {"A": "Internal mitochondrial", "B": "External mitochondrial", "C": "Plasma.", "D": "Lysosomal"}
    five = {"A": "Aorta", "B": "Trachea", "C": "Esophagus", "D": "Thymus", "E": "Heart"}
    train = [
        headqa_row(1, "The cardiolipin phospholipid is abundant in the membrane:", four, "A"),
        headqa_row(2, "Which structure lies behind the trachea?", five, "C"),
        headqa_row(3, "Which answer is stated wrongly?", four, "B", answer="Plasma."),
        headqa_row(4, "Which letter is out of range?", four, "F"),
        {"id": 5, "subject_name": "biology", "topic_name": None,
         "data": {"Question": "No options?", "Options": {"A": None, "B": " "}, "Correct Option": "A",
                  "Correct Answer": ""}},
    ]  # fmt: skip
    test = [
        headqa_row(7, "Which vitamin is needed for clotting?", {"A": "K", "B": "C", "C": "D", "D": "A"}, "A")
    ]
    validation = [headqa_row(9, "Which organ makes bile?", {"A": "Spleen", "B": "Liver", "C": "Colon", "D": "Lung"},
                             "B", subject="nursing")]  # fmt: skip
    upload(write_headqa(tmp_path / "headqa", {"train": train, "validation": validation, "test": test}),
           "openlifescienceai/headqa")  # fmt: skip

    items = list(get_source("headqa").read(hub="openlifescienceai/headqa", split="train"))
    records, rejected = _split(items)
    assert len(items) == 5
    assert [(r.source_id, r.split, r.answer_label, r.answer) for r in records] == [
        ("1", "train", "A", "Internal mitochondrial"),
        ("2", "train", "C", "Esophagus"),
    ]
    first, second = records
    assert (
        first.options == four
        and first.question == "The cardiolipin phospholipid is abundant in the membrane:"
    )
    # four-option rows beside five-option ones: the JSON builder gives them E = null, which is left out
    assert list(first.options) == ["A", "B", "C", "D"] and second.options == five
    assert first.meta["subject_name"] == "medicine" and first.images == [] and first.license == "MIT"
    assert [(r.ref, r.reason) for r in rejected] == [
        ("3", "answer-mismatch"), ("4", "unknown-answer-letter"), ("5", "empty-options"),
    ]  # fmt: skip
    assert "Correct Answer 'Plasma.' is not option B ('External mitochondrial')" in rejected[0].detail
    assert "openlifescienceai/headqa [train] row 2 (3)" in rejected[0].detail
    every = list(get_source("headqa").read(hub="openlifescienceai/headqa"))
    assert Counter(i.split for i in every) == {"train": 5, "validation": 1, "test": 1}
    assert next(i for i in every if i.split == "validation").meta["subject_name"] == "nursing"


def test_openlifescienceai_layout_as_a_local_copy(tmp_path):
    from tests.text_hub_layouts import headqa_row, write_headqa

    rows = [
        headqa_row(11, "Which ion is mostly intracellular?", {"A": "Na", "B": "K", "C": "Cl", "D": "Ca"}, "B")
    ]
    folder = write_headqa(tmp_path / "copy", {"train": rows, "test": rows})
    records = list(get_source("headqa").read(path=folder))
    assert [(r.source_id, r.split, r.answer) for r in records] == [("11", "test", "K"), ("11", "train", "K")]
    broken = tmp_path / "broken" / "train.jsonl"
    broken.parent.mkdir()
    broken.write_text(
        json.dumps({"id": 1, "subject_name": "x", "topic_name": None, "data": {"Question": "Q?"}}) + "\n"
    )
    (reject,) = list(get_source("headqa").read(path=broken))
    assert reject.reason == "malformed-row"
    assert (
        f"{broken} line 1 (1): 'data' must be an object with Question, Options, Correct Answer"
        in reject.detail
    )
