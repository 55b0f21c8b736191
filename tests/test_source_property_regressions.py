"""The bugs the property tests of the source adapters found, each kept as an explicit case (the input
the property test shrank it to), with the error it raised before its fix."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from medvlt_data.demo import write_demo_corpus
from medvlt_data.schema import Record
from medvlt_data.sources import Rejected, SourceError, get_source
from tests import mutations as mut
from tests.source_rows import FIELDS, expected, files_of, read_all


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pristine")
    write_demo_corpus(root)
    return root


def _damaged_copy(corpus: Path, tmp_path: Path, name: str, changes: list[tuple]) -> Path:
    folder = tmp_path / name
    shutil.copytree(corpus / name, folder)
    files = files_of(folder, data_only=False)
    for change in changes:
        mut.apply(files, change)
    return folder


def test_a_parquet_file_whose_pages_are_damaged_loses_no_rows_silently(corpus, tmp_path):
    """One flipped bit in a page header: pyarrow's batch reader yielded no rows and no error, so the
    file's two rows vanished from the read; now it is a SourceError naming the file."""
    folder = _damaged_copy(corpus, tmp_path, "mmmu_medical", [("flip", 0, 57, 1)])
    with pytest.raises(
        SourceError, match=r"dev-00000-of-00001\.parquet: cannot read Parquet: 0 of its 2 rows"
    ):
        list(get_source("mmmu_medical").read(path=folder))


def test_a_csv_field_over_the_csv_module_limit_is_one_reject(corpus, tmp_path):
    """A 200,000-character cell: Python's csv module raises csv.Error (field larger than field limit),
    which escaped gpqa's read as a bare traceback; now that row is a ``malformed-csv`` reject."""
    folder = _damaged_copy(corpus, tmp_path, "gpqa", [("value", 0, 1, "huge", None)])
    items, error = read_all("gpqa", folder)
    assert error is None
    rejected = [i for i in items if isinstance(i, Rejected)]
    assert len(items) == expected("gpqa", folder, corpus / "gpqa").rows == 21
    assert [r.reason for r in rejected] == ["malformed-csv", "empty-options"]
    assert "field larger than field limit" in rejected[0].detail and rejected[0].file.endswith(
        "gpqa_diamond.csv"
    )


def test_a_csv_header_the_csv_module_cannot_read_is_a_source_error(corpus, tmp_path):
    folder = _damaged_copy(corpus, tmp_path, "gpqa", [("value", 0, 0, "huge", None)])
    with pytest.raises(SourceError, match=r"gpqa_diamond\.csv: cannot read the CSV header: field larger"):
        list(get_source("gpqa").read(path=folder))


@pytest.mark.parametrize(
    "name", ["vqa_rad", "slake", "pathvqa", "medxpertqa", "headqa", "pmc_vqa", "mmmu_medical"]
)
def test_an_image_name_too_long_for_the_file_system_is_a_reject(corpus, tmp_path, name):
    """A 300-character image name: the file system's ENAMETOOLONG (OSError) escaped every image lookup
    (ImageStore, the dataset-folder reader, PathVQA's finder) as a traceback; now the row is a reject."""
    glob, keys = FIELDS[name]
    folder = tmp_path / name
    shutil.copytree(corpus / name, folder)
    mut.apply_field(sorted(folder.glob(glob)), keys, ("field", 0, 0, 0, "a" * 300))
    items, error = read_all(name, folder)
    assert error is None and len(items) == expected(name, folder, corpus / name).rows
    reasons = [i.reason for i in items if isinstance(i, Rejected) and "a" * 300 in i.detail]
    assert {"missing-image", "image-outside-root"} & set(reasons), reasons


@pytest.mark.parametrize("value", [[1], "", "three", 2.5, True])
def test_an_answer_index_that_is_no_whole_number_is_a_reject(corpus, tmp_path, value):
    """MMLU-Pro's answer_index [1] or "": int() raised TypeError / ValueError out of the read."""
    folder = _damaged_copy(corpus, tmp_path, "mmlu_pro", [])
    mut.apply_field([folder / "test.jsonl"], ["answer_index"], ("field", 0, 0, 0, value))
    items, error = read_all("mmlu_pro", folder)
    assert error is None and len(items) == 21
    first = items[0]
    assert isinstance(first, Rejected) and first.reason == "malformed-row"
    assert f"answer_index {value!r} is not a whole number" in first.detail


@pytest.mark.parametrize(("name", "key", "ref"), [("gpqa", "Record ID", "train-00000"),
                                                  ("mmlu_pro", "question_id", "test-00000"),
                                                  ("vqa_rad", "qid", "row 0")])  # fmt: skip
def test_a_blank_id_falls_back_to_the_row_position(corpus, tmp_path, name, key, ref):
    """A blank id (" ") became an empty source_id: the record was rejected as no-source-id by a reject
    that named no record. A blank id is now no id: the row's position names it."""
    folder = _damaged_copy(corpus, tmp_path, name, [])
    glob, _ = FIELDS[name]
    mut.apply_field(sorted(folder.glob(glob)), [key], ("field", 0, 0, 0, " "))
    items, error = read_all(name, folder)
    assert error is None and all(i.ref if isinstance(i, Rejected) else i.source_id for i in items)
    assert [i.source_id for i in items if isinstance(i, Record) and i.source_id == ref] == [ref]


def test_a_blank_pmid_falls_back_to_the_row_position(corpus, tmp_path):
    folder = _damaged_copy(corpus, tmp_path, "pubmedqa", [])
    data = json.loads((folder / "ori_pqal.json").read_text(encoding="utf-8"))
    first = next(iter(data))
    data = {("" if k == first else k): v for k, v in data.items()}
    (folder / "ori_pqal.json").write_text(json.dumps(data), encoding="utf-8")
    items, error = read_all("pubmedqa", folder)
    assert error is None and len(items) == 30
    assert isinstance(items[0], Record) and items[0].source_id == "row-00000"


@pytest.mark.parametrize("value", [False, 3, 2.5])
def test_an_images_field_that_is_no_list_is_a_reject(corpus, tmp_path, value):
    """MedXpertQA's ``"images": false``: iterating the bool raised TypeError out of the read."""
    folder = _damaged_copy(corpus, tmp_path, "medxpertqa", [])
    mut.apply_field(sorted(folder.glob("MM/*.jsonl")), ["images"], ("field", 0, 0, 0, value))
    items, error = read_all("medxpertqa", folder)
    assert error is None and len(items) == expected("medxpertqa", folder, corpus / "medxpertqa").rows
    first = items[0]
    assert isinstance(first, Rejected) and first.reason == "missing-image"
    assert "unsupported image value" in first.detail
