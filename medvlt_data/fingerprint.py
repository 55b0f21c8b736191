"""Fingerprints: what decides the output of a build or a distillation, so that a re-run into the same
folder resumes only the same work (:func:`~medvlt_data.out_folder.settle_fingerprint` compares them).

A fingerprint is a JSON-ready dict. A local file counts by its size and the sha256 of its content (not
its place or its modification time: a copied or touched file is the same input); each hash is computed
once and kept in ``{work}/file_hashes.json`` under the file's path, size and mtime, so a resume reads
again only the files that changed. A folder of more than :data:`LISTED_FILES` files counts as one digest
of its listing. :func:`changed_keys` names the keys in which two fingerprints differ.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from medvlt_data import __version__

#: A :class:`~medvlt_data.ingest.SourceSpec` (not imported: the ingest module claims folders, which
#: compares fingerprints).
SourceSpec = Any

__all__ = ["FileHashes", "build_fingerprint", "changed_keys", "source_identity"]

HASHES_FILE = "file_hashes.json"

#: Folders with more files than this are fingerprinted as one digest of (path, size, sha256) of each.
LISTED_FILES = 2000


class FileHashes:
    """sha256 of files, cached in ``{work}/file_hashes.json`` by (path, size, mtime); ``save()`` writes
    the cache (``work`` None: no cache)."""

    def __init__(self, work: str | Path | None):
        self.path = Path(work) / HASHES_FILE if work is not None else None
        self._cache: dict[str, list] = {}
        self._changed = False
        if self.path is not None and self.path.is_file():
            try:
                self._cache = json.loads(self.path.read_text(encoding="utf-8"))
            except ValueError:  # a torn cache is only a cache: hash again
                self._cache = {}

    def sha256(self, path: Path) -> str:
        stat = path.stat()
        key = str(path.resolve())
        hit = self._cache.get(key)
        if hit and hit[0] == stat.st_size and hit[1] == stat.st_mtime_ns:
            return hit[2]
        from medvlt_data.hub import update_from_file

        value = update_from_file(hashlib.sha256(), path).hexdigest()
        self._cache[key] = [stat.st_size, stat.st_mtime_ns, value]
        self._changed = True
        return value

    def tree(self, root: str | Path) -> dict[str, Any]:
        """``{"files": {relative path: [size, sha256]}}`` of every file under ``root`` (or of the file
        ``root``), hidden names below it and the folder of ``work`` left out; a large folder:
        ``{"tree": {files, bytes, sha256}}``."""
        root = Path(root)
        if root.is_file():
            return {"files": {root.name: [root.stat().st_size, self.sha256(root)]}}
        files = {}
        skip = self.path.parent.parent.resolve() if self.path is not None else None  # the folder being built
        for path in sorted(_walk(root, skip)):
            files[path.relative_to(root).as_posix()] = [path.stat().st_size, self.sha256(path)]
        if len(files) <= LISTED_FILES:
            return {"files": files}
        listing = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
        return {"tree": {"files": len(files), "bytes": sum(s for s, _ in files.values()), "sha256": listing}}

    def save(self) -> None:
        if self.path is None or not self._changed:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{HASHES_FILE}.tmp")
        tmp.write_text(json.dumps(self._cache, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.path)
        self._changed = False


def _walk(root: Path, skip: Path | None) -> Iterable[Path]:
    """The files under ``root`` a source may read: not hidden, and (symlinks resolved) inside ``root``,
    as the adapters read nothing outside it; a link leading out is neither followed nor hashed."""
    from medvlt_data.images import is_within

    for folder, dirs, names in os.walk(root, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith(".") and (Path(folder) / d).resolve() != skip
                   and is_within(Path(folder) / d, root)]  # fmt: skip
        for name in names:
            if not name.startswith("."):
                path = Path(folder) / name
                if is_within(path, root) and path.is_file():
                    yield path


def source_identity(spec: SourceSpec, hashes: FileHashes, commit: str | None = None) -> dict[str, Any]:
    """What a source spec reads: adapter, config, splits and, for a local layout (or a Hub id that is a
    local folder) its files, else the Hub id, revision and the ``commit`` it resolved to (when known)."""
    options = {k: v for k, v in spec.options.items() if k != "note"}  # the note repeats the path
    found: dict[str, Any] = {"name": spec.name, "config": spec.config, "splits": spec.splits,
                             "benchmark": spec.benchmark, "options": options}  # fmt: skip
    local = spec.path or (spec.hub if spec.hub and Path(spec.hub).is_dir() else None)
    if local:
        found.update(hashes.tree(local))
    else:
        found.update(hub=spec.hub, revision=spec.revision, commit=commit)
    return found


def _by_group(specs: Iterable[SourceSpec], hashes: FileHashes, commits: dict[str, str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for spec in specs:
        key = spec.group if spec.group not in found else f"{spec.group}#{len(found)}"
        found[key] = source_identity(spec, hashes, commits.get(spec.group))
    return found


def build_fingerprint(
    plan: Any, references: list[SourceSpec], hashes: FileHashes, commits: dict[str, str] | None = None
) -> dict[str, Any]:
    """The fingerprint of a build plan (a :class:`~medvlt_data.pipeline.plan.BuildPlan`): the recipe and
    its parameters, the sources, the benchmarks it is decontaminated against (``references``: their
    specs, and the eval build when it gives their questions), the difficulty settings and medvlt's
    version. ``commits``: source group -> the Hub commit its id and revision resolved to."""
    commits = commits or {}
    params = {k: v for k, v in plan.params.items() if k != "decontamination_reference"}  # set by the build
    recipe = {"name": plan.name, "version": plan.version, "params": params, "demo": plan.demo,
              "dedup_exact": plan.dedup_exact, "dedup_near": plan.dedup_near, "minhash": plan.minhash,
              "rows_per_shard": plan.rows_per_shard, "max_shards": plan.max_shards,
              "resize_images": plan.resize_images}  # fmt: skip
    found = {
        "medvlt_version": __version__,
        "recipe": recipe,
        "sources": _by_group(plan.sources, hashes, commits),
        "decontaminate_against": list(plan.decontaminate_against),
        "benchmarks": _by_group(references, hashes, {}),
        "eval_build": hashes.tree(Path(plan.eval_build) / "data") if plan.eval_build else None,
        "difficulty": plan.difficulty.summary() if plan.difficulty is not None else None,
    }
    return json.loads(json.dumps(found, sort_keys=True, default=str))  # as it reads back from the marker


def changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys in which ``old`` and ``new`` differ (a key only one of them has is named, not its
    contents): ``["sources.medqa.files.train.jsonl", "difficulty.rollouts"]``."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys = []
        for key in sorted(set(old) | set(new), key=str):
            name = f"{prefix}{key}"
            if key not in old or key not in new:
                keys.append(name)
            else:
                keys += changed_keys(old[key], new[key], f"{name}.")
        return keys
    return [] if old == new else [prefix.rstrip(".") or "(all)"]
