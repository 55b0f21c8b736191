"""VQA-RAD, closed questions as multiple choice (image).

Local: the MEVF layout, ``trainset.json`` / ``testset.json`` (qid, image_name, image_organ, answer,
answer_type "CLOSED"/"OPEN", sometimes with a trailing space, question_type, question, phrase_type)
and ``images/``. OPEN questions are rejected as ``open-ended``; CLOSED ones are converted by the rule
of :mod:`medvlt_data.closed_vqa`, and a CLOSED one the rule cannot convert is ``closed-no-options``.
The real test file has 451 questions, 272 CLOSED, of which the rule converts 271 (the paper's
benchmark is these 272 CLOSED test questions: 272 is the CLOSED count of the ``VQA_RAD`` config it
read, UCSC-VLAA/MedVLThinker data_process/eval_data_stats.ipynb).
Hub: ``flaviagiammarino/vqa-rad`` (its card's ``dataset_info``: image, question, answer; splits
train 1,793 and test 451) has no answer type, so the rule alone decides which questions are closed
(an open question the rule cannot convert is ``open-ended``).
Also the ``AdaptLLM/biomed-VQA-benchmark`` layout, config ``VQA_RAD`` (:mod:`.biomed_vqa`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from medvlt_data.closed_vqa import NO_OPTIONS
from medvlt_data.images import ImageError, ImageStore, image_to_bytes
from medvlt_data.sources import register
from medvlt_data.sources.base import Item, Rejected, Source, load_json_list, split_files
from medvlt_data.sources.biomed_vqa import BiomedLayout
from medvlt_data.sources.hub import hub_rows, local_copy


@register
class VQARAD(BiomedLayout, Source):
    name = "vqa_rad"
    modality = "image"
    license = "CC0-1.0"
    hub_id = "flaviagiammarino/vqa-rad"
    local_layout = "trainset.json/testset.json + images/ (MEVF)"
    description = "radiology VQA; closed questions as multiple choice"

    def read_own_local(self, root: Path, split: str | None) -> Iterator[Item]:
        files = split_files(root, {"train": "trainset.json", "test": "testset.json"}, split, self.name)
        folder = root if root.is_dir() else root.parent
        store = ImageStore([folder / "images"])
        for name, path in files:
            for index, row in enumerate(load_json_list(path, self.name, "questions")):
                qid = row.get("qid") if isinstance(row, dict) else None
                ref = str(qid if qid is not None else "").strip() or f"row {index}"  # a blank qid is no id
                if not isinstance(row, dict):
                    yield self.reject("malformed-row", f"{path} row {index}: not an object", path, ref, name)
                    continue
                if str(row.get("answer_type", "")).strip().upper() != "CLOSED":
                    yield self.reject(
                        "open-ended", f"{path} (qid {ref}): answer_type {row.get('answer_type')!r}",
                        path, ref, name,
                    )  # fmt: skip
                    continue
                try:
                    image = store.read(str(row.get("image_name", "")))
                except ImageError as exc:
                    yield self.reject(exc.reason, f"{path} (qid {ref}): {exc}", path, ref, name)
                    continue
                item = self.closed_vqa(
                    question=row.get("question", ""), answer=row.get("answer", ""), source_id=ref,
                    split=name, file=path, images=[image], image_name=row.get("image_name"),
                    image_organ=row.get("image_organ"), question_type=row.get("question_type"),
                )  # fmt: skip
                if isinstance(item, Rejected):  # CLOSED in the source, but the rule finds no options
                    item.reason = NO_OPTIONS
                yield item

    def read_own_hub(self, repo_id: str, split: str | None, revision: str | None) -> Iterator[Item]:
        rows = hub_rows(repo_id, split=split, revision=revision, image_columns=("image",), source=self.name)
        for name, index, row in rows:
            ref = f"{name}-{index:05d}"
            try:
                image = image_to_bytes(row.get("image"), root=local_copy(repo_id))
            except ImageError as exc:
                yield self.reject(exc.reason, f"{repo_id} [{name}] row {index}: {exc}", repo_id, ref, name)
                continue
            yield self.closed_vqa(
                question=row.get("question", ""), answer=row.get("answer", ""), source_id=ref,
                split=name, file=repo_id, images=[image],
            )  # fmt: skip
