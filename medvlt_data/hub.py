"""Versions on the Hugging Face Hub: publishing a folder (a dataset build or a trained model) as a
tagged commit, and pulling datasets and models back by id and revision.

**Push.** One push is one commit that makes the repository hold exactly the folder's files (files of
an earlier version that the folder lacks are deleted in the same commit), then a tag named after the
folder's version at that commit. The tag is created only after the commit succeeded, so a failed upload
never leaves a tag on a partial commit; and since the version names the content, a version whose tag
exists already is not uploaded again: the push reports the existing tag. Transient failures (HTTP
408/429/5xx, dropped or refused connections) are retried with backoff, since huggingface_hub does not
retry a commit itself.

**Pull.** ``ID[@revision]`` (a tag, a branch or a commit) is downloaded with ``snapshot_download``
into the Hugging Face cache; the commit it resolved to is reported. A medvlt build is verified against
the content hash in its ``stats.json``.

Tokens come from huggingface_hub's usual places (``HF_TOKEN``, the cached login); messages are
scrubbed of the token before they reach the user.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from hub_cards.rendering import is_repo_id  # the form of a Hub id, shared with the model card

__all__ = [
    "HubError",
    "PushResult",
    "Snapshot",
    "download",
    "is_repo_id",
    "push_folder",
    "scrub_token",
    "split_revision",
    "update_from_file",
]

#: Never uploaded: work folders, hidden files, intermediate training checkpoints.
DEFAULT_IGNORE = (".work/**", ".*", "**/.*", "checkpoint-*/**")
#: Attempts of each Hub call and the first wait between them (doubling).
ATTEMPTS, BACKOFF = 5, 1.0
_REVISION = re.compile(r"[\w./-]+")
_T = TypeVar("_T")


class HubError(RuntimeError):
    """A Hub operation that failed; the message names the repository and never holds the token."""


@dataclass(frozen=True)
class PushResult:
    """A pushed version: ``commit`` is the commit its ``tag`` points at; ``created`` is False when the tag
    existed already and nothing was uploaded."""

    repo_id: str
    repo_type: str
    tag: str
    commit: str
    created: bool


@dataclass(frozen=True)
class Snapshot:
    """A downloaded revision: the local folder (in the Hugging Face cache) and the commit it is."""

    repo_id: str
    repo_type: str
    revision: str | None
    commit: str
    path: Path


def scrub_token(text: str) -> str:
    """``text`` with the Hub token in use, and any other secret, replaced by ``***``
    (:func:`medvlt_data.redact.scrub`)."""
    from medvlt_data.redact import scrub

    return scrub(text)


def split_revision(spec: str) -> tuple[str, str | None]:
    """``"ORG/NAME@rev"`` -> ``("ORG/NAME", "rev")``; a spec that is not a Hub id raises ``HubError``.

    >>> split_revision("UCSC-VLAA/MedVLThinker-pmc_vqa@v1.0"), split_revision("org/name")
    (('UCSC-VLAA/MedVLThinker-pmc_vqa', 'v1.0'), ('org/name', None))
    """
    repo_id, at, revision = spec.partition("@")
    if not is_repo_id(repo_id) or (at and _REVISION.fullmatch(revision) is None):
        raise HubError(f"{spec!r} is not a Hub id ORG/NAME[@revision]")
    return repo_id, revision or None


def _retryable(exc: BaseException) -> bool:
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    if isinstance(exc, OfflineModeIsEnabled):
        return False
    if isinstance(exc, HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else None
        return status is None or status in (408, 429) or status >= 500
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    # httpx / httpcore transport errors (refused, dropped, timed out), whatever the client library
    return type(exc).__module__.split(".")[0].rstrip("2") in ("httpx", "httpcore", "h11")


def _call(what: str, function: Callable[[], _T]) -> _T:
    """``function()``, retried on transient failures; a ``HubError`` naming ``what`` otherwise."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return function()
        except Exception as exc:
            if attempt < ATTEMPTS and _retryable(exc):
                time.sleep(BACKOFF * 2 ** (attempt - 1))
                continue
            tries = f" after {attempt} attempts" if attempt > 1 else ""
            raise HubError(f"{what} failed{tries}: {type(exc).__name__}: {scrub_token(str(exc))}") from None
    raise AssertionError("unreachable")


def push_folder(
    folder: str | Path,
    repo_id: str,
    *,
    repo_type: str,
    tag: str,
    private: bool = False,
    commit_message: str | None = None,
    ignore_patterns: Sequence[str] = DEFAULT_IGNORE,
) -> PushResult:
    """Make ``repo_id`` hold exactly the files of ``folder`` in one commit and tag it ``tag`` (see the
    module docstring)."""
    from huggingface_hub import HfApi

    folder = Path(folder)
    if not folder.is_dir():
        raise HubError(f"cannot push {folder}: not a folder")
    split_revision(repo_id)
    api = HfApi()
    where = f"the {repo_type} repository {repo_id}"
    _call(
        f"creating {where}",
        lambda: api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True),
    )
    refs = _call(f"reading the tags of {where}", lambda: api.list_repo_refs(repo_id, repo_type=repo_type))
    tags = {ref.name: ref.target_commit for ref in refs.tags}
    if tag in tags:
        differ = _differences(api, folder, repo_id, repo_type, tags[tag], ignore_patterns)
        if differ:
            raise HubError(
                f"{where} already has a tag {tag} (commit {tags[tag]}) whose files differ from {folder} "
                f"({', '.join(differ[:5])}{' ...' if len(differ) > 5 else ''}); a tag is immutable: "
                f"push this content under another tag (--tag)"
            )
        return PushResult(repo_id, repo_type, tag, tags[tag], created=False)
    info = _call(
        f"uploading {folder} to {where} (no tag was created)",
        lambda: api.upload_folder(folder_path=folder, repo_id=repo_id, repo_type=repo_type,
                                  commit_message=commit_message or f"medvlt: {tag}",
                                  ignore_patterns=list(ignore_patterns), delete_patterns=["*"]),
    )  # fmt: skip
    _call(
        f"tagging commit {info.oid} of {where} as {tag} (the files are uploaded; push again to tag them)",
        lambda: api.create_tag(repo_id, tag=tag, revision=info.oid, repo_type=repo_type, tag_message=f"medvlt {tag}"),
    )  # fmt: skip
    return PushResult(repo_id, repo_type, tag, info.oid, created=True)


def update_from_file(digest: Any, path: Path) -> Any:
    """``digest`` updated with the bytes of ``path``, read 1 MiB at a time (weights can be many GB)."""
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest


def _local_files(folder: Path, ignore_patterns: Sequence[str]) -> dict[str, Path]:
    from huggingface_hub.utils import filter_repo_objects

    paths = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    return {path: folder / path for path in filter_repo_objects(paths, ignore_patterns=list(ignore_patterns))}


def _differences(api: Any, folder: Path, repo_id: str, repo_type: str, commit: str,
                 ignore_patterns: Sequence[str]) -> list[str]:  # fmt: skip
    """Paths that differ between ``folder`` and the repository at ``commit`` (compared by git blob id, or
    by sha256 for LFS files), ``.gitattributes`` aside."""
    import hashlib

    from huggingface_hub.hf_api import RepoFile

    tree = _call(f"listing {repo_id} at {commit}",
                 lambda: list(api.list_repo_tree(repo_id, repo_type=repo_type, revision=commit, recursive=True)))  # fmt: skip
    remote = {f.path: f for f in tree if isinstance(f, RepoFile) and f.path != ".gitattributes"}
    local = _local_files(folder, ignore_patterns)
    differ = sorted(set(remote) ^ set(local))
    for path in sorted(set(remote) & set(local)):
        lfs = remote[path].lfs
        if lfs is not None:  # large files: the sha256 of the content
            digest, expected = hashlib.sha256(), lfs.sha256
        else:  # regular files: git's blob id, sha1 of "blob {size}\0" + content
            digest, expected = hashlib.sha1(b"blob %d\0" % local[path].stat().st_size), remote[path].blob_id
        if update_from_file(digest, local[path]).hexdigest() != expected:
            differ.append(path)
    return differ


def download(spec: str, repo_type: str, allow_patterns: Sequence[str] | None = None) -> Snapshot:
    """Download ``ID[@revision]`` (``repo_type`` ``dataset`` or ``model``) into the Hugging Face cache."""
    from huggingface_hub import HfApi, constants, snapshot_download

    repo_id, revision = split_revision(spec)
    what = f"downloading the {repo_type} {repo_id} at revision {revision or 'main'}"
    pinned = revision
    if not constants.HF_HUB_OFFLINE:  # resolve the revision once, then download exactly that commit
        pinned = _call(what, lambda: HfApi().repo_info(repo_id, repo_type=repo_type, revision=revision).sha)
    path = Path(_call(
        what,
        lambda: snapshot_download(repo_id, repo_type=repo_type, revision=pinned,
                                  allow_patterns=list(allow_patterns) if allow_patterns else None),
    ))  # fmt: skip
    return Snapshot(repo_id, repo_type, revision, path.name, path)  # snapshots/{commit}


def verify_build(folder: Path) -> dict[str, Any] | None:
    """The ``stats.json`` of a medvlt build at ``folder``, its content hash checked against the shards
    (``HubError`` when they differ); None when the folder has no ``stats.json``."""
    import json

    from medvlt_data.parquet_io import content_hash, parquet_files

    stats_file = folder / "stats.json"
    if not stats_file.is_file():
        return None
    stats = json.loads(stats_file.read_text(encoding="utf-8"))
    found = content_hash(parquet_files(folder))
    if stats.get("content_hash") and found != stats["content_hash"]:
        raise HubError(
            f"{folder}: the records hash to {found[:12]}, but stats.json says {stats['content_hash'][:12]} "
            f"(version {stats.get('version')}): the files are not that version"
        )
    return stats
