"""PMC-VQA adapter: the release's csv + images layout, read locally and as a Hub repository of raw files.

There is no real PMC-VQA csv in the shared data; the fixtures below are written here, and the one
real PMC-VQA figure (``medvlthinker_demo/pmc_vqa.jpg``) is copied into the test's own folder.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from medvlt_data.demo import pmc_vqa as demo
from medvlt_data.sources import Rejected, SourceError, get_source
from tests.conftest import realdata

HEADER = ["Figure_path", "Question", "Answer", "Choice A", "Choice B", "Choice C", "Choice D", "Answer_label"]
UPTAKE = [" A:Diffuse uptake pattern ", " B:Focal uptake pattern ", " C:No uptake pattern ",
          " D:Cannot determine from the information given "]  # fmt: skip


def _jpeg(color=(200, 10, 10)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), color).save(buffer, format="JPEG")
    return buffer.getvalue()


def _row(figure, question, answer, choices, label) -> list[str]:
    return [figure, question, answer, *choices, label]


def _write_csv(path: Path, rows, *, header=HEADER, bom=False) -> Path:
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _split(items):
    records = [i for i in items if not isinstance(i, Rejected)]
    rejected = {i.ref: i for i in items if isinstance(i, Rejected)}
    return records, rejected


def test_local_layout_parses_choices_and_keeps_agreeing_rows(tmp_path):
    red, blue = _jpeg(), _jpeg((10, 10, 200))
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "PMC1064097_F1.jpg").write_bytes(red)
    (tmp_path / "images" / "PMC2_F3.jpg").write_bytes(blue)
    _write_csv(tmp_path / "train.csv", [
        # a quoted comma and newline in the question; the README's example row
        _row("PMC1064097_F1.jpg", "What is the uptake pattern in the breast, on\nthe left?",
             "Focal uptake pattern", UPTAKE, "B"),
        # the answer carries its own letter prefix; stray spaces around the label
        _row("PMC2_F3.jpg", "Which pattern is shown?", "C:No uptake pattern", UPTAKE, " C "),
        # case, inner whitespace and surrounding quote marks differ only
        _row("PMC2_F3.jpg", " Which pattern? ", ' "diffuse   UPTAKE pattern" ', UPTAKE, "A"),
    ], bom=True)  # fmt: skip
    _write_csv(tmp_path / "test.csv", [_row("PMC2_F3.jpg", "Q?", "B:Focal uptake pattern", UPTAKE, "B")])

    items = list(get_source("pmc_vqa").read(path=tmp_path))
    records, rejected = _split(items)
    assert rejected == {}
    assert [r.source_id for r in records] == ["train-00000", "train-00001", "train-00002", "test-00000"]
    first = records[0]
    assert first.question == "What is the uptake pattern in the breast, on\nthe left?"
    assert first.options == {
        "A": "Diffuse uptake pattern", "B": "Focal uptake pattern", "C": "No uptake pattern",
        "D": "Cannot determine from the information given",
    }  # fmt: skip
    assert (first.answer_label, first.answer, first.split) == ("B", "Focal uptake pattern", "train")
    assert first.images == [red] and first.license == "CC-BY-SA-4.0"
    assert first.meta == {"file": "train.csv", "figure_path": "PMC1064097_F1.jpg", "row": 0}
    assert (records[1].answer_label, records[1].answer, records[1].images) == (
        "C",
        "No uptake pattern",
        [blue],
    )
    assert (records[2].question, records[2].answer_label, records[2].answer) == (
        "Which pattern?", "A", "Diffuse uptake pattern",
    )  # fmt: skip
    assert records[3].split == "test" and records[3].answer == "Focal uptake pattern"
    only_test = list(get_source("pmc_vqa").read(path=tmp_path, split="test"))
    assert [r.source_id for r in only_test] == ["test-00000"]
    one_file = list(get_source("pmc_vqa").read(path=tmp_path / "train.csv"))
    assert [r.source_id for r in one_file] == ["train-00000", "train-00001", "train-00002"]


def test_disagreeing_rows_are_rejected_with_reason_file_and_row(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "ok.jpg").write_bytes(_jpeg())
    (tmp_path / "images" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    swapped = [UPTAKE[0], UPTAKE[2], UPTAKE[1], UPTAKE[3]]  # column B holds "C:...", column C "B:..."
    rows = [
        _row("ok.jpg", "Q0?", "Focal uptake pattern", UPTAKE, "B"),  # the one good row
        _row("ok.jpg", "Q1?", "Focal uptake pattern", swapped, "B"),
        _row("ok.jpg", "Q2?", "Focal uptake pattern", [UPTAKE[0], "Focal uptake pattern", *UPTAKE[2:]], "B"),
        _row("ok.jpg", "Q3?", "Focal uptake pattern", UPTAKE, "E"),
        _row("ok.jpg", "Q4?", "Focal uptake pattern", UPTAKE, ""),
        _row("ok.jpg", "Q5?", "No uptake pattern", UPTAKE, "B"),
        _row("ok.jpg", "Q6?", "C:Focal uptake pattern", UPTAKE, "B"),
        _row("ok.jpg", "Q7?", "  ", UPTAKE, "B"),
        _row("ok.jpg", "Q8?", "Focal uptake pattern", [UPTAKE[0], " B: ", *UPTAKE[2:]], "B"),
        _row("gone.jpg", "Q9?", "Focal uptake pattern", UPTAKE, "B"),
        _row("", "Q10?", "Focal uptake pattern", UPTAKE, "B"),
        _row("broken.jpg", "Q11?", "Focal uptake pattern", UPTAKE, "B"),
        _row("ok.jpg", "  ", "Focal uptake pattern", UPTAKE, "B"),
    ]
    path = _write_csv(tmp_path / "train.csv", rows)
    items = list(get_source("pmc_vqa").read(path=tmp_path))
    assert len(items) == len(rows)
    records, rejected = _split(items)
    assert [(r.source_id, r.question) for r in records] == [("train-00000", "Q0?")]
    assert {ref: r.reason for ref, r in rejected.items()} == {
        "train-00001": "choice-letter-mismatch",
        "train-00002": "malformed-choice",
        "train-00003": "unknown-answer-letter",
        "train-00004": "unknown-answer-letter",
        "train-00005": "answer-mismatch",
        "train-00006": "label-mismatch",
        "train-00007": "no-answer",
        "train-00008": "empty-option",
        "train-00009": "missing-image",
        "train-00010": "missing-image",
        "train-00011": "undecodable-image",
        "train-00012": "empty-question",
    }
    for index, item in enumerate(items[1:], start=1):
        assert item.file == str(path) and item.split == "train" and item.source == "pmc_vqa"
        if item.reason not in ("undecodable-image", "empty-question"):  # validation's own messages
            assert item.detail.startswith(f"{path} row {index} (line {index + 2}): ")
    assert "Choice B is ' C:No uptake pattern '" in rejected["train-00001"].detail
    assert "Answer_label 'E' is not one of A-D" in rejected["train-00003"].detail
    assert rejected["train-00005"].detail.endswith(
        "Answer 'No uptake pattern' differs from choice B 'Focal uptake pattern' (it is choice C's text)"
    )
    assert "names C, Answer_label is B" in rejected["train-00006"].detail
    assert "image file not found: gone.jpg" in rejected["train-00009"].detail
    assert rejected["train-00010"].detail.endswith("no Figure_path")


def test_unreadable_rows_do_not_stop_the_file(tmp_path):
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "ok.jpg").write_bytes(_jpeg())
    good = ",".join(["ok.jpg", "Q?", "Focal uptake pattern", *UPTAKE, "B"])
    lines = [
        ",".join(HEADER),
        good,
        "ok.jpg,Q?," + "x" * 200_000 + ",A:a,B:b,C:c,D:d,A",  # a field over the csv module's limit
        good,
        "ok.jpg,Q?,Focal uptake pattern,A:a,B:b,A",  # too few fields
        good.replace("Q?", "Q\udcff?"),  # a byte that is not UTF-8 (written below)
        good + ",,",  # trailing empty fields are tolerated
        "",  # a blank line is no row
    ]
    data = "\n".join(lines).encode("utf-8", errors="surrogateescape") + b"\n"
    (tmp_path / "train.csv").write_bytes(data)
    items = list(get_source("pmc_vqa").read(path=tmp_path))
    records, rejected = _split(items)
    assert [r.source_id for r in records] == ["train-00000", "train-00002", "train-00005"]
    assert {ref: r.reason for ref, r in rejected.items()} == {
        "train-00001": "malformed-csv", "train-00003": "malformed-row", "train-00004": "bad-encoding",
    }  # fmt: skip
    assert "field larger than field limit" in rejected["train-00001"].detail
    assert "6 fields where the header has 8" in rejected["train-00003"].detail


def test_hub_repo_of_raw_files_reads_like_the_local_folder(tmp_path):
    real = realdata("medvlthinker_demo", "pmc_vqa.jpg").read_bytes()
    repo = tmp_path / "PMC-VQA"
    repo.mkdir()
    _zip(repo / "images.zip", {"images/PMC_real_F1.jpg": real, "images/PMC2_F3.jpg": _jpeg()})
    _write_csv(repo / "train.csv", [
        _row("PMC_real_F1.jpg", "What is shown in the figure?", "Focal uptake pattern", UPTAKE, "B"),
        _row("PMC2_F3.jpg", "Which one?", "Diffuse uptake pattern", UPTAKE, "C"),
    ])  # fmt: skip
    _write_csv(repo / "test.csv", [_row("PMC2_F3.jpg", "Q?", "No uptake pattern", UPTAKE, "C")])
    _write_csv(repo / "test_clean.csv", [_row("PMC_real_F1.jpg", "Clean?", "D:Cannot determine from "
                                              "the information given", UPTAKE, "D")])  # fmt: skip

    hub_items = list(get_source("pmc_vqa").read(hub=str(repo)))
    local_items = list(get_source("pmc_vqa").read(path=repo))
    records, rejected = _split(hub_items)
    assert [(r.source_id, r.split, r.answer_label) for r in records] == [
        ("train-00000", "train", "B"), ("test-00000", "test", "C"),
    ]  # fmt: skip
    assert list(rejected) == ["train-00001"] and rejected["train-00001"].reason == "answer-mismatch"
    assert rejected["train-00001"].file == f"{repo}/train.csv"
    assert records[0].images == [real]
    assert Image.open(io.BytesIO(records[0].images[0])).size == (709, 317)
    assert records[0].meta["file"] == f"{repo}/train.csv"
    # same parser: the local read gives the same records, file names aside
    local_records, local_rejected = _split(local_items)
    strip = lambda r: (r.source_id, r.question, r.options, r.answer_label, r.answer, r.images)  # noqa: E731
    assert [strip(r) for r in local_records] == [strip(r) for r in records]
    assert {k: v.reason for k, v in local_rejected.items()} == {"train-00001": "answer-mismatch"}

    clean = list(get_source("pmc_vqa").read(hub=str(repo), split="test_clean"))
    assert [(r.source_id, r.split, r.answer) for r in clean] == [
        ("test_clean-00000", "test", "Cannot determine from the information given")
    ]
    assert clean[0].images == [real]


def test_version_2_files_use_their_own_archive(tmp_path):
    old, new, only_2 = _jpeg((0, 255, 0)), _jpeg((0, 0, 255)), _jpeg((255, 255, 0))
    _zip(tmp_path / "images.zip", {"images/PMC9_F1.jpg": old})
    _zip(tmp_path / "images_2.zip", {"figures/PMC9_F1.jpg": new, "figures/PMC7_F2.jpg": only_2})
    _write_csv(tmp_path / "train_2.csv", [_row("PMC9_F1.jpg", "Q?", "Focal uptake pattern", UPTAKE, "B")])
    _write_csv(tmp_path / "test.csv", [
        _row("PMC9_F1.jpg", "Q?", "Focal uptake pattern", UPTAKE, "B"),
        _row("PMC7_F2.jpg", "Q?", "Focal uptake pattern", UPTAKE, "B"),
        _row("PMC5_F5.jpg", "Q?", "Focal uptake pattern", UPTAKE, "B"),
    ])  # fmt: skip
    # a name in both archives is the file's own version's; a name only in the other archive is found
    # there locally (every place is searched), while the Hub reader fetches only the own version's
    records, rejected = _split(list(get_source("pmc_vqa").read(path=tmp_path)))
    assert [(r.source_id, r.split, r.images) for r in records] == [
        ("train_2-00000", "train", [new]), ("test-00000", "test", [old]), ("test-00001", "test", [only_2]),
    ]  # fmt: skip
    assert rejected["test-00002"].reason == "missing-image"
    assert rejected["test-00002"].detail.endswith(
        f"image file not found: PMC5_F5.jpg (searched {tmp_path}/images.zip, {tmp_path}/images_2.zip)"
    )
    records, rejected = _split(list(get_source("pmc_vqa").read(hub=str(tmp_path))))
    assert [(r.source_id, r.images) for r in records] == [("train_2-00000", [new]), ("test-00000", [old])]
    assert {k: v.reason for k, v in rejected.items()} == {
        "test-00001": "missing-image",
        "test-00002": "missing-image",
    }
    # with both versions present, the version-1 file is the split's file
    _write_csv(tmp_path / "train.csv", [_row("PMC9_F1.jpg", "Q1?", "Focal uptake pattern", UPTAKE, "B")])
    train = list(get_source("pmc_vqa").read(path=tmp_path, split="train"))
    assert [(r.source_id, r.question) for r in train] == [("train-00000", "Q1?")]
    train_2 = list(get_source("pmc_vqa").read(path=tmp_path, split="train_2"))
    assert [(r.source_id, r.split) for r in train_2] == [("train_2-00000", "train")]


def test_whole_source_problems_are_clear_errors(tmp_path):
    source = get_source("pmc_vqa")
    with pytest.raises(SourceError, match=r"no data file found .*train\.csv, train_2\.csv, test\.csv"):
        list(source.read(path=tmp_path))
    _write_csv(tmp_path / "train.csv", [_row("a.jpg", "Q?", "x", UPTAKE, "B")])
    with pytest.raises(SourceError, match=r"no images for .*train\.csv .*images\.zip"):
        list(source.read(path=tmp_path))
    (tmp_path / "images").mkdir()
    with pytest.raises(SourceError, match="unknown split 'validation'"):
        list(source.read(path=tmp_path, split="validation"))
    with pytest.raises(SourceError, match=r"no data file found .*test\.csv, test_2\.csv"):
        list(source.read(path=tmp_path, split="test"))
    no_choices = ["Figure_path", "Question", "Anwser", "Answer_label"]
    _write_csv(tmp_path / "train.csv", [["a.jpg", "Q?", "x", "B"]], header=no_choices)
    with pytest.raises(SourceError, match=r"lacks column.*Choice A, Choice B, Choice C, Choice D"):
        list(source.read(path=tmp_path))
    (tmp_path / "train.csv").write_text("")
    with pytest.raises(SourceError, match="is empty"):
        list(source.read(path=tmp_path))
    with pytest.raises(SourceError, match=r"no data file found in Hub repo"):
        list(source.read(hub=str(tmp_path / "images")))


def test_demo_files_read_with_two_rejects(tmp_path):
    path = demo.write(tmp_path)
    items = list(get_source("pmc_vqa").read(path=path))
    records, rejected = _split(items)
    # 36 scan questions and, in test, the learnable demo's 40 held-out drug-class questions
    assert len(records) == 76 and len(items) == 78
    assert Counter(r.split for r in records) == {"train": 24, "test": 52}
    rule = records[-1]  # the last held-out drug (medvlt_data/demo/rules.py), with a scan
    assert rule.question.endswith("Tibprazole is an example of which drug class?") and rule.images
    assert list(rule.options.values()) == ["Beta blocker", "ACE inhibitor", "Statin", "Proton pump inhibitor"]
    assert {ref: r.reason for ref, r in rejected.items()} == {
        "train-00024": "unknown-answer-letter", "test-00012": "missing-image",
    }  # fmt: skip
    assert "PMC0000000_missing.jpg" in rejected["test-00012"].detail
    assert set(Counter(r.answer_label for r in records)) == {"A", "B", "C", "D"}
    first = records[0]
    assert first.question == "Is there a bright lesion on the left side?"
    assert (first.options["A"], first.answer_label, first.answer) == ("Yes", "A", "Yes")
    assert all(len(r.images) == 1 and r.images[0][:2] == b"\xff\xd8" for r in records)
    raw = (path / "train.csv").read_text().splitlines()
    assert raw[1].startswith(
        "scan_00_round_left.jpg,Is there a bright lesion on the left side?,A:Yes, A:Yes ,"
    )


# Version 2 as released in RadGenome/PMC-VQA (train_2.csv, test_2.csv, images_2.zip): no Answer_label
# column; Answer holds the letter; a Caption column (loaders of the v2 files index
# row["Choice " + row["Answer"]] and read row["Caption"]). The column order is not documented.
HEADER_2 = ["Figure_path", "Caption", "Question", "Choice A", "Choice B", "Choice C", "Choice D", "Answer"]


def _row_2(figure, question, letter, choices=UPTAKE, caption="Bone scan of the chest.") -> list[str]:
    return [figure, caption, question, *choices, letter]


def test_version_2_layout_answer_is_the_letter(tmp_path):
    first, second = _jpeg((1, 2, 3)), _jpeg((4, 5, 6))
    _zip(tmp_path / "images_2.zip", {"figures/PMC1_F1.jpg": first, "figures/PMC2_F2.jpg": second})
    _write_csv(tmp_path / "train_2.csv", [
        _row_2("PMC1_F1.jpg", "What is the uptake pattern?", "B"),
        _row_2("PMC2_F2.jpg", "Which one?", " D "),
        _row_2("PMC2_F2.jpg", "Bad letter?", "E"),
        _row_2("PMC2_F2.jpg", "A text answer?", "Focal uptake pattern"),
        _row_2("PMC404_F1.jpg", "No figure?", "A"),
    ], header=HEADER_2)  # fmt: skip
    _write_csv(tmp_path / "test_2.csv", [_row_2("PMC2_F2.jpg", "Test?", "C")], header=HEADER_2)
    for items in (list(get_source("pmc_vqa").read(path=tmp_path)),
                  list(get_source("pmc_vqa").read(hub=str(tmp_path)))):  # fmt: skip
        records, rejected = _split(items)
        assert [(r.source_id, r.split, r.answer_label, r.answer) for r in records] == [
            ("train_2-00000", "train", "B", "Focal uptake pattern"),
            ("train_2-00001", "train", "D", "Cannot determine from the information given"),
            ("test_2-00000", "test", "C", "No uptake pattern"),
        ]  # fmt: skip
        assert records[0].images == [first] and records[2].images == [second]
        assert records[0].options == {"A": "Diffuse uptake pattern", "B": "Focal uptake pattern",
                                      "C": "No uptake pattern", "D": "Cannot determine from the information given"}  # fmt: skip
        assert {k: v.reason for k, v in rejected.items()} == {
            "train_2-00002": "unknown-answer-letter", "train_2-00003": "unknown-answer-letter",
            "train_2-00004": "missing-image"}  # fmt: skip
        assert "train_2.csv row 2 (line 4): Answer 'E' is not one of A-D" in rejected["train_2-00002"].detail
    only_test = list(get_source("pmc_vqa").read(path=tmp_path, split="test"))
    assert [r.source_id for r in only_test] == ["test_2-00000"]  # test.csv absent: the v2 file


def test_version_1_layout_still_needs_a_label_when_answer_is_text(tmp_path):
    # v1 (train.csv: Answer_label present) keeps its checks; a v1 file that lost Answer_label is read
    # as version 2, where a text Answer is no letter: every row is rejected, none mislabelled
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "PMC1_F1.jpg").write_bytes(_jpeg())
    _write_csv(tmp_path / "test_clean.csv", [_row("PMC1_F1.jpg", "Q?", "Focal uptake pattern", UPTAKE, "B")],
               header=HEADER)  # fmt: skip
    (record,) = get_source("pmc_vqa").read(path=tmp_path, split="test_clean")
    assert (record.source_id, record.split, record.answer_label) == ("test_clean-00000", "test", "B")
    no_label = [h for h in HEADER if h != "Answer_label"]
    _write_csv(tmp_path / "train.csv", [_row("PMC1_F1.jpg", "Q?", "Focal uptake pattern", UPTAKE, "B")[:-1]],
               header=no_label)  # fmt: skip
    (item,) = get_source("pmc_vqa").read(path=tmp_path, split="train")
    assert isinstance(item, Rejected) and item.reason == "unknown-answer-letter"
