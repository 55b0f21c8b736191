"""Where completions come from: a server medvlt starts (``vllm``, ``transformers-serve``), generation
in this process (``transformers``) or a server that runs already (``endpoint``). Every backend ends
as an OpenAI-compatible base URL and a model name. The names (:data:`BACKENDS`) mean the same in
``medvlt data build``, ``medvlt data distill`` and ``medvlt eval``:

- ``vllm``: ``vllm serve MODEL`` on this machine, with tensor/data parallel sizes; for GPUs.
- ``transformers-serve``: ``transformers serve`` on CPU or GPU (``--model tiny`` gives medvlt's tiny
  test model).
- ``transformers``: ``generate`` in this process; for small models on CPU (the demo's default,
  ``--model demo-base``). Here it is batched behind a loopback OpenAI-compatible API
  (:mod:`medvlt_data.batch_server`), ``n`` samples a request in one batch; ``medvlt eval`` calls
  ``generate`` directly.
- ``endpoint``: any running server (vLLM, SGLang, ``transformers serve``, a hosted API); the API key
  is read from the environment variable named by ``api_key_env`` and never printed.

``auto`` (:data:`AUTO`), where a command offers it, is ``vllm`` when a GPU is present, else
``transformers``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from medvlt_data.inference.limits import check_settings

#: The backend names, one meaning each (the module docstring).
BACKENDS = ("vllm", "transformers-serve", "transformers", "endpoint")
#: Resolved by a command that offers it: ``vllm`` with a GPU, else ``transformers``.
AUTO = "auto"


class BackendError(RuntimeError):
    """A backend that cannot be used as asked (the message says why and what to give instead)."""


@dataclass
class BackendSpec:
    """Which backend serves which model, and how a started server runs."""

    backend: str = "vllm"
    model: str = "Qwen/Qwen2.5-VL-3B-Instruct"
    #: What a backend that runs the model here (``transformers``, ``transformers-serve``) loads: a folder or
    #: Hub id; None loads ``model``. The layer that knows medvlt's model names (``tiny``, ``demo-base``,
    #: ``ID@rev``: :func:`medvlt_train.models.resolve_weights`) sets it; ``model`` stays the name recorded.
    weights: str | None = None
    endpoint: str | None = None
    api_key_env: str | None = None
    tensor_parallel: int = 1
    data_parallel: int = 1
    trust_remote_code: bool = False
    server_args: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        check_settings({"tensor_parallel": self.tensor_parallel, "data_parallel": self.data_parallel})

    def api_key(self) -> str | None:
        if not self.api_key_env:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise BackendError(f"the environment variable {self.api_key_env} (the API key) is not set")
        return key

    def preflight(self) -> None:
        """Fail before any work when this backend cannot start here (the message says what to do)."""
        if self.backend not in BACKENDS:
            raise BackendError(f"unknown backend {self.backend!r}; choose one of {', '.join(BACKENDS)}")
        if self.backend == "endpoint":
            if not self.endpoint:
                raise BackendError("the endpoint backend needs --endpoint URL (the server's /v1 base URL)")
            self.api_key()
        elif self.backend == "vllm" and shutil.which("vllm") is None:
            raise BackendError(
                "the vllm backend needs the `vllm` command (pip install 'medvlt[vllm]' on a GPU machine); "
                "or use --backend endpoint --endpoint URL, or --backend transformers-serve"
            )
        elif self.backend == "transformers-serve" and importlib.util.find_spec("fastapi") is None:
            raise BackendError(
                "the transformers-serve backend runs `transformers serve`: pip install 'medvlt[serving]'"
            )


def resolve_backend(name: str) -> str:
    """``name``, with :data:`AUTO` resolved: ``vllm`` when a GPU is present, else ``transformers``."""
    if name != AUTO:
        return name
    import torch

    return "vllm" if torch.cuda.is_available() else "transformers"


@contextmanager
def open_backend(spec: BackendSpec, log_dir: str | Path | None = None) -> Iterator[tuple[str, str]]:
    """(base URL, model name to send) for ``spec``; a server medvlt starts is stopped on exit."""
    spec.preflight()
    if spec.backend == "endpoint":
        yield spec.endpoint.rstrip("/"), spec.model
        return
    log = Path(log_dir) / f"{spec.backend}-server.log" if log_dir else None
    if spec.backend == "transformers":
        from medvlt_data.batch_server import serve_in_process

        model = spec.weights or spec.model
        with serve_in_process(model) as url:
            yield url, model
        return
    if spec.backend == "transformers-serve":
        from medvlt_data.local_server import serve_model

        model = spec.weights or spec.model
        with serve_model(model, log_path=log) as url:
            yield url, model
        return
    model, _, revision = spec.model.partition("@")  # ORG/NAME@rev: vLLM downloads that revision
    command = ["vllm", "serve", model, "--tensor-parallel-size", str(spec.tensor_parallel),
               "--data-parallel-size", str(spec.data_parallel), *spec.server_args]  # fmt: skip
    if revision:
        command += ["--revision", revision, "--served-model-name", spec.model]
    if spec.trust_remote_code:
        command.append("--trust-remote-code")
    from medvlt_data.local_server import serve_command

    with serve_command(command, log_path=log, startup_timeout=1800) as url:
        yield url, spec.model
