"""Hub versions through medvlt's commands against the loopback Hub: push a build and pull it back by
tag with the same content hash; a second version gets a second tag while the first stays pullable;
pushing a version again uploads nothing; transient faults are retried and a failed upload leaves no
tag; MedVLThinker's four releases, in their real layouts (tests/hub_layout.py), convert into records;
models push and pull by tag; the token never shows up in any output, card or log."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from medvlt_cli.main import cli
from medvlt_data import hub as hub_module
from medvlt_data.parquet_io import content_hash, parquet_files
from tests import hub_server
from tests.hub_server import HubServer

hub = hub_server.hub  # the loopback Hub fixture

TOKEN = "hf_test_SECRET_do_not_print"


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch):
    monkeypatch.setattr(hub_module, "BACKOFF", 0.01)


class Outputs:
    """Every CLI output of a test, to grep for the token at the end."""

    def __init__(self):
        self.texts: list[str] = []

    def run(self, *args, code: int = 0) -> str:
        result = CliRunner().invoke(cli, [str(a) for a in args])
        self.texts.append(result.output + (str(result.exception) if result.exception else ""))
        assert result.exit_code == code, result.output + repr(result.exception)
        return result.output


@pytest.fixture
def outputs():
    return Outputs()


def _build(out: Path, outputs: Outputs, *extra: str) -> dict:
    outputs.run("data", "build", "--split", "text-all", "--demo", "--decontaminate-against", "none",
                "--out", out, *extra)  # fmt: skip
    return json.loads((out / "stats.json").read_text())


def _no_token_anywhere(outputs: Outputs, *folders: Path) -> None:
    assert os.environ["HF_TOKEN"] == TOKEN
    assert not any(TOKEN in text for text in outputs.texts)
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                assert TOKEN.encode() not in path.read_bytes(), path


def test_round_trip_by_tag_and_a_second_version(tmp_path, hub: HubServer, outputs):
    first = _build(tmp_path / "b1", outputs, "--push-to", "lab/text")
    assert f"pushed {tmp_path / 'b1'} to lab/text (dataset): tag {first['version']}" in outputs.texts[-1]
    tags = hub.refs("lab/text")["tags"]
    assert list(tags) == [first["version"]]
    files = hub.repo_files("lab/text", revision=first["version"])
    assert {"README.md", "stats.json"} <= set(files) and not any(f.startswith(".work") for f in files)

    output = outputs.run("data", "pull", f"lab/text@{first['version']}", "--out", tmp_path / "p1")
    assert f"version {first['version']}" in output and "content hash verified" in output
    assert content_hash(parquet_files(tmp_path / "p1")) == first["content_hash"]
    assert json.loads((tmp_path / "p1" / "pull.json").read_text())["commit"] == tags[first["version"]]

    second = _build(tmp_path / "b2", outputs, "--sources", "medqa")  # other content, another version
    assert second["content_hash"] != first["content_hash"]
    outputs.run("hub", "push", tmp_path / "b2", "--repo", "lab/text")
    tags = hub.refs("lab/text")["tags"]
    assert set(tags) == {first["version"], second["version"]}
    main = hub.repo_files("lab/text")  # main is exactly the second build: no shard of the first is left
    local = {p.relative_to(tmp_path / "b2").as_posix() for p in (tmp_path / "b2").rglob("*") if p.is_file()}
    pushed = {f for f in local if not f.startswith(".")}  # hidden ones stay local: .work/, .medvlt.json
    assert set(main) - {".gitattributes"} == pushed

    outputs.run("data", "pull", f"lab/text@{first['version']}", "--out", tmp_path / "p1")  # pulled again
    assert content_hash(parquet_files(tmp_path / "p1")) == first["content_hash"]
    outputs.run("data", "pull", "lab/text", "--out", tmp_path / "p2")  # main: the second version
    assert content_hash(parquet_files(tmp_path / "p2")) == second["content_hash"]

    commits = hub.commits("lab/text")
    output = outputs.run("hub", "push", tmp_path / "b1", "--repo", "lab/text")
    assert f"already on the Hub: lab/text (dataset) has tag {first['version']}" in output
    assert hub.commits("lab/text") == commits  # nothing uploaded
    _no_token_anywhere(outputs, tmp_path)  # the builds, the pulls, the server's storage, the HF cache


def test_a_pulled_dataset_that_does_not_match_its_hash_is_refused(tmp_path, hub: HubServer, outputs):
    stats = _build(tmp_path / "b", outputs)
    stats["content_hash"] = "0" * 64  # a stats.json that lies about the records
    (tmp_path / "b" / "stats.json").write_text(json.dumps(stats))
    hub_module.push_folder(tmp_path / "b", "lab/bad", repo_type="dataset", tag="v-bad")
    output = outputs.run("data", "pull", "lab/bad@v-bad", "--out", tmp_path / "p", code=1)
    assert "the files are not that version" in output and not (tmp_path / "p").exists()


@pytest.mark.parametrize("how", ["500", "429", "drop"])
def test_transient_faults_on_the_commit_are_retried(tmp_path, hub: HubServer, outputs, how):
    stats = _build(tmp_path / "b", outputs)
    hub.fail(1, how, times=2, path_contains="/commit/")
    outputs.run("hub", "push", tmp_path / "b", "--repo", "lab/text")
    statuses = [r["status"] for r in hub.requests if "/commit/" in r["path"]]
    assert statuses == [{"500": 500, "429": 429, "drop": 0}[how]] * 2 + [200]  # two faults, then success
    assert hub.refs("lab/text")["tags"] == {stats["version"]: hub.commits("lab/text")[-1]}


def test_a_failed_upload_leaves_no_tag(tmp_path, hub: HubServer, outputs):
    _build(tmp_path / "b", outputs)
    hub.fail(1, "500", times=hub_module.ATTEMPTS, path_contains="/commit/")  # every attempt fails
    output = outputs.run("hub", "push", tmp_path / "b", "--repo", "lab/text", code=1)
    assert "uploading" in output and "failed after 5 attempts" in output and "no tag was created" in output
    assert hub.refs("lab/text")["tags"] == {} and len(hub.commits("lab/text")) == 1  # the initial commit
    hub.fail(1, "500", times=1, path_contains="/tag/")  # the next push: one fault on the tag, retried
    outputs.run("hub", "push", tmp_path / "b", "--repo", "lab/text")
    assert len(hub.refs("lab/text")["tags"]) == 1
    _no_token_anywhere(outputs, tmp_path)


def test_distill_pushes_its_new_version(tmp_path, hub: HubServer, outputs):
    from tests.openai_proxy import OpenAIProxy, scripted

    _build(tmp_path / "b", outputs, "--sources", "medqa")
    with OpenAIProxy(scripted(lambda payload, i: "<think>t</think><answer>A</answer>")) as teacher:
        outputs.run("data", "distill", "--dataset", tmp_path / "b", "--teacher", "t", "--endpoint", teacher.url,
                    "--n", "1", "--out", tmp_path / "d", "--push-to", "lab/distilled")  # fmt: skip
    stats = json.loads((tmp_path / "d" / "stats.json").read_text())
    assert list(hub.refs("lab/distilled")["tags"]) == [stats["version"]]
    assert (
        hub.repo_files("lab/distilled", revision=stats["version"])["stats.json"]
        == (tmp_path / "d" / "stats.json").read_bytes()
    )
    _no_token_anywhere(outputs, tmp_path)


def test_wrong_credentials_are_reported_without_the_token(tmp_path, monkeypatch, outputs):
    import huggingface_hub.constants as hf_constants
    import huggingface_hub.hf_api as hf_api

    monkeypatch.setenv("HF_TOKEN", TOKEN)
    with HubServer(tmp_path / "strict", token="hf_the_right_one") as strict:
        monkeypatch.setattr(hf_constants, "ENDPOINT", strict.endpoint)
        monkeypatch.setattr(hf_api.api, "endpoint", strict.endpoint)
        (tmp_path / "folder").mkdir()
        (tmp_path / "folder" / "x.txt").write_text("x")
        output = outputs.run("hub", "push", tmp_path / "folder", "--repo", "lab/x", "--repo-type", "model",
                             "--tag", "v1", code=1)  # fmt: skip
    assert "creating the model repository lab/x failed" in output and "401" in output
    _no_token_anywhere(outputs)


def _jpeg(shade: int, size: tuple[int, int] = (32, 32)) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, (shade, 10, 10)).save(buffer, format="JPEG")
    return buffer.getvalue()


def _pmc_rows(n: int) -> list[dict]:
    """Rows as the pmc_vqa release has them (prepare_pmc_vqa.py:65-81: dataset_name pmc_vqa, hash None,
    dataset_index from 0; options stripped of their ' B:' prefixes)."""
    options = {"A": "CT", "B": "MRI", "C": "PET", "D": "X-ray"}
    return [{"images": [{"bytes": _jpeg(40 * i), "path": None}], "question": f"Which modality is shown in figure {i}?",
             "options": json.dumps(options), "answer_label": "ABCD"[i % 4], "answer": options["ABCD"[i % 4]],
             "dataset_name": "pmc_vqa", "hash": None, "dataset_index": i} for i in range(n)]  # fmt: skip


def _push_release(tmp_path: Path, repo: str, kind: str, split: str, rows: list[dict]) -> None:
    from tests.hub_layout import write_medvlthinker_release

    folder = write_medvlthinker_release(tmp_path / repo.replace("/", "_"), kind, split, rows)
    hub_module.push_folder(folder, repo, repo_type="dataset", tag="released")


def test_the_pmc_vqa_releases_become_records(tmp_path, hub: HubServer, outputs):
    from medvlt_data.datasets import load_records

    rows = _pmc_rows(3)
    rows[2]["answer"] = "Ultrasound"  # not the text of its option B: no valid training record
    _push_release(tmp_path, "UCSC-VLAA/MedVLThinker-pmc_vqa", "pmc_vqa", "train", rows)
    output = outputs.run("data", "pull", "UCSC-VLAA/MedVLThinker-pmc_vqa", "--out", tmp_path / "pmc")
    assert "2 records of 3 rows converted, 1 rejected" in output
    assert "rejected data/train-00000-of-00001.parquet row 2 (pmc_vqa:train:2): answer-mismatch" in output
    records = list(load_records(tmp_path / "pmc"))
    assert [(r.source, r.source_id, r.split, r.answer_label, r.reasoning, r.pass_count) for r in records] == [
        ("pmc_vqa", "0", "train", "A", None, None), ("pmc_vqa", "1", "train", "B", None, None)]  # fmt: skip
    assert [r.images for r in records] == [
        [row["images"][0]["bytes"]] for row in rows[:2]
    ]  # bytes as released
    assert records[0].options == {"A": "CT", "B": "MRI", "C": "PET", "D": "X-ray"}

    reasoning_rows = [{**row, "reasoning": f"The figure {i} shows a scanner.", "text": "<|im_start|>user ..."}
                      for i, row in enumerate(_pmc_rows(2))]  # fmt: skip
    repo = "UCSC-VLAA/MedVLThinker-pmc_vqa-gpt_4o_reasoning-tokenized"
    _push_release(tmp_path, repo, "pmc_vqa_reasoning", "train", reasoning_rows)
    outputs.run("data", "pull", repo, "--out", tmp_path / "cot")
    records = list(load_records(tmp_path / "cot"))
    assert [r.reasoning for r in records] == [
        "The figure 0 shows a scanner.",
        "The figure 1 shows a scanner.",
    ]
    assert all("text" not in r.meta for r in records)  # the chat-template rendering is not kept


def test_the_m23k_release_becomes_text_records(tmp_path, hub: HubServer, outputs):
    from medvlt_data.datasets import load_records

    options = {"A": "Phrenic nerve", "B": "Vagus nerve", "C": "Intercostal nerves", "D": "Accessory nerve"}
    rows = [{"question": "Which nerve innervates the diaphragm?", "options": json.dumps(options),
             "answer_label": "A", "answer": "Phrenic nerve", "reasoning": "C3-C5 keep the diaphragm alive.",
             "dataset_name": name, "dataset_index": i, "hash": f"{i:016x}", "text": "<|im_start|>..."}
            for i, name in enumerate(["medqa", "medmcqa"])]  # fmt: skip
    _push_release(tmp_path, "UCSC-VLAA/MedVLThinker-m23k-tokenized", "m23k", "train", rows)
    outputs.run("data", "pull", "UCSC-VLAA/MedVLThinker-m23k-tokenized", "--out", tmp_path / "m23k")
    records = list(load_records(tmp_path / "m23k"))
    assert [(r.source, r.source_id, r.images, list(r.options), r.reasoning, r.meta["hash"]) for r in records] == [
        ("medqa", "0", [], ["A", "B", "C", "D"], "C3-C5 keep the diaphragm alive.", "0" * 16),
        ("medmcqa", "1", [], ["A", "B", "C", "D"], "C3-C5 keep the diaphragm alive.", "0" * 15 + "1"),
    ]  # fmt: skip


def test_the_eval_release_is_filed_by_benchmark_and_keeps_every_question(tmp_path, hub: HubServer, outputs):
    from medvlt_data.datasets import load_records, resolve_dataset
    from medvlt_train.eval.questions import load_questions
    from tests.test_eval_released import released_eval_rows

    rows = released_eval_rows()
    rows[3]["answer"] = "Magnetic resonance"  # option B says "MRI": the paper still asks it, so it is kept
    rows.append({**rows[0], "dataset_name": "omnimedvqa", "dataset_index": len(rows)})
    _push_release(tmp_path, "UCSC-VLAA/MedVLThinker-Eval", "eval", "test", rows)
    output = outputs.run("data", "pull", "UCSC-VLAA/MedVLThinker-Eval@released", "--out", tmp_path / "ev")
    assert f"{len(rows) - 1} records of {len(rows)} rows converted, 1 rejected" in output
    assert f"row {len(rows) - 1}: dataset_name 'omnimedvqa' is none of the six benchmarks" in output
    pulled = json.loads((tmp_path / "ev" / "pull.json").read_text())
    assert pulled["revision"] == "released" and pulled["layout"] == "medvlthinker"
    assert pulled["benchmarks"] == {b: 6 for b in ("pmc_vqa", "pathvqa", "slake", "vqa_rad", "mmmu_medical",
                                                   "medxpertqa_mm")}  # fmt: skip
    assert (
        pulled["flagged"] == 1
        and "row 3 (pmc_vqa:pmc_vqa:3): answer-mismatch" in pulled["flagged_examples"][0]
    )
    assert sorted({p.name.split("-")[0] for p in parquet_files(tmp_path / "ev")}) == [
        "medxpertqa_mm", "mmmu_medical", "pathvqa", "pmc_vqa", "slake", "vqa_rad"]  # fmt: skip
    questions = load_questions(resolve_dataset(tmp_path / "ev"), ["vqa_rad", "mmmu_medical", "pmc_vqa"])
    assert [q.benchmark for q in questions] == ["pmc_vqa"] * 6 + ["mmmu_medical"] * 6 + ["vqa_rad"] * 6
    assert questions[6].options == json.loads(rows[24]["options"]) and questions[6].source_id == "24"
    mmmu = next(r for r in load_records(tmp_path / "ev") if r.source == "MMMU-medical")
    assert mmmu.meta["misc"] == {"id": "validation_Clinical_Medicine_0", "question_type": "multiple-choice"}


def test_a_file_without_the_released_columns_is_refused_by_name(tmp_path, hub: HubServer, outputs):
    import datasets

    rows = [{k: v for k, v in row.items() if k != "dataset_index"} for row in _pmc_rows(2)]
    folder = tmp_path / "odd"
    (folder / "data").mkdir(parents=True)
    datasets.Dataset.from_list(rows).to_parquet(folder / "data" / "train-00000-of-00001.parquet")
    hub_module.push_folder(folder, "lab/odd", repo_type="dataset", tag="v1")
    output = outputs.run("data", "pull", "lab/odd", "--out", tmp_path / "p", code=1)
    assert (
        "lab/odd: data/train-00000-of-00001.parquet lacks column(s) dataset_index of MedVLThinker's released "
        "layout (has images, question, options, answer_label, answer, dataset_name, hash)"
    ) in output


def test_models_push_and_pull_by_tag_and_load_by_id_at_revision(
    tmp_path, hub: HubServer, outputs, tiny_model_env
):
    import shutil

    from transformers import AutoModelForImageTextToText

    from medvlt_train.models import resolve_model

    model = tmp_path / "model"
    shutil.copytree(tiny_model_env, model)
    outputs.run("hub", "push", model, "--repo", "lab/tiny", "--repo-type", "model", "--tag", "v1")
    (model / "NOTE.md").write_text("a later change\n")
    output = outputs.run(
        "hub", "push", model, "--repo", "lab/tiny", "--repo-type", "model", "--tag", "v1", code=1
    )
    assert "already has a tag v1" in output and "(NOTE.md)" in output and "immutable" in output  # not skipped
    outputs.run("hub", "push", model, "--repo", "lab/tiny", "--repo-type", "model", "--tag", "v2")
    output = outputs.run("hub", "pull", "lab/tiny@v1", "--out", tmp_path / "pulled")
    assert f"pulled lab/tiny at commit {hub.refs('lab/tiny', 'model')['tags']['v1']}" in output
    assert not (tmp_path / "pulled" / "NOTE.md").exists()  # v1 has no note; v2 does
    assert AutoModelForImageTextToText.from_pretrained(tmp_path / "pulled").config.model_type == "qwen2_5_vl"
    pinned = Path(resolve_model("lab/tiny@v2"))  # what --model ID@revision resolves to
    assert (pinned / "NOTE.md").is_file() and pinned.name == hub.refs("lab/tiny", "model")["tags"]["v2"]
    output = outputs.run("eval", "--model", "lab/tiny@v1", "--demo", "--benchmarks", "vqa_rad", "--runs", "1",
                         "--limit", "2", "--max-new-tokens", "2", "--backend", "transformers", "--out", tmp_path / "ev")  # fmt: skip
    assert "| lab/tiny@v1 |" in output
    _no_token_anywhere(outputs, tmp_path / "pulled", tmp_path / "ev")


def test_a_pull_replaces_only_its_own_files_and_refuses_a_foreign_folder(tmp_path, hub: HubServer, outputs):
    # Before: a re-pull removed the whole folder (rmtree), a user's notes inside it included.
    stats = _build(tmp_path / "b", outputs, "--push-to", "lab/own")
    out = tmp_path / "p"
    outputs.run("data", "pull", "lab/own", "--out", out)
    (out / "notes.txt").write_text("mine")
    (out / "data" / "mine.csv").write_text("a,b\n")
    outputs.run("data", "pull", f"lab/own@{stats['version']}", "--out", out)  # pulled again
    assert (out / "notes.txt").read_text() == "mine" and (out / "data" / "mine.csv").is_file()
    assert content_hash(parquet_files(out)) == stats["content_hash"]
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "important.csv").write_text("keep")
    output = outputs.run("data", "pull", "lab/own", "--out", foreign, code=1)
    assert "is not empty and not a medvlt data pull folder" in output and "--overwrite" in output
    assert [p.name for p in foreign.iterdir()] == ["important.csv"]
    outputs.run("data", "pull", "lab/own", "--out", foreign, "--overwrite")
    assert (foreign / "important.csv").read_text() == "keep"
    assert content_hash(parquet_files(foreign)) == stats["content_hash"]
