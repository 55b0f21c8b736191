"""HEAD-QA, English (text; the release and the old ``head_qa`` copy also carry a few images).

Two row layouts, told apart by their columns, in every place a row can come from:

- ``openlifescienceai/headqa`` (the Hub id of the recipe; what UCSC-VLAA/m1
  src/collect_data/headqa.py:21-50 loads, split ``train``, no config): files ``train.json``,
  ``validation.json`` and ``test.json`` at the repository root (no README, so ``datasets`` reads them
  with its JSON builder and names the splits after the files), one row per question::

      {"id", "subject_name", "topic_name",
       "data": {"Question", "Options": {"A": ..., "B": ..., ...}, "Correct Answer", "Correct Option"}}

  Options are the letters in order (a letter whose text is missing or blank is left out: the JSON
  builder fills a letter that only other rows have with null); the label is ``Correct Option``; the
  answer is ``Correct Answer``, which must equal that option's text (``answer-mismatch`` otherwise,
  where m1 stops with a ValueError, headqa.py:45-48). source_id is ``id`` (``{split}-{index:05d}``
  without one); meta keeps subject_name and topic_name. This copy has no images.
- the original ``head_qa`` layout (the old ``head_qa`` Hub repo with configs ``en``/``es``, the
  release JSON): name (exam), year, category, qid, qtext, ra (the ``aid`` of the right answer,
  1-based), image (None/empty, an ``Image`` or a relative path) and answers (a list of
  ``{aid, atext}``). The config ``en`` is passed only when the repository declares it.

Local: the original HEAD-QA release JSON (``HEAD_EN.json``, ``train_HEAD_EN.json``, ...)::

    {"version": ..., "language": "en",
     "exams": {"<exam>": {"name", "year", "category",
                          "data": [{"qid", "qtext", "ra", "image", "answers": [{"aid", "atext"}]}]}}}

``root`` is one such file, or a folder whose ``*.json`` files (and those of a ``HEAD_EN/`` subfolder,
the release's English folder) are read. The split comes from the file name (``dev_HEAD_EN.json`` ->
validation, ``test_HEAD_EN.json`` -> test); a name without a split word (``HEAD_EN.json``) is train.
A file whose ``language`` is not English has every row rejected as ``non-english`` (the medvlt pool is
the English one). Image paths are relative (``images/...png``) and looked up beside the file and in
its parent folder, within the folder given; one that leads outside is ``image-outside-root``. Rows
exported from the Hub also read locally, in either row layout: ``*.jsonl``, ``*.parquet``, or a
``.json`` file holding a list of rows or JSON Lines (a local copy of the openlifescienceai repo:
``train.json`` is train).

Rules of the original layout: options are the answers in ``aid`` order; the label is the letter of
``ra``'s position among the aids (``unknown-answer-letter`` when ``ra`` is not one of them;
``empty-options`` when there are no answers). A question that carries an image keeps its bytes in
``images``; an image that is named but cannot be found is ``missing-image``. source_id is
``{exam name}-{qid}``.

m1 also shuffles every question's options with numpy ``default_rng(42)`` (headqa.py:50-54, 82);
medvlt keeps the source's order (stated in the build card's recipe and in docs/fidelity.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

from medvlt_data.images import (
    ImageError,
    ImageOutsideRoot,
    ImageStore,
    image_to_bytes,
    is_within,
    name_parts,
    read_image_file,
    read_image_in,
)
from medvlt_data.schema import LETTERS
from medvlt_data.sources import register
from medvlt_data.sources.base import (
    Item,
    Rejected,
    Source,
    SourceError,
    decode_text,
    guess_split,
    read_json_lines,
)  # fmt: skip
from medvlt_data.sources.hub import hub_file, hub_rows, local_copy

#: Columns a row of the original HEAD-QA layout must have (old Hub copy and release JSON alike).
ROW_COLUMNS = ("qid", "qtext", "ra", "answers")
#: Columns of a row of the openlifescienceai/headqa layout, and the keys of its ``data``.
MCQA_COLUMNS = ("id", "subject_name", "topic_name", "data")
MCQA_DATA_KEYS = ("Question", "Options", "Correct Answer", "Correct Option")
_SPLITS = {"train": "train", "dev": "validation", "validation": "validation", "test": "test"}


@register
class HeadQA(Source):
    name = "headqa"
    modality = "text"
    license = "MIT"
    hub_id = "openlifescienceai/headqa"
    hub_config = "en"
    local_layout = "HEAD-QA release JSON (HEAD_EN.json / {train,dev,test}_HEAD_EN.json) + images/"
    description = "Spanish healthcare specialization exams (English version), 4-5 options"

    def read_local(self, root: Path, split: str | None) -> Iterator[Item]:
        base = _dataset_folder(root)
        for name, path in _local_files(root, split, self.name):
            places = [path.parent, path.parent / "images", path.parent.parent]
            store = ImageStore(p for p in places if p.is_dir() and is_within(p, base))
            image = partial(_local_image, store=store)
            if path.suffix == ".parquet":
                yield from self._flat_rows(_parquet_rows(path), name, path, image)
                continue
            content = _read_json_or_lines(path)
            if isinstance(content, dict) and "exams" in content:
                yield from self._release_rows(content, name, path, image)
            elif (
                isinstance(content, dict)
                and "exams" not in content
                and ("data" in content or "qtext" in content)
            ):
                yield from self._flat_rows([(0, "line 1", content, "")], name, path, image)  # one JSON line
            elif isinstance(content, list):
                rows = ((i, f"row {i}", row, "") for i, row in enumerate(content))
                yield from self._flat_rows(rows, name, path, image)
            elif content is None:
                lines = ((i, f"line {n}", row, e) for i, (n, row, e) in enumerate(read_json_lines(path)))
                yield from self._flat_rows(lines, name, path, image)
            else:
                raise SourceError(
                    f"{self.name}: {path} is neither the HEAD-QA release JSON (no 'exams') nor a list of rows"
                )

    def read_hub(self, repo_id: str, split: str | None, revision: str | None) -> Iterator[Item]:
        config = self._config_for(repo_id, revision)
        image = partial(_hub_image, repo_id=repo_id, revision=revision)
        rows = hub_rows(
            repo_id, config=config, split=split, revision=revision, image_columns=("image",),
            source=self.name,
        )  # fmt: skip
        for name, index, row in rows:
            if "data" not in row:
                missing = [c for c in ROW_COLUMNS if c not in row]
                if missing:
                    raise SourceError(
                        f"{self.name}: {repo_id} [{name}] lacks column(s) {', '.join(missing)}; columns "
                        f"are {', '.join(row)} (expected {', '.join(MCQA_COLUMNS)} as in "
                        f"openlifescienceai/headqa, or {', '.join(ROW_COLUMNS)} as in the original release)"
                    )
            where = f"{repo_id} [{name}] row {index}"
            yield self._row(row, split=name, index=index, file=repo_id, where=where, image=image)

    # ------------------------------------------------------------------------------------------------

    def _config_for(self, repo_id: str, revision: str | None) -> str | None:
        """``en`` when the repository declares configs and ``en`` is one of them, else no config."""
        import datasets

        try:
            names = datasets.get_dataset_config_names(repo_id, revision=revision)
        except Exception:  # unreachable or unreadable: load_dataset then reports it as a SourceError
            return None
        return self.hub_config if self.hub_config in names else None

    def _release_rows(self, content: dict, split: str, path: Path, image: Any) -> Iterator[Item]:
        language = str(content.get("language") or "en").strip().lower()
        exams = content.get("exams")
        if not isinstance(exams, dict):
            raise SourceError(f"{self.name}: {path}: 'exams' is not an object")
        index = 0
        for exam_key, exam in exams.items():
            exam = exam if isinstance(exam, dict) else {}
            data = exam.get("data")
            if not isinstance(data, list):
                yield self.reject(
                    "malformed-row", f"{path} (exam {exam_key}): 'data' is not a list of questions",
                    path, exam_key, split,
                )  # fmt: skip
                continue
            for position, question in enumerate(data):
                where = f"{path} (exam {exam_key}, question {position})"
                if not isinstance(question, dict):
                    ref = f"{exam_key} question {position}"
                    yield self.reject("malformed-row", f"{where}: not an object", path, ref, split)
                elif language not in ("en", "english"):
                    ref = _ref(exam.get("name") or exam_key, question.get("qid"), split, index)
                    yield self.reject(
                        "non-english", f"{where}: the file's language is {language!r}", path, ref, split
                    )
                else:
                    row = {**question, "name": exam.get("name") or exam_key, "year": exam.get("year"),
                           "category": exam.get("category")}  # fmt: skip
                    yield self._row(row, split=split, index=index, file=path, where=where, image=image)
                index += 1

    def _flat_rows(self, rows: Any, split: str, path: Path, image: Any) -> Iterator[Item]:
        for index, label, row, error in rows:
            where = f"{path} {label}"
            if error or not isinstance(row, dict):
                reason = getattr(error, "reason", "malformed-json") if error else "malformed-row"
                yield self.reject(reason, f"{where}: {error or 'not an object'}", path, label, split)
                continue
            yield self._row(row, split=split, index=index, file=path, where=where, image=image)

    def _row(self, row: dict[str, Any], *, split: str, index: int, file: Any, where: str, image: Any) -> Item:
        if "data" in row and "qtext" not in row:
            return self._mcqa_row(row, split=split, index=index, file=file, where=where)
        ref = _ref(row.get("name"), row.get("qid"), split, index)
        where = f"{where} ({ref})"
        answers = row.get("answers")
        if not isinstance(answers, list) or not answers:
            return self.reject("empty-options", f"{where}: no answers", file, ref, split)
        try:
            pairs = sorted((int(str(a["aid"]).strip()), str(a.get("atext") or "").strip()) for a in answers)
        except (AttributeError, KeyError, TypeError, ValueError):
            return self.reject(
                "malformed-row", f"{where}: answers must be objects with an integer 'aid'", file, ref, split
            )
        aids = [aid for aid, _ in pairs]
        if len(set(aids)) != len(aids):
            return self.reject("malformed-row", f"{where}: repeated aid in {aids}", file, ref, split)
        try:
            position = aids.index(int(str(row.get("ra")).strip()))
        except ValueError:
            return self.reject(
                "unknown-answer-letter", f"{where}: ra {row.get('ra')!r} is not among the aids {aids}",
                file, ref, split,
            )  # fmt: skip
        if len(pairs) > 10:
            return self.reject("too-many-options", f"{where}: {len(pairs)} answers", file, ref, split)
        try:
            images = image(row.get("image"))
        except ImageError as exc:
            return self.reject(exc.reason, f"{where}: {exc}", file, ref, split)
        return self.record(
            question=row.get("qtext") or "", options=[text for _, text in pairs], label=LETTERS[position],
            source_id=ref, split=split, file=file, images=images, exam=_text(row.get("name")),
            year=_text(row.get("year")), category=_text(row.get("category")), qid=_text(row.get("qid")),
        )  # fmt: skip

    def _mcqa_row(self, row: dict[str, Any], *, split: str, index: int, file: Any, where: str) -> Item:
        """One row of the openlifescienceai/headqa layout (module docstring) as a record or a rejection."""
        ref = _text(row.get("id")) or f"{split}-{index:05d}"
        where = f"{where} ({ref})"
        data = row.get("data")
        if not isinstance(data, dict) or any(key not in data for key in MCQA_DATA_KEYS):
            return self.reject(
                "malformed-row", f"{where}: 'data' must be an object with {', '.join(MCQA_DATA_KEYS)}",
                file, ref, split,
            )  # fmt: skip
        raw = data.get("Options")
        if not isinstance(raw, dict):
            return self.reject("empty-options", f"{where}: Options is not an object", file, ref, split)
        options = {
            str(letter).strip().upper(): str(text).strip()
            for letter, text in sorted(raw.items())
            if text is not None and str(text).strip()
        }
        if not options:
            return self.reject("empty-options", f"{where}: Options has no text", file, ref, split)
        if list(options) != list(LETTERS[: len(options)]):
            return self.reject(
                "malformed-row", f"{where}: option letters {list(options)} are not A, B, C, ... in order",
                file, ref, split,
            )  # fmt: skip
        label = self.answer_letter(
            data.get("Correct Option"), options, column="Correct Option", where=where, file=file,
            ref=ref, split=split,
        )  # fmt: skip
        if isinstance(label, Rejected):
            return label
        answer = str(data.get("Correct Answer") or "").strip()
        if answer != options[label]:
            return self.reject(
                "answer-mismatch",
                f"{where}: Correct Answer {answer!r} is not option {label} ({options[label]!r})",
                file, ref, split,
            )  # fmt: skip
        return self.record(
            question=data.get("Question") or "", options=options, label=label, source_id=ref, split=split,
            file=file, answer=answer, subject_name=_text(row.get("subject_name")),
            topic_name=_text(row.get("topic_name")),
        )  # fmt: skip


def _ref(exam: Any, qid: Any, split: str, index: int) -> str:
    if exam not in (None, "") and qid not in (None, ""):
        return f"{str(exam).strip()}-{str(qid).strip()}"
    return f"{split}-{index:05d}"


def _text(value: Any) -> str | None:
    return None if value is None else str(value).strip()


def _has_image(value: Any) -> bool:
    if isinstance(value, dict):
        return bool(value.get("bytes") or value.get("path"))
    return bool(value.strip()) if isinstance(value, str) else value is not None


def _dataset_folder(root: Path) -> Path:
    """The folder images may come from: the folder given, or the given file's (its parent for a file in
    the release's ``HEAD_EN/``, whose images lie beside that folder)."""
    base = root if root.is_dir() else root.parent
    return base.parent if root.is_file() and base.name.upper() == "HEAD_EN" else base


def _local_image(value: Any, store: ImageStore) -> list[bytes]:
    if not _has_image(value):
        return []
    if isinstance(value, dict) and not value.get("bytes"):
        value = str(value.get("path") or "")
    if isinstance(value, str):
        return [store.read(value.strip())]
    return [image_to_bytes(value)]


def _hub_image(value: Any, repo_id: str, revision: str | None) -> list[bytes]:
    """The row's image: embedded bytes, or a path inside the repository (JSON copies keep paths)."""
    if not _has_image(value):
        return []
    local = local_copy(repo_id)
    if isinstance(value, str) and local is None:
        name = "/".join(name_parts(value.strip(), repo_id))
        if value.strip().startswith("/") or not name:
            raise ImageOutsideRoot(f"image path {value.strip()!r} is not a file of {repo_id}")
        path = hub_file(repo_id, name, revision=revision)
        if path is None:
            raise ImageError(f"image file not found in {repo_id}: {value.strip()}")
        return [read_image_file(path)]
    if isinstance(value, str):
        return [read_image_in(local, value.strip())]
    return [image_to_bytes(value, root=local)]


def _local_files(root: Path, split: str | None, source: str) -> list[tuple[str, Path]]:
    """(split, file) pairs of the local layout, filtered by ``split``."""
    suffixes = (".json", ".jsonl", ".parquet")
    if root.is_file():
        files = [root]
    else:
        folders = [root, root / "HEAD_EN"]
        files = sorted(f for folder in folders if folder.is_dir() for f in folder.iterdir()
                       if f.is_file() and f.suffix in suffixes)  # fmt: skip
    if split is not None and split not in _SPLITS.values():
        raise SourceError(f"{source}: unknown split {split!r}; known: train, validation, test")
    pairs = [(_SPLITS.get(guess_split(f.stem), "train"), f) for f in files]
    if split is not None:
        pairs = [(s, f) for s, f in pairs if s == split]
    if not pairs:
        wanted = f" for split {split!r}" if split else ""
        raise SourceError(f"{source}: no HEAD-QA file (*.json, *.jsonl, *.parquet){wanted} in {root}")
    return pairs


def _read_json_or_lines(path: Path) -> Any:
    """The file's JSON value, or None when it is JSON Lines (its first line is an object on its own;
    its lines are then decoded one by one, so a line that is not UTF-8 is one reject). A JSON file that
    is not UTF-8 text is a :class:`SourceError` naming it."""
    data = path.read_bytes()
    first = data.lstrip().split(b"\n", 1)[0]
    try:
        text = decode_text(data, path)
    except SourceError:
        if _is_object_line(first):
            return None
        raise
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if _is_object_line(first):
            return None
        raise SourceError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    except RecursionError:
        raise SourceError(f"{path}: invalid JSON: nested too deeply") from None


def _is_object_line(raw: bytes) -> bool:
    try:
        return isinstance(json.loads(raw.removeprefix(b"\xef\xbb\xbf").decode("utf-8")), dict)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return False


def _parquet_rows(path: Path) -> Iterator[tuple[int, str, dict[str, Any], str]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid / OSError for a damaged file
        raise SourceError(f"{path}: cannot read Parquet: {exc}") from exc
    for index, row in enumerate(table.to_pylist()):
        yield index, f"row {index}", row, ""
