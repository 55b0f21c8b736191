"""SLAKE adapter: the Slake1.0 layout (folder and zip), the Hub layout, a real image, broken rows."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections import Counter

import pytest
from PIL import Image

from medvlt_data.demo import slake as slake_demo
from medvlt_data.sources import Rejected, SourceError, get_source
from tests.conftest import realdata


def _png(color=(10, 200, 10)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), color).save(buffer, format="PNG")
    return buffer.getvalue()


def _row(qid, question, answer, *, lang="en", answer_type="CLOSED", img="xmlab1/source.jpg"):
    return {
        "img_id": int(img[5:].split("/")[0]) if img.startswith("xmlab") else 0, "img_name": img,
        "question": question, "answer": answer, "q_lang": lang, "location": "Lung", "modality": "X-Ray",
        "answer_type": answer_type, "base_type": "vqa", "content_type": "Organ",
        "triple": ["vhead", "_", "_"], "qid": qid,
    }  # fmt: skip


ROWS = [
    _row(1, "Is this a CT or an MRI image?", "MRI"),
    _row(2, "Does the picture contain the lung?", "Yes"),
    _row(3, "图片中包含肺吗?", "是", lang="zh"),
    _row(4, "Which organ is abnormal?", "Lung", answer_type="OPEN"),
    _row(5, "Which is bigger, the heart or the liver?", "Spleen"),
    _row(6, "Is the lung healthy?", "No", img="xmlab2/source.jpg"),
]


def _by_ref(items):
    return {(i.ref if isinstance(i, Rejected) else i.source_id): i for i in items}


def _write_local(root, rows, *, name="test.json"):
    (root / name).write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    return root


def _check_rows(items, file_name, *, missing_image=True):
    by_ref = _by_ref(items)
    assert len(items) == len(ROWS)
    mri = by_ref["1"]
    assert (mri.question, mri.options, mri.answer_label, mri.answer) == (
        "Is this a CT or an MRI image?", {"A": "CT", "B": "MRI"}, "B", "MRI",
    )  # fmt: skip
    assert mri.images == [_png()]
    assert mri.meta["img_name"] == "xmlab1/source.jpg" and mri.meta["image_modality"] == "X-Ray"
    assert mri.meta["original_answer"] == "MRI" and mri.license == "CC-BY-4.0"
    assert (by_ref["2"].options, by_ref["2"].answer_label) == ({"A": "Yes", "B": "No"}, "A")
    assert by_ref["3"].reason == "non-english" and "'zh'" in by_ref["3"].detail
    assert by_ref["4"].reason == "open-ended" and "OPEN" in by_ref["4"].detail
    # CLOSED, but "Spleen" is not one of the alternatives the question names: the paper's options
    # for such rows came from GPT-4o, so the row is counted apart from the OPEN ones
    assert by_ref["5"].reason == "closed-no-options" and "'Spleen'" in by_ref["5"].detail
    if missing_image:
        assert by_ref["6"].reason == "missing-image" and "xmlab2/source.jpg" in by_ref["6"].detail
    for ref in "3456"[: 4 if missing_image else 3]:
        assert file_name in by_ref[ref].detail and re.search(rf"\((qid )?{ref}\)", by_ref[ref].detail)


def test_local_layout_with_image_folder(tmp_path):
    (tmp_path / "imgs" / "xmlab1").mkdir(parents=True)
    (tmp_path / "imgs" / "xmlab1" / "source.jpg").write_bytes(_png())
    _write_local(tmp_path, ROWS)
    items = list(get_source("slake").read(path=tmp_path))
    _check_rows(items, "test.json")
    assert {i.split for i in items} == {"test"}


def test_local_layout_with_zip_and_validate_split(tmp_path):
    with zipfile.ZipFile(tmp_path / "imgs.zip", "w") as archive:
        archive.writestr("imgs/xmlab1/source.jpg", _png())
    _write_local(tmp_path, ROWS[:2], name="train.json")
    _write_local(tmp_path, ROWS[2:4], name="validate.json")
    items = list(get_source("slake").read(path=tmp_path))
    assert Counter(i.split for i in items) == {"train": 2, "validation": 2}
    assert [i.images for i in items[:2]] == [[_png()], [_png()]]
    for split in ("validation", "validate"):
        only = list(get_source("slake").read(path=tmp_path, split=split))
        assert [(i.ref, i.reason) for i in only] == [("3", "non-english"), ("4", "open-ended")]
    with pytest.raises(SourceError, match="no data file"):
        list(get_source("slake").read(path=tmp_path, split="test"))
    with pytest.raises(SourceError, match="unknown split"):
        list(get_source("slake").read(path=tmp_path, split="dev"))


def test_hub_layout_json_files_and_image_zip(tmp_path):
    # BoKelvin/SLAKE holds the JSON files themselves (split names from the file names) plus imgs.zip.
    repo = tmp_path / "hub"
    repo.mkdir()
    _write_local(repo, ROWS, name="test.json")
    _write_local(repo, [_row(7, "Is this an X-ray?", "yes")], name="validation.json")
    with pytest.raises(SourceError, match=r"no imgs\.zip"):
        list(get_source("slake").read(hub=str(repo)))
    with zipfile.ZipFile(repo / "imgs.zip", "w") as archive:
        archive.writestr("imgs/xmlab1/source.jpg", _png())
        archive.writestr("imgs/xmlab2/source.jpg", _png((1, 2, 3)))
    test_items = list(get_source("slake").read(hub=str(repo), split="test"))
    _check_rows(test_items, str(repo), missing_image=False)
    assert _by_ref(test_items)["6"].images == [_png((1, 2, 3))]
    everything = list(get_source("slake").read(hub=str(repo)))
    assert Counter(i.split for i in everything) == {"test": 6, "validation": 1}
    validation = [i for i in everything if i.split == "validation"]
    assert validation[0].source_id == "7" and validation[0].answer_label == "A"
    assert [i.source_id for i in get_source("slake").read(hub=str(repo), split="validate")] == ["7"]


def test_zip_missing_image_is_rejected_not_replaced(tmp_path):
    with zipfile.ZipFile(tmp_path / "imgs.zip", "w") as archive:
        archive.writestr("imgs/xmlab1/source.jpg", _png())
    _write_local(tmp_path, [ROWS[5]])
    (item,) = get_source("slake").read(path=tmp_path)
    assert isinstance(item, Rejected) and item.reason == "missing-image"


def test_real_slake_image_read_in_place(tmp_path):
    real = realdata("medvlthinker_demo", "slake_closed.jpg")
    (tmp_path / "imgs" / "xmlab1").mkdir(parents=True)
    # a copy: a symlink out of imgs/ is refused as image-outside-root (tests/test_image_confinement.py)
    (tmp_path / "imgs" / "xmlab1" / "source.jpg").write_bytes(real.read_bytes())
    _write_local(tmp_path, [ROWS[1]])
    (record,) = get_source("slake").read(path=tmp_path)
    assert not isinstance(record, Rejected)
    assert record.images == [real.read_bytes()] and record.images[0][:2] == b"\xff\xd8"


def test_malformed_rows(tmp_path):
    (tmp_path / "imgs" / "xmlab1").mkdir(parents=True)
    (tmp_path / "imgs" / "xmlab1" / "source.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    rows = [
        ROWS[1],
        "just a string",
        _row(8, "Is this normal?", "", answer_type="CLOSED"),
        _row(9, "Is this normal?", "yes", answer_type="closed-ish"),
        {k: v for k, v in _row(10, "Is this normal?", "yes").items() if k != "q_lang"},
    ]
    _write_local(tmp_path, rows, name="train.json")
    items = list(get_source("slake").read(path=tmp_path))
    assert [(i.ref, i.reason) for i in items] == [
        ("2", "undecodable-image"), ("train-00001", "malformed-row"), ("8", "no-answer"),
        ("9", "malformed-row"), ("10", "non-english"),
    ]  # fmt: skip
    assert "train.json (row 1): not an object" in items[1].detail
    assert "train.json (qid 9): answer_type 'closed-ish'" in items[3].detail
    assert "q_lang None" in items[4].detail
    (tmp_path / "train.json").write_text(json.dumps(rows)[:-40], encoding="utf-8")
    with pytest.raises(SourceError, match=r"train\.json: invalid JSON"):
        list(get_source("slake").read(path=tmp_path))


def test_no_images_is_a_source_error(tmp_path):
    _write_local(tmp_path, ROWS)
    with pytest.raises(SourceError, match=r"no images .*imgs/ and imgs\.zip"):
        list(get_source("slake").read(path=tmp_path))


def test_demo_corpus_reads(tmp_path):
    items = list(get_source("slake").read(path=slake_demo.write(tmp_path)))
    records = [i for i in items if not isinstance(i, Rejected)]
    rejected = [i for i in items if isinstance(i, Rejected)]
    assert len(records) == 24
    assert all(len(r.images) == 1 and r.images[0][:2] == b"\xff\xd8" for r in records)
    assert Counter(r.split for r in records) == {"train": 8, "validation": 8, "test": 8}
    assert sum(list(r.options.values()) == ["Round", "Square"] for r in records) == 6
    assert Counter(r.reason for r in rejected) == {"open-ended": 6, "non-english": 2, "missing-image": 1}
    missing = next(r for r in rejected if r.reason == "missing-image")
    assert "xmlab99/source.jpg" in missing.detail and "test.json" in missing.detail


def test_hub_revision_with_validate_json(tmp_path):
    # Old BoKelvin/SLAKE revisions name the validation file validate.json (Slake1.0's name); datasets'
    # split patterns do not know "validate" and would drop it, so the files are fetched by name.
    repo = tmp_path / "old-revision"
    repo.mkdir()
    _write_local(repo, ROWS[:2], name="train.json")
    _write_local(repo, [_row(7, "Is this an X-ray?", "yes")], name="validate.json")
    _write_local(repo, [_row(8, "Is this a CT?", "no")], name="test.json")
    with zipfile.ZipFile(repo / "imgs.zip", "w") as archive:
        archive.writestr("imgs/xmlab1/source.jpg", _png())
    everything = list(get_source("slake").read(hub=str(repo)))
    assert Counter(i.split for i in everything) == {"train": 2, "validation": 1, "test": 1}
    (validation,) = [i for i in everything if i.split == "validation"]
    assert (validation.source_id, validation.answer_label) == ("7", "A")
    assert validation.meta["file"] == f"{repo}/validate.json"
    assert [i.source_id for i in get_source("slake").read(hub=str(repo), split="validation")] == ["7"]
    # the current name wins when a folder has both
    _write_local(repo, [_row(9, "Is this an MRI?", "no")], name="validation.json")
    assert [i.source_id for i in get_source("slake").read(hub=str(repo), split="validation")] == ["9"]
    assert [i.source_id for i in get_source("slake").read(path=repo, split="validation")] == ["9"]
    with pytest.raises(SourceError, match="unknown split 'dev'"):
        list(get_source("slake").read(hub=str(repo), split="dev"))


def test_hub_revision_without_any_split_file_names_them(tmp_path):
    with zipfile.ZipFile(tmp_path / "imgs.zip", "w") as archive:
        archive.writestr("imgs/xmlab1/source.jpg", _png())
    with pytest.raises(SourceError, match=r"has none of validation\.json, validate\.json"):
        list(get_source("slake").read(hub=str(tmp_path), split="validation"))
