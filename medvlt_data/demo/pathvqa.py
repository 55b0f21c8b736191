"""Demo PathVQA files: question files grouped per image (pvqa_{train,val,test}.json) and images/{split}/."""

from __future__ import annotations

import json
from pathlib import Path

from medvlt_data.demo.bank import DEMO_IMAGES, image_items

#: Which split each demo image belongs to (by position in DEMO_IMAGES).
_SPLITS = ("train", "train", "train", "train", "val", "test")


def write(root: Path) -> Path:
    entries: dict[str, list[dict]] = {"train": [], "val": [], "test": []}
    counters = dict.fromkeys(entries, 0)
    by_image = {image.name: [] for image in DEMO_IMAGES}
    for item in image_items():
        if not item.options:
            by_image[item.image.name].append((item.question, item.answer))
    for image, split in zip(DEMO_IMAGES, _SPLITS, strict=True):
        img_id = f"{split}_{counters[split]:04d}"
        counters[split] += 1
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "images" / split / f"{img_id}.jpg").write_bytes(image.jpeg())
        pairs = [*by_image[image.name], ("Is the lesion square?", "yes" if image.shape == "square" else "no")]
        entries[split].append(_entry(img_id, pairs))
    # Rows the adapter rejects: a repeated question (duplicate) and an image whose file is absent.
    entries["train"][0]["sentf"]["pvqa"].append(entries["train"][0]["sentf"]["pvqa"][0])
    entries["train"][0]["labelf"]["pvqa"].append(entries["train"][0]["labelf"]["pvqa"][0])
    entries["test"].append(_entry("test_0099", [("Is there a bright lesion on the left side?", "yes")]))
    for split, part in entries.items():
        (root / f"pvqa_{split}.json").write_text(json.dumps(part, indent=1), encoding="utf-8")
    return root


def _entry(img_id: str, pairs: list[tuple[str, str]]) -> dict:
    return {
        "img_id": img_id,
        "labelf": {"pvqa": [{answer: 1} for _, answer in pairs]},
        "sentf": {"pvqa": [question for question, _ in pairs]},
    }
