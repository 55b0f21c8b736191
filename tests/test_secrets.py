"""Secrets are never written or shown: the redaction rule and the scrubber (medvlt_data.redact), and, with
planted values, every place that records settings or errors: a training run's folder (run record, card,
training_args.bin, checkpoints) and its push, a scoring build, an evaluation and a distillation whose
server echoes the API key in its error bodies, and the client's own messages and logs."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from medvlt_cli.main import cli
from medvlt_data import redact as redact_module
from medvlt_data.inference.client import ChatClient, InferenceError
from medvlt_data.redact import PLACEHOLDER, is_secret_key, redact, remember, scrub
from tests import hub_server
from tests.openai_proxy import OpenAIProxy

hub = hub_server.hub  # the loopback Hub fixture

HUB_TOKEN = "hf_PLANTEDhubToken0123456789abcdefXY"
API_KEY = "sk-PLANTEDapiKey0123456789abcdef"
KEY_VAR = "MEDVLT_TEST_PLANTED_KEY"


def _files_with(folder: Path, *secrets: str) -> list[str]:
    """Files under ``folder`` (hidden ones and work folders included) whose bytes hold one of ``secrets``."""
    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and any(secret.encode() in path.read_bytes() for secret in secrets):
            found.append(str(path.relative_to(folder)))
    return found


@pytest.fixture(autouse=True)
def _forget(monkeypatch):
    monkeypatch.setattr(redact_module, "_REMEMBERED", set())


# ---- the rule and the scrubber ---------------------------------------------------------------------


def test_keys_named_like_secrets_are_redacted_and_the_rest_kept():
    remember("remembered-value-9")
    settings = {
        "hub_token": HUB_TOKEN, "HF_TOKEN": HUB_TOKEN, "api_key": API_KEY, "client-secret": "s3cr3t",
        "password": "pw", "OPENAI_API_KEY": API_KEY, "private_key": "pk", "aws_credentials": "c",
        "api_key_env": "TEACHER_KEY", "pad_token": "<|endoftext|>", "eos_token": "<|im_end|>",
        "max_tokens": 4096, "max_new_tokens": 64, "key": "medqa", "dedup_key": "abc",
        "nested": {"auth_token": "t", "steps": [{"secret": "x", "name": "kept"}]},
        "unset_token": None, "empty_secret": "", "input": "https://host/v1?x=remembered-value-9",
        "dataset": "org/hf_datasetcollection2024",
    }  # fmt: skip
    out = redact(settings)
    assert out == {
        "hub_token": PLACEHOLDER, "HF_TOKEN": PLACEHOLDER, "api_key": PLACEHOLDER,
        "client-secret": PLACEHOLDER, "password": PLACEHOLDER, "OPENAI_API_KEY": PLACEHOLDER,
        "private_key": PLACEHOLDER, "aws_credentials": PLACEHOLDER, "api_key_env": "TEACHER_KEY",
        "pad_token": "<|endoftext|>", "eos_token": "<|im_end|>", "max_tokens": 4096, "max_new_tokens": 64,
        "key": "medqa", "dedup_key": "abc",
        "nested": {"auth_token": PLACEHOLDER, "steps": [{"secret": PLACEHOLDER, "name": "kept"}]},
        "unset_token": None, "empty_secret": "", "input": f"https://host/v1?x={PLACEHOLDER}",
        "dataset": "org/hf_datasetcollection2024",  # shaped like a token, but a recorded name: kept
    }  # fmt: skip
    assert settings["hub_token"] == HUB_TOKEN  # a copy: the caller's mapping is untouched
    assert [is_secret_key(k) for k in ("hub_token", "api_key_env", "max_tokens", "tokens", "key")] == [
        True, False, False, False, False,
    ]  # fmt: skip


def test_scrub_removes_known_values_and_credential_shapes(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "")
    monkeypatch.setenv("MY_SERVICE_API_KEY", "plain-looking-value-42")
    monkeypatch.setenv("MY_SERVICE_MODE", "plain-looking-mode-42")  # not named like a secret: kept
    monkeypatch.setenv("MY_OTHER_PASSWORD", "password")  # a plain word: replacing it would garble text
    monkeypatch.setenv("MY_SHORT_TOKEN", "a1b2")  # too short to replace safely
    remember("remembered-short-1")
    text = (
        f"token {HUB_TOKEN}; header Authorization: Bearer abc.def-ghi; basic Basic dXNlcjpwYXNz; "
        "url https://user:hunter2@example.com/v1?api_key=q1w2e3&model=m; env plain-looking-value-42; "
        "mode plain-looking-mode-42; key remembered-short-1; openai sk-abcdefghijklmnopqrstuvwx; "
        "words hf_hub_download and task-force stay; the password a1b2"
    )
    assert scrub(text) == (
        f"token {PLACEHOLDER}; header Authorization: Bearer {PLACEHOLDER}; basic Basic {PLACEHOLDER}; "
        f"url https://user:{PLACEHOLDER}@example.com/v1?api_key={PLACEHOLDER}&model=m; env {PLACEHOLDER}; "
        f"mode plain-looking-mode-42; key {PLACEHOLDER}; openai {PLACEHOLDER}; "
        "words hf_hub_download and task-force stay; the password a1b2"
    )
    assert scrub("key a1b2 sent", ["a1b2"]) == f"key {PLACEHOLDER} sent"  # an explicit secret, any length
    monkeypatch.setenv("HF_TOKEN", "hf_short")  # the token in use, whatever its shape
    assert scrub("the token hf_short failed") == f"the token {PLACEHOLDER} failed"


# ---- the inference client --------------------------------------------------------------------------


class _Echo(OpenAIProxy):
    """A server whose error body echoes the request's headers (as some gateways do); ``at`` pads the
    body before them (232: the key starts at character 288, so a cut at 300 keeps its first 12)."""

    status = 400
    at = 0

    def _handler(self):
        base = super()._handler()
        echo = self

        class Handler(base):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                auth = self.headers.get("Authorization", "")
                body = json.dumps({"error": "x" * echo.at + f" bad request; headers: Authorization: {auth}; "
                                            f"key={auth.split()[-1]}"}).encode()  # fmt: skip
                self._send(echo.status, body)

        return Handler


@pytest.mark.parametrize(("status", "at"), [(400, 0), (400, 232), (503, 0)])
def test_a_server_error_echoing_the_key_never_shows_it(caplog, status, at):
    caplog.set_level(logging.DEBUG)
    with _Echo(lambda p: {}) as server:
        server.status, server.at = status, at

        async def run():
            async with ChatClient(server.url, "m", api_key=API_KEY, max_retries=1, backoff=0.01) as client:
                await client.generate([{"role": "user", "content": "q"}], 1)

        with pytest.raises(InferenceError) as error:
            asyncio.run(run())
    message = str(error.value)
    assert f"HTTP {status}" in message and "bad request" in message
    head = API_KEY[:12]  # no part of the key either (the message quotes a cut body)
    assert head not in message and head not in caplog.text
    if at == 0:
        assert f"Authorization: Bearer {PLACEHOLDER}" in message


def test_credentials_in_the_endpoint_url_are_not_shown():
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def check():
        async with ChatClient(f"http://user:{API_KEY}@127.0.0.1:{port}/v1", "m") as client:
            await client.check()

    with pytest.raises(InferenceError) as error:
        asyncio.run(check())
    assert str(error.value).startswith(
        f"cannot reach the inference server at http://user:{PLACEHOLDER}@127.0.0.1"
    )
    assert API_KEY[:12] not in str(error.value)


# ---- builds, evaluations and distillations whose server echoes the key ----------------------------


@pytest.fixture
def planted_key(monkeypatch):
    monkeypatch.setenv(KEY_VAR, API_KEY)
    return ["--backend", "endpoint", "--api-key-env", KEY_VAR]


def _no_key(result, capfd, *folders: Path) -> None:
    captured = capfd.readouterr()
    shown = result.output + str(result.exception or "") + captured.out + captured.err
    assert API_KEY[:12] not in shown, shown
    for folder in folders:
        assert _files_with(folder, API_KEY[:12]) == []


def test_a_scoring_build_never_writes_or_shows_the_key(tmp_path, planted_key, capfd):
    with _Echo(lambda p: {}) as server:
        args = ["data", "build", "--split", "text-hard", "--demo", "--sources", "medqa",
                "--decontaminate-against", "none", *planted_key, "--endpoint", server.url, "--model", "m",
                "--rollouts", "2", "--out", str(tmp_path / "b")]  # fmt: skip
        result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and "rejected the request: HTTP 400" in result.output, result.output
    assert f"Authorization: Bearer {PLACEHOLDER}" in result.output
    _no_key(result, capfd, tmp_path)
    assert "rejected the request" in _task_logs(tmp_path / "b")  # logged, scrubbed


def _task_logs(out: Path) -> str:
    return "".join(path.read_text() for path in sorted((out / ".work" / "logs").rglob("*.log")))


def test_a_scoring_build_that_gives_up_logs_no_key(tmp_path, monkeypatch):
    from medvlt_data.demo import write_demo_corpus
    from medvlt_data.pipeline.build import BuildError, run_build
    from medvlt_data.recipes import BuildContext, make_plan

    monkeypatch.setenv(KEY_VAR, API_KEY)
    corpus = write_demo_corpus(tmp_path / "demo")
    with _Echo(lambda p: {}) as server:
        server.status = 503  # retried, then given up: the last error is quoted
        context = BuildContext(source_paths={"medqa": str(corpus["medqa"])}, decontaminate_against=[],
                               only_sources=["medqa"],
                               difficulty={"backend": "endpoint", "endpoint": server.url, "model": "m",
                                           "api_key_env": KEY_VAR, "rollouts": 2, "max_retries": 1,
                                           "backoff": 0.01})  # fmt: skip
        with pytest.raises(BuildError) as error:
            run_build(make_plan("text-hard", context), tmp_path / "b")
    message = str(error.value)
    assert "no answer after 2 attempts; last error: HTTP 503" in message and API_KEY[:12] not in message
    assert "no answer after 2 attempts" in _task_logs(tmp_path / "b")
    assert _files_with(tmp_path, API_KEY[:12]) == []


def test_an_evaluation_never_writes_or_shows_the_key(tmp_path, planted_key, capfd):
    with _Echo(lambda p: {}) as server:
        args = ["eval", "--model", "m", "--demo", "--benchmarks", "vqa_rad", "--runs", "1", "--limit", "2",
                *planted_key, "--endpoint", server.url, "--out", str(tmp_path / "ev")]  # fmt: skip
        result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and "rejected the request: HTTP 400" in result.output, result.output
    _no_key(result, capfd, tmp_path)


def test_a_distillation_never_writes_or_shows_the_key(tmp_path, planted_key, capfd):
    built = CliRunner().invoke(cli, ["data", "build", "--split", "text-all", "--demo", "--sources", "medqa",
                                     "--decontaminate-against", "none", "--out", str(tmp_path / "b")])  # fmt: skip
    assert built.exit_code == 0, built.output
    with _Echo(lambda p: {}) as server:
        args = ["data", "distill", "--dataset", str(tmp_path / "b"), "--teacher", "m", *planted_key,
                "--endpoint", server.url, "--n", "1", "--out", str(tmp_path / "d")]  # fmt: skip
        result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and "rejected the request: HTTP 400" in result.output, result.output
    _no_key(result, capfd, tmp_path)


# ---- training ---------------------------------------------------------------------------------------


def _train(tmp_path: Path, *extra: str):
    from tests.training_records import build_dataset

    data = build_dataset(tmp_path, with_images=False)
    return CliRunner().invoke(cli, ["train", "rlvr", "--dataset", str(data), "--recipe", "rlvr-tiny",
                                    "--output", str(tmp_path / "run"), "max_steps=1", "save_strategy=steps",
                                    "save_steps=1", f"hub_token={HUB_TOKEN}", *extra])  # fmt: skip


@pytest.mark.usefixtures("tiny_model_env")
def test_a_hub_token_given_to_training_is_in_no_file_and_no_output(tmp_path, monkeypatch, caplog, capfd):
    pytest.importorskip("trl")
    monkeypatch.setenv("HF_TOKEN", "")  # restored afterwards, whatever training sets
    caplog.set_level(logging.INFO)
    result = _train(tmp_path)
    assert result.exit_code == 0, result.output + repr(result.exception)
    run = tmp_path / "run"
    assert (run / "checkpoint-1" / "training_args.bin").is_file() and (run / "README.md").is_file()
    assert _files_with(tmp_path, HUB_TOKEN, HUB_TOKEN[3:15]) == []
    import torch

    for path in (run / "training_args.bin", run / "checkpoint-1" / "training_args.bin"):
        args = torch.load(path, weights_only=False)  # the trainer's pickle of its whole config
        assert type(args).__name__ == "GRPOConfig" and args.hub_token is None, path
    record = json.loads((run / "medvlt_run.json").read_text())
    assert record["recipe_fields"]["hub_token"] == PLACEHOLDER
    assert f"hub_token: '{PLACEHOLDER}'" in (run / "README.md").read_text()
    captured = capfd.readouterr()
    assert HUB_TOKEN not in result.output + caplog.text + captured.out + captured.err


@pytest.mark.usefixtures("tiny_model_env")
def test_the_hub_token_pushes_the_run_and_is_not_in_the_pushed_files(tmp_path, monkeypatch, hub):
    pytest.importorskip("trl")
    monkeypatch.setenv("HF_TOKEN", "")  # the only token is the recipe's hub_token
    monkeypatch.setattr(hub, "_token", HUB_TOKEN)  # the loopback Hub accepts writes with it only
    result = _train(tmp_path, "--push-to", "lab/secret-run")
    assert result.exit_code == 0, result.output + repr(result.exception)
    record = json.loads((tmp_path / "run" / "medvlt_run.json").read_text())
    files = hub.repo_files("lab/secret-run", "model", revision=record["model_version"])
    assert {"README.md", "medvlt_run.json", "training_args.bin"} <= set(files)
    assert [name for name, data in files.items() if HUB_TOKEN.encode() in data] == []
    assert HUB_TOKEN not in result.output


def test_a_launch_of_several_processes_passes_the_token_in_their_environment(tmp_path, monkeypatch):
    # Before: hub_token=... was copied onto the `accelerate launch` command line, which any user of the
    # machine can list.
    import subprocess

    from medvlt_data.parquet_io import write_records
    from tests.training_records import records

    data = tmp_path / "data"
    write_records(records(False, n=2), data)
    token = "hf_PLANTEDlaunchTOKEN0123456789"
    seen = {}

    def fake_run(command, check, env=None):
        seen["command"], seen["env"] = command, env
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(subprocess, "run", fake_run)
    result = CliRunner().invoke(cli, ["train", "sft", "--dataset", str(data), "--recipe", "tiny", "--output",
                                      str(tmp_path / "out"), "--num-processes", "2", f"hub_token={token}"])  # fmt: skip
    assert seen, result.output  # the launch was reached (the fake processes save no model)
    assert not any(token in part for part in seen["command"])
    assert seen["env"]["HF_TOKEN"] == token
    assert token not in result.output
