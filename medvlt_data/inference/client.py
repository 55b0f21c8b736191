"""A small asynchronous client of the OpenAI chat-completions protocol.

- Requests run concurrently, at most ``concurrency`` at a time.
- A request that fails for a reason that may pass (connection refused or dropped, timeout,
  HTTP 408/409/429/5xx) is retried with exponential backoff and jitter, honouring ``Retry-After``;
  any other HTTP error is the request's fault and stops the run with the server's message.
- ``n`` completions of one conversation are one request when the server honours ``n``; a server
  that answers fewer choices than asked (``transformers serve`` ignores ``n``) is remembered, and
  the missing completions are asked for one request each.
- Every error names the endpoint; an API key is sent as a bearer token and never appears in a message:
  server bodies and transport errors are scrubbed of it (and of anything shaped like a credential,
  :func:`medvlt_data.redact.scrub`) before they are cut to :data:`QUOTED` characters.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from medvlt_data.inference.limits import DEFAULT_REQUEST_TIMEOUT, check_settings
from medvlt_data.redact import remember, scrub

RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504}
#: How much of a server's error body a message quotes (after scrubbing).
QUOTED = 300


class InferenceError(RuntimeError):
    """An inference request that cannot succeed (the message names the endpoint and the cause)."""


@dataclass
class Completion:
    """One generated answer: its text, the server's separate reasoning field if any, why it stopped."""

    text: str
    reasoning: str = ""
    finish_reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"text": self.text, "reasoning": self.reasoning, "finish_reason": self.finish_reason}


class ChatClient:
    """Chat completions from one model behind ``base_url`` (ending in ``/v1``).

    Use as ``async with ChatClient(...) as client``. ``requests`` counts the HTTP requests sent
    and ``retries`` the ones that were retried.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        concurrency: int = 32,
        max_retries: int = 6,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        timeout: float = DEFAULT_REQUEST_TIMEOUT,
    ):
        # a concurrency of 0 would wait for a free slot forever
        check_settings({"concurrency": concurrency, "max_retries": max_retries, "backoff": backoff,
                        "request_timeout": timeout})  # fmt: skip
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.concurrency, self.max_retries = concurrency, max_retries
        self.backoff, self.max_backoff, self.timeout = backoff, max_backoff, timeout
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._api_key = api_key
        remember(api_key)  # scrubbed from every message, this client's and others'
        self.honours_n: bool | None = None  # learned from the first request with n > 1
        self.requests = 0
        self.retries = 0
        self.busy_seconds = 0.0  # time with at least one request in flight: the server's share of a run
        self._in_flight = 0
        self._busy_since = 0.0
        self._http: httpx.AsyncClient | None = None
        self._slots: asyncio.Semaphore | None = None

    @classmethod
    def for_run(cls, url: str, model: str, settings: Any) -> ChatClient:
        """A client for a scoring or distillation run: the key of ``settings.backend`` and its
        ``concurrency``, ``max_retries``, ``backoff`` and ``request_timeout``."""
        return cls(url, model, api_key=settings.backend.api_key(), concurrency=settings.concurrency,
                   max_retries=settings.max_retries, backoff=settings.backoff,
                   timeout=settings.request_timeout)  # fmt: skip

    async def __aenter__(self) -> ChatClient:
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout, connect=10.0),
            limits=httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency),
            headers=self._headers,
        )
        self._slots = asyncio.Semaphore(self.concurrency)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._http is not None:
            await self._http.aclose()

    async def check(self) -> None:
        """Fail fast, naming the endpoint, when the server cannot be reached or refuses the key."""
        try:
            response = await self._http.get(f"{self.base_url}/models")
        except httpx.HTTPError as exc:
            cause = self._safe(
                f"cannot reach the inference server at {self.base_url}: {type(exc).__name__}: {exc}"
            )
            raise InferenceError(cause) from None
        if response.status_code in (401, 403):
            raise InferenceError(
                self._safe(f"{self.base_url} refused the API key (HTTP {response.status_code})")
            )

    async def generate(
        self,
        messages: list[dict[str, Any]],
        n: int,
        on_completion: Callable[[Completion], Awaitable[None] | None] | None = None,
        **params: Any,
    ) -> list[Completion]:
        """``n`` completions of ``messages``; ``on_completion`` sees each one as soon as it arrives
        (so a caller can checkpoint it). ``params`` are request fields (temperature, max_tokens...)."""
        results: list[Completion] = []

        async def keep(found: list[Completion]) -> None:
            for completion in found:
                results.append(completion)
                if on_completion is not None:
                    outcome = on_completion(completion)
                    if asyncio.iscoroutine(outcome):
                        await outcome

        if n > 1 and self.honours_n is not False:
            first = await self._request(messages, n, params)
            if self.honours_n is None:
                self.honours_n = len(first) >= n
            await keep(first[:n])
        missing = n - len(results)
        if missing > 0:
            await asyncio.gather(*(self._one(messages, params, keep) for _ in range(missing)))
        return results

    async def _one(self, messages, params, keep) -> None:
        await keep((await self._request(messages, 1, params))[:1])

    async def _request(
        self, messages: list[dict[str, Any]], n: int, params: dict[str, Any]
    ) -> list[Completion]:
        url = f"{self.base_url}/chat/completions"
        payload = {"model": self.model, "messages": messages, "stream": False, **params}
        if n > 1:
            payload["n"] = n
        error = ""
        async with self._slots:
            for attempt in range(self.max_retries + 1):
                wait = min(self.max_backoff, self.backoff * 2**attempt) * (0.5 + random.random() / 2)
                self.requests += 1
                try:
                    response = await self._post(url, payload)
                except httpx.TransportError as exc:  # refused, dropped, timed out
                    error = self._safe(f"{type(exc).__name__}: {exc}".rstrip(": "))  # no local holds a key
                else:
                    if response.status_code == 200:
                        return _choices(response, url)
                    error = f"HTTP {response.status_code}: {self._quote(response.text)}"
                    if response.status_code not in RETRYABLE_STATUS:
                        raise InferenceError(f"{self._safe(url)} rejected the request: {error}")
                    wait = _retry_after(response) or wait
                if attempt < self.max_retries:
                    self.retries += 1
                    await asyncio.sleep(wait)
        attempts = self.max_retries + 1
        raise InferenceError(f"{self._safe(url)}: no answer after {attempts} attempts; last error: {error}")

    def _safe(self, message: str) -> str:
        """``message`` without this client's key or anything shaped like a credential."""
        return scrub(message, [self._api_key])

    def _quote(self, body: str) -> str:
        """A server's error body as a message quotes it: scrubbed first, then cut (a cut key would no
        longer match)."""
        return self._safe(body)[:QUOTED]

    async def _post(self, url: str, payload: dict[str, Any]) -> httpx.Response:
        loop = asyncio.get_running_loop()
        if self._in_flight == 0:
            self._busy_since = loop.time()
        self._in_flight += 1
        try:
            return await self._http.post(url, json=payload)
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self.busy_seconds += loop.time() - self._busy_since


def _choices(response: httpx.Response, url: str) -> list[Completion]:
    try:
        body = response.json()
        choices = body["choices"]
    except (ValueError, KeyError, TypeError) as exc:
        raise InferenceError(
            scrub(f"{url} answered something that is not a chat completion: {exc}")
        ) from None
    found = []
    for choice in choices:
        message = choice.get("message") or {}
        reasoning = message.get("reasoning_content") or message.get("reasoning") or ""
        found.append(Completion(message.get("content") or "", reasoning, choice.get("finish_reason")))
    return found


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return min(60.0, max(0.0, float(value))) if value else None
    except ValueError:
        return None
