"""What reading a source folder must give, per local layout, for the property tests: the functions that
read a folder and check ``read = kept + rejected``, and the definition of a row of each layout.

The only error a read may raise is medvlt's own :class:`SourceError`, for a layout that is broken as
a whole (and its message names the source or the file); everything else is one item per row. What a
row is (:func:`expected`):

- JSON Lines (medqa, medmcqa, mmlu, mmlu_pro, medxpertqa; headqa when a file is JSON Lines): a line
  that is not blank (ASCII whitespace only), lines ending at ``\\n``; a UTF-16 file is refused;
- a JSON list file (vqa_rad, slake): an element; the file must be valid UTF-8 JSON holding a list;
- PathVQA: a question of an image entry (an entry that is not a well-formed one is one row);
- HEAD-QA release JSON: a question of an exam (an exam whose ``data`` is no list is one row);
- PubMedQA: a PMID of ``ori_pqal.json``;
- CSV (pmc_vqa, gpqa): a record after the header that is not empty, as Python's csv module reads it
  (a record it cannot parse is one row); a changed header may make the file unreadable as a whole;
- Parquet (mmmu_medical): a row of a file.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from medvlt_data.rejects import lookup
from medvlt_data.schema import Record
from medvlt_data.sources import SOURCES, Rejected, SourceError, get_source

#: The only exceptions a read may raise.
ALLOWED_ERRORS = (SourceError,)
#: Every registered adapter: each has a local layout that the demo corpus writes.
NAMES = sorted(SOURCES)
DATA_SUFFIXES = (".json", ".jsonl", ".csv", ".parquet")


@dataclass
class Expect:
    """What a read of a (mutated) folder must give: ``rows`` items, or a SourceError when ``rows`` is
    None; with ``may_refuse`` a SourceError is also acceptable."""

    rows: int | None
    may_refuse: bool = False


def files_of(folder: Path, data_only: bool) -> list[Path]:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return [p for p in files if p.suffix in DATA_SUFFIXES] if data_only else files


def read_all(name: str, folder: Path) -> tuple[list, SourceError | None]:
    items: list = []
    try:
        for item in get_source(name).read(path=folder):
            items.append(item)
    except ALLOWED_ERRORS as exc:
        return items, exc
    return items, None


def check_read(name: str, folder: Path, pristine: Path) -> None:
    """The two properties, for the source ``name`` read from ``folder`` (``pristine``: before mutation)."""
    want = expected(name, folder, pristine)
    items, error = read_all(name, folder)
    if error is not None:
        assert want.rows is None or want.may_refuse, f"{name}: refused a readable layout: {error}"
        message = str(error)
        assert name in message or str(folder) in message, (
            f"{name}: the error names no source or file: {message}"
        )
        return
    assert want.rows is not None, f"{name}: read a layout that is broken as a whole ({len(items)} items)"
    kept = [i for i in items if isinstance(i, Record)]
    rejected = [i for i in items if isinstance(i, Rejected)]
    assert len(kept) + len(rejected) == len(items), f"{name}: items that are neither records nor rejects"
    assert len(items) == want.rows, (
        f"{name}: {want.rows} rows read, {len(kept)} kept + {len(rejected)} rejected"
    )
    for reject in rejected:
        assert lookup(reject.reason) is not None, f"{name}: unregistered reason {reject.reason!r}"
        assert reject.file and reject.ref, f"{name}: a reject that names no file or record: {reject}"


_UTF16_MARKS, _UTF8_MARK = (b"\xff\xfe", b"\xfe\xff"), b"\xef\xbb\xbf"


def _strict(path: Path) -> str | None:
    """The file as UTF-8 text (a UTF-8 byte order mark dropped), None when it is not."""
    data = path.read_bytes()
    if data.startswith(_UTF16_MARKS):
        return None
    try:
        return data.removeprefix(_UTF8_MARK).decode("utf-8")
    except UnicodeDecodeError:
        return None


def _lines(data: bytes) -> int | None:
    """Non-blank lines of JSON Lines bytes (lines end at ``\\n``; a UTF-8 byte order mark is no
    content); None for a UTF-16 file, which is refused."""
    if data.startswith(_UTF16_MARKS):
        return None
    lines = data.split(b"\n")
    lines[0] = lines[0].removeprefix(_UTF8_MARK)
    return sum(1 for line in lines if line.strip())


_BROKEN = object()


def _json(path: Path):
    text = _strict(path)
    if text is None:
        return _BROKEN
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return _BROKEN


def _csv_rows(path: Path, encoding: str, dict_reader: bool) -> tuple[int, bool, list[str] | None]:
    """(records after the header, whether reading stopped at an error, the header)."""
    text = path.read_bytes().decode(encoding, errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""))
    header, rows = None, 0
    while True:
        line = reader.line_num
        try:
            record = next(reader)
        except StopIteration:
            return rows, False, header
        except csv.Error:
            if reader.line_num == line:
                return rows, True, header
            rows += header is not None
            continue
        if header is None and (record or dict_reader):
            header = record
        elif record:
            rows += 1


def expected(name: str, folder: Path, pristine: Path) -> Expect:
    return _EXPECT[name](folder, pristine)


def _jsonl_layout(glob: str, empty_refused: bool = False):
    def expect(folder: Path, pristine: Path) -> Expect:
        counts = [_lines(p.read_bytes()) for p in sorted(folder.glob(glob))]
        if None in counts or (empty_refused and 0 in counts):
            return Expect(None)
        return Expect(sum(counts))

    return expect


def _json_lists(*names: str):
    def expect(folder: Path, pristine: Path) -> Expect:
        values = [_json(folder / n) for n in names if (folder / n).is_file()]
        if any(not isinstance(v, list) for v in values):
            return Expect(None)
        return Expect(sum(len(v) for v in values))

    return expect


def _pathvqa(folder: Path, pristine: Path) -> Expect:
    rows = 0
    for name in ("pvqa_train.json", "pvqa_val.json", "pvqa_test.json"):
        entries = _json(folder / name)
        if not isinstance(entries, list):
            return Expect(None)
        for entry in entries:
            entry = entry if isinstance(entry, dict) else {}
            lists = [entry.get(k) for k in ("sentf", "labelf")]
            questions, answers = (v["pvqa"] if isinstance(v, dict) and isinstance(v.get("pvqa"), list)
                                  else None for v in lists)  # fmt: skip
            if str(entry.get("img_id") or "").strip() and questions is not None and answers is None:
                rows += len(questions)
            elif not str(entry.get("img_id") or "").strip() or questions is None or answers is None:
                rows += 1
            else:
                rows += max(len(questions), len(answers))
    return Expect(rows)


def _object_line(raw: bytes) -> bool:
    try:
        return isinstance(json.loads(raw.removeprefix(_UTF8_MARK).decode("utf-8")), dict)
    except (ValueError, RecursionError):
        return False


def _headqa(folder: Path, pristine: Path) -> Expect:
    """A release JSON file, a JSON list of rows, one row object, or JSON Lines (its first line an object)."""
    rows = 0
    for path in sorted((folder / "HEAD_EN").glob("*.json")):
        data, text = path.read_bytes(), _strict(path)
        try:
            content = json.loads(text) if text is not None else _BROKEN
        except RecursionError:
            return Expect(None)
        except ValueError:
            content = _BROKEN
        if content is _BROKEN:  # JSON Lines when its first line is an object, else unreadable
            if not _object_line(data.lstrip().split(b"\n", 1)[0]):
                return Expect(None)
            content = None
        if content is None:
            count = _lines(data)
            if count is None:
                return Expect(None)
            rows += count
        elif isinstance(content, dict) and "exams" in content:
            if not isinstance(content["exams"], dict):
                return Expect(None)
            for exam in content["exams"].values():
                data = exam.get("data") if isinstance(exam, dict) else None
                rows += len(data) if isinstance(data, list) else 1
        elif isinstance(content, dict) and ("data" in content or "qtext" in content):
            rows += 1
        elif isinstance(content, list):
            rows += len(content)
        else:
            return Expect(None)
    return Expect(rows)


def _pubmedqa(folder: Path, pristine: Path) -> Expect:
    data, truth = _json(folder / "ori_pqal.json"), _json(folder / "test_ground_truth.json")
    if not isinstance(data, dict) or not isinstance(truth, dict):
        return Expect(None)
    return Expect(len(data))


def _csv_layout(*names: str, encoding: str, dict_reader: bool):
    def expect(folder: Path, pristine: Path) -> Expect:
        total, refuse = 0, False
        for name in names:
            rows, stopped, header = _csv_rows(folder / name, encoding, dict_reader)
            original = _csv_rows(pristine / name, encoding, dict_reader)[2]
            total += rows
            refuse = refuse or stopped or header != original or _strict(folder / name) is None
        return Expect(total, may_refuse=refuse)

    return expect


def _mmmu(folder: Path, pristine: Path) -> Expect:
    import pyarrow.parquet as pq

    rows = 0
    for path in sorted(folder.glob("*/*.parquet")):
        try:
            handle = pq.ParquetFile(path)
            values = [row for batch in handle.iter_batches() for row in batch.to_pylist()]
        except Exception:  # a damaged file: the read must be refused
            return Expect(None)
        if len(values) != handle.metadata.num_rows:
            return Expect(None)
        rows += len(values)
    return Expect(rows)


_EXPECT = {
    "medqa": _jsonl_layout("*.jsonl"),
    "medmcqa": _jsonl_layout("*.jsonl"),
    "mmlu": _jsonl_layout("*.jsonl", empty_refused=True),
    "mmlu_pro": _jsonl_layout("**/*.jsonl"),
    "medxpertqa": _jsonl_layout("MM/*.jsonl"),
    "vqa_rad": _json_lists("trainset.json", "testset.json"),
    "slake": _json_lists("train.json", "validate.json", "test.json"),
    "pathvqa": _pathvqa,
    "headqa": _headqa,
    "pubmedqa": _pubmedqa,
    "pmc_vqa": _csv_layout("train.csv", "test.csv", encoding="utf-8-sig", dict_reader=False),
    "gpqa": _csv_layout("gpqa_diamond.csv", encoding="utf-8", dict_reader=True),
    "mmmu_medical": _mmmu,
}
#: Per source: its row files and the fields a row's meaning hangs on (image references among them).
FIELDS = {
    "medqa": ("*.jsonl", ["question", "label", "id"]),
    "medmcqa": ("*.jsonl", ["question", "label", "id", "label_rationale"]),
    "mmlu": ("*.jsonl", ["question", "label", "subject"]),
    "mmlu_pro": ("*.jsonl", ["question", "options", "answer", "answer_index", "question_id"]),
    "medxpertqa": ("MM/*.jsonl", ["images", "question", "options", "label", "id"]),
    "vqa_rad": ("*.json", ["image_name", "question", "answer", "answer_type", "qid"]),
    "slake": ("*.json", ["img_name", "question", "answer", "answer_type", "q_lang", "qid"]),
    "pathvqa": ("*.json", ["img_id", "sentf", "labelf", "pvqa"]),
    "headqa": (
        "HEAD_EN/*.json",
        ["image", "qtext", "answers", "ra", "qid", "aid", "atext", "data", "language"],
    ),
    "pubmedqa": ("ori_pqal.json", ["QUESTION", "CONTEXTS", "LABELS", "final_decision"]),
    "pmc_vqa": ("*.csv", ["Figure_path", "Question", "Answer", "Choice A", "Choice D", "Answer_label"]),
    "gpqa": ("*.csv", ["Question", "Correct Answer", "Incorrect Answer 1", "Record ID"]),
    "mmmu_medical": ("*/*.parquet", ["image_1", "question", "options", "answer", "question_type", "id"]),
}
assert set(_EXPECT) == set(FIELDS) == set(SOURCES), "every adapter needs its row definition and fields here"
