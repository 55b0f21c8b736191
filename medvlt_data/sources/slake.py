"""SLAKE, English closed questions as multiple choice (image).

Local: the Slake1.0 layout, ``train.json`` / ``validate.json`` / ``test.json``, each a list of objects
(qid, img_id, img_name such as ``xmlab102/source.jpg``, question, answer, q_lang "en"/"zh",
answer_type "OPEN"/"CLOSED", content_type, base_type, location, modality, triple), and the images
under ``imgs/`` (a folder, or the archive ``imgs.zip``). The split ``validate`` is called
``validation`` here.
Hub: ``BoKelvin/SLAKE`` holds the same objects as ``train.json`` / ``validation.json`` /
``test.json`` (read through ``datasets``) plus ``imgs.zip``, fetched from the same repository.

Rules, in this order, one item per question:

- only English questions are used: ``q_lang`` other than "en" is rejected as ``non-english``;
- ``answer_type`` OPEN is rejected as ``open-ended`` (another value is a ``malformed-row``);
- CLOSED questions are converted by the rule of :mod:`medvlt_data.closed_vqa`; one the rule cannot
  convert is rejected as ``open-ended`` as well;
- the image is looked up by ``img_name``; a missing one is rejected as ``missing-image``.

``source_id`` is SLAKE's ``qid`` (the same in both layouts). The benchmark of the recipe is the
English CLOSED part of the test split (416 questions).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from medvlt_data.images import ImageError, ImageStore
from medvlt_data.sources import register
from medvlt_data.sources.base import (
    Item,
    Rejected,
    Source,
    SourceError,
    canonical_split,
    load_json,
    split_files,
)
from medvlt_data.sources.hub import hub_file, hub_rows

_LOCAL_FILES = {"train": "train.json", "validation": "validate.json", "test": "test.json"}


@register
class SLAKE(Source):
    name = "slake"
    modality = "image"
    license = "CC-BY-4.0"
    hub_id = "BoKelvin/SLAKE"
    local_layout = "train.json/validate.json/test.json + imgs/ or imgs.zip (Slake1.0)"
    description = "radiology VQA (English); closed questions as multiple choice"

    def read_local(self, root: Path, split: str | None) -> Iterator[Item]:
        split = canonical_split(split)
        files = split_files(root, _LOCAL_FILES, split, self.name)
        folder = root if root.is_dir() else root.parent
        store = ImageStore([folder / "imgs", folder / "imgs.zip"])
        if not store:
            raise SourceError(f"{self.name}: no images in {folder} (looked for imgs/ and imgs.zip)")
        for name, path in files:
            rows = load_json(path)
            if not isinstance(rows, list):
                raise SourceError(
                    f"{self.name}: {path} holds a {type(rows).__name__}, not a list of questions"
                )
            for index, row in enumerate(rows):
                yield self._item(row, index, name, path, store)

    def read_hub(self, repo_id: str, split: str | None, revision: str | None) -> Iterator[Item]:
        split = canonical_split(split)
        archive = hub_file(repo_id, "imgs.zip", revision=revision)
        if archive is None:
            raise SourceError(f"{self.name}: Hub dataset {repo_id!r} has no imgs.zip")
        store = ImageStore([archive])
        rows = hub_rows(repo_id, split=split, revision=revision, source=self.name)
        for name, index, row in rows:
            yield self._item(row, index, name, repo_id, store)

    def _item(self, row: Any, index: int, split: str, file: Any, store: ImageStore) -> Item:
        if not isinstance(row, dict):
            ref = f"{split}-{index:05d}"
            return self.reject("malformed-row", f"{file} (row {index}): not an object", file, ref, split)
        qid = row.get("qid")
        ref = str(qid) if qid not in (None, "") else f"{split}-{index:05d}"
        where = f"{file} (qid {ref})"
        language = str(row.get("q_lang") or "").strip().lower()
        if language != "en":
            return self.reject(
                "non-english", f"{where}: q_lang {row.get('q_lang')!r}; only English questions are used",
                file, ref, split,
            )  # fmt: skip
        answer_type = str(row.get("answer_type") or "").strip().upper()
        if answer_type == "OPEN":
            return self.reject("open-ended", f"{where}: answer_type 'OPEN'", file, ref, split)
        if answer_type != "CLOSED":
            return self.reject(
                "malformed-row", f"{where}: answer_type {row.get('answer_type')!r} is neither OPEN nor CLOSED",
                file, ref, split,
            )  # fmt: skip
        answer = row.get("answer")
        if answer is None or not str(answer).strip():
            return self.reject("no-answer", f"{where}: empty answer", file, ref, split)
        item = self.closed_vqa(
            question=str(row.get("question") or ""), answer=answer, source_id=ref, split=split, file=file,
            images=[], img_id=row.get("img_id"), img_name=row.get("img_name"), location=row.get("location"),
            image_modality=row.get("modality"), content_type=row.get("content_type"),
            base_type=row.get("base_type"),
        )  # fmt: skip
        if isinstance(item, Rejected):
            return item
        try:
            item.images = [store.read(str(row.get("img_name") or ""))]
        except ImageError as exc:
            return self.reject("missing-image", f"{where}: {exc}", file, ref, split)
        return item
