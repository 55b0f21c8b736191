"""Who owns an output folder: the marker a medvlt command leaves in its ``--out``, and what it may delete.

A command that writes a folder (``data build``, ``data distill``, ``data ingest``, ``medvlt eval``) first
claims it with :func:`claim`: an absent or empty folder gets the marker ``.medvlt.json`` naming the
command; a folder with that command's marker is taken as it is (to resume or redo its work); any other
non-empty folder is refused unless ``overwrite`` is given, and even then only the files the command
itself writes (:data:`OWN_FILES`) are removed before it starts over. The marker also holds the
fingerprint of the work (:func:`settle_fingerprint`) and the names of the data files the command wrote
last (:func:`replace_files`), so a re-run deletes exactly those and nothing a user put beside them.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from medvlt_data import __version__

__all__ = ["MARKER", "OWN_FILES", "FolderError", "claim", "read_marker", "record_files", "replace_files",
           "settle_fingerprint"]  # fmt: skip

MARKER = ".medvlt.json"

#: The command of each kind of folder, as its messages name it.
COMMANDS = {
    "build": "medvlt data build",
    "distill": "medvlt data distill",
    "ingest": "medvlt data ingest",
    "eval": "medvlt eval",
    "pull": "medvlt data pull",
}

_SHARD = "[0-9][0-9][0-9][0-9][0-9]"
_DATA = f"data/*-{_SHARD}-of-{_SHARD}.parquet"
_CARD = ("stats.json", "README.md", "assets/records_per_source.png", "assets/pass_counts.png")

#: What each kind of folder's command writes (glob patterns, relative to the folder): ``overwrite``
#: removes these and nothing else. ``eval-data`` of an evaluation is a build folder of its own.
OWN_FILES: dict[str, tuple[str, ...]] = {
    "build": (".work", _DATA, f"rejects/*/{_SHARD}.jsonl", *_CARD),
    "distill": (".work", _DATA, *_CARD),
    "ingest": (_DATA, "data/*.parquet.tmp", "rejects.jsonl", "summary.json"),
    "eval": ("eval_config.json", "generations/run-*.jsonl", "results.json", "results.md", "*-server.log"),
    "pull": (
        "pull.json",
        "data/*.parquet",
        f"rejects/*/{_SHARD}.jsonl",
        "assets/*.png",
        "stats.json",
        "README.md",
    ),
}

#: What ``overwrite`` keeps of those: the checkpointed answers, keyed by what was asked and how (the
#: prompt, the images, the model and its sampling), so they are never stale and are not paid for twice.
_KEPT = {"build": (".work/rollouts",), "distill": (".work/rollouts",)}

#: Subfolders (glob patterns) a command writes as folders of a kind of their own, each with its marker:
#: an evaluation's ``eval-data`` build, the per-source folders of ``data ingest --root``.
_NESTED = {"eval": {"eval-data": "build"}, "ingest": {"*": "ingest"}}

#: A file whose presence makes an unmarked folder one of this kind's from before markers existed.
_ADOPT: dict[str, Callable[[Path], bool]] = {
    "eval": lambda out: _json_keys(out / "eval_config.json") >= {"model", "seeds", "benchmarks"},
    "pull": lambda out: _json_keys(out / "pull.json") >= {"repo_id", "commit"},
}


class FolderError(RuntimeError):
    """An output folder that a command may not write into (the message says why and what to do)."""


def _json_keys(path: Path) -> set[str]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    return set(value) if isinstance(value, dict) else set()


def read_marker(out: str | Path) -> dict[str, Any] | None:
    """The marker of ``out``, or None when it has none (a marker that is not JSON is an error)."""
    path = Path(out) / MARKER
    if not path.is_file():
        return None
    try:
        marker = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise FolderError(
            f"{path}: not a medvlt folder marker ({exc}); delete it or use another --out"
        ) from None
    if not isinstance(marker, dict) or marker.get("kind") not in COMMANDS:
        raise FolderError(f"{path}: not a medvlt folder marker; delete it or use another --out")
    return marker


def write_marker(out: str | Path, marker: dict[str, Any]) -> None:
    """Write the marker of ``out`` atomically (a torn write never leaves half a marker)."""
    path = Path(out) / MARKER
    tmp = path.with_name(f"{MARKER}.tmp")
    tmp.write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _entries(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir()) if out.is_dir() else []


def claim(out: str | Path, kind: str, *, overwrite: bool = False) -> dict[str, Any]:
    """Make ``out`` a folder of ``kind`` (a key of :data:`COMMANDS`) or refuse it; returns its marker.

    An absent or empty folder is created and marked; a folder with this kind's marker is kept as it is
    (unless ``overwrite``: then its own files go first); another non-empty folder is refused with a
    :class:`FolderError` naming it and the way out, unless ``overwrite``, which removes the files of
    :data:`OWN_FILES` only (a user's files stay; checkpointed answers too) and marks it."""
    out = Path(out)
    command = COMMANDS[kind]
    if out.exists() and not out.is_dir():
        raise FolderError(f"--out {out} is a file, not a folder; choose another --out")
    marker = read_marker(out)
    if marker is None and kind in _ADOPT and _ADOPT[kind](out):
        marker = {"kind": kind, "medvlt_version": __version__}
        write_marker(out, marker)
    if marker is not None and marker["kind"] == kind and not overwrite:
        return marker
    entries = [name for name in _entries(out) if name != MARKER]
    if entries and not overwrite:
        shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
        what = (
            f"is a {COMMANDS[marker['kind']]} folder, not" if marker is not None else "is not empty and not"
        )
        raise FolderError(
            f"--out {out} {what} a {command} folder (it holds {shown}); choose another --out, or pass "
            f"--overwrite to write into it ({command} then replaces only the files it writes itself; other "
            f"files stay)"
        )
    if overwrite:
        for name in (marker or {}).get("files") or []:  # the data files it listed last
            (out / name).unlink(missing_ok=True)
        remove_own_files(out, kind)
        if marker is not None and marker["kind"] != kind:
            remove_own_files(out, marker["kind"])
    out.mkdir(parents=True, exist_ok=True)
    marker = {"kind": kind, "medvlt_version": __version__}
    write_marker(out, marker)
    return marker


def remove_own_files(out: Path, kind: str) -> list[str]:
    """Remove what a ``kind`` command writes into ``out`` (:data:`OWN_FILES`, and folders it emptied);
    returns the paths removed, relative to ``out``."""
    removed: list[str] = []
    if not out.is_dir():
        return removed
    for pattern, nested in _NESTED.get(kind, {}).items():
        for folder in sorted(out.glob(pattern)):
            # a named subfolder is this command's even unmarked (from before markers); a pattern's only marked
            allowed = (nested,) if "*" in pattern else (nested, None)
            if folder.is_dir() and (read_marker(folder) or {}).get("kind") in allowed:
                removed += [f"{folder.name}/{path}" for path in remove_own_files(folder, nested)]
                _remove_if_empty(folder)
    parents = set()
    kept = {out / name for name in _KEPT.get(kind, ())}
    for pattern in OWN_FILES[kind]:
        for path in sorted(out.glob(pattern)):
            removed += _remove(path, kept, out)
            parents.update(p for p in path.relative_to(out).parents if p != Path("."))
    for parent in sorted(parents, key=lambda p: -len(p.parts)):  # deepest first
        _remove_if_empty(out / parent)
    (out / MARKER).unlink(missing_ok=True)
    return removed


def _remove(path: Path, kept: set[Path], out: Path) -> list[str]:
    """Remove ``path`` (a folder with all it holds) except the ``kept`` paths; the paths removed."""
    if path in kept:
        return []
    if path.is_dir() and not path.is_symlink():
        if any(path in k.parents for k in kept):
            removed = [name for child in sorted(path.iterdir()) for name in _remove(child, kept, out)]
            _remove_if_empty(path)
            return removed
        shutil.rmtree(path)
    else:
        path.unlink()
    return [path.relative_to(out).as_posix()]


def _remove_if_empty(folder: Path) -> None:
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def settle_fingerprint(out: str | Path, fingerprint: dict[str, Any], what: str) -> dict[str, Any]:
    """Record ``fingerprint`` in the claimed ``out``'s marker, or check it against the one there: other
    work is a :class:`FolderError` that names the keys that changed (``what``: "a build", ...)."""
    from medvlt_data.fingerprint import changed_keys

    out = Path(out)
    marker = _claimed(out)
    old = marker.get("fingerprint")
    if old is None:
        marker["fingerprint"] = fingerprint
        write_marker(out, marker)
        return marker
    changed = changed_keys(old, fingerprint)
    if changed:
        shown = ", ".join(changed[:8]) + (f" and {len(changed) - 8} more" if len(changed) > 8 else "")
        command = COMMANDS[marker["kind"]]
        raise FolderError(
            f"--out {out} holds {what} of other work: {shown} changed since it was started. To resume it, "
            f"re-run with the inputs and settings it was started with; to start over, choose another --out "
            f"or pass --overwrite ({command} then replaces the files it wrote)"
        )
    return marker


def record_files(out: str | Path, key: str, written: Iterable[str]) -> None:
    """After a command wrote ``written`` (paths relative to ``out``): delete the files the marker listed
    under ``key`` from its last run that it did not write again, and list ``written``."""
    out = Path(out)
    marker = _claimed(out)
    written = sorted(written)
    for name in marker.get(key) or []:
        if name not in written:
            (out / name).unlink(missing_ok=True)
    write_marker(out, {**marker, key: written})


def replace_files(out: str | Path, key: str, new: Iterable[str], write: Callable[[], None]) -> None:
    """Replace the files a command wrote last under the marker's ``key`` (paths relative to ``out``) with
    ``new``: ``write()`` writes them; files listed before and not in ``new`` are deleted, nothing else.
    The marker lists both sets while the files change, so an interruption leaves none unlisted."""
    out = Path(out)
    marker = _claimed(out)
    old, new = list(marker.get(key) or []), sorted(new)
    write_marker(out, {**marker, key: sorted(set(old) | set(new))})
    for name in old:
        if name not in new:
            (out / name).unlink(missing_ok=True)
    write()
    write_marker(out, {**_claimed(out), key: new})


def _claimed(out: Path) -> dict[str, Any]:
    marker = read_marker(out)
    if marker is None:
        raise FolderError(f"{out} has no {MARKER}: the command must claim its folder before writing into it")
    return marker
