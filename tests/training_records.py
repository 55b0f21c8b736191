"""A small training set for the training tests: multiple-choice records with reasoning, half with an
image, written as a medvlt build folder."""

from __future__ import annotations

import io
from pathlib import Path

from medvlt_data.parquet_io import write_records
from medvlt_data.schema import Record


def png(seed: int, size: int = 56) -> bytes:
    from PIL import Image

    image = Image.new("RGB", (size, size), (40 * seed % 256, 90, 160))
    for x in range(0, size, 7):
        image.putpixel((x, (x * seed) % size), (255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def records(with_images: bool, n: int = 8) -> list[Record]:
    organs = ["Liver", "Pancreas", "Kidney", "Spleen"]
    out = []
    for i in range(n):
        label = "ABCD"[i % 4]
        out.append(
            Record(
                question=f"Case {i}: which organ is shown or described?",
                options=dict(zip("ABCD", organs, strict=True)),
                answer_label=label,
                answer=organs[i % 4],
                source="demo",
                source_id=f"q{i}",
                split="train",
                reasoning=f"The findings point to the {organs[i % 4].lower()}.",
                images=[png(i)] if with_images and i % 2 == 0 else [],  # mixed text and image rows
            )
        )
    return out


def build_dataset(tmp_path: Path, with_images: bool) -> Path:
    folder = tmp_path / "build"
    files = write_records(records(with_images), folder)
    assert [p.name for p in files["train"]] == ["train-00000-of-00001.parquet"]
    return folder
