"""Reading images safely: size limits, Pillow's decompression-bomb guard, folders and zip archives.

Every image enters medvlt as the encoded bytes of its file. Decoding happens only to check it
(:func:`decode_image`) or to transform it, always under the limits below, so a corrupt or hostile
file is a reject with a reason, never a crash.

An image named by a source's metadata is read only from inside its root (the image folder or the
dataset folder): a name with ``..`` that climbs out, an absolute path elsewhere, a symlink whose
target lies outside, or a zip member with such a name is :class:`ImageOutsideRoot`
(``image-outside-root``), decided without touching anything outside the root, so the answer is the
same whether the outside file exists or not.
"""

from __future__ import annotations

import io
import os
import posixpath
import stat
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
#: Most symlinks followed while resolving one image name (a loop inside the root ends here).
MAX_SYMLINKS = 40

#: The reject reasons of an image that cannot be had (:attr:`ImageError.reason`).
MISSING_IMAGE = "missing-image"
IMAGE_OUTSIDE_ROOT = "image-outside-root"


class ImageError(ValueError):
    """An image that cannot be used: missing, too large, or not decodable. ``reason`` is the reject
    reason of a record whose image cannot be found or read."""

    def __init__(self, message: str):
        super().__init__(message)
        self.reason = MISSING_IMAGE


class ImageOutsideRoot(ImageError):
    """An image reference that leads outside its root: ``..``, an absolute path, a symlink or zip member."""

    def __init__(self, message: str):
        super().__init__(message)
        self.reason = IMAGE_OUTSIDE_ROOT


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


def image_to_bytes(value: Any, root: Path | None = None) -> bytes:
    """Encoded bytes from what datasets and raw layouts hand over.

    Accepts raw bytes, a ``{"bytes": ..., "path": ...}`` mapping (the Hugging Face ``Image`` feature
    undecoded), a file path, or a PIL image (re-encoded as PNG). A path is read only inside ``root``
    (:func:`read_image_in`); without a root it is :class:`ImageOutsideRoot`.
    """
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, dict):
        if value.get("bytes"):
            return bytes(value["bytes"])
        if value.get("path"):
            return read_image_in(root, value["path"])
        raise ImageError("image entry has neither bytes nor path")
    if isinstance(value, (str, Path)):
        return read_image_in(root, value)
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
    except OSError as exc:  # a name too long for the file system, no permission, ...
        raise ImageError(f"cannot read image file {path}: {exc.strerror}") from exc
    if size > MAX_IMAGE_BYTES:
        raise ImageError(f"image file {path} of {size} bytes exceeds the {MAX_IMAGE_BYTES}-byte limit")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read image file {path}: {exc.strerror}") from exc


def is_image_file(path: Path) -> bool:
    """Whether ``path`` is a file; False, not an error, for a name the file system refuses (too long)."""
    try:
        return path.is_file()
    except OSError:
        return False


def _outside(name: Any, root: Any) -> ImageOutsideRoot:
    return ImageOutsideRoot(f"image path {str(name)!r} leads outside {root}; only files inside it are read")


def name_parts(name: Any, root: Any = "its folder") -> list[str]:
    """The parts of a relative image name, ``.`` and ``..`` applied by name alone (``\\`` is ``/``);
    :class:`ImageOutsideRoot` when it climbs above its start, :class:`ImageError` for a NUL byte."""
    text = str(name).replace("\\", "/")
    if "\x00" in text:
        raise ImageError(f"image name {text!r} holds a NUL byte")
    parts: list[str] = []
    for part in text.split("/"):
        if part == "..":
            if not parts:
                raise _outside(name, root)
            parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return parts


def _relative_to_root(path: str, real_root: str, given_root: str) -> list[str] | None:
    """The parts of absolute ``path`` below the root (as resolved or as given), else None; by name only."""
    for base in (real_root, given_root):
        if path == base or path.startswith(base.rstrip("/") + "/"):
            return path[len(base) :].split("/")
    return None


def image_in(root: Path, name: Any) -> Path:
    """The file that ``name`` (relative, or absolute below ``root``) means inside ``root``, with every
    symlink on the way resolved; it may not exist.

    :class:`ImageOutsideRoot` when the name or a symlink leads outside ``root``. Only paths inside
    ``root`` are looked at (``lstat``, ``readlink``): a symlink's target outside is refused by its name.
    """
    return _walk(os.path.abspath(root), os.path.realpath(root), name, root)


def _walk(given: str, real_root: str, name: Any, shown: Any) -> Path:
    """:func:`image_in` for a root known as given (absolute) and resolved; ``shown`` names it in errors."""
    text = str(name).replace("\\", "/")
    if posixpath.isabs(text):
        below = _relative_to_root(posixpath.normpath(text), real_root, given)
        if below is None:
            raise _outside(name, shown)
        text = "/".join(below)
    pending = name_parts(text, shown)[::-1]  # a stack: the next part last
    current: list[str] = []  # resolved parts below the real root
    links = 0
    exists = True
    while pending:
        part = pending.pop()
        if part == "..":
            if not current:
                raise _outside(name, shown)
            current.pop()
            continue
        if part in ("", "."):
            continue
        path = os.path.join(real_root, *current, part)
        target = None
        if exists:
            try:
                if stat.S_ISLNK(os.lstat(path).st_mode):
                    target = os.readlink(path)
            except (OSError, ValueError):
                exists = False  # the rest is taken by name: nothing below a missing part exists
        if target is not None:
            links += 1
            if links > MAX_SYMLINKS:
                raise ImageError(f"image path {str(name)!r}: too many levels of symlinks in {shown}")
            if posixpath.isabs(target):
                below = _relative_to_root(posixpath.normpath(target), real_root, given)
                if below is None:
                    raise _outside(name, shown)
                current, target = [], "/".join(below)
            pending.extend(reversed(target.split("/")))
            continue
        current.append(part)
    return Path(real_root, *current)


def is_within(path: Path, root: Path) -> bool:
    """Whether ``path``, symlinks resolved, is ``root`` or lies below it (for places a layout names
    itself, such as ``images/`` beside a file, not for names read from a source's metadata)."""
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(root))


def read_image_in(root: Path | None, name: Any) -> bytes:
    """The bytes of the image file ``name`` inside ``root`` (:func:`image_in`); a path with no root to
    read it from is :class:`ImageOutsideRoot`."""
    if root is None:
        raise ImageOutsideRoot(
            f"image path {str(name)!r}: there is no dataset folder to read it from (only embedded image "
            f"bytes are read here)"
        )
    path = image_in(Path(root), name)
    if not is_image_file(path):
        raise ImageError(f"image file not found: {name} (in {root})")
    return read_image_file(path)


def _unsafe_member(info: zipfile.ZipInfo) -> bool:
    """A member that would land outside the archive's folder: absolute, with ``..``, or a symlink."""
    name = info.filename.replace("\\", "/")
    is_link = stat.S_ISLNK(info.external_attr >> 16)
    first = name.split("/")[0]
    drive = len(first) == 2 and first[1] == ":"
    return is_link or drive or name.startswith("/") or ".." in name.split("/")


class ImageStore:
    """Finds image files by relative name in folders and zip archives (e.g. ``imgs/``, ``images.zip``).

    A name is looked up as given and with leading folders removed, as long as one folder remains:
    ``imgs/xmlab102/source.jpg`` is found as ``xmlab102/source.jpg`` under ``imgs/`` or inside
    ``imgs.zip``, but never as some other folder's ``source.jpg``. A bare file name matches a file of
    that name anywhere in an archive, unless two files share it.
    """

    def __init__(self, roots: Iterable[Path]):
        self.folders: list[Path] = []
        self.archives: list[zipfile.ZipFile] = []
        self._members: dict[str, tuple[zipfile.ZipFile, str]] = {}
        self._ambiguous: set[str] = set()
        self._unsafe: set[str] = set()  # keys of members that would land outside the archive's folder
        self._resolved: dict[Path, tuple[str, str]] = {}  # folder -> (absolute, symlinks resolved)
        for root in roots:
            root = Path(root)
            if root.is_dir():
                self.folders.append(root)
                self._resolved[root] = (os.path.abspath(root), os.path.realpath(root))
            elif root.is_file() and zipfile.is_zipfile(root):
                archive = zipfile.ZipFile(root)
                self.archives.append(archive)
                for info in archive.infolist():
                    if not info.is_dir():
                        parts = info.filename.replace("\\", "/").split("/")
                        keys = ["/".join(parts[i:]) for i in range(len(parts))]
                        if _unsafe_member(info):
                            self._unsafe.update(keys)
                        else:
                            for key in keys:
                                self._add(key, archive, info.filename)

    def _add(self, key: str, archive: zipfile.ZipFile, member: str) -> None:
        known = self._members.setdefault(key, (archive, member))
        if known != (archive, member):
            self._ambiguous.add(key)

    def __bool__(self) -> bool:
        return bool(self.folders or self._members or self._unsafe)

    def describe(self) -> str:
        archives = sorted(a.filename or "?" for a in self.archives)
        return ", ".join([str(f) for f in self.folders] + archives) or "(none)"

    def read(self, name: str) -> bytes:
        """Bytes of the image called ``name``; :class:`ImageError` naming the places searched, or
        :class:`ImageOutsideRoot` when ``name`` leads outside every folder and archive."""
        text = str(name).replace("\\", "/")
        if posixpath.isabs(text):
            return self._read_absolute(name, text)
        parts = name_parts(text, self.describe())
        candidates = ["/".join(parts[i:]) for i in range(max(1, len(parts) - 1))]
        for folder in self.folders:
            for candidate in candidates:
                path = _walk(*self._resolved[folder], candidate, folder)
                if is_image_file(path):
                    return read_image_file(path)
        for key in candidates:
            exact = key in self._members and self._members[key][1] == key
            if key in self._unsafe and not exact:
                raise _outside(name, self.describe())
            if key in self._members and (key not in self._ambiguous or exact):
                archive, member = self._members[key]
                info = archive.getinfo(member)
                if info.file_size > MAX_IMAGE_BYTES:
                    raise ImageError(f"image {name} of {info.file_size} bytes exceeds the size limit")
                return archive.read(member)
        raise ImageError(f"image file not found: {name} (searched {self.describe()})")

    def _read_absolute(self, name: str, text: str) -> bytes:
        """An absolute name is read only when it lies below one of the folders (never in an archive)."""
        below = False
        for folder in self.folders:
            try:
                path = _walk(*self._resolved[folder], text, folder)
            except ImageOutsideRoot:
                continue
            below = True
            if is_image_file(path):
                return read_image_file(path)
        if not below:
            raise _outside(name, self.describe())
        raise ImageError(f"image file not found: {name} (searched {self.describe()})")
