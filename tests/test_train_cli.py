"""`medvlt train` end to end from the CLI on datasets built by the curation code (`medvlt data build
--demo`, text-all and image-all, distilled by a scripted teacher for SFT): two optimizer steps on the
tiny Qwen2.5-VL change its parameters; the model folder reloads; the run record and the card name the
dataset version; `--num-processes 2` runs two DDP processes; `medvlt train card` adds eval results."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner

from medvlt_cli.main import cli
from tests import hub_server
from tests.openai_proxy import OpenAIProxy, asked, scripted

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("trl")

hub = hub_server.hub  # the loopback Hub fixture

pytestmark = pytest.mark.usefixtures("tiny_model_env")

WATCHED = ("lm_head", "language_model.layers.0.mlp", "visual.blocks.0")


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def _rows(folder: Path) -> list[dict]:
    return [r for p in sorted((folder / "data").glob("*.parquet")) for r in pq.read_table(p).to_pylist()]


def _key(question: str, image: bytes | None) -> tuple[str, str]:
    return " ".join(question.split()), hashlib.sha1(image or b"").hexdigest()


def _distill(build: Path, out: Path) -> None:
    """Distill ``build`` with a scripted teacher that is right on every question but one. Demo image
    questions repeat across images, so a question is known by its text and its image."""
    gold = {_key(r["question"], r["images"][0]["bytes"] if r["images"] else None): r["answer_label"]
            for r in _rows(build)}  # fmt: skip
    wrong_on = min(gold)

    def teacher(payload: dict, i: int) -> str:
        prompt = asked(payload)
        key = _key(prompt.question, prompt.images[0] if prompt.images else None)
        letter = gold[key] if key != wrong_on else "Z"
        return f"<think>The findings fit option {letter}.</think>\n<answer>{letter}</answer>"

    with OpenAIProxy(scripted(teacher)) as proxy:
        _invoke("data", "distill", "--dataset", build, "--teacher", "scripted", "--endpoint", proxy.url,
                "--n", "1", "--out", out)  # fmt: skip


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """{"text"|"image": (build folder, distilled folder)} from the demo corpus through the CLI."""
    root = tmp_path_factory.mktemp("train-builds")
    out = {}
    for modality, split in (("text", "text-all"), ("image", "image-all")):
        build = root / split
        _invoke(
            "data", "build", "--split", split, "--demo", "--decontaminate-against", "none", "--out", build
        )
        _distill(build, root / f"{split}-distilled")
        out[modality] = (build, root / f"{split}-distilled")
    assert all(r["images"] for r in _rows(out["image"][0])) and not any(
        r["images"] for r in _rows(out["text"][0])
    )
    return out


def _watched(path: Path) -> dict[str, torch.Tensor]:
    model = transformers.AutoModelForImageTextToText.from_pretrained(path)  # the saved folder reloads
    return {
        name: p.detach().clone().float()
        for name, p in model.named_parameters()
        if any(w in name for w in WATCHED) and name.endswith("weight")
    }


def _changed(before: Path, after: Path) -> list[str]:
    a, b = _watched(before), _watched(after)
    assert a.keys() == b.keys() and a
    return [name for name in a if not torch.equal(a[name], b[name])]


#: A reward of one's own by import path, with variance across the random model's rollouts (medvlt's is 0).
DISTINCT_CHARS = "tests.test_rewards:distinct_chars"


@pytest.mark.parametrize("modality", ["text", "image"])
@pytest.mark.parametrize("kind", ["sft", "rlvr"])
def test_two_steps_on_curated_builds_update_the_model(tmp_path, tiny_model_path, builds, kind, modality):
    build, distilled = builds[modality]
    dataset = distilled if kind == "sft" else build
    extra = [f"rewards={{{DISTINCT_CHARS}: 1.0, medvlt: 1.0}}"] if kind == "rlvr" else []
    output = _invoke("train", kind, "--dataset", dataset, "--recipe", "tiny", "--output", tmp_path / "run",
                     "max_steps=2", *extra)  # fmt: skip
    stats = json.loads((dataset / "stats.json").read_text())
    assert f"model saved to {tmp_path / 'run'}" in output and stats["version"] in output
    changed = _changed(tiny_model_path, tmp_path / "run")
    assert any("language_model" in n or "lm_head" in n for n in changed), changed
    if modality == "image":
        assert any("visual" in n for n in changed), changed
    run = json.loads((tmp_path / "run" / "medvlt_run.json").read_text())
    assert run["recipe"] == f"{kind}-tiny" and run["global_step"] == 2 and run["world_size"] == 1
    assert (
        run["dataset"]["version"] == stats["version"]
        and run["dataset"]["content_hash"] == stats["content_hash"]
    )
    if kind == "sft":  # the scripted teacher got one question wrong: it has no trace and is left out
        assert run["data"] == {
            "rows": stats["num_records"],
            "without_reasoning": 1,
            "kept": stats["num_records"] - 1,
        }
    else:
        assert run["data"] == {"prompts": stats["num_records"]}
        assert [r["name"] for r in run["rewards"]] == [DISTINCT_CHARS, "medvlt"]
    card = (tmp_path / "run" / "README.md").read_text()
    assert f"| dataset version | `{stats['version']}` |" in card
    assert (tmp_path / "run" / "assets" / "training_curves.png").read_bytes().startswith(b"\x89PNG")


def test_rlvr_recipe_tiny_from_the_cli_card_and_reload(tmp_path, tiny_model_path, builds):
    """The acceptance command as a user types it: the recipe's own reward, a local build."""
    build, _ = builds["text"]
    _invoke("train", "rlvr", "--dataset", build, "--recipe", "tiny", "--output", tmp_path / "m")
    model = transformers.AutoModelForImageTextToText.from_pretrained(tmp_path / "m")
    assert model.config.model_type == "qwen2_5_vl"
    transformers.AutoProcessor.from_pretrained(tmp_path / "m")
    card = (tmp_path / "m" / "README.md").read_text()
    version = json.loads((build / "stats.json").read_text())["version"]
    assert version in card and "random weights" in card and "Medical disclaimer" in card
    assert "| `medvlt` | 1.0 | The paper's format-gated accuracy" in card
    assert "Question: {question}" in card and "max_completion_length: 16" in card
    assert "| trl | " in card and "| transformers | " in card
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["library_name"] == "transformers" and "grpo" in meta["tags"]


def test_two_processes_with_accelerate(tmp_path, tiny_model_path, builds):
    _, distilled = builds["text"]
    output = _invoke("train", "sft", "--dataset", distilled, "--recipe", "tiny", "--output", tmp_path / "ddp",
                     "--num-processes", "2", "max_steps=2")  # fmt: skip
    assert "model saved to" in output
    run = json.loads((tmp_path / "ddp" / "medvlt_run.json").read_text())
    assert run["world_size"] == 2 and run["global_step"] == 2
    state = json.loads((tmp_path / "ddp" / "trainer_state.json").read_text())
    # Each step takes per-device batch 2 on each of 2 processes: an epoch is ceil(kept / 4) steps (one
    # process would need ceil(kept / 2)).
    assert state["epoch"] == pytest.approx(2 / math.ceil(run["data"]["kept"] / 4))
    assert _changed(tiny_model_path, tmp_path / "ddp")


def test_card_with_eval_results_has_a_model_index(tmp_path, tiny_model_path, builds):
    from huggingface_hub import ModelCard

    build, _ = builds["text"]
    _invoke(
        "train", "rlvr", "--dataset", build, "--recipe", "tiny", "--output", tmp_path / "m", "max_steps=1"
    )
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"model": "m", "benchmarks": {
        "vqa_rad": {"accuracy": 61.03, "n": 272, "runs": [60.7, 61.4, 61.0], "std": 0.35},
        "pmc_vqa": {"accuracy": 50.5, "n": 2000}}}))  # fmt: skip
    _invoke("train", "card", tmp_path / "m", "--eval-results", results)
    text = (tmp_path / "m" / "README.md").read_text()
    assert re.search(r"\| PMC \| `RadGenome/PMC-VQA` \| 2,000 \| 50\.50 \| - \|", text)
    assert re.search(r"\| VQA-Rad \| `flaviagiammarino/vqa-rad` \| 272 \| 61\.03 \| 0\.35 \|", text)
    assert "| **average** | | | **55.77** | |" in text and "not all six" in text
    data = ModelCard(text).data
    assert [(r.dataset_name, r.metric_value) for r in data.eval_results] == [
        ("PMC", 50.5),
        ("VQA-Rad", 61.03),
    ]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"benchmarks": {"slake": {"n": 416}}}))
    result = CliRunner().invoke(cli, ["train", "card", str(tmp_path / "m"), "--eval-results", str(bad)])
    assert result.exit_code == 1 and "benchmark 'slake' has no numeric 'accuracy'" in result.output
    result = CliRunner().invoke(cli, ["train", "card", str(tmp_path)])
    assert result.exit_code == 1 and "medvlt_run.json" in result.output


def test_train_on_a_tagged_hub_dataset_and_push_the_model(tmp_path, tiny_model_path, builds, hub):
    from medvlt_data.hub import push_folder

    build, _ = builds["text"]
    version = json.loads((build / "stats.json").read_text())["version"]
    outputs = [_invoke("hub", "push", build, "--repo", "lab/text-all")]
    data_commit = hub.refs("lab/text-all")["tags"][version]
    (tmp_path / "later").mkdir()  # main moves on (to a commit without the data); the tag stays
    (tmp_path / "later" / "NOTE.md").write_text("a later commit\n")
    push_folder(tmp_path / "later", "lab/text-all", repo_type="dataset", tag="later")

    output = _invoke("train", "rlvr", "--dataset", f"lab/text-all@{version}", "--recipe", "tiny",
                     "--output", tmp_path / "m", "--push-to", "lab/tiny-rlvr", "max_steps=1")  # fmt: skip
    run = json.loads((tmp_path / "m" / "medvlt_run.json").read_text())
    assert run["dataset"] == {"spec": f"lab/text-all@{version}", "label": f"lab/text-all@{version}",
                              "repo_id": "lab/text-all", "revision": version, "commit": data_commit,
                              "version": version, "content_hash": run["dataset"]["content_hash"],
                              "name": "text-all", "demo": True}  # fmt: skip
    assert f"on the Hub: lab/tiny-rlvr at tag {run['model_version']}" in output
    card = (tmp_path / "m" / "README.md").read_text()
    assert f"| dataset | `lab/text-all@{version}` |" in card and f"| Hub commit | `{data_commit}` |" in card
    assert yaml.safe_load(card.split("---\n")[1])["datasets"] == ["lab/text-all"]
    assert 'from_pretrained("lab/tiny-rlvr")' in card

    tags = hub.refs("lab/tiny-rlvr", "model")["tags"]
    assert (
        list(tags) == [run["model_version"]] and len(hub.commits("lab/tiny-rlvr", "model")) == 2
    )  # + initial
    remote = hub.repo_files("lab/tiny-rlvr", "model", revision=run["model_version"])
    assert {"model.safetensors", "README.md", "medvlt_run.json", "assets/training_curves.png"} <= set(remote)
    assert remote["README.md"] == card.encode()
    outputs += [
        output,
        _invoke("hub", "pull", f"lab/tiny-rlvr@{run['model_version']}", "--out", tmp_path / "pulled"),
    ]
    assert f"version {run['model_version']}" in outputs[-1]  # its weights hash checked
    pulled = transformers.AutoModelForImageTextToText.from_pretrained(tmp_path / "pulled")
    assert pulled.config.model_type == "qwen2_5_vl"

    outputs.append(_invoke("hub", "push", tmp_path / "m", "--repo", "lab/tiny-rlvr"))
    assert f"already on the Hub: lab/tiny-rlvr (model) has tag {run['model_version']}" in outputs[-1]
    assert len(hub.commits("lab/tiny-rlvr", "model")) == 2  # nothing uploaded the second time

    token = os.environ["HF_TOKEN"]
    assert not any(token in text for text in outputs)
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and token.encode() in p.read_bytes()]
    assert all(r["authorization"] in (None, "Bearer [redacted]") for r in hub.requests)


def test_push_target_is_checked_before_training(tmp_path, builds, monkeypatch):
    import huggingface_hub.constants

    build, _ = builds["text"]
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "no-tokens"))
    for target, message in (
        ("lab/tiny", "needs a Hugging Face token"),
        ("not a repo", "is not a Hub repo id"),
    ):
        result = CliRunner().invoke(cli, ["train", "rlvr", "--dataset", str(build), "--recipe", "tiny",
                                          "--output", str(tmp_path / "m"), "--push-to", target])  # fmt: skip
        assert result.exit_code == 1 and message in result.output, result.output
    assert not (tmp_path / "m").exists()  # nothing trained
