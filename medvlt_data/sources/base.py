"""What a source adapter is, and the small pieces every adapter shares.

An adapter turns one dataset, in its Hub layout or its local raw layout, into a stream of
:class:`~medvlt_data.schema.Record` or :class:`Rejected` items. Nothing is dropped silently: every
row read becomes exactly one of the two.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Union

from medvlt_data.schema import LETTERS, Record, reject_row, validate_record
from medvlt_data.sources.files import (  # noqa: F401 (defined with the file readers, re-exported here)
    SKIPPED,
    LineError,
    Skipped,
    SourceError,
    decode_text,
    load_json,
    read_json_lines,
    read_text_file,
)


@dataclass
class Rejected:
    """A row that could not become a valid record, with a stable ``reason`` and a detail message."""

    reason: str
    detail: str
    file: str
    ref: str
    source: str = ""
    split: str = ""

    def as_row(self, step: str, group: str | None = None) -> dict[str, str]:
        """The reject row of this rejection (:func:`~medvlt_data.schema.reject_row`), dropped at
        ``step`` and counted under ``group`` (default: its source). ``ref`` is its ``source_id``."""
        return reject_row(
            step, self.reason, id=f"{self.source}:{self.split or '-'}:{self.ref}", source=group or self.source,
            split=self.split, source_id=self.ref, file=self.file, detail=self.detail,
        )  # fmt: skip


Item = Union[Record, Rejected]  # noqa: UP007 (a runtime alias; Python 3.10 has no X | Y for these)


class Share:
    """Task ``rank`` of ``world`` takes the rows ``rank, rank + world, ...`` of a read, counted in
    the order they are read; the others are yielded as :data:`SKIPPED` without being parsed."""

    def __init__(self, rank: int, world: int):
        self.rank, self.world, self.count = rank, world, 0

    def takes_next(self) -> bool:
        mine = self.count % self.world == self.rank
        self.count += 1
        return mine


class Source:
    """Base class of the source adapters; subclasses fill the class attributes and two readers."""

    name: ClassVar[str]
    modality: ClassVar[str]  # "text" or "image"
    license: ClassVar[str]
    hub_id: ClassVar[str]
    hub_config: ClassVar[str | None] = None
    local_layout: ClassVar[str]
    description: ClassVar[str]
    #: Its local layout yields exactly one item per non-blank JSON line, so a shared read can skip
    #: the other tasks' lines unparsed.
    one_item_per_line: ClassVar[bool] = False
    share: Share | None = None

    @property
    def layouts(self) -> str:
        return f"hub ({self.hub_id}), local ({self.local_layout})"

    def read(
        self,
        *,
        path: str | Path | None = None,
        hub: str | None = None,
        split: str | None = None,
        revision: str | None = None,
        validate: bool = True,
        share: Share | None = None,
    ) -> Iterator[Item]:
        """Read the source from a local ``path`` or a Hub dataset id.

        Every record is validated (an invalid one becomes a rejection) unless ``validate`` is
        False, as in a build, whose own validation step records the drops. With a ``share`` (only
        for a local layout of a source with ``one_item_per_line``), the rows of other tasks come
        as :data:`SKIPPED`, one per row, so positions stay those of a full read.
        """
        if share is not None and (path is None or not self.one_item_per_line):
            raise SourceError(f"{self.name}: a shared read needs a local layout of one item per line")
        self.share = share
        if (path is None) == (hub is None):
            raise SourceError("give exactly one of a local path or a Hub dataset id")
        base = None
        if path is not None:
            root = Path(path)
            if not root.exists():
                raise SourceError(f"{self.name}: path does not exist: {root}")
            items = self.read_local(root, split)
            base = root if root.is_dir() else root.parent
        else:
            items = self.read_hub(hub, split, revision)
        for item in items:
            if item is SKIPPED:
                yield item
                continue
            if isinstance(item, Rejected):
                item.source = item.source or self.name
                yield item
                continue
            item.license = item.license or self.license
            problems = validate_record(item) if validate else []
            if problems:
                yield Rejected(
                    reason=problems[0].code,
                    detail="; ".join(map(str, problems)),
                    file=str(item.meta.get("file", "")),
                    ref=item.source_id,
                    source=self.name,
                    split=item.split,
                )
                continue
            if base is not None:  # a record's file is relative to the root: the same files, the same record
                item.meta["file"] = _relative_file(item.meta.get("file"), base)
            yield item

    def read_local(self, root: Path, split: str | None) -> Iterator[Item]:
        raise NotImplementedError

    def read_hub(self, repo_id: str, split: str | None, revision: str | None) -> Iterator[Item]:
        raise NotImplementedError

    # helpers for subclasses ------------------------------------------------------------------------

    def reject(self, reason: str, detail: str, file: Any, ref: Any, split: str = "") -> Rejected:
        return Rejected(reason, detail, str(file), str(ref), self.name, split)

    def answer_letter(
        self, value: Any, options: dict[str, str], *, column: str, where: str, file: Any, ref: Any,
        split: str,
    ) -> str | Rejected:  # fmt: skip
        """The option letter that the ``column`` value names, or an ``unknown-answer-letter``
        rejection when it is not one of ``options``' letters."""
        label = str(value or "").strip().upper()
        if label in options:
            return label
        return self.reject(
            "unknown-answer-letter", f"{where}: {column} {value!r} is not one of {list(options)}",
            file, ref, split,
        )  # fmt: skip

    def record(
        self, *, question: str, options: list[str] | dict[str, str], label: str, source_id: Any,
        split: str, file: Any, images: list[bytes] | None = None, answer: str | None = None,
        **meta: Any,
    ) -> Record:  # fmt: skip
        """Build a record. ``answer`` defaults to the labelled option's text; pass the source's own
        answer text when it has one, so that validation catches a disagreement."""
        if isinstance(options, (list, tuple)):
            # past J the keys are numbers: validation rejects the record as too-many-options, none is cut off
            keys = [LETTERS[i] if i < len(LETTERS) else str(i + 1) for i in range(len(options))]
            options = {key: str(o).strip() for key, o in zip(keys, options, strict=True)}
        label = str(label).strip().upper()
        return Record(
            question=str(question).strip(),
            options=options,
            answer_label=label,
            answer=str(answer).strip() if answer is not None else options.get(label, ""),
            images=images or [],
            source=self.name,
            source_id=str(source_id),
            license=self.license,
            split=split,
            meta={"file": str(file), **{k: v for k, v in meta.items() if v is not None}},
        )

    def closed_vqa(
        self, *, question: str, answer: Any, source_id: Any, split: str, file: Any,
        images: list[bytes], **meta: Any,
    ) -> Item:  # fmt: skip
        """A closed-ended VQA pair as a multiple-choice record (rule in :mod:`medvlt_data.closed_vqa`),
        or an ``open-ended`` rejection."""
        from medvlt_data.closed_vqa import closed_to_choices

        converted = closed_to_choices(str(question), str(answer))
        if converted is None:
            return self.reject(
                "open-ended",
                f"{file} ({source_id}): answer {str(answer)!r} is neither yes/no nor one of the "
                f"alternatives the question names",
                file, source_id, split,
            )  # fmt: skip
        options, label = converted
        return self.record(
            question=question, options=options, label=label, source_id=source_id, split=split,
            file=file, images=images, original_answer=str(answer), **meta,
        )  # fmt: skip


def _relative_file(file: Any, base: Path) -> Any:
    """``file`` (a path under ``base``) relative to ``base``, in POSIX form; anything else unchanged."""
    if not file:
        return file
    try:
        return Path(file).relative_to(base).as_posix()
    except ValueError:
        try:
            return Path(file).resolve().relative_to(base.resolve()).as_posix()
        except (ValueError, OSError):
            return file


class HasConfigs:
    """Mixin of a source whose Hub dataset has several configs: ``config`` picks one (default the
    class's ``hub_config``); a name outside ``configs`` (when the class lists them) is refused."""

    name: ClassVar[str]
    hub_config: ClassVar[str | None]
    configs: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: str | None = None):
        self.config = config or self.hub_config
        if self.configs and self.config not in self.configs:
            raise SourceError(
                f"{self.name}: unknown config {self.config!r}; known: {', '.join(self.configs)}"
            )


def load_json_list(path: Path, source: str, holding: str, shown: Any = None) -> list[Any]:
    """Load a JSON file that must hold a list (of ``holding``: questions, images, ...); anything else is
    a :class:`SourceError` naming the file (``shown``, when the file is a Hub download)."""
    data = load_json(path)
    if not isinstance(data, list):
        raise SourceError(f"{source}: {shown or path} holds a {type(data).__name__}, not a list of {holding}")
    return data


def split_files(
    root: Path, patterns: dict[str, str], split: str | None, source: str
) -> list[tuple[str, Path]]:
    """The (split, file) pairs of a local layout: ``patterns`` maps split name -> file name.

    ``root`` may be the folder or one of the files. Missing files are skipped, but an explicitly asked
    split that is missing, or no file at all, is a :class:`SourceError`.
    """
    if root.is_file():
        for name, pattern in patterns.items():
            if root.name == pattern:
                return [(name, root)]
        return [(split or root.stem, root)]
    if split is not None and split not in patterns:
        raise SourceError(f"{source}: unknown split {split!r}; known: {', '.join(patterns)}")
    wanted = [split] if split else list(patterns)
    found = [(name, root / patterns[name]) for name in wanted if (root / patterns[name]).is_file()]
    if not found:
        names = ", ".join(patterns[name] for name in wanted)
        raise SourceError(f"{source}: no data file found in {root} (looked for {names})")
    return found


_SPLIT_WORDS = {"train": "train", "dev": "dev", "validation": "validation", "validate": "validation",
                "val": "validation", "test": "test"}  # fmt: skip


def canonical_split(split: str | None) -> str | None:
    """A split name as medvlt writes it: ``val`` and ``validate`` are ``validation``; others unchanged.

    >>> canonical_split("validate"), canonical_split("test"), canonical_split(None)
    ('validation', 'test', None)
    """
    return _SPLIT_WORDS.get(split, split) if split else split


def guess_split(stem: str) -> str:
    """A split name from a file name: ``pvqa_test`` -> ``test``; no split word -> the stem itself."""
    for word in reversed(stem.lower().replace("-", "_").replace(".", "_").split("_")):
        for key, name in _SPLIT_WORDS.items():
            if word == key or word == f"{key}set":
                return name
    return stem


def files_by_split(
    root: Path, suffix: str | tuple[str, ...], split: str | None, source: str, *, recursive: bool = False
) -> list[tuple[str, Path]]:
    """(split, file) for ``root`` (a file, or a folder of files ending in ``suffix``, one suffix or
    several; ``recursive`` looks into subfolders too), the split from the file name, filtered by ``split``.

    A file name such as ``test-00000-of-00001.parquet`` (the Hub's shard names) gives ``test``.
    """
    suffixes = (suffix,) if isinstance(suffix, str) else suffix
    if root.is_file():
        files = [root]
    else:
        found = root.rglob("*") if recursive else root.glob("*")
        files = sorted(f for f in found if f.is_file() and f.name.endswith(suffixes))

    def stem(path: Path) -> str:
        return next((path.name[: -len(s)] for s in suffixes if path.name.endswith(s)), path.stem)

    pairs = [(guess_split(stem(f)), f) for f in files]
    if split is not None:
        pairs = [(s, f) for s, f in pairs if s == split]
    if not pairs:
        wanted = f" for split {split!r}" if split else ""
        names = ", ".join(f"*{s}" for s in suffixes)
        raise SourceError(f"{source}: no {names} file{wanted} in {root}")
    return pairs
