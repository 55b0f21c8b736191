"""``medvlt eval`` on the paper's released questions by default: the loopback Hub serves a fixture of
``UCSC-VLAA/MedVLThinker-Eval`` in its released layout (tests/hub_layout.py: split ``test`` in two
``data/test-*`` shards, the released columns and the six ``dataset_name`` values of
UCSC-VLAA/MedVLThinker data_process/prepare_vlm_eval_data.py:229-234 and prepare_vlm_eval_data_v2.py:156,
268); the tiny model answers. The questions asked are the fixture's, with the image bytes as released
(one image is larger than 1024 px and one smaller than 28 px, which an eval build would resize), and the
results name the repository and the commit."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from medvlt_cli.main import cli
from medvlt_data import hub as hub_module
from medvlt_data.released import CONVERTER_VERSION
from medvlt_data.verify import build_prompt
from tests import hub_server
from tests.hub_layout import write_medvlthinker_release
from tests.hub_server import HubServer

hub = hub_server.hub  # the loopback Hub fixture

REPO = "UCSC-VLAA/MedVLThinker-Eval"
#: Released dataset_name -> medvlt's benchmark key, in the order the release concatenates them.
NAMES = {"pmc_vqa": "pmc_vqa", "pathvqa_closed": "pathvqa", "slake_closed": "slake",
         "vqa_rad_closed": "vqa_rad", "MMMU-medical": "mmmu_medical", "MedXpertQA-MM": "medxpertqa_mm"}  # fmt: skip
PER_BENCHMARK = 6
LIMIT = 5


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch):
    monkeypatch.setattr(hub_module, "BACKOFF", 0.01)


def _jpeg(width: int, height: int, shade: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (shade, 255 - shade, 90)).save(buffer, format="JPEG", quality=83)
    return buffer.getvalue()


def _options(name: str, i: int) -> dict[str, str]:
    if name == "pmc_vqa":
        return {"A": "CT", "B": "MRI", "C": "X-ray", "D": "Ultrasound"}
    if name == "MMMU-medical":
        return {"A": "Hepatocyte", "B": "Kupffer cell", "C": "Stellate cell", "D": "Cholangiocyte"}
    if name == "MedXpertQA-MM":
        return {"A": "Dissection", "B": "Vasospasm", "C": "Atherosclerosis", "D": "Fibromuscular dysplasia",
                "E": "Takayasu arteritis"}  # fmt: skip
    return (
        {"A": "Yes", "B": "No"} if i % 2 else {"A": "No", "B": "Yes"}
    )  # closed questions, model-written order


def released_eval_rows() -> list[dict]:
    """Six questions per benchmark in the release's column layout and order of benchmarks."""
    rows = []
    for b, name in enumerate(NAMES):
        for i in range(PER_BENCHMARK):
            shade = (40 * b + 7 * i) % 256
            images = [_jpeg(64 + i, 48 + b, shade)]
            if name == "pmc_vqa" and i == 0:
                images = [_jpeg(1400, 1100, shade)]  # over 1024 px: kept as released
            if name == "slake_closed" and i == 1:
                images = [_jpeg(20, 24, shade)]  # under 28 px: kept as released
            if name == "MedXpertQA-MM" and i == 2:
                images.append(_jpeg(30, 90, shade))  # two images
            options = _options(name, i)
            label = "ABCDE"[i % len(options)]
            closed = name.endswith("_closed")
            misc = {"id": f"validation_Clinical_Medicine_{i}", "question_type": "multiple-choice"}
            rows.append({
                "images": [{"bytes": data, "path": None} for data in images],
                "question": f"{name} question {i}: which finding fits the image best?",
                "options": json.dumps(options, ensure_ascii=False), "answer_label": label,
                "answer": options[label], "hash": f"{b:02x}{i:014x}" if closed else None,
                "dataset_name": name, "reasoning": None,
                "misc": json.dumps(misc) if name in ("MMMU-medical", "MedXpertQA-MM") else None,
                "dataset_index": len(rows),
            })  # fmt: skip
    return rows


def _serve(tmp_path: Path, rows: list[dict], tag: str = "v1") -> str:
    """Push the fixture to the loopback Hub as ``REPO``; return the commit its tag names."""
    folder = write_medvlthinker_release(tmp_path / "released", "eval", "test", rows, shards=2)
    return hub_module.push_folder(folder, REPO, repo_type="dataset", tag=tag).commit


def _invoke(*args, code: int = 0) -> str:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == code, result.output + repr(result.exception)
    return result.output


@pytest.fixture
def asked(monkeypatch) -> list[tuple[str, tuple[bytes, ...]]]:
    """Every (prompt text, image bytes) the transformers backend is asked, in order."""
    from medvlt_train.eval import transformers_backend

    requests: list[tuple[str, tuple[bytes, ...]]] = []
    original = transformers_backend.TransformersGenerator.generate

    def generate(self, batch, seed):
        requests.extend((request.text, tuple(request.images)) for request in batch)
        return original(self, batch, seed)

    monkeypatch.setattr(transformers_backend.TransformersGenerator, "generate", generate)
    return requests


def test_eval_defaults_to_the_released_set_with_its_images_and_commit(
    tmp_path, hub: HubServer, tiny_model_env, asked, monkeypatch
):
    from medvlt_data.cache import default_cache_root
    from medvlt_data.datasets import load_records

    rows = released_eval_rows()
    commit = _serve(tmp_path, rows)
    out = tmp_path / "ev"
    _invoke("eval", "--model", "tiny", "--limit", LIMIT, "--runs", "1", "--max-new-tokens", "2",
            "--backend", "transformers", "--out", out)  # fmt: skip

    # the questions asked: the first five of each benchmark of the fixture, prompt and images as released
    expected = [r for name in NAMES for r in [r for r in rows if r["dataset_name"] == name][:LIMIT]]
    wanted = {(build_prompt(r["question"], json.loads(r["options"]), prompt="paper"),
               tuple(image["bytes"] for image in r["images"])) for r in expected}  # fmt: skip
    assert len(asked) == 6 * LIMIT and set(asked) == wanted
    generations = [
        json.loads(line) for line in (out / "generations" / "run-1.jsonl").read_text().splitlines()
    ]
    assert sorted(
        (g["benchmark"], g["source_id"], g["question"], g["answer_label"]) for g in generations
    ) == sorted(
        (NAMES[r["dataset_name"]], str(r["dataset_index"]), r["question"], r["answer_label"])
        for r in expected
    )

    results = json.loads((out / "results.json").read_text())
    dataset = results["dataset"]
    assert (dataset["repo_id"], dataset["commit"], dataset["label"]) == (REPO, commit, f"{REPO}@{commit}")
    assert {key: value["n"] for key, value in results["benchmarks"].items()} == dict.fromkeys(
        NAMES.values(), LIMIT
    )
    assert f", commit `{commit}`" in (out / "results.md").read_text()

    # the converted copy in the cache: every released row, bytes as released (no resizing)
    folder = default_cache_root() / "eval-data" / "UCSC-VLAA--MedVLThinker-Eval" / commit
    pulled = json.loads((folder / "pull.json").read_text())
    assert pulled["commit"] == commit and pulled["rows"] == pulled["records"] == len(rows)
    assert pulled["benchmarks"] == dict.fromkeys(NAMES.values(), PER_BENCHMARK)
    assert pulled["paper_counts"] == {"pmc_vqa": 2000, "mmmu_medical": 170, "medxpertqa_mm": 2000,
                                      "pathvqa": 3362, "slake": 416, "vqa_rad": 272}  # fmt: skip
    assert pulled["counts_as_paper"] is False  # a fixture of six a benchmark is not the full release
    records = sorted(load_records(folder), key=lambda r: int(r.source_id))
    assert [r.images for r in records] == [[image["bytes"] for image in row["images"]] for row in rows]
    assert Image.open(io.BytesIO(records[0].images[0])).size == (1400, 1100)
    assert [(r.source, r.split, r.meta["dataset_index"]) for r in records] == [
        (row["dataset_name"], NAMES[row["dataset_name"]], row["dataset_index"]) for row in rows
    ]

    # a second evaluation of the same commit reuses the conversion
    stamp = (folder / "pull.json").stat().st_mtime_ns
    _invoke("eval", "--model", "tiny", "--benchmarks", "vqa_rad", "--limit", 1, "--runs", "1",
            "--max-new-tokens", "2", "--backend", "transformers", "--out", tmp_path / "ev2")  # fmt: skip
    assert (folder / "pull.json").stat().st_mtime_ns == stamp
    # ... unless another version of the converter made it: then it is converted again
    (folder / "pull.json").write_text(json.dumps({**pulled, "converter": 0}))
    _invoke("eval", "--model", "tiny", "--benchmarks", "vqa_rad", "--limit", 1, "--runs", "1",
            "--max-new-tokens", "2", "--backend", "transformers", "--out", tmp_path / "ev3")  # fmt: skip
    assert json.loads((folder / "pull.json").read_text())["converter"] == CONVERTER_VERSION


def test_dataset_option_takes_a_revision_or_a_pulled_folder(tmp_path, hub: HubServer, tiny_model_env, asked):
    from huggingface_hub import ModelCard

    from hub_cards.model_card import read_eval_results, render_model_card
    from medvlt_data.benchmarks import card_columns
    from tests.test_model_card import run_record

    rows = released_eval_rows()
    first = _serve(tmp_path, rows, tag="v1")
    changed = [{**row, "question": row["question"].replace("question", "item")} for row in rows]
    second = hub_module.push_folder(
        write_medvlthinker_release(tmp_path / "released-2", "eval", "test", changed), REPO,
        repo_type="dataset", tag="v2",
    ).commit  # fmt: skip
    assert first != second

    _invoke("eval", "--model", "tiny", "--dataset", f"{REPO}@v1", "--benchmarks", "slake", "--limit", 2,
            "--runs", "1", "--max-new-tokens", "2", "--backend", "transformers", "--out", tmp_path / "a")  # fmt: skip
    results = json.loads((tmp_path / "a" / "results.json").read_text())
    dataset = results["dataset"]
    assert (dataset["revision"], dataset["commit"], dataset["label"]) == ("v1", first, f"{REPO}@v1")
    assert f"Dataset: `{REPO}@v1`, commit `{first}`." in (tmp_path / "a" / "results.md").read_text()
    card = render_model_card(run_record(), eval_results=read_eval_results(tmp_path / "a" / "results.json"),
                             eval_source={"dataset": dataset, "seeds": results["seeds"]},
                             benchmarks=card_columns())  # fmt: skip
    assert f"Questions from `{REPO}@v1` at commit `{first}`, 1 run(s) with seeds 42." in card
    assert f"| SLAKE | `{REPO}` | 2 |" in card  # the Hub dataset evaluated on, not the raw source's id
    index = ModelCard(card).data.eval_results
    assert {(e.dataset_type, e.dataset_name, e.dataset_revision) for e in index} == {(REPO, "SLAKE", first)}
    assert [text.split("Question: ")[1].split("\n")[0] for text, _ in asked] == [
        "slake_closed question 0: which finding fits the image best?",
        "slake_closed question 1: which finding fits the image best?",
    ]

    output = _invoke("data", "pull", REPO, "--out", tmp_path / "pulled")  # main: the second version
    assert f"at commit {second}" in output and f"{len(rows)} records of {len(rows)} rows converted" in output
    _invoke("eval", "--model", "tiny", "--dataset", tmp_path / "pulled", "--benchmarks", "vqa_rad", "--limit", 1,
            "--runs", "1", "--max-new-tokens", "2", "--backend", "transformers", "--out", tmp_path / "b")  # fmt: skip
    dataset = json.loads((tmp_path / "b" / "results.json").read_text())["dataset"]
    assert (dataset["repo_id"], dataset["commit"]) == (REPO, second)
    assert asked[-1][0].split("Question: ")[1].startswith("vqa_rad_closed item 0:")


def test_without_the_hub_the_error_names_the_dataset_and_the_way_out(tmp_path, monkeypatch):
    import huggingface_hub.constants as hf_constants

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf_home" / "hub"))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hf_home" / "hub"))
    output = _invoke("eval", "--model", "tiny", "--out", tmp_path / "ev", code=1)
    assert "the paper's eval set UCSC-VLAA/MedVLThinker-Eval could not be fetched" in output
    assert "--dataset DIR" in output and "medvlt data pull UCSC-VLAA/MedVLThinker-Eval --out DIR" in output
    assert not (tmp_path / "ev" / "generations").exists()


def test_dataset_and_a_build_option_exclude_each_other(tmp_path):
    output = _invoke("eval", "--model", "tiny", "--dataset", REPO, "--demo", "--out", tmp_path / "ev", code=2)
    assert "--dataset names the questions; --demo and --source-path build them instead" in output


def test_the_real_released_images_come_through_byte_for_byte(tmp_path, hub: HubServer):
    """The six sample images of UCSC-VLAA/MedVLThinker's assets/ (named after the Eval set's
    ``dataset_name`` values: assets/pmc_vqa.jpg, MMMU-medical.png, ...) as a release's images."""
    from medvlt_data.datasets import load_records
    from medvlt_data.pull import pull_dataset
    from tests.conftest import realdata

    folder = realdata("medvlthinker_demo")
    files = {"pmc_vqa": "pmc_vqa.jpg", "pathvqa_closed": "pathvqa_closed.jpg", "slake_closed": "slake_closed.jpg",
             "vqa_rad_closed": "vqa_rad_closed.jpg", "MMMU-medical": "MMMU-medical.png",
             "MedXpertQA-MM": "MedXpertQA-MM.jpg"}  # fmt: skip
    rows = [row for row in released_eval_rows() if row["question"].split(": ")[0].endswith(" question 0")]
    for row in rows:
        row["images"] = [{"bytes": (folder / files[row["dataset_name"]]).read_bytes(), "path": None}]
    _serve(tmp_path, rows)
    summary = pull_dataset(REPO, tmp_path / "pulled")
    assert summary["benchmarks"] == dict.fromkeys(NAMES.values(), 1)
    by_name = {r.source: r.images for r in load_records(tmp_path / "pulled")}
    assert by_name == {name: [(folder / file).read_bytes()] for name, file in files.items()}


def test_the_fixture_reads_as_the_original_loader_reads_the_release(tmp_path):
    """eval/run_offline_inference_v2.py:109 loads the set with load_dataset and reads a row's
    ``options`` with json.loads (line 326), ``images`` as a list of PIL images (line 336-341) and
    ``dataset_index`` as the key of a question (lines 131-143)."""
    import datasets

    rows = released_eval_rows()
    folder = write_medvlthinker_release(tmp_path / "released", "eval", "test", rows, shards=2)
    test = datasets.load_dataset(str(folder))["test"]
    assert len(test) == len(rows) and sorted(test["dataset_index"]) == list(range(len(rows)))
    assert list(test.features) == ["images", "question", "options", "answer_label", "answer", "hash",
                                   "dataset_name", "reasoning", "misc", "dataset_index"]  # fmt: skip
    first = test[0]
    assert json.loads(first["options"]) == {"A": "CT", "B": "MRI", "C": "X-ray", "D": "Ultrasound"}
    assert [image.size for image in first["images"]] == [(1400, 1100)]
    assert sorted(set(test["dataset_name"])) == sorted(NAMES)


@pytest.mark.parametrize(("pass_count", "kept"), [(5, 5), (0, 0), (-1, None), (None, None)])
def test_a_copy_with_pass_count_keeps_it(pass_count, kept):
    """assign_pass_count.py:76-82 writes -1 for a question that was not rolled out."""
    from medvlt_data.released import released_record

    row = {**released_eval_rows()[0], "pass_count": pass_count}
    record = released_record(row, shard="train-00000-of-00001.parquet", is_eval=False)
    assert (record.pass_count, record.split, record.source_id) == (kept, "train", "0")


def test_eval_settings_default_to_the_papers_decoding(tmp_path):
    """eval/run_offline_inference_v2.py:413-430: seed 42, temperature 0.0, top_p 1.0, max_tokens 4096."""
    from medvlt_train.eval.runner import EvalSettings

    settings = EvalSettings(model="m", out=tmp_path)
    assert (settings.seed, settings.max_new_tokens, settings.prompt) == (42, 4096, "paper")


def test_offline_the_copy_converted_earlier_is_evaluated_at_its_commit(
    tmp_path, hub: HubServer, tiny_model_env, asked, monkeypatch
):
    import huggingface_hub.constants as hf_constants

    commit = _serve(tmp_path, released_eval_rows())
    args = ["eval", "--model", "tiny", "--benchmarks", "mmmu_medical", "--limit", 1, "--runs", "1",
            "--max-new-tokens", "2", "--backend", "transformers"]  # fmt: skip
    _invoke(*args, "--out", tmp_path / "online")  # converts main's commit into medvlt's cache
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    seen = len(hub.requests)
    _invoke(*args, "--out", tmp_path / "offline")
    assert len(hub.requests) == seen  # nothing asked of the Hub
    assert json.loads((tmp_path / "offline" / "results.json").read_text())["dataset"]["commit"] == commit
    assert [text.split("Question: ")[1].split(":")[0] for text, _ in asked] == ["MMMU-medical question 0"] * 2

    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    hub.fail(1, "500", times=100)  # the Hub down, not offline: no silent fallback, but the hint
    output = _invoke(*args, "--out", tmp_path / "down", code=1)
    assert f"A copy converted earlier (commit {commit}) is used with HF_HUB_OFFLINE=1." in output


def test_a_medvlt_eval_build_on_the_hub_is_evaluated_by_id_and_tag(tmp_path, hub: HubServer, tiny_model_env):
    from medvlt_train.eval.questions import build_eval_split

    build = build_eval_split(tmp_path / "build", ["vqa_rad"], {}, demo=True)
    stats = json.loads((build / "stats.json").read_text())
    pushed = hub_module.push_folder(build, "lab/medvlt-eval", repo_type="dataset", tag=stats["version"])
    _invoke("eval", "--model", "tiny", "--dataset", f"lab/medvlt-eval@{stats['version']}", "--benchmarks",
            "vqa_rad", "--limit", 2, "--runs", "1", "--max-new-tokens", "2", "--backend", "transformers",
            "--out", tmp_path / "ev")  # fmt: skip
    dataset = json.loads((tmp_path / "ev" / "results.json").read_text())["dataset"]
    assert (dataset["repo_id"], dataset["revision"], dataset["commit"]) == (
        "lab/medvlt-eval",
        stats["version"],
        pushed.commit,
    )
    assert (dataset["version"], dataset["content_hash"]) == (stats["version"], stats["content_hash"])  # fmt: skip
