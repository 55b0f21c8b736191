"""k completions per question, checkpointed one by one so an interrupted run resumes without
asking the server again for anything it already answered.

The checkpoint is an append-only JSON Lines file, one finished completion a line
(``{"key", "text", "reasoning", "finish_reason"}``), flushed as it is written. Its name carries a
hash of everything that shapes a completion (model, prompt variant, sampling parameters), so a
run with other settings never reuses another run's answers.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from medvlt_data.checkpoint import JsonLinesCheckpoint
from medvlt_data.inference.client import ChatClient, Completion


def settings_key(**settings: Any) -> str:
    """A short stable hash of the settings that shape a completion."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


class RolloutLog:
    """Finished completions by key, read back from ``path`` and appended to it as they arrive (a
    :class:`~medvlt_data.checkpoint.JsonLinesCheckpoint`)."""

    def __init__(self, path: str | Path):
        self._checkpoint = JsonLinesCheckpoint(path)
        self.path = self._checkpoint.path
        self.done: dict[str, list[Completion]] = {}
        for entry in self._checkpoint.entries:
            self.done.setdefault(entry["key"], []).append(
                Completion(entry["text"], entry.get("reasoning", ""), entry.get("finish_reason"))
            )

    def add(self, key: str, completion: Completion) -> None:
        self._checkpoint.add({"key": key, **completion.as_dict()})
        self.done.setdefault(key, []).append(completion)

    def close(self) -> None:
        self._checkpoint.close()

    def __enter__(self) -> RolloutLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def complete_k(
    client: ChatClient, log: RolloutLog, key: str, messages: list[dict[str, Any]], k: int, **params: Any
) -> list[Completion]:
    """The first ``k`` completions of ``messages``: those in the log, then new ones for the rest."""
    missing = k - len(log.done.get(key, []))
    if missing > 0:
        await client.generate(messages, missing, on_completion=lambda c: log.add(key, c), **params)
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
