"""SLAKE and PMC-VQA repositories of raw files through the loopback Hub, revision by revision.

BoKelvin/SLAKE holds ``train.json``, the validation file and ``test.json`` (lists of SLAKE question
objects) plus ``imgs.zip``; old revisions name the validation file ``validate.json`` as the Slake1.0
release does, the current one ``validation.json``. RadGenome/PMC-VQA holds ``train.csv``,
``test.csv``, ``test_clean.csv``, ``images.zip`` (version 1) and ``train_2.csv``, ``test_2.csv``,
``images_2.zip`` (version 2) (the repository's file tree). Both are read with the unmodified
``huggingface_hub`` client, pinned to a commit.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections import Counter

from PIL import Image

from medvlt_data.sources import Rejected, get_source
from tests import hub_server

hub = hub_server.hub  # the loopback Hub fixture


def _png(color) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), color).save(buffer, format="PNG")
    return buffer.getvalue()


def _slake(qid, question, answer, img="xmlab1/source.jpg"):
    return {"img_id": 1, "img_name": img, "question": question, "answer": answer, "q_lang": "en",
            "location": "Chest", "modality": "CT", "answer_type": "CLOSED", "base_type": "vqa",
            "content_type": "Organ", "triple": ["vhead", "_", "_"], "qid": qid}  # fmt: skip


def _upload(api, repo_id, files: dict[str, bytes], message: str, delete: list[str] | None = None) -> str:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=data) for name, data in files.items()]
    operations += [CommitOperationDelete(path_in_repo=name) for name in delete or []]
    return api.create_commit(repo_id, operations, commit_message=message, repo_type="dataset").oid


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_slake_old_revision_with_validate_json_and_the_current_one(hub):
    from huggingface_hub import HfApi

    api, repo = HfApi(), "BoKelvin/SLAKE"
    api.create_repo(repo, repo_type="dataset")
    image = _png((9, 9, 9))
    old = _upload(api, repo, {
        "train.json": json.dumps([_slake(1, "Is this a CT?", "Yes")]).encode(),
        "validate.json": json.dumps([_slake(2, "Is the lung healthy?", "No")]).encode(),
        "test.json": json.dumps([_slake(3, "Is this an MRI or a CT?", "CT")]).encode(),
        "imgs.zip": _zip({"imgs/xmlab1/source.jpg": image}),
    }, "Slake1.0 files")  # fmt: skip
    current = _upload(api, repo, {
        "validation.json": json.dumps([_slake(2, "Is the lung healthy?", "No"),
                                       _slake(4, "Does the picture contain liver?", "Yes")]).encode(),
    }, "rename validate.json", delete=["validate.json"])  # fmt: skip

    at_old = list(get_source("slake").read(hub=repo, revision=old))
    assert Counter(i.split for i in at_old) == {"train": 1, "validation": 1, "test": 1}
    assert not any(isinstance(i, Rejected) for i in at_old)
    (validation,) = [i for i in at_old if i.split == "validation"]
    assert validation.source_id == "2" and validation.meta["file"] == f"{repo}/validate.json"
    assert validation.images == [image]
    ct = next(i for i in at_old if i.split == "test")
    assert (ct.options, ct.answer_label) == ({"A": "MRI", "B": "CT"}, "B")

    at_current = list(get_source("slake").read(hub=repo, revision=current, split="validation"))
    assert [i.source_id for i in at_current] == ["2", "4"]
    assert at_current[0].meta["file"] == f"{repo}/validation.json"
    assert [i.source_id for i in get_source("slake").read(hub=repo, split="validation")] == ["2", "4"]


def test_pmc_vqa_version_2_files_from_the_hub(hub):
    from huggingface_hub import HfApi

    def table(header, rows) -> bytes:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        writer.writerows(rows)
        return buffer.getvalue().encode()

    choices = [" A:CT ", " B:MRI ", " C:PET ", " D:X-ray "]
    v1 = ["Figure_path", "Question", "Answer", "Choice A", "Choice B", "Choice C", "Choice D", "Answer_label"]
    v2 = ["Figure_path", "Caption", "Question", "Choice A", "Choice B", "Choice C", "Choice D", "Answer"]
    first, second = _png((1, 1, 1)), _png((2, 2, 2))
    api, repo = HfApi(), "RadGenome/PMC-VQA"
    api.create_repo(repo, repo_type="dataset")
    _upload(api, repo, {
        "train.csv": table(v1, [["PMC1_F1.jpg", "Which modality?", "MRI", *choices, "B"]]),
        "test_clean.csv": table(v1, [["PMC1_F1.jpg", "Clean?", "CT", *choices, "A"]]),
        "images.zip": _zip({"images/PMC1_F1.jpg": first}),
        "train_2.csv": table(v2, [["PMC1_F1.jpg", "A CT of the chest.", "Which modality?", *choices, "A"],
                                  ["PMC2_F1.jpg", "An X-ray.", "What is shown?", *choices, "D"]]),
        "test_2.csv": table(v2, [["PMC2_F1.jpg", "An X-ray.", "Test?", *choices, "D"]]),
        "images_2.zip": _zip({"figures/PMC1_F1.jpg": second, "figures/PMC2_F1.jpg": second}),
    }, "PMC-VQA v1 and v2")  # fmt: skip

    source = get_source("pmc_vqa")
    version_2 = list(source.read(hub=repo, split="train_2")) + list(source.read(hub=repo, split="test_2"))
    assert [(r.source_id, r.split, r.answer_label, r.answer) for r in version_2] == [
        ("train_2-00000", "train", "A", "CT"), ("train_2-00001", "train", "D", "X-ray"),
        ("test_2-00000", "test", "D", "X-ray"),
    ]  # fmt: skip
    assert all(r.images == [second] for r in version_2)  # version 2 figures from images_2.zip
    (train,) = source.read(hub=repo, split="train")  # train.csv exists: version 1 first
    assert (train.source_id, train.answer_label, train.images) == ("train-00000", "B", [first])
    (clean,) = source.read(hub=repo, split="test_clean")
    assert (clean.source_id, clean.split, clean.answer) == ("test_clean-00000", "test", "CT")
