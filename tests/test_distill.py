"""Distillation against loopback servers: a scripted teacher (known right/wrong samples, a reasoning
field on some) and transformers serve with the tiny model, through the CLI."""

from __future__ import annotations

import json
import re

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from medvlt_cli.main import cli
from medvlt_data.demo import write_demo_corpus
from medvlt_data.pipeline.build import run_build
from medvlt_data.recipes import BuildContext, make_plan
from tests.openai_proxy import OpenAIProxy, asked, scripted


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """A small text-all build of the demo MedQA and HeadQA questions, and its gold answers."""
    root = tmp_path_factory.mktemp("distill")
    corpus = write_demo_corpus(root / "demo")
    context = BuildContext(source_paths={n: str(corpus[n]) for n in ("medqa", "headqa")},
                           decontaminate_against=[], only_sources=["medqa", "headqa"])  # fmt: skip
    run_build(make_plan("text-all", context), root / "build")
    rows = [
        r
        for part in sorted((root / "build" / "data").glob("*.parquet"))
        for r in pq.read_table(part).to_pylist()
    ]
    return root / "build", {" ".join(r["question"].split()): r for r in rows}


def _question(payload: dict) -> str:
    return " ".join(asked(payload).question.split())


def test_the_first_correct_sample_gives_the_trace(tmp_path, build):
    folder, gold = build
    calls: dict[str, int] = {}

    def teacher(payload: dict, i: int) -> dict | str:
        question = _question(payload)
        calls[question] = calls.get(question, 0) + 1
        row = gold[question]
        right_on = sum(map(ord, question)) % 4  # sample 1, 2 or 3 is right; 0: never
        wrong = next(letter for letter in "ABCD" if letter != row["answer_label"])
        letter = row["answer_label"] if calls[question] == right_on else wrong
        return f"<think>attempt {calls[question]} on {row['source_id']}</think>\n<answer>{letter}</answer>"

    with OpenAIProxy(scripted(teacher)) as proxy:
        result = CliRunner().invoke(cli, ["data", "distill", "--dataset", str(folder), "--teacher", "scripted",
                                          "--endpoint", proxy.url, "--n", "3", "--out", str(tmp_path / "d")])  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = [
        r for p in sorted((tmp_path / "d" / "data").glob("*.parquet")) for r in pq.read_table(p).to_pylist()
    ]
    assert len(rows) == len(gold)
    for row in rows:
        right_on = sum(map(ord, " ".join(row["question"].split()))) % 4
        if right_on:
            assert row["reasoning"] == f"attempt {right_on} on {row['source_id']}"
            assert calls[" ".join(row["question"].split())] == right_on  # stopped at the first correct one
        else:
            assert row["reasoning"] is None and calls[" ".join(row["question"].split())] == 3
    stats = json.loads((tmp_path / "d" / "stats.json").read_text())
    d = stats["distillation"]
    assert d["questions"] == len(rows) and d["with_trace"] == sum(1 for r in rows if r["reasoning"])
    assert d["without_trace"] == sum(1 for r in rows if not r["reasoning"]) > 0
    assert proxy.chat_requests == sum(calls.values())
    card = (tmp_path / "d" / "README.md").read_text()
    assert f"{d['with_trace']} of {d['questions']} questions have a trace" in card
    assert re.search(r"Distilled from \*\*scripted\*\*", card)


@pytest.fixture(scope="module")
def image_build(tmp_path_factory):
    """A small image-all build of the demo PMC-VQA questions."""
    root = tmp_path_factory.mktemp("distill-images")
    corpus = write_demo_corpus(root / "demo")
    context = BuildContext(source_paths={"pmc_vqa": str(corpus["pmc_vqa"])},
                           decontaminate_against=[], only_sources=["pmc_vqa"])  # fmt: skip
    run_build(make_plan("image-all", context), root / "build")
    rows = [
        r
        for part in sorted((root / "build" / "data").glob("*.parquet"))
        for r in pq.read_table(part).to_pylist()
    ]
    assert rows and all(r["images"] for r in rows)
    return root / "build", rows


@pytest.mark.parametrize("kind", ["text", "image"])
def test_distill_with_the_tiny_model_served_locally(tmp_path, build, image_build, monkeypatch, kind):
    monkeypatch.setenv("MEDVLT_CACHE", str(tmp_path / "cache"))
    folder, gold = build if kind == "text" else image_build
    result = CliRunner().invoke(cli, ["data", "distill", "--dataset", str(folder), "--teacher", "tiny",
                                      "--backend", "transformers-serve", "--n", "1", "--max-tokens", "8",
                                      "--concurrency", "4", "--out", str(tmp_path / "d")])  # fmt: skip
    assert result.exit_code == 0, result.output
    stats = json.loads((tmp_path / "d" / "stats.json").read_text())
    d = stats["distillation"]
    assert d["questions"] == len(gold) == d["with_trace"] + d["without_trace"]
    (log,) = (tmp_path / "d" / ".work" / "rollouts").glob("*.jsonl")
    assert log.read_text().count("\n") == len(gold)  # n=1: one sample a question
    assert "random weights" in (tmp_path / "d" / "README.md").read_text()
