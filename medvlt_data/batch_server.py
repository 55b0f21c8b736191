"""A small OpenAI-compatible chat server inside this process, for small models on a CPU.

:func:`serve_in_process` loads a model folder with transformers and answers ``POST /v1/chat/completions``
on 127.0.0.1 from a background thread: the ``n`` samples of a request come from one batched ``generate``
call (``num_return_sequences=n``), where ``transformers serve`` answers ``n`` separate requests one at a
time; a request without a ``seed`` is seeded from its content (all but the model's name), so a re-run
samples the same answers wherever the model folder lies;
the text comes back as generated, ``<think>`` block included (no reasoning parser splits it off,
as vLLM without ``--reasoning-parser`` does for Qwen2.5-VL). ``GET /v1/models`` lists the model.

It serves the difficulty stage of ``medvlt data build --backend transformers`` (the demo's default): the
16 rollouts of a question cost one forward pass a token for all 16. Requests are handled one at a time.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["serve_in_process"]


class _Generator:
    """The loaded model and processor; :meth:`complete` answers one chat request."""

    def __init__(self, model_path: str):
        import torch
        import transformers

        self.torch = torch
        self.processor = transformers.AutoProcessor.from_pretrained(model_path)
        self.model = transformers.AutoModelForImageTextToText.from_pretrained(model_path).eval()
        self.lock = threading.Lock()

    def complete(self, body: dict[str, Any]) -> list[tuple[str, str]]:
        """(text, finish_reason) of the ``n`` samples of one request."""
        from medvlt_data.images import decode_image

        messages, images = _messages(body.get("messages") or [], decode_image)
        n = int(body.get("n") or 1)
        max_new = int(body.get("max_completion_tokens") or body.get("max_tokens") or 1024)
        temperature = float(body.get("temperature", 1.0))
        text = self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        inputs = self.processor(text=[text], images=images or None, return_tensors="pt")
        sampling = {"do_sample": True, "temperature": temperature, "top_p": float(body.get("top_p", 1.0)),
                    "top_k": 0} if temperature > 0 else {"do_sample": False}  # fmt: skip
        with self.lock, self.torch.no_grad():
            # a request without a seed gets one from its content: the same build scores the same way,
            # wherever the model lies (its name, a cache path, stays out of the seed)
            seed = body.get("seed")
            if seed is None:
                content = {key: value for key, value in body.items() if key != "model"}
                seed = int(hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:8], 16)
            self.torch.manual_seed(int(seed))
            output = self.model.generate(**inputs, max_new_tokens=max_new, num_return_sequences=n, **sampling)
        new = output[:, inputs["input_ids"].shape[1] :]
        eos = set(self.model.generation_config.eos_token_id or [])
        results = []
        for row in new.tolist():
            stopped = any(token in eos for token in row)
            decoded = self.processor.tokenizer.decode(row, skip_special_tokens=True)
            results.append((decoded, "stop" if stopped else "length"))
        return results


def _messages(messages: list[dict[str, Any]], decode_image) -> tuple[list[dict[str, Any]], list[Any]]:
    """Chat messages for the processor's template and the images of their ``image_url`` data URIs."""
    images, converted = [], []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            converted.append({"role": message["role"], "content": content})
            continue
        parts = []
        for part in content or []:
            if part.get("type") == "image_url":
                url = part["image_url"]["url"]
                if not url.startswith("data:"):
                    raise ValueError("only data: image URLs are served in process")
                images.append(decode_image(base64.b64decode(url.split(",", 1)[1])).convert("RGB"))
                parts.append({"type": "image"})
            elif part.get("type") == "text":
                parts.append({"type": "text", "text": part["text"]})
        converted.append({"role": message["role"], "content": parts})
    return converted, images


def _handler(generator: _Generator, model_name: str):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/v1/models":
                self._send(200, {"object": "list", "data": [{"id": model_name, "object": "model"}]})
            else:
                self._send(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send(404, {"error": {"message": f"no route {self.path}"}})
                return
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                samples = generator.complete(body)
            except (ValueError, KeyError, TypeError) as exc:
                self._send(400, {"error": {"message": str(exc)}})
                return
            choices = [{"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": reason}
                       for i, (text, reason) in enumerate(samples)]  # fmt: skip
            self._send(200, {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion",
                             "created": int(time.time()), "model": model_name, "choices": choices})  # fmt: skip

    return Handler


@contextlib.contextmanager
def serve_in_process(model_path: str) -> Iterator[str]:
    """Load ``model_path`` and serve it on a free loopback port; yields ``http://127.0.0.1:PORT/v1``."""
    generator = _Generator(model_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(generator, model_path))
    thread = threading.Thread(target=server.serve_forever, name="medvlt-batch-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
