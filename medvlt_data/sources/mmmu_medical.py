"""MMMU, the five medical subjects, multiple-choice questions only (image).

Hub: ``MMMU/MMMU``, Parquet, one config per subject; the medical ones are :data:`SUBJECTS`. Splits
dev/validation/test (the evaluation uses validation + dev; test has no answers). Columns: id,
question (with ``<image n>`` tags), options (the string form of a Python list, ``"['a', 'b']"``),
explanation, image_1 .. image_7 (``Image`` or None), img_type, answer (a letter), topic_difficulty,
question_type ("multiple-choice" / "open"), subfield. :meth:`MMMUMedical.read_hub` loads each of the
five subject configs in turn and keeps the subject in ``meta``.

Local: a copy of the Hub repository's files, read with pyarrow directly (no README needed)::

    {root}/Basic_Medical_Science/{dev,validation,test}-00000-of-00001.parquet
    {root}/Clinical_Medicine/...   (one folder per subject; all five must be there)

``root`` may also be one subject folder or one Parquet file (the subject is its folder's name). The
split is the file name's part before the first ``-``.

Rules, in order: ``question_type`` other than multiple-choice -> ``open-ended``; an answer of ``?``
or empty (the test split) -> ``no-answer``; options that do not parse as a list literal (read with
``ast.literal_eval``, never ``eval``) -> ``malformed-options``; no options -> ``empty-options``; one
option -> ``too-few-options``; more than ten -> ``too-many-options``; an answer that is not the letter
of an option -> ``unknown-answer-letter``; an ``<image n>`` tag whose ``image_n`` is empty, or an image
that cannot be read -> ``missing-image``.

Images are the non-empty ``image_1`` .. ``image_7`` in that order, which is the order of the tag
numbers (as in MedVLThinker's evaluation set), so the n-th image given is ``<image n>``. The tags are
removed from the question (:func:`strip_image_tags`); options keep their text verbatim, so an option
that is just ``<image 2>`` stays ``<image 2>`` (stripping it would leave it empty).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from medvlt_data.images import ImageError, image_to_bytes
from medvlt_data.schema import LETTERS
from medvlt_data.sources import register
from medvlt_data.sources.base import Item, Source, SourceError, guess_split
from medvlt_data.sources.hub import hub_rows, local_copy

#: The MMMU subjects of the Health & Medicine discipline, one Hub config each.
SUBJECTS = (
    "Basic_Medical_Science",
    "Clinical_Medicine",
    "Diagnostics_and_Laboratory_Medicine",
    "Pharmacy",
    "Public_Health",
)
SPLITS = ("dev", "validation", "test")
IMAGE_COLUMNS = tuple(f"image_{n}" for n in range(1, 8))

_TAG = re.compile(r"<image (\d+)>")
_TAG_RUN = re.compile(r"(?:[ \t]*<image \d+>)+[ \t]*")


def strip_image_tags(text: str) -> str:
    """Remove ``<image n>`` tags: a line holding only tags goes; elsewhere a run of tags and the
    spaces around it becomes one space, or nothing at a line's start or end or before punctuation.

    >>> strip_image_tags("<image 1> Which stain is used in <image 2>?")
    'Which stain is used in?'
    >>> strip_image_tags("Compare <image 1> <image 2> and choose.\\n<image 3>\\nWhich is it?")
    'Compare and choose.\\nWhich is it?'
    """

    def clean(line: str) -> str:
        def replace(match: re.Match[str]) -> str:
            after = line[match.end() :]
            if match.start() == 0 or not after or after[0] in ".,;:?!)]":
                return ""
            return " "

        return _TAG_RUN.sub(replace, line)

    lines = [clean(line) for line in text.split("\n") if not _TAG_RUN.fullmatch(line)]
    return "\n".join(lines).strip()


def parse_options(value: Any) -> list[str]:
    """The option list of an MMMU row: a list, or the string form of one (parsed safely).

    >>> parse_options("['Treponema', \\"Leptospira's\\", 3]")
    ['Treponema', "Leptospira's", '3']
    >>> parse_options("__import__('os')")
    Traceback (most recent call last):
    ...
    ValueError: options are not a list literal: "__import__('os')"
    """
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            raise ValueError(f"options are not a list literal: {_short(value)}") from None
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"options are not a list: {_short(value)}")
    return [str(option).strip() for option in value]


@register
class MMMUMedical(Source):
    name = "mmmu_medical"
    modality = "image"
    license = "Apache-2.0"
    hub_id = "MMMU/MMMU"
    local_layout = "{Subject}/{split}-00000-of-00001.parquet for the five medical subjects (Hub files)"
    description = "MMMU Health & Medicine subjects, multiple-choice only (eval: validation + dev)"

    def read_local(self, root: Path, split: str | None) -> Iterator[Item]:
        for subject, name, path in _local_files(root, split, self.name):
            for index, row in enumerate(_parquet_rows(path)):
                yield self._row(row, subject=subject, split=name, index=index, file=path, root=path.parent)

    def read_hub(self, repo_id: str, split: str | None, revision: str | None) -> Iterator[Item]:
        for subject in SUBJECTS:
            rows = hub_rows(
                repo_id, config=subject, split=split, revision=revision, image_columns=IMAGE_COLUMNS,
                source=self.name,
            )  # fmt: skip
            for name, index, row in rows:
                yield self._row(row, subject=subject, split=name, index=index, file=f"{repo_id}/{subject}",
                                root=local_copy(repo_id))  # fmt: skip

    def _row(
        self, row: dict[str, Any], *, subject: str | None, split: str, index: int, file: Any,
        root: Path | None,
    ) -> Item:  # fmt: skip
        """One row as a record or a rejection; an image given as a path is read inside ``root`` only."""
        ref = str(row.get("id") or f"{subject or split}-{split}-{index:05d}")
        where = f"{file} [{split}] row {index} ({ref})"

        def reject(reason: str, detail: str) -> Item:
            return self.reject(reason, f"{where}: {detail}", file, ref, split)

        question_type = str(row.get("question_type") or "").strip()
        if question_type.lower() != "multiple-choice":
            return reject("open-ended", f"question_type {question_type!r}")
        answer = str(row.get("answer") or "").strip()
        if answer in ("", "?"):
            return reject("no-answer", f"answer {row.get('answer')!r} (the test split has no answers)")
        try:
            options = parse_options(row.get("options"))
        except ValueError as exc:
            return reject("malformed-options", str(exc))
        if not options:
            return reject("empty-options", "no options")
        if len(options) < 2:
            return reject("too-few-options", f"one option {options[0]!r}")
        if len(options) > len(LETTERS):
            return reject("too-many-options", f"{len(options)} options; at most {len(LETTERS)}")
        label = answer.upper()
        if len(label) != 1 or label not in LETTERS[: len(options)]:
            return reject(
                "unknown-answer-letter", f"answer {answer!r} is not among {list(LETTERS[: len(options)])}"
            )
        question = str(row.get("question") or "")
        tags = sorted({int(n) for n in _TAG.findall(" ".join([question, *options]))})
        absent = [n for n in tags if not (1 <= n <= 7 and _has_image(row.get(f"image_{n}")))]
        if absent:
            return reject(
                "missing-image", f"<image {absent[0]}> is referenced but image_{absent[0]} is empty"
            )
        try:
            images = [image_to_bytes(row[c], root=root) for c in IMAGE_COLUMNS if _has_image(row.get(c))]
        except ImageError as exc:
            return reject(exc.reason, str(exc))
        return self.record(
            question=strip_image_tags(question), options=options, label=label, source_id=ref, split=split,
            file=file, images=images, subject=subject, subfield=row.get("subfield"),
            img_type=row.get("img_type"), topic_difficulty=row.get("topic_difficulty"),
            explanation=row.get("explanation") or None,
        )  # fmt: skip


def _has_image(value: Any) -> bool:
    if isinstance(value, dict):
        return bool(value.get("bytes") or value.get("path"))
    return value is not None and value != b""


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _split_of(path: Path) -> str:
    head = path.name.split("-", 1)[0]
    return head if head in SPLITS else guess_split(path.stem)


def _local_files(root: Path, split: str | None, source: str) -> list[tuple[str | None, str, Path]]:
    """(subject, split, file) of the local layout, filtered by ``split``."""
    if split is not None and split not in SPLITS:
        raise SourceError(f"{source}: unknown split {split!r}; known: {', '.join(SPLITS)}")
    if root.is_file():
        subject = root.parent.name if root.parent.name in SUBJECTS else None
        pairs = [(subject, root)]
    else:
        if root.name in SUBJECTS:
            folders = {root.name: root}
        else:
            folders = {s: root / s for s in SUBJECTS}
            missing = [s for s, folder in folders.items() if not folder.is_dir()]
            if missing:
                raise SourceError(
                    f"{source}: {root} lacks the subject folder(s) {', '.join(missing)} "
                    f"(expected a copy of {MMMUMedical.hub_id}: one folder of Parquet files per subject)"
                )
        pairs = [(s, f) for s, folder in folders.items() for f in sorted(folder.glob("*.parquet"))]
    found = [(subject, _split_of(f), f) for subject, f in pairs]
    if split is not None:
        found = [item for item in found if item[1] == split]
    if not found:
        wanted = f" for split {split!r}" if split else ""
        raise SourceError(f"{source}: no Parquet file{wanted} in {root}")
    return found


def _parquet_rows(path: Path) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq

    try:
        handle = pq.ParquetFile(path)
        read = 0
        for batch in handle.iter_batches(batch_size=64):
            read += batch.num_rows
            yield from batch.to_pylist()
    except Exception as exc:  # pyarrow raises ArrowInvalid / OSError for a damaged file
        raise SourceError(f"{path}: cannot read Parquet: {exc}") from exc
    if read != handle.metadata.num_rows:  # a damaged page can end the batches early without an error
        raise SourceError(f"{path}: cannot read Parquet: {read} of its {handle.metadata.num_rows} rows read")
