"""Serve a local model folder behind a real OpenAI-compatible HTTP API, with ``transformers serve``.

:func:`serve_model` starts ``transformers serve <model_path>`` (the CLI that ships with transformers; it
needs the ``transformers[serving]`` extra: fastapi, uvicorn, starlette, openai) as a subprocess on
127.0.0.1, offline (``HF_HUB_OFFLINE=1``), waits until ``GET /v1/models`` answers, and yields the base URL
``http://127.0.0.1:<port>/v1``. On exit the process is terminated (killed if it does not stop in time), also
when the body raises.

The model folder is passed as the server's ``FORCE_MODEL`` argument, so it is loaded once, before the
server listens (a model that cannot load fails the start, with the log's tail in the error), and the
server is pinned to it: requests name it with ``"model": <model_path>`` (exactly that string; another name
is answered 400) or leave ``model`` out.

What the server does with a chat completion request (``POST /v1/chat/completions``, transformers 5.24):

- ``stream`` false or absent: one JSON ``chat.completion``; true: server-sent ``chat.completion.chunk``
  events.
- ``n`` is ignored (logged as an unsupported field): there is always exactly one choice, so ``n``
  rollouts take ``n`` requests.
- ``max_tokens`` / ``max_completion_tokens`` set ``max_new_tokens``; without them the server generates up
  to 1024 new tokens (it raises any smaller ``max_new_tokens`` of the model's generation config to 1024).
- ``temperature`` overrides the generation config's (0 switches to greedy decoding), ``top_p`` too, and
  ``seed`` reseeds torch's global generator before the request.
- ``{"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}}`` parts (and http(s) URLs)
  reach a vision-language model's processor as images.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

__all__ = ["ServerStartupError", "free_port", "serve_command", "serve_model"]

#: Environment that keeps the server off the network.
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "PYTHONUNBUFFERED": "1",
    "TOKENIZERS_PARALLELISM": "false",
}

#: How many fresh ports to try when a free port chosen for the caller is taken before the server binds it.
_PORT_ATTEMPTS = 3


class ServerStartupError(RuntimeError):
    """The server exited, or did not answer in time, while starting. The message ends with its log's tail."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` now (the OS picks it; another process may still take it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve_model(
    model_path: str,
    port: int | None = None,
    log_path: Path | None = None,
    startup_timeout: float = 180,
    *,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    stop_timeout: float = 15,
) -> Iterator[str]:
    """Run ``transformers serve`` on ``model_path`` and yield its base URL, ``http://127.0.0.1:<port>/v1``.

    Args:
        model_path: A local model folder (or a Hub id already in the local cache), passed as the
            server's forced model; requests use it as their ``model`` field.
        port: The port to listen on; a free one when ``None`` (retried on another port if it is taken
            before the server binds it).
        log_path: Where the server's stdout and stderr go (kept); a temporary file, removed on exit, when
            ``None``.
        startup_timeout: Seconds to wait for the model to load and ``GET /v1/models`` to answer.
        extra_args: More ``transformers serve`` options, e.g. ``["--device", "cpu"]``.
        env: Extra environment variables for the server (on top of this process's and the offline ones).
        stop_timeout: Seconds to wait after SIGTERM before killing the server.

    Raises:
        ServerStartupError: (a ``RuntimeError``) if the server exits while starting or does not answer
            within ``startup_timeout``; the message includes the tail of its log.
    """
    command = [sys.executable, "-m", "transformers.cli.transformers", "serve", str(model_path), *extra_args]
    with serve_command(command, port=port, log_path=log_path, startup_timeout=startup_timeout, env=env,
                       stop_timeout=stop_timeout, name="transformers serve") as url:  # fmt: skip
        yield url


@contextlib.contextmanager
def serve_command(
    command: Sequence[str],
    *,
    port: int | None = None,
    log_path: Path | None = None,
    startup_timeout: float = 180,
    env: Mapping[str, str] | None = None,
    stop_timeout: float = 15,
    name: str = "the server",
) -> Iterator[str]:
    """Run an OpenAI-compatible server ``command`` (``--host 127.0.0.1 --port N`` are appended) offline,
    wait until ``GET /v1/models`` answers, yield its base URL and stop it on exit (see :func:`serve_model`)."""
    server_env = {**os.environ, **OFFLINE_ENV, **(env or {})}
    attempts = 1 if port is not None else _PORT_ATTEMPTS
    with contextlib.ExitStack() as stack:
        if log_path is None:
            tmpdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="medvlt-serve-"))
            log_file = Path(tmpdir) / "serve.log"
        else:
            log_file = Path(log_path)
            log_file.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(attempts):
            chosen = port if port is not None else free_port()
            full = [*command, "--host", "127.0.0.1", "--port", str(chosen)]
            with open(log_file, "w" if attempt == 0 else "a") as log:
                log.write(f"$ {' '.join(full)}\n")
                log.flush()
                process = subprocess.Popen(
                    full,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=server_env,
                    start_new_session=True,  # its own process group: signals to it spare ours
                )
            base_url = f"http://127.0.0.1:{chosen}/v1"
            try:
                _wait_until_ready(process, base_url, startup_timeout, log_file, name)
            except ServerStartupError as error:
                _stop(process, stop_timeout)
                if attempt + 1 < attempts and "address already in use" in str(error).lower():
                    continue
                raise
            except BaseException:
                _stop(process, stop_timeout)
                raise
            break
        try:
            yield base_url
        finally:
            _stop(process, stop_timeout)


def _wait_until_ready(
    process: subprocess.Popen, base_url: str, timeout: float, log_file: Path, name: str
) -> None:
    """Poll ``GET {base_url}/models`` until it answers 200; raise if the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        code = process.poll()
        if code is not None:
            raise ServerStartupError(
                f"{name} exited with code {code} while starting; log {log_file}:\n" + _tail(log_file)
            )
        try:
            with urllib.request.urlopen(f"{base_url}/models", timeout=5) as response:
                if response.status == 200:
                    json.loads(response.read())
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise ServerStartupError(
                f"{name} did not answer on {base_url}/models within {timeout:.0f} s; "
                f"log {log_file}:\n" + _tail(log_file)
            )
        time.sleep(0.25)


def _stop(process: subprocess.Popen, timeout: float) -> None:
    """Terminate the server; kill its process group if it has not exited after ``timeout`` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            # Still unreaped, so the group is the server's own (it was started in a new session).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.kill()
            process.wait()


def _tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a text file ('' if unreadable)."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
