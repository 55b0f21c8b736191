"""A real ``transformers serve`` on the tiny Qwen2.5-VL, spoken to over HTTP with urllib.

One server is started for the module (about 10-15 s on two CPU cores, mostly imports); its teardown leaves
the context manager by an exception and checks that the process is gone and the port closed.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import time
import urllib.error
import urllib.request

import pytest
from PIL import Image

from medvlt_data.local_server import ServerStartupError, serve_model
from medvlt_train.tiny import build_tiny_model

pytest.importorskip("fastapi", reason="needs transformers[serving]")
pytest.importorskip("uvicorn", reason="needs transformers[serving]")
pytest.importorskip("openai", reason="needs transformers[serving]")


class _LeaveServer(Exception):
    """Raised in the server's body at teardown, to exercise the exception path of ``serve_model``."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - someone else's process took the pid
        return True
    return True


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return str(build_tiny_model(tmp_path_factory.mktemp("tiny") / "model"))


@pytest.fixture(scope="module")
def server(model_path, tmp_path_factory):
    log_path = tmp_path_factory.mktemp("serve") / "serve.log"
    info = {"model": model_path, "log": log_path}
    with pytest.raises(_LeaveServer), serve_model(model_path, log_path=log_path, startup_timeout=240) as url:
        info["url"] = url
        found = re.search(r"Started server process \[(\d+)\]", log_path.read_text())
        assert found, log_path.read_text()
        info["pid"] = int(found.group(1))
        assert _alive(info["pid"])
        yield info
        raise _LeaveServer
    assert not _alive(info["pid"]), "the server outlived serve_model"
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{info['url']}/models", timeout=5)


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"{url}/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("application/json")
        return json.loads(response.read())


def _check_completion(reply: dict, max_tokens: int) -> str:
    assert reply["object"] == "chat.completion"
    assert len(reply["choices"]) == 1
    choice = reply["choices"][0]
    assert choice["message"]["role"] == "assistant"
    content = choice["message"]["content"]
    assert isinstance(content, str)
    assert content or choice["finish_reason"] in ("stop", "length")
    assert choice["finish_reason"] in ("stop", "length")
    assert 1 <= reply["usage"]["completion_tokens"] <= max_tokens
    return content


def _png_data_uri(size=(64, 48)) -> tuple[str, Image.Image]:
    image = Image.new("RGB", size, (200, 10, 10))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode(), image


def test_models_endpoint(server):
    with urllib.request.urlopen(f"{server['url']}/models", timeout=10) as response:
        listing = json.loads(response.read())
    assert [entry["id"] for entry in listing["data"]] == [server["model"]]


def test_text_chat_completion(server):
    started = time.perf_counter()
    reply = _post(
        server["url"],
        {
            "model": server["model"],
            "messages": [{"role": "user", "content": "What does the chest radiograph show?"}],
            "max_tokens": 12,
            "temperature": 1.0,
            "stream": False,
        },
    )
    _check_completion(reply, max_tokens=12)
    assert reply["model"] == server["model"]
    assert time.perf_counter() - started < 60


def test_image_chat_completion(server):
    from transformers import AutoProcessor

    uri, image = _png_data_uri()
    text = [{"type": "text", "text": "Describe the image."}]
    reply = _post(
        server["url"],
        {
            "model": server["model"],
            "messages": [
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": uri}}, *text]}
            ],
            "max_tokens": 8,
            "stream": False,
        },
    )
    _check_completion(reply, max_tokens=8)
    # The image reached the processor: the prompt holds its vision tokens, as a local processor counts them.
    processor = AutoProcessor.from_pretrained(server["model"])

    def prompt_length(content) -> int:
        encoded = processor.apply_chat_template(
            [{"role": "user", "content": content}],
            add_generation_prompt=True,
            tokenize=True,
            return_dict=True,
            return_tensors="pt",
        )
        return encoded["input_ids"].shape[1]

    with_image = prompt_length([{"type": "image", "image": image}, *text])
    assert reply["usage"]["prompt_tokens"] == with_image
    assert with_image > prompt_length(text) + 2  # <|vision_start|>, pads, <|vision_end|>


def test_seed_repeats_and_n_is_ignored(server):
    body = {
        "model": server["model"],
        "messages": [{"role": "user", "content": "Is the heart enlarged?"}],
        "max_tokens": 8,
        "temperature": 1.0,
        "seed": 7,
    }
    first, second = _post(server["url"], body), _post(server["url"], body)
    assert _check_completion(first, 8) == _check_completion(second, 8)
    # transformers serve ignores `n` (it logs it as unsupported): one choice per request.
    assert len(_post(server["url"], {**body, "n": 3})["choices"]) == 1


def test_startup_failure_raises_with_log_tail(model_path, tmp_path):
    # An interpreter that cannot start: the process dies at once, and the error carries its log.
    with (
        pytest.raises(ServerStartupError, match="Fatal Python error") as caught,
        serve_model(model_path, startup_timeout=30, env={"PYTHONHOME": str(tmp_path / "nowhere")}),
    ):
        pytest.fail("the body must not run")
    assert isinstance(caught.value, RuntimeError)
    assert "exited with code" in str(caught.value)
