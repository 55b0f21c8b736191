"""Property tests of every source adapter's local layout: damaged files never crash a read, and every
row that entered is kept or rejected (``read = kept + rejected``).

Each example starts from the demo corpus (valid records in each source's local raw layout, with a few
broken rows) or a slice of the real records beside the project, applies one to three random mutations
(:mod:`tests.mutations`: bytes, JSON values, CSV cells, Parquet columns, or one named field of a row)
and reads the folder with ``Source.read``; :mod:`tests.source_rows` says what the read must give.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import example, given

from medvlt_data.demo import write_demo_corpus
from tests import mutations as mut
from tests.source_rows import FIELDS, NAMES, check_read, expected, files_of


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pristine")
    write_demo_corpus(root)
    return root


def mutate_and_check(name: str, pristine_root: Path, changes: list[tuple], data_only: bool) -> None:
    pristine = pristine_root / name
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work) / name
        shutil.copytree(pristine, folder)
        files = files_of(folder, data_only)
        for change in changes:
            mut.apply(files, change)
        check_read(name, folder, pristine)


@pytest.mark.parametrize("name", NAMES)
@given(changes=mut.mutations)
def test_mutated_data_files_are_read_or_refused(corpus, name, changes):
    mutate_and_check(name, corpus, changes, data_only=True)


@pytest.mark.parametrize("name", NAMES)
@given(changes=mut.st.lists(mut.byte_mutations, min_size=1, max_size=2))
def test_byte_damage_anywhere_in_the_folder(corpus, name, changes):
    """Images and data files alike: a damaged image is a reject, never an exception."""
    mutate_and_check(name, corpus, changes, data_only=False)


@pytest.mark.parametrize("name", NAMES)
@given(changes=mut.st.lists(mut.field_mutations, min_size=1, max_size=3))
@example(changes=[("field", 0, 0, 0, "a" * 300)])  # a file name too long for the file system
@example(changes=[("field", 0, 0, 0, "x/" * 200 + "a.jpg")])
@example(changes=[("field", 0, 0, 0, "../../../outside.jpg")])
def test_odd_values_in_the_fields_rows_hang_on(corpus, name, changes):
    """Any value (of any type, any text: long names, paths, tags, NUL) in a named field of a row."""
    glob, keys = FIELDS[name]
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work) / name
        shutil.copytree(corpus / name, folder)
        files = sorted(folder.glob(glob))
        for change in changes:
            mut.apply_field(files, keys, change)
        check_read(name, folder, corpus / name)


#: Real records (../shared/realdata, read in place): source -> a function writing a slice of its real
#: files, in the source's local layout, into a temporary folder (mutations need a copy to damage).
REAL_ROWS = 20


def _real_lines(source: str, name: str, target: str):
    def write(real: Path, folder: Path) -> None:
        lines = (real / source / name).read_bytes().split(b"\n")[:REAL_ROWS]
        (folder / target).write_bytes(b"\n".join(lines) + b"\n")

    return write


def _real_pubmedqa(real: Path, folder: Path) -> None:
    data = json.loads((real / "pubmedqa" / "ori_pqal.json").read_text(encoding="utf-8"))
    truth = json.loads((real / "pubmedqa" / "test_ground_truth.json").read_text(encoding="utf-8"))
    kept = dict(list(data.items())[:REAL_ROWS])
    (folder / "ori_pqal.json").write_text(json.dumps(kept), encoding="utf-8")
    truth = {k: v for k, v in truth.items() if k in kept}
    (folder / "test_ground_truth.json").write_text(json.dumps(truth), encoding="utf-8")


def _real_pathvqa(real: Path, folder: Path) -> None:
    for name in ("pvqa_train.json", "pvqa_val.json", "pvqa_test.json"):
        entries = json.loads((real / "pathvqa" / name).read_text(encoding="utf-8"))[:4]
        (folder / name).write_text(json.dumps(entries), encoding="utf-8")


def _real_vqa_rad(real: Path, folder: Path) -> None:
    (folder / "images").mkdir()
    for name in ("trainset.json", "testset.json"):
        rows = json.loads((real / "vqa_rad" / name).read_text(encoding="utf-8"))[: REAL_ROWS // 2]
        (folder / name).write_text(json.dumps(rows), encoding="utf-8")
        for row in rows:
            image = real / "vqa_rad" / "images" / row["image_name"]
            if image.is_file():
                shutil.copyfile(image, folder / "images" / row["image_name"])


REAL_LAYOUTS = {
    "medqa": _real_lines("medqa", "medqa_input.jsonl", "test.jsonl"),
    "medmcqa": _real_lines("medmcqa", "medmcqa_input.jsonl", "validation.jsonl"),
    "mmlu": _real_lines("mmlu_medical", "mmlu_medical_input.jsonl", "test.jsonl"),
    "pubmedqa": _real_pubmedqa,
    "pathvqa": _real_pathvqa,
    "vqa_rad": _real_vqa_rad,
}


@pytest.fixture(scope="module")
def real_corpus(tmp_path_factory) -> Path:
    from tests.conftest import REALDATA

    root = tmp_path_factory.mktemp("real")
    for name, write in REAL_LAYOUTS.items():
        if (REALDATA / {"mmlu": "mmlu_medical"}.get(name, name)).is_dir():
            (root / name).mkdir()
            write(REALDATA, root / name)
    return root


@pytest.mark.parametrize("name", sorted(REAL_LAYOUTS))
@given(changes=mut.mutations)
def test_mutated_real_records_are_read_or_refused(real_corpus, name, changes):
    """The same properties on real records: a slice of each real file beside the project."""
    if not (real_corpus / name).is_dir():
        pytest.skip(f"real data not available for {name} (the shared/realdata folder beside the project)")
    mutate_and_check(name, real_corpus, changes, data_only=True)


def test_the_pristine_corpus_meets_the_expectations(corpus):
    for name in NAMES:
        check_read(name, corpus / name, corpus / name)
        assert expected(name, corpus / name, corpus / name).rows > 0
