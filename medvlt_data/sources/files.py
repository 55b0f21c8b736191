"""Reading the files of a local layout as UTF-8 text: JSON Lines line by line (a line that is not UTF-8
is one ``undecodable-line`` reject, not the end of the file), whole files (JSON, CSV) at once (text that
is not UTF-8 is a :class:`SourceError` naming the file and where its first bad byte is). A UTF-8 byte
order mark is skipped; a UTF-16 file is named as such. :class:`SourceError` and :data:`SKIPPED` live here,
below :mod:`medvlt_data.sources.base`, which re-exports them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class SourceError(Exception):
    """A user error about a source as a whole: a missing folder, an unknown split, no files found."""


class Skipped:
    """The place of a row that another task of a shared read takes (see
    :meth:`medvlt_data.sources.base.Source.read`)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "SKIPPED"


SKIPPED = Skipped()


class LineError(str):
    """The error of one JSON line (a ``str``, as before) with the ``reason`` its reject is counted under:
    ``malformed-json`` (not JSON, or not an object) or ``undecodable-line`` (not UTF-8 text)."""

    reason: str

    def __new__(cls, text: str, reason: str = "malformed-json") -> LineError:
        error = super().__new__(cls, text)
        error.reason = reason
        return error


_UTF16_MARKS = (b"\xff\xfe", b"\xfe\xff")  # also the start of UTF-32's
_UTF8_MARK = b"\xef\xbb\xbf"
#: How to convert a file medvlt cannot read, for the messages.
_CONVERT = "medvlt reads UTF-8: convert the file, e.g. iconv -f LATIN1 -t UTF-8 (or -f UTF-16)"


def _utf16_error(path: Path) -> SourceError:
    return SourceError(f"{path}: UTF-16 text (it starts with a UTF-16 byte order mark); {_CONVERT}")


def _decode_line(raw: bytes) -> tuple[str, LineError | None]:
    """(text, None) of one line, or ("", why it is not UTF-8 text)."""
    if b"\x00" in raw:
        why = "not UTF-8 text: it holds NUL bytes (binary data, or UTF-16?)"
        return "", LineError(why, "undecodable-line")
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        where = f"byte 0x{raw[exc.start]:02x} at column {exc.start + 1}"
        return "", LineError(f"not UTF-8 text: {where}; {_CONVERT}", "undecodable-line")


def read_json_lines(
    path: Path, share: Any = None
) -> Iterator[tuple[int, dict[str, Any] | Skipped | None, LineError | str]]:
    """Yield (line number, object or None, error) for each non-blank line of a JSON Lines file;
    with a ``share`` (:class:`~medvlt_data.sources.base.Share`), (line number, SKIPPED, "") for the lines
    other tasks take.

    Lines end at ``\\n``. A line that is not UTF-8 text gets an error of its own (reason
    ``undecodable-line``), so one bad line costs one row, not the file; a UTF-8 byte order mark is
    skipped, and a UTF-16 file (its byte order mark) is a :class:`SourceError` naming it."""

    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if number == 1:
                if raw.startswith(_UTF16_MARKS):
                    raise _utf16_error(path)
                raw = raw.removeprefix(_UTF8_MARK)
            if not raw.strip():
                continue
            if share is not None and not share.takes_next():
                yield number, SKIPPED, ""
                continue
            line, error = _decode_line(raw)
            if error is not None:
                yield number, None, error
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, None, LineError(f"invalid JSON: {exc.msg} at column {exc.colno}")
                continue
            except RecursionError:
                yield number, None, LineError("invalid JSON: nested too deeply")
                continue
            if not isinstance(value, dict):
                yield number, None, LineError(f"expected a JSON object, got {type(value).__name__}")
                continue
            yield number, value, ""


def decode_text(data: bytes, path: Any) -> str:
    """The text of a whole file (``data``, read from ``path``) as UTF-8, a byte order mark dropped; text
    that is not UTF-8 is a :class:`SourceError` naming the file and where the first bad byte is."""

    if data.startswith(_UTF16_MARKS):
        raise _utf16_error(path)
    try:
        return data.removeprefix(_UTF8_MARK).decode("utf-8")
    except UnicodeDecodeError as exc:
        start = exc.start + (len(_UTF8_MARK) if data.startswith(_UTF8_MARK) else 0)
        line = data.count(b"\n", 0, start) + 1
        column = start - (data.rfind(b"\n", 0, start) + 1) + 1
        raise SourceError(
            f"{path}: not UTF-8 text: byte 0x{data[start]:02x} at line {line} column {column}; {_CONVERT}"
        ) from None


def read_text_file(path: Path) -> str:
    """The text of a whole file (JSON, CSV) as UTF-8: :func:`decode_text` of its bytes."""
    return decode_text(path.read_bytes(), path)


def load_json(path: Path) -> Any:
    """Load a whole JSON file; a file that is not UTF-8 text, or a syntax error, becomes a
    :class:`SourceError` naming the file."""

    text = read_text_file(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    except RecursionError:
        raise SourceError(f"{path}: invalid JSON: nested too deeply") from None
