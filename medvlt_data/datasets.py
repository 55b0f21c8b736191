"""A dataset named on the command line -> local files: a build folder, a Parquet file, or a Hub id
``ORG/NAME[@revision]`` (downloaded into the Hugging Face cache). A local path wins over a Hub id of the
same spelling. Distillation, training and evaluation all resolve their ``--dataset`` here.

>>> DatasetSource(spec="builds/text-all", path=Path("builds/text-all"), version="v1").describe()
{'spec': 'builds/text-all', 'label': 'builds/text-all', 'version': 'v1'}
>>> DatasetSource(spec="org/set@v1", path=Path("cache"), repo_id="org/set", revision="v1").label
'org/set@v1'
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medvlt_data.parquet_io import parquet_files, read_any_records, shard_split
from medvlt_data.schema import Record

__all__ = ["HUB_PATTERNS", "DatasetLoadError", "DatasetSource", "load_records", "resolve_dataset"]

#: Files fetched from a Hub dataset repository.
HUB_PATTERNS = ["data/*", "*.parquet", "stats.json", "README.md"]


class DatasetLoadError(OSError):
    """A dataset that cannot be found or downloaded; the message names it."""


@dataclass(frozen=True)
class DatasetSource:
    """Where a dataset came from, as the run record and the model card cite it.

    ``spec`` is what the user passed; ``path`` the local folder or file read. For a Hub dataset,
    ``repo_id``, the requested ``revision`` (None: main) and the ``commit`` it resolved to. ``version``,
    ``content_hash``, ``name`` and ``demo`` (made from medvlt's demo corpus) come from the build's
    ``stats.json`` when there is one.
    """

    spec: str
    path: Path
    repo_id: str | None = None
    revision: str | None = None
    commit: str | None = None
    version: str | None = None
    content_hash: str | None = None
    name: str | None = None
    demo: bool = False  # the build's stats.json says it was made from medvlt's demo corpus

    @property
    def label(self) -> str:
        """``ORG/NAME@revision`` for a Hub dataset (the commit when no revision was asked), else the spec."""
        if self.repo_id is None:
            return self.spec
        return f"{self.repo_id}@{self.revision or self.commit or 'main'}"

    def describe(self) -> dict[str, Any]:
        """JSON-ready facts (no local path for Hub datasets: it is a cache location, not a source)."""
        facts = {"spec": self.spec, "label": self.label, "repo_id": self.repo_id, "revision": self.revision,
                 "commit": self.commit, "version": self.version, "content_hash": self.content_hash,
                 "name": self.name, "demo": True if self.demo else None}  # fmt: skip
        return {key: value for key, value in facts.items() if value is not None}


def resolve_dataset(dataset: str | Path) -> DatasetSource:
    """The :class:`DatasetSource` of a build folder, a Parquet file, or a Hub id ``ORG/NAME[@revision]``."""
    spec = str(dataset)
    path = Path(dataset)
    repo_id = revision = commit = None
    if not path.exists():
        snapshot = _download(spec)
        path, repo_id, revision, commit = snapshot.path, snapshot.repo_id, snapshot.revision, snapshot.commit
    stats = _build_stats(path)
    return DatasetSource(spec=spec, path=path, repo_id=repo_id, revision=revision, commit=commit,
                         version=stats.get("version"), content_hash=stats.get("content_hash"),
                         name=stats.get("name"), demo=stats.get("demo") is True)  # fmt: skip


def _build_stats(path: Path) -> dict[str, Any]:
    """The ``stats.json`` of the build that holds ``path`` (a build folder or one of its shards), or {}."""
    for folder in (path, path.parent, path.parent.parent) if path.is_file() else (path,):
        stats = folder / "stats.json"
        if stats.is_file():
            try:
                return json.loads(stats.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise DatasetLoadError(f"{stats}: not readable as JSON: {exc}") from exc
    return {}


def load_records(dataset: str | Path | DatasetSource, split: str | None = None) -> Iterator[Record]:
    """Yield the records of a dataset spec (see the module doc) or of an already resolved
    :class:`DatasetSource`.

    ``split`` keeps only shards named ``{split}-*.parquet``. Rows in MedVLThinker's released layout (no
    ``source`` column) are read with :func:`~medvlt_data.schema.from_medvlthinker`, their split taken from
    the shard name.
    """
    if isinstance(dataset, DatasetSource):
        dataset, path = dataset.spec, dataset.path
    else:
        path = Path(dataset)
        if not path.exists():
            path = _download(str(dataset)).path
    files = parquet_files(path)
    if split is not None:
        files = [f for f in files if shard_split(f) == split]
    if not files:
        wanted = f" for split {split!r}" if split else ""
        raise DatasetLoadError(f"no Parquet files{wanted} in dataset {dataset!s} ({path})")
    yield from read_any_records(files)


def _download(dataset: str):
    """The Hub snapshot of ``ORG/NAME[@revision]`` (a ``DatasetLoadError`` naming it otherwise)."""
    from medvlt_data.hub import HubError, download, split_revision

    try:
        split_revision(dataset)
    except HubError:
        raise DatasetLoadError(
            f"dataset {dataset!r} is neither a local path nor a Hub id ORG/NAME[@revision]"
        ) from None
    try:
        return download(dataset, "dataset", allow_patterns=HUB_PATTERNS)
    except HubError as exc:
        raise DatasetLoadError(
            f"could not get dataset {dataset!r} from the Hugging Face Hub: {exc}"
        ) from None
