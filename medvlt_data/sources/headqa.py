"""HEAD-QA, English (text; a few questions carry an image).

Hub: ``openlifescienceai/headqa``, one row per question: name (exam), year, category, qid, qtext,
ra (the ``aid`` of the right answer, 1-based), image (None/empty, an ``Image`` or a relative path) and
answers (a list of ``{aid, atext}``); splits train/validation/test. The original ``head_qa`` repo has
two configs, ``en`` and ``es``: the config ``en`` is passed only when the repository declares it; a
repository without configs (the openlifescienceai copy) is read with no config.

Local: the original HEAD-QA release JSON (``HEAD_EN.json``, ``train_HEAD_EN.json``, ...)::

    {"version": ..., "language": "en",
     "exams": {"<exam>": {"name", "year", "category",
                          "data": [{"qid", "qtext", "ra", "image", "answers": [{"aid", "atext"}]}]}}}

``root`` is one such file, or a folder whose ``*.json`` files (and those of a ``HEAD_EN/`` subfolder,
the release's English folder) are read. The split comes from the file name (``dev_HEAD_EN.json`` ->
validation, ``test_HEAD_EN.json`` -> test); a name without a split word (``HEAD_EN.json``) is train.
A file whose ``language`` is not English has every row rejected as ``non-english`` (the medvlt pool is
the English one). Image paths are relative (``images/...png``) and looked up beside the file and in
its parent folder. Rows exported from the Hub also read locally: ``*.jsonl``, ``*.parquet``, or a
``.json`` file holding a list of rows or JSON Lines (a local copy of the openlifescienceai repo).

Rules: options are the answers in ``aid`` order; the label is the letter of ``ra``'s position among
the aids (``unknown-answer-letter`` when ``ra`` is not one of them; ``empty-options`` when there are no
answers). A question that carries an image keeps its bytes in ``images`` (the text pool keeps such
questions as records with images); an image that is named but cannot be found is ``missing-image``.
source_id is ``{exam name}-{qid}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

from medvlt_data.images import ImageError, ImageStore, image_to_bytes
from medvlt_data.schema import LETTERS
from medvlt_data.sources import register
from medvlt_data.sources.base import Item, Source, SourceError, guess_split, read_json_lines
from medvlt_data.sources.hub import hub_file, hub_rows

#: Columns a HEAD-QA row must have (the Hub layout and the rows of the release JSON alike).
ROW_COLUMNS = ("qid", "qtext", "ra", "answers")
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
        for name, path in _local_files(root, split, self.name):
            store = ImageStore([path.parent, path.parent / "images", path.parent.parent])
            image = partial(_local_image, store=store)
            if path.suffix == ".parquet":
                yield from self._flat_rows(_parquet_rows(path), name, path, image)
                continue
            content = _read_json_or_lines(path)
            if isinstance(content, dict) and "exams" in content:
                yield from self._release_rows(content, name, path, image)
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
            missing = [c for c in ROW_COLUMNS if c not in row]
            if missing:
                raise SourceError(
                    f"{self.name}: {repo_id} [{name}] lacks column(s) {', '.join(missing)}; "
                    f"columns are {', '.join(row)}"
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
                reason = "malformed-json" if error else "malformed-row"
                yield self.reject(reason, f"{where}: {error or 'not an object'}", path, label, split)
                continue
            yield self._row(row, split=split, index=index, file=path, where=where, image=image)

    def _row(self, row: dict[str, Any], *, split: str, index: int, file: Any, where: str, image: Any) -> Item:
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
            return self.reject("missing-image", f"{where}: {exc}", file, ref, split)
        return self.record(
            question=row.get("qtext") or "", options=[text for _, text in pairs], label=LETTERS[position],
            source_id=ref, split=split, file=file, images=images, exam=_text(row.get("name")),
            year=_text(row.get("year")), category=_text(row.get("category")), qid=_text(row.get("qid")),
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


def _local_image(value: Any, store: ImageStore) -> list[bytes]:
    if not _has_image(value):
        return []
    if isinstance(value, str):
        return [store.read(value.strip())]
    return [image_to_bytes(value)]


def _hub_image(value: Any, repo_id: str, revision: str | None) -> list[bytes]:
    """The row's image: embedded bytes, or a path inside the repository (JSON copies keep paths)."""
    if not _has_image(value):
        return []
    if isinstance(value, str):
        path = hub_file(repo_id, value.strip(), revision=revision)
        if path is None:
            raise ImageError(f"image file not found in {repo_id}: {value.strip()}")
        return [image_to_bytes(path)]
    return [image_to_bytes(value)]


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
    """The file's JSON value, or None when it is JSON Lines (its first line is an object on its own)."""
    text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        first = text.lstrip().split("\n", 1)[0]
        try:
            if isinstance(json.loads(first), dict):
                return None
        except json.JSONDecodeError:
            pass
        raise SourceError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc


def _parquet_rows(path: Path) -> Iterator[tuple[int, str, dict[str, Any], str]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid / OSError for a damaged file
        raise SourceError(f"{path}: cannot read Parquet: {exc}") from exc
    for index, row in enumerate(table.to_pylist()):
        yield index, f"row {index}", row, ""
