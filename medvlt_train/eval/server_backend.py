"""Evaluation through an OpenAI-compatible server: ``vllm`` or ``transformers-serve`` (medvlt starts
``vllm serve`` or ``transformers serve`` and stops it afterwards) or ``endpoint`` (any running server).
Same client, retries and error messages as the difficulty stage and distillation
(:mod:`medvlt_data.inference`).

Greedy decoding is ``temperature=0``; the run's seed goes with every request (vLLM honours it).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

from medvlt_data.inference.backends import BackendSpec, open_backend
from medvlt_data.inference.client import ChatClient
from medvlt_data.inference.limits import DEFAULT_REQUEST_TIMEOUT
from medvlt_data.inference.rollouts import chat_messages
from medvlt_train.eval.backend import EvalBackend, GenerationRequest

__all__ = ["ServerGenerator"]


class ServerGenerator(EvalBackend):
    """Answers through a server; entering it may start the server, leaving it stops what it started."""

    def __init__(self, spec: BackendSpec, *, max_new_tokens: int = 4096, concurrency: int = 64,
                 log_dir: str | Path | None = None, timeout: float = DEFAULT_REQUEST_TIMEOUT,
                 max_retries: int = 6):  # fmt: skip
        self.spec, self.max_new_tokens, self.concurrency = spec, max_new_tokens, concurrency
        self.log_dir, self.timeout, self.max_retries = log_dir, timeout, max_retries
        self._stack = contextlib.ExitStack()
        self._url: str | None = None
        self._model: str | None = None

    def __enter__(self) -> ServerGenerator:
        from medvlt_train.models import resolve_weights

        resolve_weights(self.spec)  # tiny, demo-base, ID@rev: the folder a started server loads
        self._url, self._model = self._stack.enter_context(open_backend(self.spec, self.log_dir))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def generate_each(
        self, requests: list[GenerationRequest], seed: int, done: Callable[[int, str], None]
    ) -> None:
        """Ask for every request at once (``concurrency`` in flight) and call ``done(index, text)`` as each
        answer arrives, so the caller can save it at once: no batch waits for its slowest answer."""
        if self._url is None:
            raise RuntimeError("ServerGenerator is used outside its `with` block")
        asyncio.run(self._generate(requests, seed, done))

    async def _generate(
        self, requests: list[GenerationRequest], seed: int, done: Callable[[int, str], None]
    ) -> None:
        params = {"temperature": 0.0, "top_p": 1.0, "max_tokens": self.max_new_tokens, "seed": seed}
        async with ChatClient(self._url, self._model, api_key=self.spec.api_key(),
                              concurrency=self.concurrency, timeout=self.timeout,
                              max_retries=self.max_retries) as client:  # fmt: skip
            await client.check()

            async def one(index: int, request: GenerationRequest) -> None:
                (completion,) = await client.generate(
                    chat_messages(request.text, list(request.images)), 1, **params
                )
                done(index, completion.text)

            await asyncio.gather(*(one(i, r) for i, r in enumerate(requests)))
