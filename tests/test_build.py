"""`medvlt data build`: named splits end to end on real files, accounting, decontamination, hashes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from medvlt_cli.main import cli
from tests.conftest import realdata


def build(out: Path, *args: str) -> dict:
    result = CliRunner().invoke(cli, ["data", "build", "--out", str(out), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads((out / "stats.json").read_text())


def rejects(out: Path, step: str) -> list[dict]:
    rows = []
    for path in sorted((out / "rejects" / step).glob("*.jsonl")):
        rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return rows


@pytest.fixture(scope="module")
def eval_build(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("eval")
    build(out, "--split", "eval", "--sources", "vqa_rad", "--source-path", f"vqa_rad={realdata('vqa_rad')}")
    return out


def test_eval_vqa_rad_matches_the_paper_count(eval_build):
    import datasets

    stats = json.loads((eval_build / "stats.json").read_text())
    (vqa_rad,) = stats["sources"]
    assert vqa_rad["name"] == "vqa_rad" and vqa_rad["expected"] == 272
    assert vqa_rad["read"] == 451 and vqa_rad["kept"] == 271 and vqa_rad["dropped"] == 180
    raw = json.loads(realdata("vqa_rad", "testset.json").read_text())
    closed = {str(r["qid"]) for r in raw if r["answer_type"].strip() == "CLOSED"}
    read_rejects = rejects(eval_build, "read")
    assert set(read_rejects[0]) == {"id", "step", "reason", "source", "split", "source_id", "file", "detail"}
    closed_rejected = [r for r in read_rejects if r["source_id"] in closed]
    assert vqa_rad["kept"] + len(closed_rejected) == 272  # every closed question kept or listed
    assert vqa_rad["kept"] / 272 >= 0.95
    assert all(r["reason"] == "open-ended" for r in read_rejects if r["source_id"] not in closed)
    assert [r["reason"] for r in closed_rejected] == ["closed-no-options"]  # CLOSED, the rule has no options
    ds = datasets.load_dataset(
        "parquet", data_files=str(eval_build / "data" / "vqa_rad-*.parquet"), split="train"
    )
    assert len(ds) == 271
    assert set(ds["answer_label"]) <= {"A", "B", "C"} and ds[0]["images"][0].mode == "RGB"
    assert stats["splits"] == {"vqa_rad": 271}


def test_card_and_inspect(eval_build):
    from huggingface_hub import DatasetCard

    card = DatasetCard((eval_build / "README.md").read_text())
    assert card.data.configs[0]["data_files"] == [{"split": "vqa_rad", "path": "data/vqa_rad-*.parquet"}]
    assert "451 read = 271 kept + 180 dropped" in (eval_build / "README.md").read_text().replace(",", "")
    result = CliRunner().invoke(cli, ["data", "inspect", str(eval_build)])
    assert result.exit_code == 0, result.output
    assert "records: 271" in result.output and "per split: vqa_rad=271" in result.output
    assert "dropped at read: closed-no-options=1, open-ended=179" in result.output


def _mmmu_with_leaked_questions(root: Path, leaked: list[tuple[str, list[str], str]]) -> Path:
    """An MMMU medical fixture (Hub Parquet layout, five subjects) whose Clinical_Medicine validation
    split holds ``leaked`` questions (stem, options, answer letter), each with a demo image."""
    import datasets
    import pyarrow.parquet as pq

    from medvlt_data.demo.bank import DEMO_IMAGES
    from medvlt_data.demo.mmmu_medical import hub_features
    from medvlt_data.sources.mmmu_medical import IMAGE_COLUMNS, SUBJECTS

    features = hub_features()
    png = DEMO_IMAGES[0].png()

    def row(i: int, question: str, options: list[str], answer: str) -> dict:
        values = {"id": f"validation_{i}", "question": f"<image 1> {question}", "options": repr(options),
                  "answer": answer, "explanation": "", "img_type": "[]", "topic_difficulty": "Hard",
                  "question_type": "multiple-choice", "subfield": "fixture"}  # fmt: skip
        values.update(
            {c: ({"bytes": png, "path": "x.png"} if c == "image_1" else None) for c in IMAGE_COLUMNS}
        )
        return values

    for subject in SUBJECTS:
        rows = [row(0, f"Which finding in this {subject} image is shown?", ["Mass", "None"], "A")]
        if subject == "Clinical_Medicine":
            rows += [row(i + 1, stem, options, answer) for i, (stem, options, answer) in enumerate(leaked)]
        (root / subject).mkdir(parents=True)
        table = datasets.Dataset.from_dict({k: [r[k] for r in rows] for k in features}, features=features)
        pq.write_table(table.data.table, root / subject / "validation-00000-of-00001.parquet")
    return root


def _text_sources(tmp_path: Path) -> list[str]:
    """The real text files, decontaminated against an MMMU fixture that holds three real MedQA
    questions (a benchmark leak the build must find)."""
    from medvlt_data.sources import get_source

    medqa = [r for r in get_source("medqa").read(path=realdata("medqa"))][:3]
    leaked = [(r.question, list(r.options.values()), r.answer_label) for r in medqa]
    mmmu = _mmmu_with_leaked_questions(tmp_path / "mmmu", leaked)
    return [
        "--sources", "medqa,medmcqa,pubmedqa",
        "--source-path", f"medqa={realdata('medqa')}",
        "--source-path", f"medmcqa={realdata('medmcqa')}",
        "--source-path", f"pubmedqa={realdata('pubmedqa')}",
        "--source-path", f"mmmu_medical={mmmu}",
        "--decontaminate-against", "mmmu_medical",
    ]  # fmt: skip


@pytest.mark.slow
def test_text_all_accounts_for_every_record_and_decontaminates(tmp_path):
    args = _text_sources(tmp_path)
    stats = build(tmp_path / "one", "--split", "text-all", *args)
    by_name = {s["name"]: s for s in stats["sources"]}
    assert by_name["medqa"]["read"] == 1273 and by_name["medmcqa"]["read"] == 4183
    assert by_name["pubmedqa"]["read"] == 500  # the train split: the 500 test PMIDs are not read
    for source in stats["sources"]:
        assert source["read"] == source["kept"] + source["dropped"], source
    dropped = sum(n for reasons in stats["drops"].values() for n in reasons.values())
    assert stats["num_read"] == stats["num_records"] + dropped
    assert stats["decontamination"] == {"mmmu_medical": 3}
    leaked = rejects(tmp_path / "one", "decontaminate")
    assert sorted(r["source_id"] for r in leaked) == ["test-00000", "test-00001", "test-00002"]
    assert all(r["reason"] == "contaminated:mmmu_medical" for r in leaked)
    assert stats["drops"]["dedup_exact"] == {"duplicate": 10}
    card = (tmp_path / "one" / "README.md").read_text()
    assert f"{stats['num_read']:,} read = {stats['num_records']:,} kept + {dropped:,} dropped" in card
    assert "| mmmu_medical | 3 |" in card
    # the same build again, and with two workers: the same content hash
    again = build(tmp_path / "two", "--split", "text-all", "--workers", "2", *args)
    assert again["content_hash"] == stats["content_hash"] and again["version"] == stats["version"]


def test_difficulty_options_apply_only_to_the_hard_splits(tmp_path):
    args = ["data", "build", "--split", "text-all", "--demo", "--out", str(tmp_path), "--rollouts", "4"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert (
        "text-all has no difficulty stage; the difficulty settings (rollouts) apply to text-hard and image-hard"
        in (result.output)
    )


def _no_network(monkeypatch) -> list[str]:
    """Every connection attempt and Hub API call is refused and recorded."""
    import socket

    import huggingface_hub

    calls: list[str] = []

    def refuse(*args, **kwargs):
        calls.append(repr(args[:2]))
        raise OSError("no network in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(huggingface_hub.HfApi, "dataset_info", refuse)
    return calls


@pytest.mark.parametrize(
    ("args", "stages"),
    [
        (["--split", "text-hard"], "prepare, dedup-exact, minhash-signatures, minhash-buckets, minhash-cluster, finish, "
                                   "difficulty, finalize"),
        (["--split", "eval", "--sources", "vqa_rad"], "prepare, dedup-exact, finish, finalize"),
        (["--split", "image-hard", "--demo", "--rollouts", "4"], "prepare, dedup-exact, minhash-signatures, "
                                                                 "minhash-buckets, minhash-cluster, finish, difficulty, finalize"),
    ],
)  # fmt: skip
def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path, monkeypatch, args, stages):
    calls = _no_network(monkeypatch)
    monkeypatch.chdir(tmp_path)  # the default --out (builds/SPLIT) would land here
    result = CliRunner().invoke(cli, ["data", "build", *args, "--dry-run"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"stages: {stages}\n" in result.output
    assert not list(tmp_path.iterdir()) and calls == []  # no file written, no connection tried
    if "text-hard" in args:
        assert "  medqa               hub:GBaker/MedQA-USMLE-4-options  splits: train" in result.output
        assert "decontaminated against 12 benchmark(s): pmc_vqa, mmmu_medical" in result.output
        assert (
            "  gpqa_diamond        hub:Idavidrein/gpqa  config gpqa_diamond  splits: train" in result.output
        )
        assert ("difficulty: Qwen/Qwen2.5-VL-3B-Instruct via vllm; 16 rollouts a question, temperature 1.0, "
                "top_p 1.0, max_tokens 4096, prompt paper; keep 1 <= pass_count <= 7") in result.output  # fmt: skip
    if "--demo" in args:  # the demo corpus is named where it would be written, and its base model answers
        assert (
            "  pmc_vqa             builds/image-hard/.work/demo-corpus/pmc_vqa  splits: train"
            in result.output
        )
        assert "difficulty: demo-base via transformers; 4 rollouts a question" in result.output
    if "eval" in args:
        assert "decontamination: off" in result.output and "images: as released" in result.output


def test_a_plan_is_made_without_files_and_checked_before_the_first_stage(tmp_path, monkeypatch):
    """make_plan reads no layout (a --source-path that holds nothing still plans); the build resolves
    and checks it before any stage and names what is wrong."""
    from medvlt_data.pipeline.build import BuildError, run_build
    from medvlt_data.pipeline.plan import stage_names
    from medvlt_data.recipes import BuildContext, make_plan

    calls = _no_network(monkeypatch)
    empty = tmp_path / "empty"
    empty.mkdir()
    context = BuildContext(
        source_paths={"medqa": str(empty)}, only_sources=["medqa"], decontaminate_against=["slake"]
    )
    plan = make_plan("text-all", context)
    assert (plan.sources[0].origin, plan.sources[0].splits, plan.decontaminate_against) == (
        str(empty),
        ["train"],
        ["slake"],
    )
    assert plan.benchmark_index is None and stage_names(plan)[-2:] == ["finish", "finalize"]
    with pytest.raises(BuildError, match=r"cannot read these sources:\n  slake \(hub:BoKelvin/SLAKE\)"):
        run_build(plan, tmp_path / "out")
    assert plan.sources[0].options["note"] == f"splits ['train'] not in {empty}: every file read"  # resolved
    assert calls and not (tmp_path / "out" / ".work" / "prepared").exists()


def test_splits_lists_every_recipe():
    result = CliRunner().invoke(cli, ["data", "splits"])
    for name in ("text-all", "image-all", "eval", "text-hard", "image-hard"):
        assert name in result.output


def test_unreachable_sources_fail_fast_with_advice(tmp_path):
    result = CliRunner().invoke(cli, ["data", "build", "--split", "eval", "--out", str(tmp_path),
                                      "--source-path", f"vqa_rad={realdata('vqa_rad')}"])  # fmt: skip
    assert result.exit_code == 1
    assert "cannot read these sources" in result.output and "pmc_vqa" in result.output
    assert "--source-path NAME=DIR" in result.output and "vqa_rad (hub" not in result.output


def _vqa_rad_eval_args() -> list[str]:
    return ["--split", "eval", "--sources", "vqa_rad", "--source-path", f"vqa_rad={realdata('vqa_rad')}"]


@pytest.mark.slow
def test_killed_build_resumes_without_redoing_finished_stages(tmp_path, eval_build):
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "killed"
    command = [
        sys.executable,
        "-m",
        "medvlt_cli.main",
        "data",
        "build",
        "--out",
        str(out),
        *_vqa_rad_eval_args(),
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    marker = out / ".work" / "logs" / "dedup-exact" / "completions" / "00000"
    deadline = time.time() + 300
    while not marker.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert marker.exists(), "the build never reached the dedup-exact stage"
    assert not (out / "stats.json").exists()  # killed before it finished
    prepared = sorted((out / ".work" / "prepared").glob("*.parquet"))
    stamps = [p.stat().st_mtime_ns for p in prepared]
    stats = build(out, *_vqa_rad_eval_args())
    assert [p.stat().st_mtime_ns for p in prepared] == stamps  # the finished prepare stage was not redone
    assert stats["content_hash"] == json.loads((eval_build / "stats.json").read_text())["content_hash"]


@pytest.mark.slow
def test_ray_executor_gives_the_same_content_as_local(tmp_path, eval_build):
    ray = pytest.importorskip("ray", reason="ray is installed with the dev extra")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        stats = build(tmp_path / "ray", *_vqa_rad_eval_args(), "--executor", "ray", "--workers", "2")
    finally:
        ray.shutdown()
    assert stats["content_hash"] == json.loads((eval_build / "stats.json").read_text())["content_hash"]


def test_same_build_twice_gives_the_same_hash(tmp_path, eval_build):
    stats = build(tmp_path / "again", *_vqa_rad_eval_args(), "--workers", "2")
    assert stats["content_hash"] == json.loads((eval_build / "stats.json").read_text())["content_hash"]
    assert (tmp_path / "again" / "README.md").read_bytes() == (eval_build / "README.md").read_bytes()


def test_slurm_executor_submits_the_stages_as_a_dependency_chain(tmp_path, monkeypatch):
    """No Slurm here: the sbatch call is replaced, and the submitted scripts are checked."""
    import datatrove.executor.slurm as slurm

    submitted: list[tuple[str, tuple]] = []

    def fake_launch(script, job_id_retriever, *args):
        submitted.append((script, args))
        return str(1000 + len(submitted))

    monkeypatch.setattr(slurm, "launch_slurm_job", fake_launch)
    result = CliRunner().invoke(cli, ["data", "build", "--out", str(tmp_path / "s"), *_vqa_rad_eval_args(),
                                      "--executor", "slurm", "--workers", "2", "--slurm-partition", "cpu-long"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "submitted stages prepare, dedup-exact, finish, finalize" in result.output
    scripts = [script for script, _ in submitted if "launch_pickled_pipeline" in script]
    assert len(scripts) == 4
    assert all("#SBATCH --partition=cpu-long" in s for s in scripts)
    dependencies = [next((a for a in args if a.startswith("--dependency")), None) for _, args in submitted
                    if "launch_pickled_pipeline" in _]  # fmt: skip
    assert dependencies[0] is None
    assert all(d and d.startswith("--dependency=afterok:") for d in dependencies[1:])


def test_image_all_on_the_demo_corpus_decontaminates_by_image(tmp_path):
    """The demo PMC-VQA and VQA-RAD layouts share their generated scans: every PMC-VQA question whose
    scan is a VQA-RAD test image is removed as contaminated, by perceptual hash."""
    from medvlt_data.demo import write_demo_corpus
    from medvlt_data.demo.bank import DEMO_IMAGES
    from medvlt_data.parquet_io import read_records
    from medvlt_data.sources import Rejected, get_source

    corpus = write_demo_corpus(tmp_path / "raw")
    # the pool: the demo PMC-VQA train and test rows together (the test rows show the VQA-RAD test scans)
    pmc_dir = corpus["pmc_vqa"]
    train, test = (pmc_dir / "train.csv").read_text(), (pmc_dir / "test.csv").read_text()
    (pmc_dir / "train.csv").write_text(train.rstrip("\n") + "\n" + test.split("\n", 1)[1])
    stats = build(tmp_path / "img", "--split", "image-all", "--source-path", f"pmc_vqa={pmc_dir}",
                  "--source-path", f"vqa_rad={corpus['vqa_rad']}", "--decontaminate-against", "vqa_rad")  # fmt: skip
    test_images = {
        r.images[0] for r in get_source("vqa_rad").read(path=corpus["vqa_rad"], split="test")
        if not isinstance(r, Rejected)
    }  # fmt: skip
    assert 0 < len(test_images) < len(DEMO_IMAGES)
    pmc = [
        r
        for r in get_source("pmc_vqa").read(path=corpus["pmc_vqa"], split="train")
        if not isinstance(r, Rejected)
    ]
    leaked = [r for r in pmc if r.images[0] in test_images]
    assert 0 < len(leaked) < len(pmc)
    assert stats["decontamination"] == {"vqa_rad": len(leaked)}
    kept = list(read_records(tmp_path / "img"))
    assert {r.images[0] for r in kept}.isdisjoint(test_images)
    (source,) = stats["sources"]
    assert source["read"] == source["kept"] + source["dropped"]
    assert all(min(image_size(r.images[0])) >= 28 for r in kept)


def image_size(data: bytes) -> tuple[int, int]:
    import io

    from PIL import Image

    return Image.open(io.BytesIO(data)).size


@pytest.mark.slow
def test_eval_pathvqa_matches_the_paper_count(tmp_path):
    stats = build(tmp_path, "--split", "eval", "--sources", "pathvqa", "--source-path",
                  f"pathvqa={realdata('pathvqa')}")  # fmt: skip
    (pathvqa,) = stats["sources"]
    assert (pathvqa["read"], pathvqa["kept"], pathvqa["expected"]) == (6761, 3362, 3362)
    assert stats["drops"] == {"read": {"duplicate": 42, "open-ended": 3357}}
