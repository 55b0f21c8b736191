"""SLAKE, English closed questions as multiple choice (image).

Local: the Slake1.0 layout, ``train.json`` / ``validate.json`` / ``test.json``, each a list of objects
(qid, img_id, img_name such as ``xmlab102/source.jpg``, question, answer, q_lang "en"/"zh",
answer_type "OPEN"/"CLOSED", content_type, base_type, location, modality, triple), and the images
under ``imgs/`` (a folder, or the archive ``imgs.zip``). The split ``validate`` is called
``validation`` here; a folder may also name its file ``validation.json``.
Hub: ``BoKelvin/SLAKE`` holds the same files: ``train.json``, ``test.json`` and the validation file,
``validation.json`` in the current revision and ``validate.json`` (the Slake1.0 name) in old ones,
plus ``imgs.zip``. Each file is fetched with ``hub_file`` and parsed by the same code as a local
folder (not through ``datasets``, whose split patterns do not know ``validate`` and would silently
drop that split of an old revision).
Also the ``AdaptLLM/biomed-VQA-benchmark`` layout, config ``SLAKE`` (:mod:`.biomed_vqa`): its 1,061
test questions are the English ones, 416 CLOSED.

Rules, in this order, one item per question:

- only English questions are used: ``q_lang`` other than "en" is rejected as ``non-english``;
- ``answer_type`` OPEN is rejected as ``open-ended`` (another value is a ``malformed-row``);
- CLOSED questions are converted by the rule of :mod:`medvlt_data.closed_vqa`; one the rule cannot
  convert is rejected as ``closed-no-options`` (the paper's options for it were written by GPT-4o);
- the image is looked up by ``img_name``; a missing one is rejected as ``missing-image``, one whose
  name or symlink leads outside ``imgs/`` (or the archive) as ``image-outside-root``.

``source_id`` is SLAKE's ``qid`` (the same in both layouts). The benchmark of the recipe is the
English CLOSED part of the test split (416 questions).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from medvlt_data.closed_vqa import NO_OPTIONS, answer_type_problem
from medvlt_data.images import ImageError, ImageStore
from medvlt_data.sources import register
from medvlt_data.sources.base import (
    Item,
    Rejected,
    Source,
    SourceError,
    canonical_split,
    load_json_list,
    split_files,
)
from medvlt_data.sources.biomed_vqa import BiomedLayout
from medvlt_data.sources.hub import hub_file

#: Split -> its file names, in order of preference (the current Hub name first, then Slake1.0's).
_SPLIT_FILES = {
    "train": ("train.json",),
    "validation": ("validation.json", "validate.json"),
    "test": ("test.json",),
}


@register
class SLAKE(BiomedLayout, Source):
    name = "slake"
    modality = "image"
    license = "CC-BY-4.0"
    hub_id = "BoKelvin/SLAKE"
    local_layout = "train.json/validate.json (or validation.json)/test.json + imgs/ or imgs.zip (Slake1.0)"
    description = "radiology VQA (English); closed questions as multiple choice"

    def read_own_local(self, root: Path, split: str | None) -> Iterator[Item]:
        split = canonical_split(split)
        if root.is_dir():
            patterns = {n: next((f for f in names if (root / f).is_file()), names[-1])
                        for n, names in _SPLIT_FILES.items()}  # fmt: skip
        else:
            patterns = {
                n: root.name if root.name in names else names[-1] for n, names in _SPLIT_FILES.items()
            }
        files = split_files(root, patterns, split, self.name)
        folder = root if root.is_dir() else root.parent
        store = ImageStore([folder / "imgs", folder / "imgs.zip"])
        if not store:
            raise SourceError(f"{self.name}: no images in {folder} (looked for imgs/ and imgs.zip)")
        for name, path in files:
            for index, row in enumerate(load_json_list(path, self.name, "questions")):
                yield self._item(row, index, name, path, store)

    def read_own_hub(self, repo_id: str, split: str | None, revision: str | None) -> Iterator[Item]:
        split = canonical_split(split)
        if split is not None and split not in _SPLIT_FILES:
            raise SourceError(f"{self.name}: unknown split {split!r}; known: {', '.join(_SPLIT_FILES)}")

        def fetch(filename: str) -> Path | None:
            try:
                return hub_file(repo_id, filename, revision=revision)
            except Exception as exc:  # network, authentication, unknown repository or revision
                raise SourceError(f"{self.name}: cannot fetch {filename} from {repo_id!r}: {exc}") from exc

        files = []
        for name in [split] if split else list(_SPLIT_FILES):
            found = next(((f, p) for f in _SPLIT_FILES[name] if (p := fetch(f)) is not None), None)
            if found:
                files.append((name, *found))
        if not files:
            wanted = [f for name in ([split] if split else _SPLIT_FILES) for f in _SPLIT_FILES[name]]
            raise SourceError(f"{self.name}: Hub dataset {repo_id!r} has none of {', '.join(wanted)}")
        archive = fetch("imgs.zip")
        if archive is None:
            raise SourceError(f"{self.name}: Hub dataset {repo_id!r} has no imgs.zip")
        store = ImageStore([archive])
        for name, filename, path in files:
            rows = load_json_list(path, self.name, "questions", shown=f"{repo_id}/{filename}")
            for index, row in enumerate(rows):
                yield self._item(row, index, name, f"{repo_id}/{filename}", store)

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
        problem = answer_type_problem(row.get("answer_type"))
        if problem:
            return self.reject(problem[0], f"{where}: {problem[1]}", file, ref, split)
        answer = row.get("answer")
        if answer is None or not str(answer).strip():
            return self.reject("no-answer", f"{where}: empty answer", file, ref, split)
        item = self.closed_vqa(
            question=str(row.get("question") or ""), answer=answer, source_id=ref, split=split, file=file,
            images=[], img_id=row.get("img_id"), img_name=row.get("img_name"), location=row.get("location"),
            image_modality=row.get("modality"), content_type=row.get("content_type"),
            base_type=row.get("base_type"),
        )  # fmt: skip
        if isinstance(item, Rejected):  # CLOSED in the source, but the rule finds no options
            item.reason = NO_OPTIONS
            return item
        try:
            item.images = [store.read(str(row.get("img_name") or ""))]
        except ImageError as exc:
            return self.reject(exc.reason, f"{where}: {exc}", file, ref, split)
        return item
