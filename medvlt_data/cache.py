"""medvlt's cache folder, and folders built into it once, atomically and under a lock.

The cache root is ``$MEDVLT_CACHE`` when set, else ``~/.cache/medvlt``. It holds the pulled eval sets and
the models medvlt builds for its tests and demo (the tiny model, the demo models).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["cached_folder", "default_cache_root", "file_lock", "is_current"]


def default_cache_root() -> Path:
    """The cache root: ``$MEDVLT_CACHE`` when set, else ``~/.cache/medvlt``."""
    env = os.environ.get("MEDVLT_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "medvlt"


def cached_folder(
    name: str,
    build: Callable[[Path], object],
    marker: str,
    version: int,
    cache_dir: str | os.PathLike | None = None,
) -> Path:
    """``<cache>/<name>``, built by ``build(folder)`` on first use or when it is not current: the JSON file
    ``marker`` that ``build`` writes into the folder holds ``recipe_version``, and another ``version`` than
    this one is rebuilt.

    The folder is built in a temporary folder beside it and renamed into place, and a lock file serialises
    the builders, so another process sees either no folder or a complete one.
    """
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_root()
    final = root / name
    if is_current(final, marker, version):
        return final
    root.mkdir(parents=True, exist_ok=True)
    with file_lock(root / f".{name}.lock"):
        if is_current(final, marker, version):  # another process built it while we waited for the lock
            return final
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=root))
        try:
            tmp.chmod(0o755)  # mkdtemp makes it private; the cache is readable like any other folder
            build(tmp)
            if final.exists():
                stale = root / f".{name}.stale-{uuid.uuid4().hex}"
                os.rename(final, stale)
                shutil.rmtree(stale, ignore_errors=True)
            os.rename(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return final


def is_current(folder: Path, marker: str, version: int) -> bool:
    """Whether ``folder`` holds a complete build: its ``marker`` file records ``recipe_version`` ``version``."""
    try:
        found = json.loads((folder / marker).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(found, dict) and found.get("recipe_version") == version


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Exclusive advisory lock on ``path`` (a no-op where ``fcntl`` is missing: the rename stays atomic)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
