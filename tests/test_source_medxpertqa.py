"""MedXpertQA adapter: the Hub layout (MM and Text configs, images.zip) and the local JSON Lines layout.

There is no real MedXpertQA question file in the shared data; the fixtures are written here, and
the one real MedXpertQA MM image (``medvlthinker_demo/MedXpertQA-MM.jpg``) is copied into them.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from medvlt_data.demo import medxpertqa as demo
from medvlt_data.sources import SOURCES, Rejected, SourceError, get_source
from tests.conftest import realdata

MM_OPTIONS = ["Erythema infectiosum", "Cutaneous larva migrans", "Cold agglutinin disease", "Cutis marmorata",
              "Erythema ab igne"]  # fmt: skip
TEXT_OPTIONS = [f"Drug {i}" for i in range(10)]


def _jpeg(color=(120, 120, 120)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), color).save(buffer, format="JPEG")
    return buffer.getvalue()


def _question(stem: str, options: list[str]) -> str:
    return stem + "\nAnswer Choices: " + " ".join(f"({'ABCDEFGHIJ'[i]}) {o}" for i, o in enumerate(options))


def _hub_row(id_, label, images, options=MM_OPTIONS, stem="What is the most probable diagnosis?"):
    lettered = {"ABCDEFGHIJ"[i]: o for i, o in enumerate(options)}
    return {"id": id_, "question": _question(stem, options), "options": lettered, "label": label,
            "images": images, "medical_task": "Diagnosis", "body_system": "Integumentary",
            "question_type": "Reasoning"}  # fmt: skip


def _local_row(id_, label, images, options=MM_OPTIONS, stem="Which finding is shown?"):
    row = _hub_row(id_, label, images, options, stem)
    row["options"] = [{"letter": k, "content": v} for k, v in row["options"].items()]
    row["label"] = [label] if isinstance(label, str) else label
    row["images"] = [{"image_path": name} for name in images]
    return row


def _features(letters: str):
    import datasets

    return datasets.Features({
        "id": datasets.Value("string"), "question": datasets.Value("string"),
        "options": {k: datasets.Value("string") for k in letters}, "label": datasets.Value("string"),
        "images": datasets.Sequence(datasets.Value("string")), "medical_task": datasets.Value("string"),
        "body_system": datasets.Value("string"), "question_type": datasets.Value("string"),
    })  # fmt: skip


def _write_jsonl(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def _split(items):
    records = [i for i in items if not isinstance(i, Rejected)]
    rejected = {i.ref: i for i in items if isinstance(i, Rejected)}
    return records, rejected


def test_hub_layout_mm_with_images_zip_and_text(hub_repo, tmp_path):
    real = realdata("medvlthinker_demo", "MedXpertQA-MM.jpg").read_bytes()
    second, third = _jpeg((200, 0, 0)), _jpeg((0, 200, 0))
    mm_test = [
        _hub_row("MM-1682", "C", ["MM-1682-a.jpeg"]),
        _hub_row("MM-7", "E", ["MM-7-a.jpeg", "MM-7-b.jpeg"]),
        _hub_row("MM-8", "F", ["MM-7-a.jpeg"]),
        _hub_row("MM-9", "A", ["MM-9-a.jpeg"]),
        _hub_row("MM-10", "B", []),
    ]
    repo = hub_repo({"dev": [_hub_row("MM-1", "A", ["MM-7-b.jpeg"])], "test": mm_test},
                    features=_features("ABCDE"), config="MM")  # fmt: skip
    text_rows = [
        _hub_row("Text-1", "J", [], TEXT_OPTIONS, "Which drug?"),
        _hub_row("Text-2", "K", [], TEXT_OPTIONS),
    ]
    hub_repo({"test": text_rows}, features=_features("ABCDEFGHIJ"), config="Text")
    with zipfile.ZipFile(repo / "images.zip", "w") as archive:
        archive.writestr("images/MM-1682-a.jpeg", real)
        archive.writestr("images/MM-7-a.jpeg", second)
        archive.writestr("images/MM-7-b.jpeg", third)

    items = list(get_source("medxpertqa").read(hub=str(repo)))
    records, rejected = _split(items)
    assert [(r.source_id, r.split) for r in records] == [
        ("MM-1", "dev"),
        ("MM-1682", "test"),
        ("MM-7", "test"),
    ]
    first = records[1]
    assert first.question == "What is the most probable diagnosis?"
    assert first.options == dict(zip("ABCDE", MM_OPTIONS, strict=True))
    assert (first.answer_label, first.answer, first.license) == ("C", "Cold agglutinin disease", "MIT")
    assert first.images == [real] and Image.open(io.BytesIO(first.images[0])).size == (857, 350)
    assert first.meta == {"file": str(repo), "config": "MM", "medical_task": "Diagnosis",
                          "body_system": "Integumentary", "question_type": "Reasoning",
                          "image_names": ["MM-1682-a.jpeg"]}  # fmt: skip
    assert records[2].images == [second, third] and records[2].answer == "Erythema ab igne"
    assert {ref: r.reason for ref, r in rejected.items()} == {
        "MM-8": "unknown-answer-letter", "MM-9": "missing-image", "MM-10": "missing-image",
    }  # fmt: skip
    assert rejected["MM-8"].detail.startswith(f"{repo} [MM/test] row 2 (MM-8): label 'F' is not among")
    assert "image file not found: MM-9-a.jpeg" in rejected["MM-9"].detail
    assert rejected["MM-10"].detail.endswith("an MM question without images")
    only_test = list(get_source("medxpertqa").read(hub=str(repo), split="test"))
    assert len(only_test) == 5 and all(i.split == "test" for i in only_test)

    text = list(SOURCES["medxpertqa"](config="Text").read(hub=str(repo)))
    text_records, text_rejected = _split(text)
    assert [(r.source_id, r.answer_label, r.answer, r.images) for r in text_records] == [
        ("Text-1", "J", "Drug 9", [])
    ]
    assert text_records[0].question == "Which drug?" and len(text_records[0].options) == 10
    assert text_records[0].meta["config"] == "Text"
    assert text_rejected["Text-2"].reason == "unknown-answer-letter"


def test_text_config_needs_no_images(hub_repo, tmp_path):
    repo = hub_repo({"test": [_hub_row("Text-1", "B", [], TEXT_OPTIONS)]}, features=_features("ABCDEFGHIJ"),
                    config="Text", root=tmp_path / "text_only")  # fmt: skip
    records = list(SOURCES["medxpertqa"](config="Text").read(hub=str(repo)))
    assert [(r.source_id, r.answer) for r in records] == [("Text-1", "Drug 1")]
    with pytest.raises(SourceError, match="unknown config 'mm'"):
        SOURCES["medxpertqa"](config="mm")


def test_local_layout_config_folders_and_images(tmp_path):
    real = realdata("medvlthinker_demo", "MedXpertQA-MM.jpg").read_bytes()
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "MM-3-a.jpeg").write_bytes(real)
    _write_jsonl(tmp_path / "MM" / "test.jsonl", [_local_row("MM-3", "D", ["MM-3-a.jpeg"])])
    _write_jsonl(tmp_path / "MM" / "dev.jsonl", [_local_row("MM-0", "B", ["MM-3-a.jpeg"])])
    _write_jsonl(
        tmp_path / "Text" / "test.jsonl", [_local_row("Text-5", "G", [], TEXT_OPTIONS, "Which drug?")]
    )

    records = list(get_source("medxpertqa").read(path=tmp_path))
    assert [(r.source_id, r.split, r.answer_label, r.answer) for r in records] == [
        ("MM-0", "dev", "B", "Cutaneous larva migrans"), ("MM-3", "test", "D", "Cutis marmorata"),
    ]  # fmt: skip
    assert records[1].question == "Which finding is shown?" and records[1].images == [real]
    assert records[1].meta["file"] == "MM/test.jsonl" and records[1].meta["line"] == 1
    assert [r.source_id for r in get_source("medxpertqa").read(path=tmp_path, split="test")] == ["MM-3"]
    assert [r.source_id for r in get_source("medxpertqa").read(path=tmp_path / "MM" / "test.jsonl")] == [
        "MM-3"
    ]

    for text in (SOURCES["medxpertqa"](config="Text").read(path=tmp_path),
                 get_source("medxpertqa").read(path=tmp_path / "Text")):  # fmt: skip
        (record,) = list(text)
        assert (record.source_id, record.answer, record.images, record.meta["config"]) == (
            "Text-5", "Drug 6", [], "Text",
        )  # fmt: skip

    flat = tmp_path / "flat"
    (flat / "images").mkdir(parents=True)
    (flat / "images" / "a.png").write_bytes(_jpeg())
    _write_jsonl(flat / "test.jsonl", [{**_local_row("", "A", []), "images": ["a.png"]}])
    (record,) = list(get_source("medxpertqa").read(path=flat))
    assert (record.source_id, record.meta["config"], record.meta["image_names"]) == (
        "test-00000",
        "MM",
        ["a.png"],
    )


def test_malformed_rows_are_rejected_with_file_and_record(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "ok.jpeg").write_bytes(_jpeg())
    (tmp_path / "images" / "bad.jpeg").write_bytes(b"\xff\xd8 truncated")
    rows = [
        _local_row("MM-1", "A", ["ok.jpeg"]),
        '{"id": "MM-2", "question": "trunc',
        _local_row("MM-1", "A", ["ok.jpeg"]),
        {**_local_row("MM-3", "A", ["ok.jpeg"]), "options": []},
        {**_local_row("MM-4", "A", ["ok.jpeg"]), "options": {"A": "x", "Q": "y"}},
        _local_row("MM-5", "Z", ["ok.jpeg"]),
        _local_row("MM-6", [], ["ok.jpeg"]),
        _local_row("MM-7", ["A", "C"], ["ok.jpeg"]),
        _local_row("MM-8", "A", ["gone.jpeg"]),
        _local_row("MM-9", "A", ["bad.jpeg"]),
        _local_row("MM-10", "A", []),
        {**_local_row("MM-11", "B", ["ok.jpeg"]), "options": [{"letter": "A", "content": "x"},
                                                              {"letter": "B", "content": " "}]},
    ]  # fmt: skip
    path = _write_jsonl(tmp_path / "test.jsonl", rows)
    items = list(get_source("medxpertqa").read(path=tmp_path))
    assert len(items) == len(rows)
    records, _ = _split(items)
    assert [r.source_id for r in records] == ["MM-1"]
    assert [(i.ref, i.reason) for i in items[1:]] == [
        ("line 2", "malformed-json"), ("MM-1", "duplicate"), ("MM-3", "empty-options"),
        ("MM-4", "bad-option-letters"), ("MM-5", "unknown-answer-letter"), ("MM-6", "no-answer"),
        ("MM-7", "multiple-answers"), ("MM-8", "missing-image"), ("MM-9", "undecodable-image"),
        ("MM-10", "missing-image"), ("MM-11", "empty-option"),
    ]  # fmt: skip
    for item in items[1:]:
        assert item.file == str(path) and item.split == "test"
    assert items[1].detail.startswith(f"{path}:2: invalid JSON")
    assert items[2].detail == f"{path}:3 (MM-1): id 'MM-1' appeared before"
    assert items[5].detail.startswith(f"{path}:6 (MM-5): label ['Z'] is not among ['A', 'B', 'C', 'D', 'E']")
    assert "image file not found: gone.jpeg" in items[8].detail


def test_whole_source_problems_are_clear_errors(tmp_path):
    with pytest.raises(SourceError, match=r"no \*\.jsonl file"):
        list(get_source("medxpertqa").read(path=tmp_path))
    _write_jsonl(tmp_path / "test.jsonl", [_local_row("MM-1", "A", ["a.jpeg"])])
    with pytest.raises(SourceError, match=r"no \*\.jsonl file for split 'dev'"):
        list(get_source("medxpertqa").read(path=tmp_path, split="dev"))
    with pytest.raises(
        SourceError, match=r"questions name images but there is no images/ or images\.zip beside"
    ):
        list(get_source("medxpertqa").read(path=tmp_path))


def test_demo_files_read_with_two_rejects(tmp_path):
    path = demo.write(tmp_path)
    items = list(get_source("medxpertqa").read(path=path))
    records, rejected = _split(items)
    assert len(records) == 36 and len(items) == 38
    assert Counter(r.split for r in records) == {"dev": 5, "test": 31}
    assert {ref: r.reason for ref, r in rejected.items()} == {
        "MM-demo-bad-label": "unknown-answer-letter", "MM-demo-no-image": "missing-image",
    }  # fmt: skip
    assert set(Counter(r.answer_label for r in records)) == set("ABCDE")
    assert all(list(r.options) == list("ABCDE") and len(r.images) == 1 for r in records)
    assert all("Answer Choices" not in r.question for r in records)
    first = records[0]
    assert (first.source_id, first.question, first.answer) == (
        "MM-demo-000", "Is there a bright lesion on the left side?", "Yes",
    )  # fmt: skip


def test_question_stem_is_the_papers():
    # UCSC-VLAA/MedVLThinker data_process/prepare_vlm_eval_data_v2.py:255 keeps the part before
    # "\nAnswer Choices: " (stripped); the Hub row's question ends with that tail
    from medvlt_data.sources.embedded_choices import split_embedded_choices

    question = (
        "A 45-year-old man presents with chest pain radiating to the back. What is the diagnosis?\n"
        "Answer Choices: (A) MI (B) PE (C) Aortic dissection (D) GERD (E) Pneumothorax"
    )
    stem, _ = split_embedded_choices(question)
    assert stem == question.split("\nAnswer Choices: ")[0].strip()
    assert stem.endswith("What is the diagnosis?")
