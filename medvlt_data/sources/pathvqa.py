"""PathVQA, closed questions as multiple choice (image).

Local: the original question files grouped per image, ``pvqa_train.json`` / ``pvqa_val.json`` /
``pvqa_test.json`` (split ``val`` is called ``validation`` here), each a list of
``{"img_id": "test_0001", "sentf": {"pvqa": [question, ...]}, "labelf": {"pvqa": [{answer: 1}, ...]}}``
whose questions and answers are in the same order. Other files of the release (``pvqa_ans.json``,
``QA_pairs_vb.json``) are not read. Images are optional: ``images/{split}/{img_id}.jpg`` or
``images/{img_id}.jpg`` (``.jpg``, ``.png`` or ``.jpeg``; ``{split}`` as in the file names, or
``validation``).

- Without any ``images/`` folder the questions are still read, as records with no image whose meta
  says ``image_missing: True`` (and ``image_id``), so that text-only use, counting and
  decontamination work from the question files alone. Such records are not ready for training.
- With an ``images/`` folder, a question whose image file is absent is rejected as ``missing-image``;
  an ``img_id`` (or a symlink) that leads outside the folder is ``image-outside-root``.

Hub: ``flaviagiammarino/path-vqa`` (image, question, answer), splits train / validation / test
(19.7k / 6.26k / 6.72k rows in its viewer: the test split is the 6,719 unique questions). Also the
``AdaptLLM/biomed-VQA-benchmark`` layout, config ``PathVQA`` (:mod:`.biomed_vqa`): 6,719 test
questions with ``answer_type``, 3,362 CLOSED, all yes/no (UCSC-VLAA/MedVLThinker
data_process/eval_data_exploration.ipynb lists the CLOSED labels: yes, no).

Rules, in this order, one item per question:

- an exact duplicate within a split (same image, question and answer; on the Hub the same image
  bytes) is rejected as ``duplicate``, naming the first occurrence, which is kept; the real local
  test file has 6,761 questions, 6,719 unique (the test count of both Hub copies);
- questions are converted by the rule of :mod:`medvlt_data.closed_vqa` (yes/no, or "X or Y" when the
  answer is one of the alternatives); all others are rejected as ``open-ended``. On the real test
  file the rule keeps 3,362 questions, all yes/no: the paper's PathVQA count.

``source_id`` is ``{img_id}-q{position}`` locally (the position in the image's question list) and
``{split}-{row:05d}`` on the Hub.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from medvlt_data.images import ImageError, image_in, image_to_bytes, is_image_file, read_image_file
from medvlt_data.sources import register
from medvlt_data.sources.base import (
    Item,
    Rejected,
    Source,
    canonical_split,
    load_json_list,
    split_files,
)
from medvlt_data.sources.biomed_vqa import BiomedLayout
from medvlt_data.sources.hub import hub_rows, local_copy

_LOCAL_FILES = {"train": "pvqa_train.json", "validation": "pvqa_val.json", "test": "pvqa_test.json"}
_IMAGE_FOLDERS = {"train": ("train",), "validation": ("val", "validation"), "test": ("test",)}
_IMAGE_SUFFIXES = (".jpg", ".png", ".jpeg")


@register
class PathVQA(BiomedLayout, Source):
    name = "pathvqa"
    modality = "image"
    license = "MIT"
    hub_id = "flaviagiammarino/path-vqa"
    local_layout = "pvqa_{train,val,test}.json grouped per image + optional images/{split}/{img_id}.jpg"
    description = "pathology VQA; closed questions as multiple choice (no images: meta image_missing)"

    def read_own_local(self, root: Path, split: str | None) -> Iterator[Item]:
        split = canonical_split(split)
        files = split_files(root, _LOCAL_FILES, split, self.name)
        folder = root if root.is_dir() else root.parent
        images = folder / "images"
        for name, path in files:
            entries = load_json_list(path, self.name, "images")
            if images.is_dir():
                folders = [images / sub for sub in _IMAGE_FOLDERS.get(name, (name,))] + [images]
                finder = _ImageFinder([f for f in folders if f.is_dir()])
            else:
                finder = None
            seen: dict[tuple[str, str, str], str] = {}
            for position, entry in enumerate(entries):
                yield from self._entry(entry, position, name, path, finder, seen)

    def _entry(
        self, entry: Any, position: int, split: str, path: Path, finder: _ImageFinder | None,
        seen: dict[tuple[str, str, str], str],
    ) -> Iterator[Item]:  # fmt: skip
        img_id = str(entry.get("img_id") or "").strip() if isinstance(entry, dict) else ""
        questions = _pvqa_list(entry.get("sentf")) if isinstance(entry, dict) else None
        answers = _pvqa_list(entry.get("labelf")) if isinstance(entry, dict) else None
        if img_id and questions is not None and answers is None:
            for i in range(len(questions)):
                ref = f"{img_id}-q{i}"
                yield self.reject("no-answer", f"{path} ({ref}): no labelf.pvqa list", path, ref, split)
            return
        if not img_id or questions is None or answers is None:
            ref = img_id or f"entry {position}"
            yield self.reject(
                "malformed-row",
                f"{path} ({ref}): expected img_id, sentf.pvqa and labelf.pvqa lists",
                path, ref, split,
            )  # fmt: skip
            return
        if len(questions) != len(answers):
            for i in range(max(len(questions), len(answers))):
                ref = f"{img_id}-q{i}"
                yield self.reject(
                    "label-mismatch",
                    f"{path} ({ref}): image {img_id} has {len(questions)} questions but {len(answers)} answers",
                    path, ref, split,
                )  # fmt: skip
            return
        image: bytes | ImageError | None = None
        for i, (question, label) in enumerate(zip(questions, answers, strict=True)):
            ref = f"{img_id}-q{i}"
            where = f"{path} ({ref})"
            answer, problem = _answer(label)
            if answer is None:
                yield self.reject(problem, f"{where}: answer entry {label!r}", path, ref, split)
                continue
            question = str(question) if question is not None else ""
            key = (img_id, question, answer)
            if key in seen:
                yield self.reject(
                    "duplicate", f"{where}: same image, question and answer as {seen[key]}", path, ref, split
                )
                continue
            seen[key] = ref
            item = self.closed_vqa(
                question=question, answer=answer, source_id=ref, split=split, file=path, images=[],
                image_id=img_id, question_index=i,
            )  # fmt: skip
            if isinstance(item, Rejected):
                yield item
                continue
            if finder is None:
                item.meta["image_missing"] = True
                yield item
                continue
            if image is None:
                try:
                    image = finder.read(img_id)
                except ImageError as exc:
                    image = exc
            if isinstance(image, ImageError):
                yield self.reject(image.reason, f"{where}: {image}", path, ref, split)
                continue
            item.images = [image]
            yield item

    def read_own_hub(self, repo_id: str, split: str | None, revision: str | None) -> Iterator[Item]:
        split = canonical_split(split)
        rows = hub_rows(repo_id, split=split, revision=revision, image_columns=("image",), source=self.name)
        seen: dict[tuple[str, str, str, str], str] = {}
        for name, index, row in rows:
            ref = f"{name}-{index:05d}"
            where = f"{repo_id} [{name}] row {index}"
            try:
                image = image_to_bytes(row.get("image"), root=local_copy(repo_id))
            except ImageError as exc:
                yield self.reject(exc.reason, f"{where}: {exc}", repo_id, ref, name)
                continue
            question, answer = str(row.get("question") or ""), str(row.get("answer") or "")
            key = (name, hashlib.sha256(image).hexdigest(), question, answer)
            if key in seen:
                yield self.reject(
                    "duplicate",
                    f"{where}: same image, question and answer as {seen[key]}",
                    repo_id,
                    ref,
                    name,
                )
                continue
            seen[key] = ref
            yield self.closed_vqa(
                question=question, answer=answer, source_id=ref, split=name, file=repo_id, images=[image]
            )


class _ImageFinder:
    """Finds ``{img_id}.jpg`` (or .png, .jpeg) in a list of folders, never outside them."""

    def __init__(self, folders: list[Path]):
        self.folders = folders

    def read(self, img_id: str) -> bytes:
        for folder in self.folders:
            for suffix in _IMAGE_SUFFIXES:
                candidate = image_in(folder, f"{img_id}{suffix}")
                if is_image_file(candidate):
                    return read_image_file(candidate)
        searched = ", ".join(map(str, self.folders)) or "(no folder)"
        raise ImageError(f"image file not found: {img_id}.jpg/.png/.jpeg (searched {searched})")


def _pvqa_list(value: Any) -> list[Any] | None:
    """The list under ``"pvqa"`` of a sentf/labelf object, or None when it is not there."""
    if isinstance(value, dict) and isinstance(value.get("pvqa"), list):
        return value["pvqa"]
    return None


def _answer(label: Any) -> tuple[str | None, str]:
    """The answer text of a labelf entry ``{answer: 1}``, or (None, reject reason)."""
    if isinstance(label, str):
        return (label, "") if label.strip() else (None, "no-answer")
    if not isinstance(label, dict) or not label:
        return None, "no-answer"
    if len(label) > 1:
        return None, "ambiguous-answer"
    answer = str(next(iter(label)))
    return (answer, "") if answer.strip() else (None, "no-answer")
