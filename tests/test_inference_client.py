"""The chat client and the rollout checkpoint, against a scripted loopback server with faults."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

from medvlt_data.inference.client import ChatClient, InferenceError
from medvlt_data.inference.rollouts import RolloutLog, chat_messages, complete_k
from tests.openai_proxy import OpenAIProxy, scripted

MESSAGES = [{"role": "user", "content": "Which vessel? A. Aorta B. Vein"}]


def _run(coroutine):
    return asyncio.run(coroutine)


async def _generate(url: str, n: int, **options):
    async with ChatClient(url, "m", backoff=0.01, timeout=options.pop("timeout", 30), **options) as client:
        completions = await client.generate(MESSAGES, n, temperature=1.0)
        return client, completions


def test_n_is_one_request_when_the_server_honours_it():
    with OpenAIProxy(scripted(lambda payload, i: f"<answer>{'AB'[i % 2]}</answer>")) as proxy:
        client, completions = _run(_generate(proxy.url, 5))
    assert [c.text for c in completions] == ["<answer>A</answer>", "<answer>B</answer>"] * 2 + [
        "<answer>A</answer>"
    ]
    assert proxy.chat_requests == 1 and proxy.forwarded[0]["n"] == 5 and client.honours_n is True


def test_a_server_that_ignores_n_gets_one_request_per_completion():
    def one_choice(payload):
        return {"choices": [{"message": {"content": "B"}, "finish_reason": "stop"}]}  # n ignored

    with OpenAIProxy(one_choice) as proxy:
        client, completions = _run(_generate(proxy.url, 4))
        assert len(completions) == 4 and client.honours_n is False
        assert proxy.chat_requests == 4  # the first (asked n=4, got 1) and three more
        _, again = _run(_generate(proxy.url, 3))
    assert len(again) == 3


@pytest.mark.parametrize("fault", [500, 429, "drop", "stall"])
def test_failed_requests_are_retried_until_the_result_is_complete(fault):
    faults = {1: fault, 2: fault} if fault != "stall" else {1: fault}
    with OpenAIProxy(scripted(lambda p, i: "A"), faults=faults, stall_seconds=2.0) as proxy:
        client, completions = _run(_generate(proxy.url, 3, timeout=1.0))
    assert [c.text for c in completions] == ["A", "A", "A"]
    assert client.retries == len(faults) and proxy.chat_requests == len(faults) + 1


def test_a_server_that_keeps_failing_gives_up_naming_the_endpoint():
    expected = r"127\.0\.0\.1:\d+/v1/chat/completions: no answer after 3 attempts; last error: HTTP 500"
    proxy = OpenAIProxy(scripted(lambda p, i: "A"), faults=dict.fromkeys(range(1, 10), 500))
    with proxy, pytest.raises(InferenceError, match=expected):
        _run(_generate(proxy.url, 1, max_retries=2))


def test_a_server_that_is_down_is_named_in_the_error():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def check():
        async with ChatClient(f"http://127.0.0.1:{port}/v1", "m") as client:
            await client.check()

    with pytest.raises(
        InferenceError, match=rf"cannot reach the inference server at http://127.0.0.1:{port}/v1"
    ):
        _run(check())


def test_a_request_the_server_refuses_is_not_retried():
    def refuse(payload):
        raise AssertionError("not reached")

    class BadRequest(OpenAIProxy):
        def _answer(self, payload):
            return 400, json.dumps({"error": {"message": "max_tokens too large"}}).encode()

    with BadRequest(refuse) as proxy:
        with pytest.raises(InferenceError, match=r"rejected the request: HTTP 400.*max_tokens too large"):
            _run(_generate(proxy.url, 1))
        assert proxy.chat_requests == 1


def test_the_api_key_is_sent_but_never_in_an_error():
    seen = {}

    class Capture(OpenAIProxy):
        def _answer(self, payload):
            return 503, b'{"error": "overloaded"}'

    with Capture(lambda p: {}) as proxy:

        async def run():
            async with ChatClient(
                proxy.url, "m", api_key="sk-secret-123", max_retries=0, backoff=0.01
            ) as client:
                seen["headers"] = dict(client._http.headers)
                await client.generate(MESSAGES, 1)

        with pytest.raises(InferenceError) as error:
            _run(run())
    assert seen["headers"]["authorization"] == "Bearer sk-secret-123"
    assert "sk-secret" not in str(error.value)


def test_the_checkpoint_resumes_without_asking_again(tmp_path):
    log_path = tmp_path / "rollouts.jsonl"
    with OpenAIProxy(scripted(lambda p, i: f"answer {i}")) as proxy:

        async def score(k: int, keys: list[str]):
            log = RolloutLog(log_path)
            async with ChatClient(proxy.url, "m", backoff=0.01) as client:
                done = [await complete_k(client, log, key, MESSAGES, k) for key in keys]
            log.close()
            return done

        _run(score(3, ["q1"]))
        assert proxy.chat_requests == 1
        # an interruption cut the last line short: that completion is asked for again, nothing else
        text = log_path.read_text()
        log_path.write_text(text[: text.rindex("{")] + '{"key": "q1", "te')
        results = _run(score(3, ["q1", "q2"]))
    assert [len(r) for r in results] == [3, 3]
    assert [p.get("n", 1) for p in proxy.forwarded] == [3, 1, 3]  # q1 first run; q1's lost one; q2
    # the cut line is gone from the file: every line is whole JSON, and a third run reads them all
    lines = [json.loads(line) for line in log_path.read_text().split("\n")[:-1]]
    assert [entry["key"] for entry in lines] == ["q1"] * 3 + ["q2"] * 3


def test_a_checkpoint_interrupted_twice_still_resumes(tmp_path):
    from medvlt_data.inference.client import Completion

    path = tmp_path / "r.jsonl"
    log = RolloutLog(path)
    log.add("a", Completion("x"))
    log.close()
    for key in ("b", "c"):  # each run is cut in the middle of a line, then resumed
        with path.open("a") as handle:
            handle.write(f'{{"key": "{key}", "te')
        log = RolloutLog(path)
        log.add(key, Completion(key.upper()))
        log.close()
    assert {k: [c.text for c in v] for k, v in RolloutLog(path).done.items()} == {
        "a": ["x"],
        "b": ["B"],
        "c": ["C"],
    }


def test_images_go_first_as_data_uris():
    png = b"\x89PNG\r\n\x1a\nrest"
    (message,) = chat_messages("Question?", [png, b"\xff\xd8jpeg"])
    kinds = [part["type"] for part in message["content"]]
    assert kinds == ["image_url", "image_url", "text"]
    assert message["content"][0]["image_url"]["url"].startswith("data:image/png;base64,iVBORw0KGg")
    assert message["content"][1]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert chat_messages("Only text", []) == [{"role": "user", "content": "Only text"}]


def test_the_checkpoint_keeps_answers_with_unicode_line_separators(tmp_path):
    from medvlt_data.inference.client import Completion

    texts = ["a\u2028b", "c\x85d\x1ce", "plain"]  # str.splitlines would cut each of the first two
    log = RolloutLog(tmp_path / "r.jsonl")
    for text in texts:
        log.add("q1", Completion(text))
    log.close()
    assert [c.text for c in RolloutLog(tmp_path / "r.jsonl").done["q1"]] == texts
