"""Reading the Hugging Face Hub layout of a source through ``datasets`` and ``huggingface_hub``.

A Hub id may also be a local folder holding a copy of the Hub repository (same files, same
README configs); the same code path reads both.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from medvlt_data.sources.base import SourceError


def hub_rows(
    repo_id: str,
    *,
    config: str | None = None,
    split: str | None = None,
    revision: str | None = None,
    image_columns: tuple[str, ...] = (),
    source: str = "",
) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """Yield (split, row index, row) of a Hub dataset; image columns stay undecoded bytes."""
    import datasets

    try:
        loaded = datasets.load_dataset(repo_id, config, split=split, revision=revision)
    except (FileNotFoundError, ValueError, ConnectionError, OSError) as exc:
        raise SourceError(
            f"{source}: cannot load Hub dataset {repo_id!r} (config {config}, split {split}): {exc}"
        ) from exc
    except Exception as exc:
        if type(exc).__module__.startswith(("datasets", "huggingface_hub", "requests", "httpx")):
            raise SourceError(f"{source}: cannot load Hub dataset {repo_id!r}: {exc}") from exc
        raise
    parts = {split: loaded} if split is not None else dict(loaded)
    for name, dataset in parts.items():
        for column in image_columns:
            if column in dataset.column_names:
                dataset = dataset.cast_column(column, _undecoded(dataset.features[column]))
        for index, row in enumerate(dataset):
            yield str(name), index, row


def _undecoded(feature: Any) -> Any:
    """The same feature with every ``Image`` inside it set to ``decode=False``."""
    import datasets

    if isinstance(feature, datasets.Image):
        return datasets.Image(decode=False)
    if isinstance(feature, datasets.Sequence):
        return datasets.Sequence(_undecoded(feature.feature), length=feature.length)
    if isinstance(feature, list) and len(feature) == 1:
        return [_undecoded(feature[0])]
    if hasattr(datasets, "List") and isinstance(feature, datasets.List):
        return datasets.List(_undecoded(feature.feature))
    return feature


def local_copy(repo_id: str) -> Path | None:
    """The folder of a Hub id that is a local copy of a repository (the root its image paths are read
    in), else None."""
    local = Path(repo_id)
    return local if local.is_dir() else None


def hub_file(repo_id: str, filename: str, *, revision: str | None = None) -> Path | None:
    """A file of a Hub dataset repository (downloaded to the cache), or None when it is absent."""
    local = Path(repo_id)
    if local.is_dir():
        candidate = local / filename
        return candidate if candidate.exists() else None
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    try:
        return Path(hf_hub_download(repo_id, filename, repo_type="dataset", revision=revision))
    except EntryNotFoundError:
        return None
