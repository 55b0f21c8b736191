"""Append-only JSON Lines checkpoints: one finished unit of work a line, flushed as it is written, read
back on the next run so nothing finished is done again.

Lines end at ``"\\n"`` only: ``str.splitlines`` would also cut at U+2028, U+0085 or ``\\x1c``, which a
model's text may hold and ``json.dumps(ensure_ascii=False)`` leaves as they are. A last line without its
newline was cut short by an interruption: readers ignore it, and :class:`JsonLinesCheckpoint` cuts it off
the file before appending, so the file stays valid however often a run is interrupted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["JsonLinesCheckpoint", "json_line", "read_json_lines"]


def json_line(entry: dict[str, Any]) -> str:
    """One checkpoint line: compact JSON with sorted keys, non-ASCII kept, and its newline."""
    return json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n"


def read_json_lines(path: Path) -> tuple[list[dict[str, Any]], int]:
    """(entries of the complete lines, their length in bytes) of ``path``; ``([], 0)`` when it is absent.
    A line that is complete but not JSON is an error naming the file and the line."""
    if not path.exists():
        return [], 0
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    entries = []
    for number, line in enumerate(data[:end].split(b"\n")[:-1], start=1):
        try:
            entries.append(json.loads(line.decode("utf-8")))
        except ValueError as exc:
            raise ValueError(
                f"{path}:{number}: not a JSON line ({exc}); delete the file to start over"
            ) from None
    return entries, end


class JsonLinesCheckpoint:
    """``entries`` read back from ``path`` (a torn last line cut off the file), then ``add`` appends.

    A log built on it (rollouts, eval generations) holds one: it indexes the ``entries`` on open, and
    each new entry once it is written.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.entries, end = read_json_lines(self.path)
        if self.path.exists() and self.path.stat().st_size > end:
            with self.path.open("r+b") as handle:
                handle.truncate(end)
        self._handle = self.path.open("a", encoding="utf-8")

    def add(self, entry: dict[str, Any]) -> None:
        self._handle.write(json_line(entry))
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()
