"""The difficulty stage of text-hard / image-hard, run by the build against loopback servers:
``transformers serve`` with the tiny model (behind a counting, fault-injecting proxy), and a
scripted server whose answers are right a known number of times."""

from __future__ import annotations

import json
import re
import socket
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from medvlt_data.demo import write_demo_corpus
from medvlt_data.pipeline.build import BuildError, run_build
from medvlt_data.recipes import BuildContext, make_plan
from medvlt_data.verify import grade_strict
from tests.fake_vllm import install_fake_vllm
from tests.openai_proxy import OpenAIProxy, asked, scripted

K = 3


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    return write_demo_corpus(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def tiny_server(tmp_path_factory):
    """(base URL, model path) of transformers serve on the tiny model."""
    from medvlt_data.local_server import serve_model
    from medvlt_train.tiny import tiny_model

    path = str(tiny_model(tmp_path_factory.mktemp("cache")))
    with serve_model(path, log_path=tmp_path_factory.mktemp("logs") / "serve.log") as url:
        yield url, path


def _build(out: Path, corpus, split: str, sources: list[str], **difficulty):
    context = BuildContext(
        source_paths={name: str(corpus[name]) for name in sources}, decontaminate_against=[],
        only_sources=sources, difficulty={"backend": "endpoint", "rollouts": K, "max_tokens": 6, "concurrency": 4,
                                          "backoff": 0.01, **difficulty},
    )  # fmt: skip
    return run_build(make_plan(split, context), out)


def _rows(out: Path) -> list[dict]:
    return [
        row for part in sorted((out / "data").glob("*.parquet")) for row in pq.read_table(part).to_pylist()
    ]


def _log(out: Path) -> dict[str, list[dict]]:
    """The checkpointed answers by the record that asked (keys are digests of the request; these
    corpora hold no two equal prompts, so each key has one asking record)."""
    (path,) = (out / ".work" / "rollouts").glob("*.jsonl")
    found: dict[str, list[dict]] = {}
    by_key: dict[str, str] = {}
    for line in path.read_text().split("\n")[:-1]:  # JSON Lines: a model's text may hold U+2028
        entry = json.loads(line)
        assert by_key.setdefault(entry["key"], entry["ref"]) == entry["ref"]
        found.setdefault(entry["ref"], []).append(entry)
    return found


def _difficulty_rejects(out: Path) -> list[dict]:
    folder = out / "rejects" / "difficulty"
    return [
        json.loads(line) for f in sorted(folder.glob("*.jsonl")) for line in f.read_text().split("\n") if line
    ]


@pytest.mark.parametrize(("split", "source"), [("text-hard", "medqa"), ("image-hard", "pmc_vqa")])
def test_every_record_gets_k_graded_rollouts_from_a_real_server(tmp_path, corpus, tiny_server, split, source):
    url, model = tiny_server
    with OpenAIProxy(url) as proxy:
        stats = _build(tmp_path / "out", corpus, split, [source], endpoint=proxy.url, model=model,
                       min_pass=0, max_pass=1)  # fmt: skip
    out = tmp_path / "out"
    log, kept, dropped = _log(out), _rows(out), _difficulty_rejects(out)
    scored = len(kept) + len(dropped)
    assert scored == len(log) > 20
    assert all(len(entries) == K for entries in log.values())  # exactly k rollouts each, no more
    assert proxy.chat_requests == scored * K  # the server ignores n: one request per rollout, none twice
    if source == "pmc_vqa":  # images travel as data URIs, before the text
        content = proxy.forwarded[0]["messages"][0]["content"]
        assert content[0]["image_url"]["url"].startswith("data:image/") and content[-1]["type"] == "text"
    # pass_count is the strict grade of the logged answers; the band keeps exactly 0..1
    for row in kept:
        key = next(k for k in log if k.endswith(f":{row['source_id']}"))
        answers = [e["text"] for e in log[key]]
        assert row["num_rollouts"] == K and row["pass_count"] == sum(
            grade_strict(a, row["answer_label"], row["answer"]) for a in answers), key  # fmt: skip
        assert 0 <= row["pass_count"] <= 1
    for reject in dropped:
        assert reject["reason"] == "too-easy" and int(re.search(r"pass_count (\d+)", reject["detail"])[1]) > 1
    histogram = {int(k): v for k, v in stats["pass_counts"].items()}
    assert sum(histogram.values()) == scored
    card = (out / "README.md").read_text()
    assert f"Scored by **{model}** (served through endpoint) with {K} rollouts" in card


def test_an_interrupted_scoring_resumes_without_asking_twice(tmp_path, corpus, tiny_server):
    url, model = tiny_server
    out = tmp_path / "out"
    faults = dict.fromkeys(range(21, 10_000), 500)  # the server breaks after 20 answers
    failed = pytest.raises(BuildError, match="stage 'difficulty' failed")
    with OpenAIProxy(url, faults=faults) as broken, failed:  # the band of the resumed run: the same work
        _build(out, corpus, "text-hard", ["medqa"], endpoint=broken.url, model=model, concurrency=1,
               max_retries=0, min_pass=0)  # fmt: skip
    assert len(broken.forwarded) == 20
    assert not (out / "data").exists() and not (out / "stats.json").exists()  # no partial version
    with OpenAIProxy(url) as healthy:
        stats = _build(out, corpus, "text-hard", ["medqa"], endpoint=healthy.url, model=model, concurrency=1,
                       max_retries=0, min_pass=0)  # fmt: skip
    log = _log(out)
    assert all(len(entries) == K for entries in log.values())
    assert len(broken.forwarded) + len(healthy.forwarded) == len(log) * K  # no finished rollout asked twice
    assert stats["num_records"] + sum(stats["drops"].get("difficulty", {}).values()) == len(log)


def test_faults_and_timeouts_are_retried_to_a_complete_result(tmp_path, corpus, tiny_server):
    url, model = tiny_server
    faults = {2: 500, 4: 429, 6: "drop", 8: "stall"}
    with OpenAIProxy(url, faults=faults, stall_seconds=4.0) as proxy:
        _build(tmp_path / "out", corpus, "text-hard", ["medqa"], endpoint=proxy.url, model=model, request_timeout=2.0,
               min_pass=0)  # fmt: skip
    log = _log(tmp_path / "out")
    assert all(len(entries) == K for entries in log.values())
    assert proxy.chat_requests == len(log) * K + len(faults)


def test_a_server_that_is_down_stops_the_build_naming_it(tmp_path, corpus):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(BuildError, match=rf"cannot reach the inference server at http://127.0.0.1:{port}/v1"):
        _build(
            tmp_path / "out",
            corpus,
            "text-hard",
            ["medqa"],
            endpoint=f"http://127.0.0.1:{port}/v1",
            model="m",
        )
    assert not (tmp_path / "out" / "data").exists() and not (tmp_path / "out" / "README.md").exists()


def _question(payload: dict) -> str:
    return " ".join(asked(payload).question.split())


def _correct_times(question: str) -> int:
    """How many of its K answers the scripted server gets right for a question (0..K, fixed)."""
    return sum(map(ord, question)) % (K + 1)


def test_the_band_keeps_exactly_the_counts_inside_it_easiest_first(tmp_path, corpus):
    from medvlt_data.sources import get_source

    gold = {}
    for name in ("medqa", "headqa"):
        for item in get_source(name).read(path=corpus[name]):
            if hasattr(item, "answer_label"):
                gold[" ".join(item.question.split())] = item.answer_label

    def answer(payload: dict, i: int) -> str:
        question = _question(payload)
        wrong = next(letter for letter in "ABCDE" if letter != gold[question])
        return f"<think>...</think>\n<answer>{gold[question] if i < _correct_times(question) else wrong}</answer>"

    with OpenAIProxy(scripted(answer)) as proxy:
        stats = _build(tmp_path / "out", corpus, "text-hard", ["medqa", "headqa"], endpoint=proxy.url,
                       model="scripted", min_pass=1, max_pass=2, order="easy-to-hard")  # fmt: skip
    assert all(p["n"] == K for p in proxy.forwarded)  # a server that honours n: one request a question
    expected = Counter(_correct_times(_question(p)) for p in proxy.forwarded)
    histogram = {int(k): v for k, v in stats["pass_counts"].items()}
    assert histogram == dict(sorted(expected.items())) and len(histogram) == K + 1
    rows = _rows(tmp_path / "out")
    assert len(rows) == histogram[1] + histogram[2] and {r["pass_count"] for r in rows} == {1, 2}
    assert [r["pass_count"] for r in rows] == sorted((r["pass_count"] for r in rows), reverse=True)
    assert all(r["difficulty"] == pytest.approx(1 - r["pass_count"] / K, abs=1e-6) for r in rows)
    assert stats["drops"]["difficulty"] == {"too-easy": histogram[3], "too-hard": histogram[0]}
    assert "![pass-count histogram](assets/pass_counts.png)" in (tmp_path / "out" / "README.md").read_text()


def test_ctrl_c_loses_no_finished_answer(tmp_path, corpus):
    """SIGINT in the middle of scoring; the re-run asks only for the questions not answered yet."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from medvlt_data.sources import get_source

    records = [i for i in get_source("medqa").read(path=corpus["medqa"]) if hasattr(i, "answer_label")]
    gold = {" ".join(r.question.split()): r.answer_label for r in records}
    question_of = {r.ref: " ".join(r.question.split()) for r in records}

    def slow(payload: dict, i: int) -> str:
        time.sleep(0.15)
        return f"<think>.</think><answer>{gold[_question(payload)]}</answer>"

    out = tmp_path / "out"
    with OpenAIProxy(scripted(slow)) as proxy:
        command = [sys.executable, "-m", "medvlt_cli.main", "data", "build", "--split", "text-hard", "--out",
                   str(out), "--sources", "medqa", "--source-path", f"medqa={corpus['medqa']}",
                   "--decontaminate-against", "none", "--backend", "endpoint", "--endpoint", proxy.url,
                   "--model", "scripted", "--rollouts", str(K), "--concurrency", "2", "--min-pass", "0"]  # fmt: skip
        first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 cwd=Path(__file__).resolve().parents[1])  # fmt: skip
        deadline = time.monotonic() + 120
        while len(proxy.forwarded) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(first.pid, signal.SIGINT)
        assert first.wait(timeout=60) != 0
        # the scripted server still finishes what the interrupted run had in flight (0.15 s each): let
        # those answers land before counting, so that they are not taken for the re-run's requests
        settled = -1
        while settled != len(proxy.forwarded):
            settled = len(proxy.forwarded)
            time.sleep(0.5)
        answered_before = _log(out)
        assert 0 < len(answered_before) < len(gold) and not (out / "stats.json").exists()
        before = len(proxy.forwarded)
        subprocess.run(command, check=True, capture_output=True, cwd=Path(__file__).resolve().parents[1])
        again = [_question(p) for p in proxy.forwarded[before:]]
    log = _log(out)
    assert all(len(entries) == K for entries in log.values())
    finished_first = {question_of[key] for key in answered_before}
    assert not finished_first & set(again)  # nothing answered before the interruption is asked again
    assert len(again) == len(set(again)) == len(log) - len(finished_first)  # one request (n=K) a question
    assert json.loads((out / "stats.json").read_text())["num_records"] == len(log)


def test_the_demo_builds_text_hard_with_the_tiny_model_served_locally(tmp_path, monkeypatch):
    """`--demo --model tiny --backend transformers-serve`: the tiny model behind `transformers serve`, started and
    stopped by medvlt (the README's demo scores with demo-base in process: tests/test_demo_learning.py)."""
    from click.testing import CliRunner

    from medvlt_cli.main import cli

    monkeypatch.setenv("MEDVLT_CACHE", str(tmp_path / "cache"))
    servers_before = {p.pid for p in _children() if "transformers.cli" in " ".join(p.cmdline())}
    result = CliRunner().invoke(
        cli, ["data", "build", "--split", "text-hard", "--demo", "--out", str(tmp_path / "d"), "--model", "tiny",
              "--backend", "transformers-serve", "--rollouts", "4", "--max-tokens", "24", "--min-pass", "0", "--max-pass", "3"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output[-3000:]
    stats = json.loads((tmp_path / "d" / "stats.json").read_text())
    assert stats["difficulty"]["model"] == "tiny" and stats["difficulty"]["backend"] == "transformers-serve"
    assert stats["num_records"] > 0 and sum(stats["pass_counts"].values()) >= stats["num_records"]
    card = (tmp_path / "d" / "README.md").read_text()
    assert "Scored by **tiny** (served through transformers-serve) with 4 rollouts" in card
    assert "random weights" in card
    assert (tmp_path / "cache" / "tiny-qwen2.5-vl").is_dir()  # built on first use
    servers_after = {p.pid for p in _children() if "transformers.cli" in " ".join(p.cmdline())}
    assert servers_after <= servers_before  # the server medvlt started is gone


def _children():
    import psutil

    return psutil.Process().children(recursive=True)


def test_the_vllm_backend_starts_vllm_serve_with_the_parallel_options_and_stops_it(
    tmp_path, corpus, monkeypatch
):
    fake, record = install_fake_vllm(tmp_path, monkeypatch)
    stats = _build(tmp_path / "out", corpus, "text-hard", ["medqa"], backend="vllm",
                   model="Qwen/Qwen2.5-VL-3B-Instruct", tensor_parallel=2, data_parallel=4, min_pass=0)  # fmt: skip
    args = json.loads(record.read_text())
    assert args[:2] == ["serve", "Qwen/Qwen2.5-VL-3B-Instruct"] and "--trust-remote-code" not in args
    assert (
        args[args.index("--tensor-parallel-size") + 1] == "2"
        and args[args.index("--data-parallel-size") + 1] == "4"
    )
    assert stats["difficulty"]["backend"] == "vllm" and stats["num_records"] > 0
    assert not any(
        "vllm-args" in " ".join(p.cmdline()) or str(fake) in " ".join(p.cmdline()) for p in _children()
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backend", "endpoint"], "the endpoint backend needs --endpoint URL"),
        (["--backend", "endpoint", "--endpoint", "http://127.0.0.1:9/v1", "--api-key-env", "MEDVLT_NO_SUCH_KEY"],
         "the environment variable MEDVLT_NO_SUCH_KEY (the API key) is not set"),
        (["--backend", "vllm"], "the vllm backend needs the `vllm` command"),
    ],
)  # fmt: skip
def test_a_backend_that_cannot_start_fails_before_any_work(tmp_path, monkeypatch, args, message):
    from click.testing import CliRunner

    from medvlt_cli.main import cli

    monkeypatch.setenv("PATH", str(tmp_path))  # no vllm command here
    monkeypatch.delenv("MEDVLT_NO_SUCH_KEY", raising=False)
    result = CliRunner().invoke(
        cli, ["data", "build", "--split", "text-hard", "--demo", "--out", str(tmp_path / "o"), *args]
    )
    assert result.exit_code == 1 and message in result.output
    assert not (tmp_path / "o" / ".work" / "prepared").exists()  # not a record was read
