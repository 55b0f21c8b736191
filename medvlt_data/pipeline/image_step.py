"""The image step: decode, convert to RGB, resize to Qwen2.5-VL's bounds, perceptual hash.

In a training pool every image of a record is decoded under the guard of
:func:`medvlt_data.images.decode_image`, converted to RGB, resized (bilinear) when a side falls
outside the recipe's bounds (:func:`resize_bounds`, MedVLThinker's rule), and hashed with a 64-bit
perceptual hash (``imagehash.phash``, 16 hex digits). An image already in RGB, within bounds and
stored as JPEG or PNG keeps its original bytes; any other is re-encoded as PNG.

In an eval build (``ImagePrep(resize=False)``) images are never changed: the bytes stay those of the
source, as the paper evaluated on images as released (UCSC-VLAA/MedVLThinker
data_process/prepare_vlm_eval_data.py:38 and :207 pass the benchmark's image through; its resize
script is applied to the training pools only, data_process/train_dataset/prepare_pmc_vqa.py:164-169).
They are still decoded under the guard and hashed.
"""

from __future__ import annotations

import io
from typing import Any, NamedTuple

import imagehash
import numpy as np
from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from PIL import Image

from medvlt_data.images import ImageError, decode_image

#: Qwen2.5-VL's bounds in the recipe: no side under 28 px, no side over 1024 px.
MIN_SIDE = 28
MAX_SIDE = 1024

_HIGH_BIT_DEPTH_MODES = {"I", "F", "I;16", "I;16B", "I;16L", "I;16N"}
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}


def resize_bounds(
    width: int, height: int, min_side: int = MIN_SIDE, max_side: int = MAX_SIDE
) -> tuple[int, int]:
    """The size an image of ``width`` x ``height`` takes in a training pool, by MedVLThinker's rule.

    UCSC-VLAA/MedVLThinker data_process/train_dataset/resize_image.py:13-52 (``resize_image_to_qwen2_5_vl``):
    when a side is under ``min_side``, the shortest side becomes ``min_side``; otherwise (``elif``)
    when a side is over ``max_side``, the longest side becomes ``max_side``. The other side keeps the
    aspect ratio and is truncated (``int()``), not rounded; a square counts as "height is the
    shortest" for the first rule and "height is the longest" for the second, as there. Because of the
    ``elif``, an image that is both thinner than ``min_side`` and, once widened, longer than
    ``max_side`` keeps its long side above ``max_side``, as in the original. One difference: a side
    that the truncation would make 0 (a long side over ``max_side * min_side``) is 1 here, where
    Pillow would fail on the original.

    >>> resize_bounds(10, 40)
    (28, 112)
    >>> resize_bounds(3000, 1000)
    (1024, 341)
    >>> resize_bounds(500, 300)
    (500, 300)
    >>> resize_bounds(2048, 1023)
    (1024, 511)
    >>> resize_bounds(5, 2000)
    (28, 11200)
    """
    if height < min_side or width < min_side:
        if width < height:
            return min_side, max(1, int(height * (min_side / width)))
        return max(1, int(width * (min_side / height))), min_side
    if height > max_side or width > max_side:
        if width > height:
            return max_side, max(1, int(height * (max_side / width)))
        return max(1, int(width * (max_side / height))), max_side
    return width, height


class PreparedImage(NamedTuple):
    """An image after the step: encoded ``data``, its ``phash`` (hex) and what was done to it."""

    data: bytes
    phash: str
    converted: bool
    resized: bool
    reencoded: bool


def prepare_image_details(data: bytes, resize: bool = True) -> PreparedImage:
    """Encoded image bytes -> the image within the bounds, in RGB, as JPEG or PNG, its 16-hex-digit
    phash, and whether it was converted, resized, re-encoded.

    Raises :class:`~medvlt_data.images.ImageError` when the bytes cannot be decoded under the guard.
    With ``resize=False`` (eval builds) the returned bytes are always ``data`` itself: the image is
    only decoded under the guard and hashed.
    """
    image, converted, resized = _normalized(data, resize=resize)
    phash = str(imagehash.phash(image))
    if not resize:
        return PreparedImage(bytes(data), phash, False, False, False)
    if not converted and not resized and image.format in ("JPEG", "PNG"):
        return PreparedImage(bytes(data), phash, False, False, False)
    return PreparedImage(_encode_png(image), phash, converted, resized, True)


def image_phash(data: bytes) -> str:
    """The perceptual hash (16 hex digits) of encoded image bytes, as :func:`prepare_image_details`
    computes it."""
    image, _, _ = _normalized(data)
    return str(imagehash.phash(image))


def _normalized(data: bytes, resize: bool = True) -> tuple[Image.Image, bool, bool]:
    image = decode_image(data)
    converted = image.mode != "RGB" or "transparency" in image.info
    try:
        if converted:
            image = _to_rgb(image)
        size = resize_bounds(*image.size) if resize else image.size
        resized = size != image.size
        if resized:
            image = image.resize(size, Image.Resampling.BILINEAR)
    except (OSError, ValueError) as exc:
        raise ImageError(f"cannot convert image: {exc}") from exc
    return image, converted, resized


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB version of ``image``: high bit depths stretched to 8 bits, transparency over white."""
    if image.mode in _HIGH_BIT_DEPTH_MODES:
        pixels = np.asarray(image, dtype=np.float64)
        low, high = float(pixels.min()), float(pixels.max())
        scaled = (pixels - low) * (255.0 / (high - low)) if high > low else np.zeros_like(pixels)
        return Image.fromarray(np.round(scaled).astype(np.uint8)).convert("RGB")
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _encode_png(image: Image.Image) -> bytes:
    image = image.copy()
    image.info = {}
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


# ---- the datatrove step -----------------------------------------------------------------------------


class ImagePrep(BaseFilter):
    """Datatrove step: prepares every image of a Document and sets ``metadata["image_phash"]``.

    A Document with an image that cannot be decoded is dropped with reason ``undecodable-image``.
    With ``resize=False`` (eval builds) every image keeps its source bytes. Stats: ``images``,
    ``converted``, ``resized``, ``reencoded``, ``kept_original``, ``text_only``.
    """

    name = "images"

    def __init__(self, exclusion_writer: Any = None, resize: bool = True):
        super().__init__(exclusion_writer=exclusion_writer)
        self.resize = resize

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        """Prepare ``doc``'s images in place; keep it, or drop it when an image is unusable."""
        prepared: list[PreparedImage] = []
        for media in doc.media:
            try:
                prepared.append(prepare_image_details(media.media_bytes, resize=self.resize))
            except (ImageError, OSError, ValueError):
                return False, "undecodable-image"
        for media, image in zip(doc.media, prepared, strict=True):
            media.media_bytes = image.data
            self.stat_update("images")
            for label in ("converted", "resized", "reencoded"):
                if getattr(image, label):
                    self.stat_update(label)
            if not image.reencoded:
                self.stat_update("kept_original")
        if not doc.media:
            self.stat_update("text_only")
        doc.metadata["image_phash"] = [image.phash for image in prepared]
        return True
