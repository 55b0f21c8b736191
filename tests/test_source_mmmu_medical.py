"""MMMU medical adapter: the multi-config Hub layout (with one real MMMU image read in place), the
local Parquet copy, broken rows, and the demo writer."""

from __future__ import annotations

import io
from collections import Counter

import pytest
from PIL import Image

from medvlt_data.sources import Rejected, SourceError, get_source
from medvlt_data.sources.mmmu_medical import SUBJECTS, parse_options, strip_image_tags
from tests.conftest import realdata
from tests.hub_layout import write_hub_dataset


def _png(color) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (30, 20), color).save(buffer, format="PNG")
    return buffer.getvalue()


RED, BLUE = _png((200, 0, 0)), _png((0, 0, 200))


def _features():
    import datasets

    text = datasets.Value("string")
    columns = {"id": text, "question": text, "options": text, "explanation": text}
    columns.update({f"image_{n}": datasets.Image() for n in range(1, 8)})
    columns.update({"img_type": text, "answer": text, "topic_difficulty": text, "question_type": text,
                    "subfield": text})  # fmt: skip
    return datasets.Features(columns)


def _row(id_, question, options, answer, images=(), question_type="multiple-choice"):
    row = {"id": id_, "question": question, "options": options, "explanation": "", "answer": answer,
           "img_type": "['Microscopic Images']", "topic_difficulty": "Medium",
           "question_type": question_type, "subfield": "Microbiology"}  # fmt: skip
    for n in range(1, 8):
        image = images[n - 1] if n <= len(images) else None
        row[f"image_{n}"] = {"bytes": image, "path": f"{id_}_{n}.png"} if image else None
    return row


def _subject_rows(subject: str, real_png: bytes) -> dict[str, list[dict]]:
    """Per subject: a dev and a validation row that are kept, and a test row without an answer."""
    return {
        "dev": [_row(f"dev_{subject}_1", f"Which color fills <image 1>? ({subject})", "['Red', 'Blue']", "A",
                     [RED])],
        "validation": [_row(f"validation_{subject}_1", "<image 1> The organism shown is most likely:",
                            "['Treponema pallidum', 'Staphylococcus aureus', 'Candida albicans']", "A", [real_png])],
        "test": [_row(f"test_{subject}_1", "Which color is <image 1>?", "['Red', 'Blue']", "?", [BLUE])],
    }  # fmt: skip


def _broken_rows() -> list[dict]:
    return [
        _row("validation_Pharmacy_2", "Which image is blue?\n<image 1>\n<image 2>", "['<image 1>', '<image 2>']",
             "B", [RED, BLUE]),
        _row("validation_Pharmacy_3", "What dose is shown in <image 1>?", "[]", "5 mg", [RED], "open"),
        _row("validation_Pharmacy_4", "Pick one <image 1>", "['Only']", "A", [RED]),
        _row("validation_Pharmacy_5", "Pick one <image 1>", str([f"o{i}" for i in range(11)]), "A", [RED]),
        _row("validation_Pharmacy_6", "Pick one <image 1>", "['a', 'b'", "A", [RED]),
        _row("validation_Pharmacy_7", "Pick one <image 1>", "['a', 'b', 'c', 'd']", "E", [RED]),
        _row("validation_Pharmacy_8", "Compare <image 1> and <image 2>.", "['Same', 'Different']", "A", [RED]),
        _row("validation_Pharmacy_9", "Which color is <image 1>?", "['Red', 'Blue']", "A",
             [b"\x89PNG\r\n\x1a\n broken"]),
        _row("validation_Pharmacy_10", "Pick one <image 1>", "[]", "A", [RED]),
    ]  # fmt: skip


@pytest.fixture
def real_png() -> bytes:
    return realdata("medvlthinker_demo", "MMMU-medical.png").read_bytes()


def _write(write, real_png):
    """Write the five subject configs with ``write(splits, config=subject)``; return the repo path."""
    for subject in SUBJECTS:
        splits = _subject_rows(subject, real_png)
        if subject == "Pharmacy":
            splits["validation"] += _broken_rows()
        root = write(splits, config=subject)
    return root


def _check_items(items, real_png):
    records = [i for i in items if not isinstance(i, Rejected)]
    rejected = [i for i in items if isinstance(i, Rejected)]
    assert len(items) == 5 * 3 + 9
    assert len(records) == 5 * 2 + 1
    assert Counter(r.meta["subject"] for r in records) == {s: 3 if s == "Pharmacy" else 2 for s in SUBJECTS}
    real = next(r for r in records if r.source_id == "validation_Clinical_Medicine_1")
    assert real.question == "The organism shown is most likely:"
    assert (real.answer_label, real.answer, real.split) == ("A", "Treponema pallidum", "validation")
    assert real.images == [real_png]
    assert real.meta["subfield"] == "Microbiology" and real.license == "Apache-2.0"
    dev = next(r for r in records if r.source_id == "dev_Public_Health_1")
    assert (dev.question, dev.options, dev.images) == ("Which color fills? (Public_Health)",
                                                       {"A": "Red", "B": "Blue"}, [RED])  # fmt: skip
    two = next(r for r in records if r.source_id == "validation_Pharmacy_2")
    assert two.question == "Which image is blue?"
    assert two.options == {"A": "<image 1>", "B": "<image 2>"} and two.answer == "<image 2>"
    assert two.images == [RED, BLUE]
    reasons = {r.ref: r.reason for r in rejected}
    assert reasons == {
        **{f"test_{s}_1": "no-answer" for s in SUBJECTS},
        "validation_Pharmacy_3": "open-ended", "validation_Pharmacy_4": "too-few-options",
        "validation_Pharmacy_5": "too-many-options", "validation_Pharmacy_6": "malformed-options",
        "validation_Pharmacy_7": "unknown-answer-letter", "validation_Pharmacy_8": "missing-image",
        "validation_Pharmacy_9": "undecodable-image", "validation_Pharmacy_10": "empty-options",
    }  # fmt: skip
    return rejected


def test_hub_layout_five_subject_configs(hub_repo, real_png):
    repo = _write(lambda splits, config: hub_repo(splits, features=_features(), config=config), real_png)
    items = list(get_source("mmmu_medical").read(hub=str(repo)))
    rejected = _check_items(items, real_png)
    missing = next(r for r in rejected if r.reason == "missing-image")
    assert "validation_Pharmacy_8" in missing.detail and "<image 2>" in missing.detail
    assert missing.file == f"{repo}/Pharmacy" and missing.split == "validation"
    letter = next(r for r in rejected if r.reason == "unknown-answer-letter")
    assert "'E'" in letter.detail and "[validation] row 6" in letter.detail
    dev_only = list(get_source("mmmu_medical").read(hub=str(repo), split="dev"))
    assert sorted(r.source_id for r in dev_only) == sorted(f"dev_{s}_1" for s in SUBJECTS)


def test_hub_layout_missing_subject_is_a_source_error(tmp_path):
    repo = tmp_path / "repo"
    for subject in SUBJECTS[:2]:
        write_hub_dataset(repo, _subject_rows(subject, RED), features=_features(), config=subject)
    with pytest.raises(SourceError, match="Diagnostics_and_Laboratory_Medicine"):
        list(get_source("mmmu_medical").read(hub=str(repo)))


def test_local_parquet_copy(tmp_path, real_png):
    # The same files as the Hub repo; the local reader needs no README.
    def write(splits, config):
        return write_hub_dataset(tmp_path / "MMMU", splits, features=_features(), config=config)

    root = _write(write, real_png)
    (root / "README.md").unlink()
    items = list(get_source("mmmu_medical").read(path=root))
    rejected = _check_items(items, real_png)
    broken = next(r for r in rejected if r.reason == "malformed-options")
    assert broken.file == str(root / "Pharmacy" / "validation-00000-of-00001.parquet")
    assert "validation_Pharmacy_6" in broken.detail and "row 5" in broken.detail
    one_subject = list(get_source("mmmu_medical").read(path=root / "Pharmacy", split="validation"))
    assert len(one_subject) == 10 and {i.split for i in one_subject} == {"validation"}
    one_file = list(
        get_source("mmmu_medical").read(path=root / "Clinical_Medicine" / "dev-00000-of-00001.parquet")
    )
    assert [(r.source_id, r.split, r.meta["subject"]) for r in one_file] == [
        ("dev_Clinical_Medicine_1", "dev", "Clinical_Medicine")
    ]


def test_local_whole_source_errors(tmp_path):
    (tmp_path / "Pharmacy").mkdir()
    with pytest.raises(SourceError, match="lacks the subject folder"):
        list(get_source("mmmu_medical").read(path=tmp_path))
    with pytest.raises(SourceError, match="unknown split"):
        list(get_source("mmmu_medical").read(path=tmp_path, split="train"))
    with pytest.raises(SourceError, match="no Parquet file"):
        list(get_source("mmmu_medical").read(path=tmp_path / "Pharmacy"))
    (tmp_path / "Pharmacy" / "dev-00000-of-00001.parquet").write_bytes(b"PAR1 truncated")
    with pytest.raises(SourceError, match="cannot read Parquet"):
        list(get_source("mmmu_medical").read(path=tmp_path / "Pharmacy"))


def test_tag_stripping_and_option_parsing():
    assert strip_image_tags("<image 1>\nWhat is it?") == "What is it?"
    assert strip_image_tags("Shown in <image 1> below is a cell.") == "Shown in below is a cell."
    assert strip_image_tags("Is <image 1>, or <image 2>, larger?") == "Is, or, larger?"
    assert strip_image_tags("no tags  here") == "no tags  here"
    assert parse_options(["a", " b "]) == ["a", "b"]
    assert parse_options("('x', 'y')") == ["x", "y"]
    for bad in ("{'a': 1}", "open('/etc/passwd')", "[1, 2", "None"):
        with pytest.raises(ValueError):
            parse_options(bad)


def test_demo_corpus(tmp_path):
    from medvlt_data.demo import mmmu_medical

    items = list(get_source("mmmu_medical").read(path=mmmu_medical.write(tmp_path)))
    records = [i for i in items if not isinstance(i, Rejected)]
    rejected = [i for i in items if isinstance(i, Rejected)]
    assert len(records) >= 20
    assert Counter(r.split for r in records) == {"dev": 10, "validation": 16}
    assert {r.meta["subject"] for r in records} == set(SUBJECTS)
    assert Counter(r.reason for r in rejected) == {
        "no-answer": 5,
        "open-ended": 1,
        "unknown-answer-letter": 1,
    }
    assert all("<image" not in r.question for r in records)
    assert all(r.images and r.images[0][:4] == b"\x89PNG" for r in records)
    pairs = [r for r in records if len(r.images) == 2]
    assert len(pairs) == 2 and all(r.options == {"A": "<image 1>", "B": "<image 2>"} for r in pairs)


def test_tag_removal_against_the_papers():
    # UCSC-VLAA/MedVLThinker data_process/prepare_vlm_eval_data_v2.py:138 removes every tag with the
    # spaces around it: re.sub(r"\s*<image \d+>\s*", "", question).strip(). Same text where a tag
    # starts or ends the question or precedes punctuation; between two words the paper glues them
    # ("Compareand"), where ours keeps one space.
    import re

    def paper(text: str) -> str:
        return re.sub(r"\s*<image \d+>\s*", "", text).strip()

    for same in ("<image 1> Which stain is used?", "Which stain is used in <image 2>?",
                 "Look at <image 1>. Which is it?", "Which organ?\n<image 1>"):  # fmt: skip
        assert strip_image_tags(same) == paper(same), same
    glued = "Compare <image 1> <image 2> and choose."
    assert (paper(glued), strip_image_tags(glued)) == ("Compareand choose.", "Compare and choose.")
