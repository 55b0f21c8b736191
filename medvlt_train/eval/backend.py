"""What an evaluation backend is: a context manager that answers prompts and hands each answer over as
soon as it exists, so the runner saves it before the next one comes.

Two implement it: :class:`~medvlt_train.eval.transformers_backend.TransformersGenerator` (in-process,
batched) and :class:`~medvlt_train.eval.server_backend.ServerGenerator` (an OpenAI-compatible server).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["EvalBackend", "GenerationRequest"]


@dataclass(frozen=True)
class GenerationRequest:
    """One prompt: the full user text and its encoded image files (PNG/JPEG bytes) in prompt order."""

    text: str
    images: tuple[bytes, ...] = ()


class EvalBackend(abc.ABC):
    """Greedy answers to prompts; used as ``with backend: backend.generate_each(...)``."""

    @abc.abstractmethod
    def generate_each(
        self, requests: list[GenerationRequest], seed: int, done: Callable[[int, str], None]
    ) -> None:
        """Answer every request with ``seed``, calling ``done(index, text)`` for each answer as it exists."""

    def __enter__(self) -> EvalBackend:
        return self

    @abc.abstractmethod
    def __exit__(self, *exc: object) -> None:
        """Free what the backend holds (a model, a server it started)."""
