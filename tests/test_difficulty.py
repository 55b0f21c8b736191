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
from tests.openai_proxy import OpenAIProxy, scripted

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


def _build(out: Path, corpus, split: str, sources: list[str], **scoring):
    context = BuildContext(
        out=out, source_paths={name: str(corpus[name]) for name in sources}, decontaminate_against=[],
        only_sources=sources, scoring={"backend": "endpoint", "k": K, "max_tokens": 6, "concurrency": 4,
                                       "backoff": 0.01, **scoring},
    )  # fmt: skip
    return run_build(make_plan(split, context), out)


def _rows(out: Path) -> list[dict]:
    return [
        row for part in sorted((out / "data").glob("*.parquet")) for row in pq.read_table(part).to_pylist()
    ]


def _log(out: Path) -> dict[str, list[dict]]:
    (path,) = (out / ".work" / "rollouts").glob("*.jsonl")
    found: dict[str, list[dict]] = {}
    for line in path.read_text().splitlines():
        entry = json.loads(line)
        found.setdefault(entry["key"], []).append(entry)
    return found


def _difficulty_rejects(out: Path) -> list[dict]:
    folder = out / "rejects" / "difficulty"
    return [json.loads(line) for f in sorted(folder.glob("*.jsonl")) for line in f.read_text().splitlines()]


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
    assert f"Scored by **{model}** (served through endpoint) with k={K} rollouts" in card


def test_an_interrupted_scoring_resumes_without_asking_twice(tmp_path, corpus, tiny_server):
    url, model = tiny_server
    out = tmp_path / "out"
    faults = dict.fromkeys(range(21, 10_000), 500)  # the server breaks after 20 answers
    with OpenAIProxy(url, faults=faults) as broken, pytest.raises(BuildError, match="stage 'score' failed"):
        _build(out, corpus, "text-hard", ["medqa"], endpoint=broken.url, model=model, concurrency=1,
               max_retries=0)  # fmt: skip
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
        _build(tmp_path / "out", corpus, "text-hard", ["medqa"], endpoint=proxy.url, model=model, timeout=2.0,
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
    prompt = payload["messages"][0]["content"]
    return " ".join(prompt[prompt.index("Question: ") + 10 : prompt.index("\n\nOptions:")].split())


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
