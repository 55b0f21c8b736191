"""`medvlt eval` end to end: the tiny model on the real VQA-RAD test files (transformers backend, CPU),
a scripted OpenAI-compatible server with known right and wrong answers (exact accuracies, spread over
runs, strict vs the paper's lenient regrade vs robust), regrading, resuming, refusing mixed settings, and comparing folders."""

from __future__ import annotations

import hashlib
import json
import statistics
from pathlib import Path

import pytest
from click.testing import CliRunner

from medvlt_cli.main import cli
from medvlt_data.benchmarks import EVAL_BENCHMARKS, card_columns
from medvlt_data.datasets import resolve_dataset
from medvlt_train.eval.generations import read_generations, run_file
from medvlt_train.eval.questions import build_eval_split, load_questions
from medvlt_train.eval.report import regrade
from medvlt_train.eval.runner import EvalSettings, run_eval
from tests.conftest import realdata
from tests.fake_vllm import install_fake_vllm
from tests.openai_proxy import OpenAIProxy, asked, scripted


def _invoke(*args) -> str:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def _rows(out: Path, run: int) -> list[dict]:
    return list(read_generations(run_file(out, run)).values())


# ---- the tiny model on the real VQA-RAD test set -------------------------------------------------


def test_tiny_model_on_real_vqa_rad_end_to_end(tmp_path, tiny_model_env):
    out = tmp_path / "ev"
    output = _invoke("eval", "--model", "tiny", "--benchmarks", "vqa_rad", "--source-path",
                     f"vqa_rad={realdata('vqa_rad')}", "--backend", "transformers", "--runs", "1",
                     "--max-new-tokens", "4", "--batch-size", "32", "--out", out)  # fmt: skip
    assert "| tiny |" in output
    for name in ("results.json", "results.md", "eval_config.json", "generations/run-1.jsonl"):
        assert (out / name).is_file(), name
    rows = _rows(out, 1)
    # The paper's 272 closed questions less the one whose answer is none of the alternatives it names
    # (rejected with that reason by the eval build; see the build tests).
    assert len(rows) == 271 and {r["benchmark"] for r in rows} == {"vqa_rad"}
    assert all(r["num_images"] == 1 and isinstance(r["completion"], str) for r in rows)
    results = json.loads((out / "results.json").read_text())
    vqa = results["benchmarks"]["vqa_rad"]
    assert vqa["n"] == 271 and vqa["runs"] == [round(100 * sum(r["strict"] for r in rows) / 271, 4)]
    assert vqa["accuracy_lenient_paper"] == round(100 * sum(r["lenient_paper"] for r in rows) / 271, 4)
    assert vqa["accuracy_robust"] == round(100 * sum(r["robust"] for r in rows) / 271, 4)
    before = (out / "results.json").read_bytes()
    _invoke("eval", "regrade", out)  # the verifier's verdicts on the saved text give the same numbers
    assert (out / "results.json").read_bytes() == before
    assert results["backend"] == {"backend": "transformers"} and results["dataset"]["version"].startswith(
        "v1-"
    )


# ---- a scripted server: known answers ------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_eval(tmp_path_factory) -> Path:
    """An eval build of all six benchmarks from the embedded demo corpus."""
    return build_eval_split(
        tmp_path_factory.mktemp("demo-eval") / "build", list(EVAL_BENCHMARKS), {}, demo=True
    )


def _key(question: str, options: dict, image: bytes | None) -> str:
    """A question as the server sees it: demo questions repeat across images, so the image counts."""
    return hashlib.sha1(json.dumps([question, options]).encode() + (image or b"")).hexdigest()


def _verdict(key: str, seed: int) -> str:
    """What the scripted model answers: right in the paper's format, right for the paper's lenient
    regrade and the robust grader but not strict ("the answer is: X"), right only for the robust grader
    ("<answer>(X)</answer>"), or wrong; it depends on the question and the run's seed."""
    kinds = ("strict", "lenient", "robust", "wrong")
    return kinds[int(hashlib.sha1(f"{seed}:{key}".encode()).hexdigest(), 16) % 4]


def _answer_text(kind: str, label: str, options: dict) -> str:
    wrong = next(letter for letter in options if letter != label)
    return {"strict": f"<think>reasoning</think>\n<answer>{label}</answer>",
            "lenient": f"I think the answer is: {label}", "robust": f"<think>x</think><answer>({label})</answer>",
            "wrong": f"<think>x</think><answer>{wrong}</answer>"}[kind]  # fmt: skip


def _server(gold: dict[str, str]):
    def answer(payload: dict, i: int) -> str:
        prompt = asked(payload)
        key = _key(prompt.question, prompt.options, prompt.images[0] if prompt.images else None)
        assert payload["temperature"] == 0.0 and payload["max_tokens"] == 64  # greedy, the token budget
        return _answer_text(_verdict(key, payload["seed"]), gold[key], prompt.options)

    return scripted(answer)


@pytest.fixture(scope="module")
def gold(demo_eval):
    """(key -> gold letter, the questions) of the demo eval build."""
    questions = load_questions(resolve_dataset(demo_eval), list(EVAL_BENCHMARKS))
    keys = {q.id: _key(q.question, q.options, q.images[0] if q.images else None) for q in questions}
    return {keys[q.id]: q.answer_label for q in questions}, questions, keys


def _settings(out: Path, proxy: OpenAIProxy, **changes) -> EvalSettings:
    base = {"model": "scripted", "out": out, "backend": "endpoint", "endpoint": proxy.url, "runs": 2,
            "max_new_tokens": 64, "concurrency": 4}  # fmt: skip
    return EvalSettings(**{**base, **changes})


def test_accuracies_runs_and_spread_are_exact(tmp_path, demo_eval, gold):
    table, questions, keys = gold
    with OpenAIProxy(_server(table)) as proxy:
        results = run_eval(_settings(tmp_path / "ev", proxy), resolve_dataset(demo_eval))
        assert proxy.chat_requests == 2 * len(questions)
    for key in EVAL_BENCHMARKS:
        mine = [q for q in questions if q.benchmark == key]
        runs = [[_verdict(keys[q.id], seed) for q in mine] for seed in (42, 43)]
        strict = [round(100 * v.count("strict") / len(mine), 4) for v in runs]
        lenient = [round(100 * (v.count("strict") + v.count("lenient")) / len(mine), 4) for v in runs]
        robust = [round(100 * (len(v) - v.count("wrong")) / len(mine), 4) for v in runs]
        got = results["benchmarks"][key]
        assert got["n"] == len(mine) and got["runs"] == strict and got["runs_lenient_paper"] == lenient
        assert got["runs_robust"] == robust
        assert got["accuracy"] == round(statistics.fmean(strict), 4)
        assert got["std"] == round(statistics.stdev(strict), 4)
    assert results["average"] == round(
        statistics.fmean(b["accuracy"] for b in results["benchmarks"].values()), 4
    )
    assert results["complete"] and results["seeds"] == [42, 43]
    table_md = (tmp_path / "ev" / "results.md").read_text()
    pmc = results["benchmarks"]["pmc_vqa"]["accuracy"]
    assert f"| scripted | {pmc:.2f} |" in table_md
    assert "| scripted (lenient: the paper's regrade) |" in table_md
    assert "| scripted (robust: medvlt's own) |" in table_md


def test_regrade_is_deterministic_and_recomputes_verdicts(tmp_path, demo_eval, gold):
    with OpenAIProxy(_server(gold[0])) as proxy:
        run_eval(_settings(tmp_path / "ev", proxy), resolve_dataset(demo_eval))
    out = tmp_path / "ev"
    original = {
        p.name: p.read_bytes() for p in [out / "results.json", *sorted((out / "generations").iterdir())]
    }
    lines = run_file(out, 1).read_text().split("\n")
    flipped = json.loads(lines[0])
    flipped["strict"] = not flipped["strict"]  # a tampered verdict: regrade must recompute it
    run_file(out, 1).write_text("\n".join([json.dumps(flipped), *lines[1:]]))
    regrade(out)
    again = {p.name: p.read_bytes() for p in [out / "results.json", *sorted((out / "generations").iterdir())]}
    assert again == original
    regrade(out)
    assert (out / "results.json").read_bytes() == original["results.json"]


def test_interrupted_eval_resumes_without_regenerating(tmp_path, demo_eval, gold):
    table, questions, _ = gold
    out = tmp_path / "ev"

    def stop_after_five(run, done, total):  # Ctrl-C with answers saved and others in flight
        if done == 5:
            raise KeyboardInterrupt

    with OpenAIProxy(_server(table)) as first, pytest.raises(KeyboardInterrupt):
        run_eval(_settings(out, first), resolve_dataset(demo_eval), progress=stop_after_five)
    saved = len(_rows(out, 1))
    assert saved == 5 and first.chat_requests >= saved  # answers still in flight were lost, not saved
    with run_file(out, 1).open("a") as handle:  # a line cut short by the interruption
        handle.write('{"id": "pmc_vqa/cut-sho')
    with OpenAIProxy(_server(table)) as second:
        run_eval(_settings(out, second), resolve_dataset(demo_eval))
    assert second.chat_requests == 2 * len(questions) - saved  # nothing finished is asked again
    assert sorted(r["id"] for r in _rows(out, 1)) == sorted(q.id for q in questions)
    with OpenAIProxy(_server(table)) as third:  # one more run: only run 3 is generated
        results = run_eval(_settings(out, third, runs=3), resolve_dataset(demo_eval))
    assert third.chat_requests == len(questions) and results["seeds"] == [42, 43, 44]
    with OpenAIProxy(_server(table)) as fourth, pytest.raises(ValueError, match="max_new_tokens differ"):
        run_eval(_settings(out, fourth, max_new_tokens=32), resolve_dataset(demo_eval))
    assert fourth.chat_requests == 0


def test_compare_folders_table_and_chart(tmp_path, demo_eval, gold):
    folders = []
    for name, benchmarks in (("a", ["vqa_rad", "slake"]), ("b", list(EVAL_BENCHMARKS))):
        with OpenAIProxy(_server(gold[0])) as proxy:
            run_eval(
                _settings(tmp_path / name, proxy, benchmarks=benchmarks, runs=1), resolve_dataset(demo_eval)
            )
        folders.append(tmp_path / name)
    output = _invoke("eval", "compare", *folders, "--out", tmp_path / "cmp")
    lines = [line for line in output.splitlines() if line.startswith("| scripted")]
    assert [line.split(" |")[0] for line in lines] == ["| scripted (a)", "| scripted (b)"]
    assert lines[0].count("| - ") == 4  # a evaluated two of the six benchmarks
    assert (tmp_path / "cmp" / "compare.png").read_bytes().startswith(b"\x89PNG")
    assert "![comparison](compare.png)" in (tmp_path / "cmp" / "compare.md").read_text()


def test_vllm_backend_starts_and_stops_vllm_serve(tmp_path, demo_eval, gold, monkeypatch):
    """The vllm backend through the CLI with a stand-in `vllm` that answers "A" to everything: the
    strict accuracy of each benchmark is exactly its share of questions whose gold letter is A."""
    import psutil

    _, questions, _ = gold
    fake, record = install_fake_vllm(tmp_path, monkeypatch)
    _invoke("eval", "--model", "Qwen/Qwen2.5-VL-3B-Instruct", "--dataset", demo_eval, "--backend", "vllm",
            "--tensor-parallel", "2", "--runs", "1", "--out", tmp_path / "ev")  # fmt: skip
    args = json.loads(record.read_text())
    assert args[:2] == ["serve", "Qwen/Qwen2.5-VL-3B-Instruct"] and "--trust-remote-code" not in args
    assert args[args.index("--tensor-parallel-size") + 1] == "2"
    results = json.loads((tmp_path / "ev" / "results.json").read_text())
    for key in EVAL_BENCHMARKS:
        mine = [q for q in questions if q.benchmark == key]
        share = round(100 * sum(q.answer_label == "A" for q in mine) / len(mine), 4)
        assert results["benchmarks"][key]["runs"] == [share], key
    assert results["backend"] == {"backend": "vllm"}
    assert not any(str(fake) in " ".join(p.cmdline()) for p in psutil.Process().children(recursive=True))


def test_eval_results_feed_the_model_card(tmp_path, demo_eval, gold):
    from hub_cards.model_card import read_eval_results

    with OpenAIProxy(_server(gold[0])) as proxy:
        results = run_eval(_settings(tmp_path / "ev", proxy, runs=1), resolve_dataset(demo_eval))
    benchmarks = read_eval_results(tmp_path / "ev" / "results.json")
    assert {k: v["accuracy"] for k, v in benchmarks.items()} == {
        k: v["accuracy"] for k, v in results["benchmarks"].items()
    }
    from hub_cards.model_card import render_model_card
    from tests.test_model_card import run_record

    card = render_model_card(run_record(), [], benchmarks, benchmarks=card_columns())
    pmc = results["benchmarks"]["pmc_vqa"]
    row = f"| {pmc['accuracy']:.2f} | 0.00 | {pmc['accuracy_lenient_paper']:.2f} | {pmc['accuracy_robust']:.2f} |"
    assert row in card and "| strict | spread | lenient (paper) | robust |" in card
    assert f"value: {round(pmc['accuracy_lenient_paper'], 2)}" in card
    assert "name: accuracy (lenient, the paper's regrade, 1 run(s), n=" in card


# ---- errors and benchmark construction ------------------------------------------------------------


def test_errors_are_clear(tmp_path, demo_eval):
    result = CliRunner().invoke(cli, ["eval", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--model and --out are required" in result.output
    result = CliRunner().invoke(
        cli, ["eval", "--model", "m", "--out", str(tmp_path), "--benchmarks", "medqa"]
    )
    assert result.exit_code == 2 and "unknown benchmark(s) ['medqa']" in result.output
    result = CliRunner().invoke(cli, ["eval", "regrade", str(tmp_path)])
    assert result.exit_code == 1 and "not an evaluation folder" in result.output
    result = CliRunner().invoke(cli, ["eval", "compare", str(tmp_path)])
    assert result.exit_code == 1 and "not a finished `medvlt eval` folder" in result.output
    result = CliRunner().invoke(cli, ["eval", "--model", "m", "--out", str(tmp_path / "e"), "--dataset",
                                      str(demo_eval), "--backend", "endpoint"])  # fmt: skip
    assert result.exit_code == 1 and "needs --endpoint URL" in result.output
    text_build = tmp_path / "text"
    _invoke(
        "data",
        "build",
        "--split",
        "text-all",
        "--demo",
        "--decontaminate-against",
        "none",
        "--out",
        text_build,
    )
    with pytest.raises(ValueError, match="no questions for benchmark"):
        load_questions(resolve_dataset(text_build), ["vqa_rad"])


def test_eval_recipe_counts_are_the_papers():
    from medvlt_data.benchmarks import BENCHMARKS
    from medvlt_data.recipes import recipe_params

    assert recipe_params("eval")["benchmarks"] == list(EVAL_BENCHMARKS)
    expected = {e["benchmark"]: e["expected"] for key in EVAL_BENCHMARKS for e in BENCHMARKS[key].entries()}
    assert expected == {"pmc_vqa": 2000, "mmmu_medical": 170, "medxpertqa_mm": 2000, "pathvqa": 3362,
                        "slake": 416, "vqa_rad": 272}  # fmt: skip
    assert sum(expected.values()) == 8220 and tuple(expected) == EVAL_BENCHMARKS


def test_demo_eval_build_holds_every_adapter_record(demo_eval):
    """Benchmark construction on written fixtures: each benchmark of the eval build holds exactly the
    records its source adapter reads from the fixture for the recipe's splits (every file when the
    fixture lacks them), nothing deduplicated or decontaminated away."""
    from medvlt_data.benchmarks import BENCHMARKS
    from medvlt_data.demo import write_demo_corpus
    from medvlt_data.sources import Rejected, SourceError, get_source

    stats = json.loads((demo_eval / "stats.json").read_text())
    corpus = write_demo_corpus(demo_eval.parent / "again")
    for entry in (e for key in EVAL_BENCHMARKS for e in BENCHMARKS[key].entries()):
        source, path = get_source(entry["name"], entry.get("config")), str(corpus[entry["name"]])
        try:
            items = [i for split in entry["splits"] for i in source.read(path=path, split=split)]
        except SourceError:  # the fixture has no file of that split: the build reads every file
            items = list(source.read(path=path, split=None))
        kept = sum(not isinstance(item, Rejected) for item in items)
        row = next(s for s in stats["sources"] if s["name"] == entry["benchmark"])
        assert stats["splits"][entry["benchmark"]] == row["kept"] == kept > 0, entry["benchmark"]
        assert row["read"] == len(items) and row["dropped"] == len(items) - kept


def test_a_model_folder_retrained_in_place_is_another_model(tmp_path, demo_eval, gold):
    # Before: only the model's name was compared, so a folder retrained in place resumed with the old
    # model's answers.
    table, _, _ = gold
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"first weights")
    out = tmp_path / "ev"
    with OpenAIProxy(_server(table)) as first:
        run_eval(_settings(out, first, model=str(model), runs=1, limit=1), resolve_dataset(demo_eval))
    assert first.chat_requests > 0
    (model / "model.safetensors").write_bytes(b"retrained weights, longer")
    with OpenAIProxy(_server(table)) as second, pytest.raises(ValueError, match="model_files differ"):
        run_eval(_settings(out, second, model=str(model), runs=1, limit=1), resolve_dataset(demo_eval))
    assert second.chat_requests == 0


def test_an_evaluation_started_by_another_medvlt_version_is_not_resumed(tmp_path, demo_eval, gold):
    # Before: the code version was recorded but not compared, so a resume mixed two graders' versions.
    table, _, _ = gold
    out = tmp_path / "ev"
    with OpenAIProxy(_server(table)) as first:
        run_eval(_settings(out, first, runs=1, limit=1), resolve_dataset(demo_eval))
    config = json.loads((out / "eval_config.json").read_text())
    config["versions"]["medvlt"] = "0.0.1"
    (out / "eval_config.json").write_text(json.dumps(config))
    with OpenAIProxy(_server(table)) as second, pytest.raises(ValueError, match="medvlt version differ"):
        run_eval(_settings(out, second, runs=1, limit=1), resolve_dataset(demo_eval))
    assert second.chat_requests == 0
