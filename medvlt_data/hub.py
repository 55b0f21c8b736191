"""Publishing a folder (a dataset build or a trained model) to the Hugging Face Hub as a tagged version.

One push is one commit holding every file of the folder, then a tag named after the folder's version
at that commit. The tag is created only after the commit succeeded, so a failed upload never leaves a
tag on a partial commit; and since the version names the content, a version whose tag already exists
is not uploaded again: the push reports the existing tag instead.

Tokens come from huggingface_hub's usual places (``HF_TOKEN``, the cached login); error messages are
scrubbed of the token before they reach the user.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["HubError", "PushResult", "push_folder", "scrub_token"]

#: Never uploaded: work folders, hidden files, intermediate training checkpoints.
DEFAULT_IGNORE = (".work/**", ".*", "**/.*", "checkpoint-*/**")


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

    @property
    def url(self) -> str:
        from huggingface_hub import constants

        prefix = "" if self.repo_type == "model" else f"{self.repo_type}s/"
        return f"{constants.ENDPOINT}/{prefix}{self.repo_id}/tree/{self.tag}"


def scrub_token(text: str) -> str:
    """``text`` with the Hub token in use (if any) replaced by ``***``."""
    from huggingface_hub import get_token

    token = get_token()
    return text.replace(token, "***") if token else text


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
    """Upload ``folder`` to ``repo_id`` in one commit and tag it ``tag`` (see the module docstring)."""
    from huggingface_hub import HfApi

    folder = Path(folder)
    if not folder.is_dir():
        raise HubError(f"cannot push {folder}: not a folder")
    api = HfApi()
    step = "creating the repository"
    try:
        api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        step = "reading the repository's tags"
        tags = {ref.name: ref.target_commit for ref in api.list_repo_refs(repo_id, repo_type=repo_type).tags}
        if tag in tags:
            return PushResult(repo_id, repo_type, tag, tags[tag], created=False)
        step = "uploading the files"
        info = api.upload_folder(
            folder_path=folder,
            repo_id=repo_id,
            repo_type=repo_type,
            commit_message=commit_message or f"medvlt: {tag}",
            ignore_patterns=list(ignore_patterns),
        )
        step = f"tagging commit {info.oid}"
        api.create_tag(repo_id, tag=tag, revision=info.oid, repo_type=repo_type, tag_message=f"medvlt {tag}")
    except Exception as exc:  # huggingface_hub raises HTTP, connection and value errors alike
        raise HubError(
            f"pushing {folder} to the {repo_type} repository {repo_id} failed while {step}: "
            f"{scrub_token(str(exc))}"
        ) from None
    return PushResult(repo_id, repo_type, tag, info.oid, created=True)
