"""VQA-RAD adapter: the real MEVF test files, the Hub layout, and broken images."""

from __future__ import annotations

import io
import json
from collections import Counter

import pytest
from PIL import Image

from medvlt_data.sources import Rejected, get_source
from medvlt_data.sources.base import SourceError
from tests.conftest import realdata


def _png(color=(200, 10, 10)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), color).save(buffer, format="PNG")
    return buffer.getvalue()


def test_real_test_split_counts():
    items = list(get_source("vqa_rad").read(path=realdata("vqa_rad"), split="test"))
    assert len(items) == 451
    records = [i for i in items if not isinstance(i, Rejected)]
    rejected = [i for i in items if isinstance(i, Rejected)]
    raw = json.loads(realdata("vqa_rad", "testset.json").read_text())
    closed = {str(r["qid"]) for r in raw if r["answer_type"].strip() == "CLOSED"}
    assert len(closed) == 272
    # every closed question is converted or rejected with a reason; open ones are open-ended
    closed_rejects = [r for r in rejected if r.ref in closed]
    assert len(records) + len(closed_rejects) == 272
    assert {r.source_id for r in records} <= closed
    assert all(r.reason == "open-ended" for r in rejected if r.ref not in closed)
    assert [(r.reason, r.ref) for r in closed_rejects] == [("closed-no-options", closed_rejects[0].ref)]
    assert "'one'" in closed_rejects[0].detail  # "Are there multiple or just 1 metastatic focus?"
    assert len(rejected) - len(closed_rejects) == 179
    yes_no = sum(
        1 for r in raw if r["answer_type"].strip() == "CLOSED" and r["answer"].lower() in ("yes", "no")
    )
    assert yes_no == 251
    assert sum(1 for r in records if list(r.options.values()) == ["Yes", "No"]) == 251
    assert len(records) == 271  # only "multiple or just 1 ... focus?" -> "one" fails the rule
    assert all(len(r.images) == 1 and r.images[0][:2] == b"\xff\xd8" for r in records)
    assert Counter(r.split for r in records) == {"test": 271}


def test_local_missing_and_corrupt_images(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "ok.png").write_bytes(_png())
    (tmp_path / "images" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    rows = [
        {"qid": 1, "image_name": "ok.png", "question": "Is it red?", "answer": "Yes", "answer_type": "CLOSED "},
        {"qid": 2, "image_name": "gone.png", "question": "Is it red?", "answer": "Yes", "answer_type": "CLOSED"},
        {"qid": 3, "image_name": "bad.png", "question": "Is it red?", "answer": "no", "answer_type": "CLOSED"},
        {"qid": 4, "image_name": "ok.png", "question": "What color?", "answer": "red", "answer_type": "OPEN"},
    ]  # fmt: skip
    (tmp_path / "testset.json").write_text(json.dumps(rows))
    items = list(get_source("vqa_rad").read(path=tmp_path))
    by_ref = {(i.ref if isinstance(i, Rejected) else i.source_id): i for i in items}
    assert len(items) == 4
    assert by_ref["1"].options == {"A": "Yes", "B": "No"} and by_ref["1"].answer_label == "A"
    assert by_ref["2"].reason == "missing-image" and "gone.png" in by_ref["2"].detail
    assert by_ref["3"].reason == "undecodable-image"
    assert by_ref["4"].reason == "open-ended"


def test_a_file_that_is_not_a_list_is_refused_naming_it(tmp_path):
    # Before the shared loader an object was iterated key by key: every key a "malformed-row".
    (tmp_path / "images").mkdir()
    (tmp_path / "testset.json").write_text(json.dumps({"qid": 1, "question": "Is it red?"}))
    with pytest.raises(SourceError, match=r"vqa_rad: .*testset.json holds a dict, not a list of questions"):
        list(get_source("vqa_rad").read(path=tmp_path))


def test_hub_layout(hub_repo):
    import datasets

    features = datasets.Features(
        {"image": datasets.Image(), "question": datasets.Value("string"), "answer": datasets.Value("string")}
    )
    image = {"bytes": _png(), "path": None}
    rows = [
        {"image": image, "question": "Is the lesion on the left or right?", "answer": "right"},
        {"image": image, "question": "Is there a mass?", "answer": "no"},
        {"image": image, "question": "What organ is this?", "answer": "liver"},
    ]
    repo = hub_repo({"test": rows}, features=features)
    items = list(get_source("vqa_rad").read(hub=str(repo)))
    records = [i for i in items if not isinstance(i, Rejected)]
    assert [(r.options, r.answer_label, r.answer) for r in records] == [
        ({"A": "Left", "B": "Right"}, "B", "Right"),
        ({"A": "Yes", "B": "No"}, "B", "No"),
    ]
    assert records[0].images[0] == image["bytes"]
    assert [i.reason for i in items if isinstance(i, Rejected)] == ["open-ended"]
