"""MedXpertQA, expert-level medical questions; the MM subset has images (image).

Hub: ``TsinghuaC3I/MedXpertQA``, configs ``MM`` (the default here; 5 options A-E, the eval benchmark
is its 2000-question test split) and ``Text`` (10 options A-J, no images), splits ``dev`` and
``test``. Columns: id (``MM-1682``), question (which ends with ``"\\nAnswer Choices: (A) ... (E) ..."``),
options ``{"A": ..., "E": ...}``, label ``"A"``, images (file names), medical_task, body_system,
question_type. The images of MM are in the repository's ``images.zip`` (an ``images/`` folder is
used when there is no archive), fetched with ``hub_file`` only when a row names an image.
Local: JSON Lines named by split (``test.jsonl``, ``dev.jsonl``), either in config folders
(``MM/test.jsonl``, ``Text/test.jsonl``; the adapter's config picks the folder) or directly in the
given folder, or one given file. Options are a list of ``{"letter": "A", "content": ...}`` (a
mapping or a plain list is accepted too), the label a list such as ``["A"]``, images a list of
``{"image_path": ...}`` (or names), found in an ``images/`` folder or ``images.zip`` beside the file
or one level up, inside the folder given (a config folder's parent counts); a name or symlink that
leads outside it is ``image-outside-root``.

Rules: the question keeps its stem only (the ``Answer Choices:`` tail is cut, the options are
separate); a record is an MM record when its folder or its id says so (``MM-...``), else the
adapter's config decides; an MM record without a readable image is ``missing-image``. Rejects:
``malformed-json``, ``empty-options``, ``bad-option-letters``, ``unknown-answer-letter``,
``no-answer``, ``multiple-answers``, ``missing-image``, ``duplicate`` (an id seen before in the same
read); validation adds ``undecodable-image`` and the like. ``source_id`` is the record's id, else
``{split}-{index:05d}``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from medvlt_data.images import ImageError, ImageStore, image_to_bytes, is_within
from medvlt_data.schema import LETTERS
from medvlt_data.sources import register
from medvlt_data.sources.base import (
    HasConfigs,
    Item,
    Rejected,
    Source,
    SourceError,
    files_by_split,
    read_json_lines,
)  # fmt: skip
from medvlt_data.sources.embedded_choices import split_embedded_choices
from medvlt_data.sources.hub import hub_file, hub_rows

CONFIGS = ("MM", "Text")


def _config_name(text: str) -> str | None:
    """``"MM"`` or ``"Text"`` when ``text`` is (or starts with) a config name, case-insensitively."""
    head = str(text).split("-", 1)[0].strip().lower()
    return next((c for c in CONFIGS if c.lower() == head), None)


def parse_options(value: Any) -> dict[str, str] | str:
    """Options in letter order from a mapping, a list of ``{letter, content}`` or a list of texts;
    a reason string when they cannot be used.

    >>> parse_options([{"letter": "B", "content": "Two"}, {"letter": "A", "content": " One "}])
    {'A': 'One', 'B': 'Two'}
    >>> parse_options({"A": "x", "B": None})
    {'A': 'x'}
    >>> parse_options({"A": "x", "7": "y"})
    'bad-option-letters'
    """
    pairs: list[tuple[Any, Any]]
    if isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, (list, tuple)) and all(isinstance(v, dict) for v in value):
        pairs = [(v.get("letter", v.get("label")), v.get("content", v.get("text"))) for v in value]
    elif isinstance(value, (list, tuple)):
        pairs = [(LETTERS[i] if i < len(LETTERS) else str(i), v) for i, v in enumerate(value)]
    else:
        return "empty-options"
    options: dict[str, str] = {}
    for key, text in pairs:
        if text is None:  # a struct column lists every letter of the split; absent ones are None
            continue
        letter = str(key or "").strip().strip("().").upper()
        if len(letter) != 1 or letter not in LETTERS or letter in options:
            return "bad-option-letters"
        options[letter] = str(text).strip()
    if not options:
        return "empty-options"
    return dict(sorted(options.items()))


def _image_refs(value: Any) -> list[Any]:
    """The image entries of a row: names, ``{"image_path": ...}`` mappings or image dicts."""
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):  # one entry: a name, a mapping, or any other value
        value = [value]
    refs = []
    for entry in value:
        if isinstance(entry, dict) and not entry.get("bytes"):
            entry = entry.get("image_path") or entry.get("path") or entry.get("name") or ""
        refs.append(entry)
    return refs


@register
class MedXpertQA(HasConfigs, Source):
    name = "medxpertqa"
    modality = "image"
    license = "MIT"
    hub_id = "TsinghuaC3I/MedXpertQA"
    hub_config = "MM"
    configs = CONFIGS
    local_layout = "MM/test.jsonl (or Text/, or test.jsonl) + images/ or images.zip"
    description = "expert-level medical exam questions; MM: images with 5 options (eval: MM test, 2000)"

    def read_local(self, root: Path, split: str | None) -> Iterator[Item]:
        folder = root / self.config if root.is_dir() and (root / self.config).is_dir() else root
        base = dataset_folder(root)
        seen: set[str] = set()
        for name, path in files_by_split(folder, ".jsonl", split, self.name):
            places = [d / p for d in (path.parent, path.parent.parent) for p in ("images", "images.zip")]
            existing = list(dict.fromkeys(p for p in places if p.exists() and is_within(p, base)))
            store = _lazy_store(lambda existing=existing: existing, f"beside {path}", self.name)
            config = _config_name(path.parent.name)
            for number, row, error in read_json_lines(path):
                if row is None:
                    yield self.reject(error.reason, f"{path}:{number}: {error}", path, f"line {number}", name)
                    continue
                yield self._row(row, split=name, index=number - 1, where=f"{path}:{number}", file=path,
                                store=store, seen=seen, config=config, line=number)  # fmt: skip

    def read_hub(self, repo_id: str, split: str | None, revision: str | None) -> Iterator[Item]:
        def places() -> list[Path]:
            for filename in ("images.zip", "images"):
                try:
                    found = hub_file(repo_id, filename, revision=revision)
                except Exception as exc:  # network, authentication, unknown repository or revision
                    raise SourceError(
                        f"{self.name}: cannot fetch {filename} from {repo_id!r}: {exc}"
                    ) from exc
                if found is not None:
                    return [found]
            return []

        store = _lazy_store(places, f"in Hub repo {repo_id!r} (images.zip or images/)", self.name)
        seen: set[str] = set()
        rows = hub_rows(repo_id, config=self.config, split=split, revision=revision,
                        image_columns=("images",), source=self.name)  # fmt: skip
        for name, index, row in rows:
            where = f"{repo_id} [{self.config}/{name}] row {index}"
            yield self._row(row, split=name, index=index, where=where, file=repo_id, store=store, seen=seen,
                            config=self.config)  # fmt: skip

    # the row parser shared by both layouts ---------------------------------------------------------

    def _row(
        self, row: dict[str, Any], *, split: str, index: int, where: str, file: Any,
        store: Callable[[], ImageStore], seen: set[str], config: str | None, line: int | None = None,
    ) -> Item:  # fmt: skip
        ref = str(row.get("id") or "").strip() or f"{split}-{index:05d}"
        where = f"{where} ({ref})"

        def reject(reason: str, detail: str) -> Rejected:
            return self.reject(reason, f"{where}: {detail}", file, ref, split)

        if ref in seen:
            return reject("duplicate", f"id {ref!r} appeared before")
        seen.add(ref)
        options = parse_options(row.get("options"))
        if isinstance(options, str):
            return reject(options, f"options {row.get('options')!r} cannot be used")
        labels = row.get("label")
        labels = [labels] if not isinstance(labels, (list, tuple)) else list(labels)
        labels = [str(v).strip().strip("().").upper() for v in labels if str(v or "").strip()]
        if not labels:
            return reject("no-answer", "no label")
        if len(set(labels)) > 1:
            return reject("multiple-answers", f"label {row.get('label')!r} names several options")
        if labels[0] not in options:
            return reject("unknown-answer-letter", f"label {row.get('label')!r} is not among {list(options)}")
        config = config or _config_name(ref) or self.config
        refs = _image_refs(row.get("images"))
        if config == "MM" and not refs:
            return reject("missing-image", "an MM question without images")
        images: list[bytes] = []
        for entry in refs:
            try:
                images.append(store().read(entry) if isinstance(entry, str) else image_to_bytes(entry))
            except ImageError as exc:
                return reject(exc.reason, str(exc))
        stem, _ = split_embedded_choices(str(row.get("question") or ""))
        return self.record(
            question=stem, options=options, label=labels[0], source_id=ref, split=split, file=file,
            images=images, config=config, medical_task=row.get("medical_task"),
            body_system=row.get("body_system"), question_type=row.get("question_type"),
            image_names=[e for e in refs if isinstance(e, str)] or None, line=line,
        )  # fmt: skip


def dataset_folder(root: Path) -> Path:
    """The folder images may come from: the folder given, or the given file's; a config folder's
    (``MM/``, ``Text/``) parent, where the Hub layout keeps ``images.zip``."""
    base = root if root.is_dir() else root.parent
    return base.parent if base.name.lower() in {c.lower() for c in CONFIGS} else base


def _lazy_store(places: Callable[[], list[Path]], where: str, source: str) -> Callable[[], ImageStore]:
    """An image store built on first use (so text-only reads fetch nothing); no place is a SourceError."""
    built: list[ImageStore] = []

    def get() -> ImageStore:
        if not built:
            found = places()
            if not found:
                raise SourceError(
                    f"{source}: questions name images but there is no images/ or images.zip {where}"
                )
            built.append(ImageStore(found))
        return built[0]

    return get
