"""The image step: Qwen2.5-VL bounds, RGB conversion, untouched bytes, phash, the filter."""

from __future__ import annotations

import io
import random

import imagehash
import numpy as np
import pytest
from PIL import Image, ImageDraw

from medvlt_data.demo.bank import DEMO_IMAGES
from medvlt_data.images import ImageError, decode_image
from medvlt_data.pipeline.documents import document_to_record, record_to_document
from medvlt_data.pipeline.exact_dedup import DedupKey, dedup_key
from medvlt_data.pipeline.image_step import ImagePrep, image_phash, prepare_image_details, resize_bounds
from medvlt_data.schema import Record
from tests.conftest import realdata


def picture(size=(64, 48), mode="RGB", seed=0) -> Image.Image:
    """A picture with seeded random shapes, so different seeds give clearly different images."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, (rng.randrange(60), rng.randrange(60), rng.randrange(60)))
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x0, y0 = rng.randrange(size[0]), rng.randrange(size[1])
        x1, y1 = x0 + rng.randrange(4, size[0] // 2 + 5), y0 + rng.randrange(4, size[1] // 2 + 5)
        color = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=color)
    return image.convert(mode)


def encode(image: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def record(question="Which structure is shown?", images=(), ref="q1") -> Record:
    return Record(
        question=question,
        options={"A": "Liver", "B": "Spleen"},
        answer_label="A",
        answer="Liver",
        source="demo",
        source_id=ref,
        split="train",
        images=list(images),
    )


class Collector:
    """An exclusion writer that keeps what it is given (BaseFilter only enters it and calls write)."""

    def __init__(self):
        self.docs = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def write(self, doc, rank=0):
        self.docs.append(doc)


# ---- bounds and preparation -------------------------------------------------------------------------


def test_resize_bounds():
    # UCSC-VLAA/MedVLThinker data_process/train_dataset/resize_image.py:13-52: a side < 28 -> the
    # shortest side up to 28; ELSE a side > 1024 -> the longest side down to 1024; the other side
    # int()-truncated; Image.BILINEAR
    assert resize_bounds(10, 40) == (28, 112)  # shortest side up to 28
    assert resize_bounds(40, 10) == (112, 28)
    assert resize_bounds(3000, 1000) == (1024, 341)  # longest side down to 1024
    assert resize_bounds(1000, 3000) == (341, 1024)
    assert resize_bounds(28, 1024) == (28, 1024)  # the bounds themselves are inside
    assert resize_bounds(640, 480) == (640, 480)
    assert resize_bounds(1, 1) == (28, 28)
    assert resize_bounds(2048, 1023) == (1024, 511)  # 511.5 truncated, not rounded to 512
    assert resize_bounds(10, 27) == (28, 75)  # 75.6 truncated
    assert resize_bounds(1500, 1500) == (1024, 1024)  # a square: "else" branch, height 1024
    assert resize_bounds(2, 5000) == (28, 70000)  # elif: once widened, the long side is not capped
    assert resize_bounds(28, 40000) == (1, 1024)  # the original's int() would give 0 and fail
    assert resize_bounds(100, 100, min_side=200, max_side=300) == (200, 200)


def _paper_resize(width: int, height: int) -> tuple[int, int]:
    """The size resize_image_to_qwen2_5_vl gives, restated from its lines 20-52 for the comparison."""
    if height < 28 or width < 28:
        return (28, int(height * (28 / width))) if width < height else (int(width * (28 / height)), 28)
    if height > 1024 or width > 1024:
        return (
            (1024, int(height * (1024 / width))) if width > height else (int(width * (1024 / height)), 1024)
        )
    return width, height


def test_resize_bounds_equal_the_papers_rule_on_many_sizes():
    rng = random.Random(7)
    sizes = [(rng.randrange(1, 4000), rng.randrange(1, 4000)) for _ in range(3000)]
    sizes += [(w, h) for w in (1, 27, 28, 29, 1023, 1024, 1025) for h in (1, 27, 28, 29, 1023, 1024, 1025)]
    assert [resize_bounds(w, h) for w, h in sizes] == [_paper_resize(w, h) for w, h in sizes]


def test_no_resize_keeps_the_source_bytes():
    # eval builds: images as released, whatever their size, mode or format
    for original in (encode(picture((3000, 1000)), "JPEG", quality=90), encode(picture((10, 40), "L")),
                     encode(picture((64, 48)), "WEBP")):  # fmt: skip
        details = prepare_image_details(original, resize=False)
        assert details.data == original
        assert not (details.resized or details.converted or details.reencoded)
        assert details.phash == image_phash(original)
    resized = prepare_image_details(encode(picture((3000, 1000)), "JPEG", quality=90))
    assert resized.resized and decode_image(resized.data).size == (1024, 341)


def test_tiny_image_scaled_up_to_28():
    data, phash = prepare_image_details(encode(picture((10, 40))))[:2]
    image = decode_image(data)
    assert image.size == (28, 112)
    assert (image.mode, image.format) == ("RGB", "PNG")
    assert len(phash) == 16 and int(phash, 16) >= 0


def test_huge_image_scaled_down_to_1024():
    details = prepare_image_details(encode(picture((3000, 1000)), "JPEG", quality=90))
    assert decode_image(details.data).size == (1024, 341)
    assert (details.resized, details.converted, details.reencoded) == (True, False, True)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_in_bounds_rgb_keeps_original_bytes(fmt):
    original = encode(picture((200, 150)), fmt)
    data, phash = prepare_image_details(original)[:2]
    assert data == original
    assert phash == str(imagehash.phash(decode_image(original)))


def test_other_formats_reencoded_as_png_deterministically():
    original = encode(picture((64, 64)), "BMP")
    first, second = prepare_image_details(original), prepare_image_details(original)
    assert first == second
    assert decode_image(first.data).format == "PNG"
    assert np.array_equal(np.asarray(decode_image(first.data)), np.asarray(decode_image(original)))


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "1"])
def test_modes_converted_to_rgb(mode):
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    details = prepare_image_details(encode(picture((60, 50), mode), fmt))
    image = decode_image(details.data)
    assert image.mode == "RGB" and image.size == (60, 50)
    assert details.converted and details.reencoded and not details.resized


def test_grayscale_keeps_its_values():
    gray = Image.fromarray(np.arange(64 * 64, dtype=np.uint8).reshape(64, 64) % 251)
    rgb = np.asarray(decode_image(prepare_image_details(encode(gray)).data))
    assert np.array_equal(rgb[..., 0], np.asarray(gray)) and np.array_equal(rgb[..., 2], np.asarray(gray))


def test_transparency_composited_over_white():
    image = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    image.paste((200, 0, 0, 255), (0, 0, 20, 40))
    rgb = decode_image(prepare_image_details(encode(image)).data)
    assert rgb.getpixel((5, 5)) == (200, 0, 0)
    assert rgb.getpixel((35, 5)) == (255, 255, 255)


def test_sixteen_bit_stretched_to_full_range():
    values = (np.arange(50 * 50, dtype=np.uint16).reshape(50, 50) * 3 + 1000).astype(np.uint16)
    image = Image.fromarray(values)
    assert image.mode.startswith("I;16")
    rgb = np.asarray(decode_image(prepare_image_details(encode(image)).data))
    assert rgb.min() == 0 and rgb.max() == 255  # not clipped to white, not crushed to black


def test_corrupt_image_raises_image_error():
    with pytest.raises(ImageError):
        prepare_image_details(encode(picture())[:60])
    with pytest.raises(ImageError):
        image_phash(b"not an image")


def test_phash_stable_under_reencoding():
    png = encode(picture((300, 200), seed=3))
    jpeg = encode(decode_image(png).convert("RGB"), "JPEG", quality=75)
    distance = (int(image_phash(png), 16) ^ int(image_phash(jpeg), 16)).bit_count()
    assert distance <= 2


# ---- the datatrove step -----------------------------------------------------------------------------


def test_image_prep_on_documents():
    tiny = encode(picture((10, 40), seed=1))
    kept = encode(picture((100, 80), seed=2), "JPEG")
    docs = [
        record_to_document(record(images=[tiny, kept], ref="two"), (0, 0)),
        record_to_document(record(question="Which organ makes bile?", ref="text"), (0, 1)),
        record_to_document(record(images=[kept, tiny[:50]], ref="bad"), (0, 2)),
        record_to_document(record(images=[DEMO_IMAGES[0].jpeg()], ref="demo"), (0, 3)),
    ]
    writer = Collector()
    step = ImagePrep(exclusion_writer=writer)
    out = list(step.run(iter(docs)))

    assert [d.id for d in out] == ["demo:train:two", "demo:train:text", "demo:train:demo"]
    assert [d.id for d in writer.docs] == ["demo:train:bad"]
    assert writer.docs[0].metadata["filter_reason"] == "undecodable-image"
    assert writer.docs[0].media[0].media_bytes == kept  # a dropped doc is left as it came
    stats = step.stats
    assert stats["dropped_undecodable-image"].total == 1
    assert (stats["total"].total, stats["forwarded"].total, stats["dropped"].total) == (4, 3, 1)
    assert (stats["images"].total, stats["resized"].total, stats["kept_original"].total) == (3, 1, 2)
    assert stats["text_only"].total == 1

    two, text, demo = out
    assert decode_image(two.media[0].media_bytes).size == (28, 112)
    assert two.media[1].media_bytes == kept
    assert two.metadata["image_phash"] == [image_phash(tiny), image_phash(kept)]
    list(DedupKey().run(iter(out)))  # the prepare stage's next step keys them by text and images
    assert two.metadata["dedup_key"] == dedup_key(
        two.text, {"A": "Liver", "B": "Spleen"}, two.metadata["image_phash"]
    )
    assert text.metadata["image_phash"] == []
    assert text.metadata["dedup_key"] == dedup_key(
        "Which organ makes bile?", {"A": "Liver", "B": "Spleen"}, []
    )
    assert demo.metadata["image_phash"][0] == image_phash(DEMO_IMAGES[0].jpeg())
    assert document_to_record(two).images[0] == two.media[0].media_bytes


def test_image_prep_never_raises_on_missing_bytes():
    doc = record_to_document(record(images=[encode(picture())]), (0, 0))
    doc.media[0].media_bytes = None
    step = ImagePrep()
    assert list(step.run([doc])) == []
    assert step.stats["dropped_undecodable-image"].total == 1


def test_real_images_prepared(tmp_path):
    files = sorted(realdata("vqa_rad", "images").glob("*.jpg"))[:20]
    docs = [
        record_to_document(record(images=[f.read_bytes()], ref=f.stem), (0, i)) for i, f in enumerate(files)
    ]
    step = ImagePrep()
    out = list(step.run(docs))
    assert len(out) == 20
    for doc, path in zip(out, files, strict=True):
        image = decode_image(doc.media[0].media_bytes)
        assert max(image.size) <= 1024 and min(image.size) >= 28 and image.mode == "RGB"
        with Image.open(path) as original:
            in_bounds = max(original.size) <= 1024
        if in_bounds:
            assert doc.media[0].media_bytes == path.read_bytes()
    assert step.stats["kept_original"].total + step.stats["resized"].total == 20


def test_resize_is_bilinear_as_the_papers():
    # resize_image.py:40 and :52 resize with Image.BILINEAR
    original = picture((2100, 700), seed=3)
    details = prepare_image_details(encode(original))
    expected = original.resize((1024, 341), Image.BILINEAR)
    assert np.array_equal(np.asarray(decode_image(details.data)), np.asarray(expected))
    assert not np.array_equal(np.asarray(expected), np.asarray(original.resize((1024, 341), Image.BICUBIC)))
