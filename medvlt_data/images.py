"""Reading images safely: size limits, Pillow's decompression-bomb guard, folders and zip archives.

Every image enters medvlt as the encoded bytes of its file. Decoding happens only to check it
(:func:`decode_image`) or to transform it, always under the limits below, so a corrupt or hostile
file is a reject with a reason, never a crash.
"""

from __future__ import annotations

import io
import warnings
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from PIL import Image

#: Largest encoded image file accepted, in bytes.
MAX_IMAGE_BYTES = 64 * 1024 * 1024
#: Largest decoded image accepted, in pixels (Pillow's bomb guard is raised to an error above this).
MAX_IMAGE_PIXELS = 64_000_000


class ImageError(ValueError):
    """An image that cannot be used: missing, too large, or not decodable."""


def decode_image(data: bytes) -> Image.Image:
    """Decode encoded image bytes fully, under the size limits; raise :class:`ImageError` otherwise."""
    if not isinstance(data, (bytes, bytearray)):
        raise ImageError(f"expected encoded image bytes, got {type(data).__name__}")
    if len(data) == 0:
        raise ImageError("empty image file")
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageError(f"image file of {len(data)} bytes exceeds the {MAX_IMAGE_BYTES}-byte limit")
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"decompression bomb guard: {exc}") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"cannot decode image: {exc}") from exc
    finally:
        Image.MAX_IMAGE_PIXELS = previous
    return image


def image_to_bytes(value: Any) -> bytes:
    """Encoded bytes from what datasets and raw layouts hand over.

    Accepts raw bytes, a ``{"bytes": ..., "path": ...}`` mapping (the Hugging Face ``Image`` feature
    undecoded), a file path, or a PIL image (re-encoded as PNG).
    """
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, dict):
        if value.get("bytes"):
            return bytes(value["bytes"])
        if value.get("path"):
            return read_image_file(Path(value["path"]))
        raise ImageError("image entry has neither bytes nor path")
    if isinstance(value, (str, Path)):
        return read_image_file(Path(value))
    if isinstance(value, Image.Image):
        buffer = io.BytesIO()
        value.save(buffer, format="PNG")
        return buffer.getvalue()
    raise ImageError(f"unsupported image value of type {type(value).__name__}")


def read_image_file(path: Path) -> bytes:
    """Read an image file's bytes under the size limit."""
    try:
        size = path.stat().st_size
    except FileNotFoundError as exc:
        raise ImageError(f"image file not found: {path}") from exc
    if size > MAX_IMAGE_BYTES:
        raise ImageError(f"image file {path} of {size} bytes exceeds the {MAX_IMAGE_BYTES}-byte limit")
    return path.read_bytes()


class ImageStore:
    """Finds image files by relative name in folders and zip archives (e.g. ``imgs/``, ``images.zip``).

    A name is looked up as given and with leading folders removed, as long as one folder remains:
    ``imgs/xmlab102/source.jpg`` is found as ``xmlab102/source.jpg`` under ``imgs/`` or inside
    ``imgs.zip``, but never as some other folder's ``source.jpg``. A bare file name matches a file of
    that name anywhere in an archive, unless two files share it.
    """

    def __init__(self, roots: Iterable[Path]):
        self.folders: list[Path] = []
        self._members: dict[str, tuple[zipfile.ZipFile, str]] = {}
        self._ambiguous: set[str] = set()
        for root in roots:
            root = Path(root)
            if root.is_dir():
                self.folders.append(root)
            elif root.is_file() and zipfile.is_zipfile(root):
                archive = zipfile.ZipFile(root)
                for member in archive.namelist():
                    if not member.endswith("/"):
                        parts = member.split("/")
                        for i in range(len(parts)):
                            self._add("/".join(parts[i:]), archive, member)

    def _add(self, key: str, archive: zipfile.ZipFile, member: str) -> None:
        known = self._members.setdefault(key, (archive, member))
        if known != (archive, member):
            self._ambiguous.add(key)

    def __bool__(self) -> bool:
        return bool(self.folders or self._members)

    def describe(self) -> str:
        archives = sorted({a.filename or "?" for a, _ in self._members.values()})
        return ", ".join([str(f) for f in self.folders] + [str(a) for a in archives]) or "(none)"

    def read(self, name: str) -> bytes:
        """Bytes of the image called ``name``; :class:`ImageError` naming the places searched."""
        name = str(name).replace("\\", "/").lstrip("./")
        parts = name.split("/")
        candidates = ["/".join(parts[i:]) for i in range(max(1, len(parts) - 1))]
        for folder in self.folders:
            for candidate in candidates:
                if (folder / candidate).is_file():
                    return read_image_file(folder / candidate)
        for key in candidates:
            if key in self._members and (key not in self._ambiguous or self._members[key][1] == key):
                archive, member = self._members[key]
                info = archive.getinfo(member)
                if info.file_size > MAX_IMAGE_BYTES:
                    raise ImageError(f"image {name} of {info.file_size} bytes exceeds the size limit")
                return archive.read(member)
        raise ImageError(f"image file not found: {name} (searched {self.describe()})")
