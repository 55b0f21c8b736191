"""PMC-VQA, four-option multiple choice over PubMed Central figures (image).

Local: the release's raw files in one folder: ``train.csv`` and ``test.csv`` (version 1; the
version-2 files ``train_2.csv`` / ``test_2.csv`` are read for a split whose version-1 file is absent,
and ``test_clean.csv`` or any one ``.csv`` is read when given as the path or named as the split, e.g.
``split="test_clean"``), with the figures in ``images/`` or ``figures/`` or the archives
``images.zip`` / ``images_2.zip`` (every one that exists is searched: first the places of the
file's own version, ``images_2`` ones for a ``_2`` file, then the others). The split of a file is
guessed from its name (``train_2.csv`` -> train, ``test_clean.csv`` -> test).
Hub: ``RadGenome/PMC-VQA`` holds the same raw files; they are fetched with ``hub_file`` (the csv
of each split, then the image archive of its version) and parsed by the same code.

Columns of version 1 (``train.csv``, ``test.csv``, ``test_clean.csv``): ``Figure_path, Question,
Answer, Choice A, Choice B, Choice C, Choice D, Answer_label`` (the README's spelling ``Anwser`` is
accepted); UCSC-VLAA/MedVLThinker data_process/train_dataset/prepare_pmc_vqa.py:27-43 reads exactly
these for the training pool. Version 2 (``train_2.csv``, ``test_2.csv``, figures in
``images_2.zip``) has no ``Answer_label``: its ``Answer`` holds the letter, and it adds ``Caption``
(loaders of the v2 files index ``row["Choice " + row["Answer"]]`` and read ``Caption``); a file
without ``Answer_label`` is read that way, the answer text being the labelled choice's. Other
columns (``Caption``, an index) are ignored. A choice looks like ``" B:Focal uptake pattern "``: its
letter, a colon, the text, stray spaces. A row is kept only when its parts agree, otherwise it is
rejected with one reason (the first that applies):

- ``malformed-csv`` (the csv module cannot read the row), ``malformed-row`` (wrong field count),
  ``bad-encoding`` (bytes that are not UTF-8);
- ``empty-option``, ``malformed-choice`` (no single letter and colon before the text),
  ``choice-letter-mismatch`` (``Choice C`` holding ``"B:..."``);
- ``unknown-answer-letter`` (``Answer_label``, or a version-2 ``Answer``, not A-D);
- ``no-answer``; ``label-mismatch`` (``Answer`` carries its own ``"C:"`` prefix that is not the
  label); ``answer-mismatch`` (``Answer`` is not the labelled choice's text);
- ``missing-image`` (no ``Figure_path`` or no such file), ``image-outside-root`` (a ``Figure_path``
  or symlink that leads outside the image folder or archive); validation adds ``undecodable-image`` and
  ``empty-question``.

Texts are compared ignoring case, runs of whitespace and quote marks at either end; MedVLThinker
strips whitespace, quote marks, U+00A0 and U+200A from both ends and then compares exactly
(prepare_pmc_vqa.py:21-63), so rows differing only in case or inner spacing are kept here and dropped
there (on the real train.csv the paper keeps about 177k rows; not counted here, the file is not in
the test data). The kept record stores the choice texts stripped of surrounding whitespace, and its
``answer`` is the labelled choice's text. ``source_id`` is ``{file stem}-{row:05d}`` (row counts
data rows from 0), so rows of ``train.csv`` are ``train-00000``, ``train-00001``, ...
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from medvlt_data.images import MISSING_IMAGE, ImageError, ImageStore
from medvlt_data.sources import register
from medvlt_data.sources.base import Item, Source, SourceError, guess_split
from medvlt_data.sources.biomed_vqa import BiomedLayout
from medvlt_data.sources.hub import hub_file
from medvlt_data.text import fold

CHOICE_LETTERS = "ABCD"
REQUIRED_COLUMNS = ("Figure_path", "Question", "Answer", *(f"Choice {c}" for c in "ABCD"))
#: Version 1 labels the answer in its own column; version 2 puts the letter in ``Answer``.
LABEL_COLUMN = "Answer_label"
_COLUMN_ALIASES = {"anwser": "Answer", "anwser_label": "Answer_label"}

#: Split name -> the files that hold it, in order of preference (version 1, then version 2).
SPLIT_FILES = {"train": ("train.csv", "train_2.csv"), "test": ("test.csv", "test_2.csv")}
#: Other files that may be asked for by their stem as the split.
EXTRA_FILES = ("test_clean.csv", "train_2.csv", "test_2.csv")

_INVISIBLE = "\u200b\ufeff"
_QUOTES = "'\"\u201c\u201d\u2018\u2019"  # straight and curly quote marks
_ANSWER_PREFIX = re.compile(r"^\(?([A-D])\)?\s*:\s*(.*)$", re.DOTALL)


def clean(text: Any) -> str:
    """Strip surrounding whitespace and invisible characters (zero-width space, BOM)."""
    return str(text or "").strip().strip(_INVISIBLE).strip()


def comparable(text: str) -> str:
    """Text as compared: :func:`~medvlt_data.text.fold` of it without invisible characters and
    quote marks at the ends (PMC-VQA's answers carry both)."""
    return fold(clean(text).strip(_QUOTES))


def parse_choice(column_letter: str, value: Any) -> tuple[str, str]:
    """``(text, "")`` for a well-formed choice such as ``" B:Focal uptake pattern "`` in column B,
    else ``("", reason)``.

    >>> parse_choice("B", " B:Focal uptake pattern ")
    ('Focal uptake pattern', '')
    >>> parse_choice("C", "B:Focal uptake")
    ('', 'choice-letter-mismatch')
    >>> parse_choice("A", "no prefix")
    ('', 'malformed-choice')
    """
    text = clean(value)
    if not text:
        return "", "empty-option"
    prefix, colon, rest = text.partition(":")
    letter = prefix.strip().strip(_QUOTES + "()").strip().upper()
    if not colon or len(letter) != 1 or not letter.isalpha():
        return "", "malformed-choice"
    if letter != column_letter:
        return "", "choice-letter-mismatch"
    rest = clean(rest)
    return (rest, "") if rest else ("", "empty-option")


def _image_places(stem: str) -> tuple[list[str], list[str]]:
    """Image folders and archives for a csv: those of the file's own version, then the others."""
    version_1 = ["images", "figures", "images.zip"]
    version_2 = ["images_2", "images_2.zip"]
    return (version_2, version_1) if stem.endswith("_2") else (version_1, version_2)


def _files_for(split: str | None, exists: Callable[[str], bool], where: str) -> list[str]:
    """Csv file names to read for ``split`` (None: every split), each the first that ``exists``."""
    if split is None:
        groups = list(SPLIT_FILES.values())
    elif split in SPLIT_FILES:
        groups = [SPLIT_FILES[split]]
    elif f"{split}.csv" in EXTRA_FILES:
        groups = [(f"{split}.csv",)]
    else:
        known = ", ".join([*SPLIT_FILES, *(name[:-4] for name in EXTRA_FILES)])
        raise SourceError(f"pmc_vqa: unknown split {split!r}; known: {known}")
    found = [next((name for name in group if exists(name)), None) for group in groups]
    if not any(found):
        looked = ", ".join(name for group in groups for name in group)
        raise SourceError(f"pmc_vqa: no data file found in {where} (looked for {looked})")
    return [name for name in found if name]


class Figures:
    """The figures of one csv file: the places of its own version first, then those of the other.

    Version 1 and 2 archives hold files of the same names, so they are searched one after the
    other rather than as one store (where a shared name would be ambiguous).
    """

    def __init__(self, stores: list[ImageStore]):
        self.stores = [store for store in stores if store]

    def __bool__(self) -> bool:
        return bool(self.stores)

    def read(self, name: str) -> bytes:
        """Bytes of the figure ``name`` from the first store that has it; :class:`ImageError` otherwise."""
        for store in self.stores:
            try:
                return store.read(name)
            except ImageError as exc:
                if exc.reason != MISSING_IMAGE or not str(exc).startswith("image file not found"):
                    raise
        searched = ", ".join(store.describe() for store in self.stores)
        raise ImageError(f"image file not found: {name} (searched {searched})")


@register
class PMCVQA(BiomedLayout, Source):
    name = "pmc_vqa"
    modality = "image"
    license = "CC-BY-SA-4.0"
    hub_id = "RadGenome/PMC-VQA"
    local_layout = "train.csv/test.csv (or *_2.csv) + images/ or images.zip"
    description = (
        "PubMed Central figure VQA, 4 options; rows whose choices, label and answer disagree are dropped"
    )

    def read_own_local(self, root: Path, split: str | None) -> Iterator[Item]:
        if root.is_file():
            name = guess_split(root.stem)
            if split is not None and split not in (name, root.stem):
                raise SourceError(f"{self.name}: {root} holds split {name!r}, not {split!r}")
            files = [root]
        else:
            files = [root / n for n in _files_for(split, lambda n: (root / n).is_file(), str(root))]
        for path in files:
            own, others = ([path.parent / p for p in group] for group in _image_places(path.stem))
            figures = Figures(
                [ImageStore(p for p in own if p.exists()), ImageStore(p for p in others if p.exists())]
            )
            if not figures:
                looked = ", ".join(map(str, own + others))
                raise SourceError(f"{self.name}: no images for {path} (looked for {looked})")
            yield from self.read_csv(path, guess_split(path.stem), figures, label=path)

    def read_own_hub(self, repo_id: str, split: str | None, revision: str | None) -> Iterator[Item]:
        fetched: dict[str, Path | None] = {}

        def fetch(filename: str) -> Path | None:
            if filename not in fetched:
                try:
                    fetched[filename] = hub_file(repo_id, filename, revision=revision)
                except Exception as exc:  # network, authentication, unknown repository or revision
                    raise SourceError(
                        f"{self.name}: cannot fetch {filename} from {repo_id!r}: {exc}"
                    ) from exc
            return fetched[filename]

        for filename in _files_for(split, lambda n: fetch(n) is not None, f"Hub repo {repo_id!r}"):
            stem = filename[: -len(".csv")]
            own, others = _image_places(stem)
            # Only the archive of the file's own version is downloaded (they are large), others if absent.
            found = [p for p in map(fetch, own) if p] or [p for p in map(fetch, others) if p]
            if not found:
                looked = ", ".join(own + others)
                raise SourceError(
                    f"{self.name}: no images for {filename} in {repo_id!r} (looked for {looked})"
                )
            yield from self.read_csv(
                fetch(filename),
                guess_split(stem),
                Figures([ImageStore(found)]),
                label=f"{repo_id}/{filename}",
                stem=stem,
            )

    # the row parser shared by both layouts ---------------------------------------------------------

    def read_csv(
        self, path: Path, split: str, figures: Figures, *, label: Any, stem: str | None = None
    ) -> Iterator[Item]:
        """Every data row of one PMC-VQA csv file as a record or a rejection."""
        stem = stem or path.stem
        with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
            reader = csv.reader(handle)
            columns, width = self._header(reader, label)
            index = -1
            while True:
                line = reader.line_num
                try:
                    fields = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    index += 1
                    if reader.line_num == line:  # no progress: give up on the rest of the file
                        raise SourceError(
                            f"{self.name}: {label}: unreadable after line {line}: {exc}"
                        ) from exc
                    ref = f"{stem}-{index:05d}"
                    yield self.reject(
                        "malformed-csv", f"{label} row {index} (line {line + 1}): {exc}", label, ref, split
                    )
                    continue
                if not fields:  # a blank line is no row
                    continue
                index += 1
                yield self._row(fields, columns, width, figures, split=split, index=index, line=line + 1,
                                label=label, ref=f"{stem}-{index:05d}")  # fmt: skip

    def _header(self, reader: Any, label: Any) -> tuple[dict[str, int], int]:
        """Column name -> position (names stripped, known misspellings mapped), and the header's width."""
        try:
            header = next(reader)
        except StopIteration:
            raise SourceError(f"{self.name}: {label} is empty (no header row)") from None
        except csv.Error as exc:
            raise SourceError(f"{self.name}: {label}: cannot read the header row: {exc}") from exc
        columns: dict[str, int] = {}
        for position, raw in enumerate(header):
            column = clean(raw)
            columns.setdefault(_COLUMN_ALIASES.get(column.lower(), column), position)
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        if missing:
            raise SourceError(f"{self.name}: {label} lacks column(s) {', '.join(missing)}; header: {header}")
        return columns, len(header)

    def _row(
        self, fields: list[str], columns: dict[str, int], width: int, figures: Figures, *, split: str,
        index: int, line: int, label: Any, ref: str,
    ) -> Item:  # fmt: skip
        where = f"{label} row {index} (line {line})"

        def reject(reason: str, detail: str) -> Item:
            return self.reject(reason, f"{where}: {detail}", label, ref, split)

        if len(fields) != width and not (len(fields) > width and not any(map(clean, fields[width:]))):
            return reject("malformed-row", f"{len(fields)} fields where the header has {width}")
        row = {column: fields[position] for column, position in columns.items()}
        if any("\ufffd" in row[c] for c in (*REQUIRED_COLUMNS, LABEL_COLUMN) if c in row):
            return reject("bad-encoding", "text that is not valid UTF-8")
        options: dict[str, str] = {}
        for letter in CHOICE_LETTERS:
            text, reason = parse_choice(letter, row[f"Choice {letter}"])
            if reason:
                return reject(reason, f"Choice {letter} is {row[f'Choice {letter}']!r}")
            options[letter] = text
        if LABEL_COLUMN not in row:  # version 2: the letter is the Answer; its text is the choice's
            letter = clean(row["Answer"]).strip(_QUOTES).strip().rstrip(":").strip().upper()
            if letter not in options:
                return reject("unknown-answer-letter", f"Answer {row['Answer']!r} is not one of A-D")
            return self._kept(row, options, letter, figures, split=split, index=index, label=label,
                              ref=ref, reject=reject)  # fmt: skip
        answer_label = clean(row[LABEL_COLUMN]).strip(_QUOTES).strip().upper()
        if answer_label not in options:
            return reject("unknown-answer-letter", f"Answer_label {row[LABEL_COLUMN]!r} is not one of A-D")
        answer = clean(row["Answer"])
        prefixed = _ANSWER_PREFIX.match(answer)
        if prefixed:
            if prefixed.group(1) != answer_label:
                return reject(
                    "label-mismatch",
                    f"Answer {answer!r} names {prefixed.group(1)}, Answer_label is {answer_label}",
                )
            answer = clean(prefixed.group(2))
        if not comparable(answer):
            return reject("no-answer", "Answer is empty")
        if comparable(answer) != comparable(options[answer_label]):
            same = [k for k, v in options.items() if comparable(v) == comparable(answer)]
            hint = f" (it is choice {same[0]}'s text)" if same else ""
            return reject(
                "answer-mismatch",
                f"Answer {answer!r} differs from choice {answer_label} {options[answer_label]!r}{hint}",
            )
        return self._kept(row, options, answer_label, figures, split=split, index=index, label=label,
                          ref=ref, reject=reject)  # fmt: skip

    def _kept(
        self, row: dict[str, str], options: dict[str, str], answer_label: str, figures: Figures, *,
        split: str, index: int, label: Any, ref: str, reject: Callable[[str, str], Item],
    ) -> Item:  # fmt: skip
        """The record of a consistent row, once its figure is found (else ``missing-image``)."""
        figure = clean(row["Figure_path"])
        if not figure:
            return reject("missing-image", "no Figure_path")
        try:
            image = figures.read(figure)
        except ImageError as exc:
            return reject(exc.reason, str(exc))
        return self.record(
            question=clean(row["Question"]), options=options, label=answer_label, source_id=ref,
            split=split, file=label, images=[image], figure_path=figure, row=index,
        )  # fmt: skip
