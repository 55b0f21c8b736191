"""Image guard: size limits, decompression bombs, corrupt files, folders and zip archives."""

from __future__ import annotations

import io
import zipfile

import pytest
from PIL import Image

from medvlt_data import images
from medvlt_data.images import ImageError, ImageStore, decode_image, image_to_bytes


def _png(size=(16, 16)) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", size, 128).save(buffer, format="PNG")
    return buffer.getvalue()


def test_decode_valid_and_corrupt():
    assert decode_image(_png()).size == (16, 16)
    with pytest.raises(ImageError, match="cannot decode"):
        decode_image(_png()[:40])
    with pytest.raises(ImageError, match="empty image"):
        decode_image(b"")


def test_decompression_bomb_guard(monkeypatch):
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(ImageError, match="decompression bomb"):
        decode_image(_png((64, 64)))
    assert Image.MAX_IMAGE_PIXELS != 100  # the global limit is restored


def test_file_size_limit(monkeypatch, tmp_path):
    monkeypatch.setattr(images, "MAX_IMAGE_BYTES", 10)
    with pytest.raises(ImageError, match="exceeds"):
        decode_image(_png())
    path = tmp_path / "a.png"
    path.write_bytes(_png())
    with pytest.raises(ImageError, match="exceeds"):
        image_to_bytes("a.png", root=tmp_path)


def test_image_to_bytes_variants(tmp_path):
    data = _png()
    path = tmp_path / "x.png"
    path.write_bytes(data)
    assert image_to_bytes(data) == data
    assert image_to_bytes({"bytes": data, "path": None}) == data
    assert image_to_bytes({"bytes": None, "path": str(path)}, root=tmp_path) == data
    assert image_to_bytes("x.png", root=tmp_path) == data
    assert decode_image(image_to_bytes(Image.new("RGB", (3, 5)))).size == (3, 5)
    with pytest.raises(ImageError, match="neither bytes nor path"):
        image_to_bytes({"bytes": None, "path": None})


def test_store_finds_files_in_folders_and_zips(tmp_path):
    folder = tmp_path / "imgs" / "xmlab1"
    folder.mkdir(parents=True)
    (folder / "source.jpg").write_bytes(b"folder-bytes")
    archive = tmp_path / "imgs.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("imgs/xmlab2/source.jpg", b"zip-bytes")
        z.writestr("top.png", b"top-bytes")
    store = ImageStore([tmp_path / "imgs", archive, tmp_path / "absent"])
    assert store.read("xmlab1/source.jpg") == b"folder-bytes"
    assert store.read("xmlab2/source.jpg") == b"zip-bytes"
    assert store.read("imgs/xmlab2/source.jpg") == b"zip-bytes"
    assert store.read("top.png") == b"top-bytes"
    with pytest.raises(ImageError, match=r"not found: nope\.jpg \(searched"):
        store.read("nope.jpg")
    assert not ImageStore([tmp_path / "absent"])


def test_store_never_substitutes_another_folders_file(tmp_path):
    archive = tmp_path / "imgs.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("imgs/xmlab1/source.jpg", b"one")
        z.writestr("imgs/xmlab3/source.jpg", b"three")
    store = ImageStore([archive])
    assert store.read("xmlab3/source.jpg") == b"three"
    with pytest.raises(ImageError, match=r"not found: xmlab2/source\.jpg"):
        store.read("xmlab2/source.jpg")
    with pytest.raises(ImageError, match=r"not found: source\.jpg"):  # two files share the bare name
        store.read("source.jpg")
