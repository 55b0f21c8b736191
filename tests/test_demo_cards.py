"""Demo runs say they are demo runs (issue 13, item 5), end to end through the CLI.

A build made with ``medvlt data build --demo`` records ``"demo": true`` in stats.json and its card says
so in its first lines; ``medvlt eval --demo`` records it in results.json and says it in results.md,
compare.md and on the terminal; a model trained on a demo build says so in medvlt_run.json and its
card; a card whose results are demo results keeps them out of ``model-index`` (never a real benchmark's
Hub id) and names the demo eval data instead. The same commands on real files (the shared real-data
sample) say nothing of the kind and keep the real benchmarks' Hub ids in ``model-index``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from huggingface_hub import DatasetCard, ModelCard

from hub_cards.dataset_card import DEMO_NOTE
from hub_cards.model_card import DEMO_EVAL_NOTE, DEMO_MODEL_NOTE
from medvlt_cli.main import cli
from medvlt_data.benchmarks import BENCHMARKS
from tests import hub_server
from tests.conftest import realdata

hub = hub_server.hub  # the loopback Hub fixture


def _invoke(*args: object) -> str:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def _meta(card: str) -> dict:
    return yaml.safe_load(card.split("---\n")[1])


def _opening(card: str, lines: int = 6) -> str:
    """The first lines of a card's body, after its YAML front matter."""
    return "\n".join(card.split("---\n", 2)[2].strip().splitlines()[:lines])


def _eval(out: Path, *questions: object) -> dict:
    output = _invoke("eval", "--model", "tiny", *questions, "--benchmarks", "vqa_rad", "--limit", "1",
                     "--runs", "1", "--max-new-tokens", "4", "--out", out)  # fmt: skip
    results = json.loads((out / "results.json").read_text())
    results["_output"] = output
    return results


@pytest.fixture(scope="module")
def demo_build(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "text-all"
    _invoke("data", "build", "--split", "text-all", "--demo", "--decontaminate-against", "none", "--out", out)
    return out


@pytest.fixture(scope="module")
def demo_model(tmp_path_factory, demo_build, tiny_model_path) -> Path:
    """A model trained one RLVR step on the demo build (``tiny`` from the session's cache)."""
    out = tmp_path_factory.mktemp("demo-model") / "m"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MEDVLT_CACHE", str(tiny_model_path.parent))
        _invoke("train", "rlvr", "--dataset", demo_build, "--recipe", "tiny", "--output", out, "max_steps=1")
    return out


@pytest.fixture(scope="module")
def demo_results(tmp_path_factory, tiny_model_path) -> Path:
    """``medvlt eval --demo`` of the tiny model: one VQA-RAD demo question, 4 new tokens."""
    out = tmp_path_factory.mktemp("demo-eval") / "ev"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MEDVLT_CACHE", str(tiny_model_path.parent))
        results = _eval(out, "--demo")
    (out / "output.txt").write_text(results["_output"])
    return out


def test_a_demo_build_records_and_says_it(demo_build):
    stats = json.loads((demo_build / "stats.json").read_text())
    assert stats["demo"] is True and stats["pretty_name"] == "medvlt text-all (demo)"
    card = (demo_build / "README.md").read_text()
    assert _opening(card, 3) == f"# medvlt text-all (demo)\n\n**{DEMO_NOTE}**"
    assert DEMO_NOTE == ("Demo build: made-up questions from medvlt's embedded demo corpus, not real medical "
                         "data; for trying the pipeline only.")  # fmt: skip
    data = DatasetCard(card).data  # the Hub's parser reads the metadata, demo tag included
    assert data.tags == ["medical", "multiple-choice", "medvlt", "demo"]
    assert data.pretty_name == "medvlt text-all (demo)"


def test_a_build_of_real_files_is_not_a_demo(tmp_path):
    out = tmp_path / "eval"
    _invoke("data", "build", "--split", "eval", "--sources", "vqa_rad", "--source-path",
            f"vqa_rad={realdata('vqa_rad')}", "--out", out)  # fmt: skip
    stats = json.loads((out / "stats.json").read_text())
    assert stats["demo"] is False and stats["pretty_name"] == "medvlt eval"
    card = (out / "README.md").read_text()
    assert "demo" not in _meta(card)["tags"] and "Demo build" not in card
    assert _opening(card, 1) == "# medvlt eval"
    from medvlt_data.datasets import resolve_dataset

    source = resolve_dataset(out)
    assert source.demo is False and "demo" not in source.describe()


def test_a_model_trained_on_a_demo_build_says_so(demo_model, demo_build):
    run = json.loads((demo_model / "medvlt_run.json").read_text())
    version = json.loads((demo_build / "stats.json").read_text())["version"]
    assert run["demo"] is True
    assert run["dataset"]["demo"] is True and run["dataset"]["version"] == version
    card = (demo_model / "README.md").read_text()
    assert _opening(card, 3) == f"# m\n\n**{DEMO_MODEL_NOTE}**"
    assert DEMO_EVAL_NOTE not in card  # not evaluated yet: nothing to call a demo result
    meta = ModelCard(card).data
    assert "demo" in meta.tags and meta.eval_results is None


def test_demo_eval_results_say_they_are_demo_results(demo_results):
    results = json.loads((demo_results / "results.json").read_text())
    assert results["demo"] is True and results["dataset"]["demo"] is True
    stats = json.loads((demo_results / "eval-data" / "stats.json").read_text())
    assert stats["demo"] is True and results["dataset"]["version"] == stats["version"]
    md = (demo_results / "results.md").read_text().splitlines()
    assert md[:3] == ["# Evaluation of tiny on demo questions", "", f"**{DEMO_EVAL_NOTE}**"]
    assert DEMO_EVAL_NOTE in (demo_results / "output.txt").read_text()  # and on the terminal


def _copy(model: Path, tmp_path: Path) -> Path:
    """A copy of the module's model folder named like it, so a test's card does not leak into another."""
    return Path(shutil.copytree(model, tmp_path / model.name))


def test_a_card_with_demo_results_has_no_model_index_and_no_real_benchmark_ids(
    tmp_path, demo_model, demo_results
):
    model = _copy(demo_model, tmp_path)
    _invoke("train", "card", model, "--eval-results", demo_results / "results.json")
    card = (model / "README.md").read_text()
    assert _opening(card, 5) == f"# m\n\n**{DEMO_MODEL_NOTE}**\n\n**{DEMO_EVAL_NOTE}**"
    meta = _meta(card)
    assert "model-index" not in meta and "model_name" not in meta and "demo" in meta["tags"]
    assert ModelCard(card).data.eval_results is None  # huggingface_hub still parses the card
    assert not [b.hub for b in BENCHMARKS.values() if b.evaluated and b.hub in card]
    version = json.loads((demo_results / "results.json").read_text())["dataset"]["version"]
    accuracy = json.loads((demo_results / "results.json").read_text())["benchmarks"]["vqa_rad"]["accuracy"]
    label = f"demo questions: {demo_results / 'eval-data'} ({version})"
    assert f"| VQA-Rad (demo) | `{label}` | 1 | {accuracy:.2f} |" in card
    assert "| benchmark | eval data | questions |" in card
    assert "These results are not in the card's `model-index` metadata." in card


def test_a_card_with_real_results_keeps_the_model_index(tmp_path, demo_model, tiny_model_env):
    out = tmp_path / "real"
    results = _eval(out, "--source-path", f"vqa_rad={realdata('vqa_rad')}")
    assert results["demo"] is False and "demo" not in results["dataset"]
    assert DEMO_EVAL_NOTE not in (out / "results.md").read_text() + results["_output"]
    assert (out / "results.md").read_text().startswith("# Evaluation of tiny\n\nAccuracy (%)")
    model = _copy(demo_model, tmp_path)
    _invoke("train", "card", model, "--eval-results", out / "results.json")
    card = (model / "README.md").read_text()
    assert DEMO_EVAL_NOTE not in card and DEMO_MODEL_NOTE in card  # still trained on demo data
    vqa_rad = results["benchmarks"]["vqa_rad"]
    assert [(r.dataset_type, r.dataset_name, r.metric_value) for r in ModelCard(card).data.eval_results] == [
        ("flaviagiammarino/vqa-rad", "VQA-Rad", round(vqa_rad["accuracy"], 2)),
        ("flaviagiammarino/vqa-rad", "VQA-Rad", round(vqa_rad["accuracy_lenient_paper"], 2)),
    ]
    assert "| VQA-Rad | `flaviagiammarino/vqa-rad` | 1 |" in card


def test_compare_says_which_folders_are_demo_results(tmp_path, demo_results):
    real = tmp_path / "real"  # the same results relabelled as a non-demo folder of another model
    real.mkdir()
    data = json.loads((demo_results / "results.json").read_text())
    data["demo"], data["model"] = False, "other"
    data["dataset"].pop("demo")
    (real / "results.json").write_text(json.dumps(data))
    _invoke("eval", "compare", demo_results, "--out", tmp_path / "one")
    assert (tmp_path / "one" / "compare.md").read_text().startswith(f"**{DEMO_EVAL_NOTE}**\n\nAccuracy (%)")
    _invoke("eval", "compare", demo_results, real, "--out", tmp_path / "mixed")
    text = (tmp_path / "mixed" / "compare.md").read_text()
    assert text.startswith(f"**{DEMO_EVAL_NOTE}** (tiny; the others are not)\n\n")
    _invoke("eval", "compare", real, "--out", tmp_path / "none")
    assert "Demo" not in (tmp_path / "none" / "compare.md").read_text()


def test_a_demo_eval_build_pulled_from_the_hub_stays_a_demo(tmp_path, hub, demo_results, tiny_model_env):
    """Pushed to the (loopback) Hub and evaluated by ID@tag, the demo eval build is still demo
    questions: its stats.json travels with it, and the results and the card say so."""
    from medvlt_data import hub as hub_module

    build = demo_results / "eval-data"
    version = json.loads((build / "stats.json").read_text())["version"]
    hub_module.push_folder(build, "lab/demo-eval", repo_type="dataset", tag=version)
    results = _eval(tmp_path / "ev", "--dataset", f"lab/demo-eval@{version}")
    assert results["dataset"]["repo_id"] == "lab/demo-eval" and results["dataset"]["demo"] is True
    assert results["demo"] is True and DEMO_EVAL_NOTE in results["_output"]
    card = render_model_card_of(tmp_path, tmp_path / "ev" / "results.json")
    assert "model-index" not in _meta(card) and "lab/demo-eval" not in _meta(card).get("datasets", [])
    assert not [b.hub for b in BENCHMARKS.values() if b.evaluated and b.hub in card]


def render_model_card_of(tmp_path: Path, results: Path) -> str:
    """The card of a model folder holding only a run record (a real run's dataset), with ``results``."""
    from hub_cards.model_card import RUN_FILE, write_model_card
    from tests.test_model_card import run_record

    model = tmp_path / "model"
    model.mkdir()
    (model / RUN_FILE).write_text(json.dumps(run_record()))
    from medvlt_data.benchmarks import card_columns

    return write_model_card(model, results, benchmarks=card_columns()).read_text()
