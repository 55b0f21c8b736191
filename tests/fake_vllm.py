"""A stand-in ``vllm`` executable for tests of the vllm backends (no GPU, no vLLM here)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

FAKE_VLLM = """#!{python}
# A stand-in for the `vllm` command: records its arguments, then serves an OpenAI-compatible API
# whose every answer is "A" (it honours n), as `vllm serve` would on a GPU.
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
args = sys.argv[1:]
open({record!r}, "w").write(json.dumps(args))

class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def _send(self, body):
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def do_GET(self):
        self._send({{"data": [{{"id": args[1]}}]}})
    def do_POST(self):
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        n = payload.get("n", 1)
        self._send({{"choices": [{{"message": {{"content": "<answer>A</answer>"}}, "finish_reason": "stop"}}] * n}})

ThreadingHTTPServer(("127.0.0.1", int(args[args.index("--port") + 1])), Handler).serve_forever()
"""


def install_fake_vllm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """Put the stand-in first on PATH; returns (its path, the file where it records its arguments)."""
    bin_dir, record = tmp_path / "bin", tmp_path / "vllm-args.json"
    bin_dir.mkdir()
    fake = bin_dir / "vllm"
    fake.write_text(FAKE_VLLM.format(python=sys.executable, record=str(record)))
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return fake, record
