"""k completions per question, checkpointed one by one so an interrupted run resumes without
asking the server again for anything it already answered.

The checkpoint is an append-only JSON Lines file, one finished completion a line
(``{"key", "ref", "text", "reasoning", "finish_reason"}``), flushed as it is written. Its name carries a
hash of everything that shapes a completion (model, prompt variant, sampling parameters), so a
run with other settings never reuses another run's answers. A completion's ``key`` is what was asked
(:func:`request_key`: the prompt text, the images, the settings), never a record's id, which two
different questions may share; ``ref`` names the record that asked first, for people reading the file.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medvlt_data.checkpoint import JsonLinesCheckpoint
from medvlt_data.inference.client import ChatClient, Completion

#: What a checkpoint key means, part of every settings key (so of every checkpoint's file name): a file
#: written under another meaning is never read. 2: a digest of the request; earlier: the record's id.
KEY_SCHEME = 2


def settings_key(**settings: Any) -> str:
    """A short stable hash of the settings that shape a completion (and of :data:`KEY_SCHEME`)."""
    payload = {**settings, "key_scheme": KEY_SCHEME}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def request_key(prompt: str, images: Sequence[bytes] = (), settings: str = "") -> str:
    """What a question is to the server: a digest of the settings key, the prompt text and the image
    bytes in prompt order (each part length-prefixed). Equal prompts share answers, others never do.

    >>> request_key("Q", [b"img"], "s") == request_key("Q", [b"img"], "s") != request_key("Q", [b"im", b"g"], "s")
    True
    """
    digest = hashlib.sha256()
    for part in (settings.encode(), prompt.encode("utf-8", "surrogatepass"), *images):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()[:32]


def unread_checkpoints(folder: Path, stem: str) -> str | None:
    """A one-line note when ``folder`` holds checkpoint files whose name does not start with ``stem``
    (other settings, or an earlier medvlt's keys): they are not read. None when there are none."""
    others = [p for p in sorted(Path(folder).glob("*.jsonl")) if not p.name.startswith(stem)]
    if not others:
        return None
    return (f"{folder}: not reading {len(others)} checkpoint file(s) written with other settings or by an "
            "earlier medvlt (which keyed answers by record id); their questions are asked again")  # fmt: skip


class RolloutLog:
    """Finished completions by key, read back from ``path`` and appended to it as they arrive (a
    :class:`~medvlt_data.checkpoint.JsonLinesCheckpoint`). :meth:`lock` lets one task at a time ask for
    a key, so equal prompts in flight together are asked once."""

    def __init__(self, path: str | Path):
        self._checkpoint = JsonLinesCheckpoint(path)
        self.path = self._checkpoint.path
        self.done: dict[str, list[Completion]] = {}
        for entry in self._checkpoint.entries:
            self.done.setdefault(entry["key"], []).append(
                Completion(entry["text"], entry.get("reasoning", ""), entry.get("finish_reason"))
            )
        self._locks: dict[str, asyncio.Lock] = {}

    def add(self, key: str, completion: Completion, ref: str | None = None) -> None:
        """Append ``completion`` under ``key``; ``ref`` (the asking record) is only written down."""
        self._checkpoint.add({"key": key, **({"ref": ref} if ref else {}), **completion.as_dict()})
        self.done.setdefault(key, []).append(completion)

    def lock(self, key: str) -> asyncio.Lock:
        """The lock of ``key`` (one per key, made on first use)."""
        return self._locks.setdefault(key, asyncio.Lock())

    def close(self) -> None:
        self._checkpoint.close()

    def __enter__(self) -> RolloutLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def complete_k(
    client: ChatClient,
    log: RolloutLog,
    key: str,
    messages: list[dict[str, Any]],
    k: int,
    ref: str | None = None,
    **params: Any,
) -> list[Completion]:
    """The first ``k`` completions of ``messages`` under ``key`` (see :func:`request_key`): those in the
    log, then new ones for the rest; ``ref`` names the asking record in the log."""
    async with log.lock(key):  # an equal prompt in flight: wait, then take its answers
        missing = k - len(log.done.get(key, []))
        if missing > 0:
            await client.generate(messages, missing, on_completion=lambda c: log.add(key, c, ref), **params)
    return log.done[key][:k]


def image_data_uri(data: bytes) -> str:
    """An image as a ``data:`` URI, the way OpenAI-compatible servers take inline images."""
    kind = _image_kind(data)
    return f"data:image/{kind};base64,{base64.b64encode(data).decode('ascii')}"


def chat_messages(prompt: str, images: list[bytes]) -> list[dict[str, Any]]:
    """One user turn: the images first, in prompt order, then the text (no system prompt)."""
    if not images:
        return [{"role": "user", "content": prompt}]
    parts: list[dict[str, Any]] = [
        {"type": "image_url", "image_url": {"url": image_data_uri(b)}} for b in images
    ]
    parts.append({"type": "text", "text": prompt})
    return [{"role": "user", "content": parts}]


def _image_kind(data: bytes) -> str:
    """The image format from its first bytes (the build stores PNG or the source's JPEG)."""
    if data.startswith(b"\xff\xd8"):
        return "jpeg"
    if data.startswith(b"GIF8"):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return "png"
