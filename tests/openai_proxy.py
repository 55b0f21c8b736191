"""A loopback HTTP proxy in front of an OpenAI-compatible server, for tests: it counts the chat
requests it forwards and can be told to fail some of them.

``faults`` maps the number of a chat request (1 = the first) to what happens to it instead of
being forwarded: ``500`` or ``429`` (an error answer), ``"drop"`` (the connection is closed with no
answer) or ``"stall"`` (no answer for ``stall_seconds``, so the client times out). ``upstream`` may
also be a callable ``payload -> response dict``: a scripted server with no model behind it.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class OpenAIProxy:
    def __init__(
        self,
        upstream: str | Callable[[dict[str, Any]], dict[str, Any]],
        faults: dict[int, Any] | None = None,
        stall_seconds: float = 3.0,
    ):
        self.upstream, self.faults, self.stall_seconds = upstream, dict(faults or {}), stall_seconds
        self.chat_requests = 0  # every chat request that reached the proxy, faulted or not
        self.forwarded: list[dict[str, Any]] = []  # payloads answered (by the upstream)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/v1"

    def __enter__(self) -> OpenAIProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, payload: dict[str, Any]) -> tuple[int, bytes]:
        if callable(self.upstream):
            return 200, json.dumps(self.upstream(payload)).encode()
        request = urllib.request.Request(
            f"{self.upstream.rstrip('/')}/chat/completions", data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=600) as response:
            return response.status, response.read()

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, json.dumps({"object": "list", "data": []}).encode())
                else:
                    self._send(404, b"{}")

            def do_POST(self) -> None:
                payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                with proxy._lock:
                    proxy.chat_requests += 1
                    fault = proxy.faults.get(proxy.chat_requests)
                if fault == "drop":
                    self.close_connection = True
                    self.connection.close()
                    return
                if fault == "stall":
                    time.sleep(proxy.stall_seconds)
                    self.close_connection = True
                    return
                if fault in (429, 500):
                    self._send(fault, json.dumps({"error": {"message": f"injected {fault}"}}).encode(),
                               {"Retry-After": "0"} if fault == 429 else None)  # fmt: skip
                    return
                status, body = proxy._answer(payload)
                with proxy._lock:
                    proxy.forwarded.append(payload)
                self._send(status, body)

        return Handler


def scripted(answer: Callable[[dict[str, Any], int], str]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A scripted upstream: ``answer(payload, i)`` is the text of choice ``i``; honours ``n``."""

    def respond(payload: dict[str, Any]) -> dict[str, Any]:
        n = int(payload.get("n", 1))
        choices = [{"index": i, "message": {"role": "assistant", "content": answer(payload, i)},
                    "finish_reason": "stop"} for i in range(n)]  # fmt: skip
        return {"object": "chat.completion", "choices": choices}

    return respond


@dataclass(frozen=True)
class Asked:
    """What a chat request built with medvlt's prompt asks: the question and options as the prompt
    states them, and the images of the user turn (decoded from their data URIs)."""

    question: str
    options: dict[str, str]
    images: list[bytes]


def asked(payload: dict[str, Any]) -> Asked:
    content = payload["messages"][0]["content"]
    parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
    text = next(p["text"] for p in parts if p["type"] == "text")
    question = text[text.index("Question: ") + 10 : text.index("\n\nOptions:")]
    options = dict(line.split(". ", 1) for line in text.split("\n\nOptions:\n\n", 1)[1].split("\n\n"))
    images = [
        base64.b64decode(p["image_url"]["url"].split(",", 1)[1]) for p in parts if p["type"] == "image_url"
    ]
    return Asked(question, options, images)
