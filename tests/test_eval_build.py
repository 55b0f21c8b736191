"""The eval build from raw sources: images as released (never resized), counts against the paper's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from medvlt_cli.main import cli
from medvlt_data.parquet_io import read_records
from tests.test_source_biomed_vqa import CLOSED_ROWS, PMC_ROWS, write_biomed_repo


@pytest.fixture(scope="module")
def eval_build(tmp_path_factory) -> tuple[Path, Path]:
    """An eval build of VQA-RAD and PMC-VQA from a local copy of AdaptLLM/biomed-VQA-benchmark."""
    root = tmp_path_factory.mktemp("eval-build")
    repo = write_biomed_repo(root / "biomed", {"VQA_RAD": CLOSED_ROWS, "PMC-VQA": PMC_ROWS})
    out = root / "out"
    result = CliRunner().invoke(cli, [
        "data", "build", "--split", "eval", "--out", str(out), "--sources", "vqa_rad,pmc_vqa",
        "--source-path", f"vqa_rad={repo}", "--source-path", f"pmc_vqa={repo}",
    ], catch_exceptions=False)  # fmt: skip
    assert result.exit_code == 0, result.output
    return out, repo


def test_eval_build_images_are_the_sources_bytes(eval_build):
    out, _ = eval_build
    records = {(r.source, r.question): r for r in read_records(out)}
    # 1400 x 900 JPEGs: a training pool would resize them to 1024 x 658; the eval build keeps them
    expected = {("vqa_rad", CLOSED_ROWS[i]["input"]): CLOSED_ROWS[i]["image"] for i in (0, 2, 4)}
    expected[("pmc_vqa", "Which modality is shown?")] = PMC_ROWS[0]["image"]
    assert {key: record.images for key, record in records.items()} == {k: [v] for k, v in expected.items()}
    stats = json.loads((out / "stats.json").read_text())
    assert stats["splits"] == {"pmc_vqa": 1, "vqa_rad": 3}


def test_eval_build_card_states_counts_against_the_papers(eval_build):
    out, _ = eval_build
    stats = json.loads((out / "stats.json").read_text())
    counts = {row["benchmark"]: row for row in stats["benchmark_counts"]}
    assert counts["vqa_rad"] == {
        "benchmark": "vqa_rad", "paper": 272, "kept": 3, "difference": -269,
        "drops": {"closed-no-options": 1, "open-ended": 1}, "note": counts["vqa_rad"]["note"],
    }  # fmt: skip
    assert "GPT-4o" in counts["vqa_rad"]["note"]
    assert (counts["pmc_vqa"]["paper"], counts["pmc_vqa"]["kept"]) == (2000, 1)
    assert counts["pmc_vqa"]["drops"] == {"unknown-answer-letter": 1}
    card = (out / "README.md").read_text()
    assert "## Benchmark counts against the paper" in card
    assert "The paper evaluated on 2,272 questions" in card and "this build holds 4." in card
    assert "| vqa_rad | 272 | 3 | -269 | closed-no-options 1, open-ended 1 |" in card
    assert "| pmc_vqa | 2,000 | 1 | -1,999 | unknown-answer-letter 1 |" in card
    assert "not resized" in card


def test_training_pools_keep_the_resize(tmp_path):
    # the same kind of image in a training pool is resized to the recipe's bounds (1024 px)
    from PIL import Image

    from medvlt_data.pipeline.build import BuildPlan
    from medvlt_data.recipes import BuildContext, make_plan

    assert BuildPlan(name="x", version=1, description="", sources=[]).resize_images is True
    plan = make_plan("eval", BuildContext(source_paths={"vqa_rad": str(tmp_path)},
                                          only_sources=["vqa_rad"]))  # fmt: skip
    assert plan.resize_images is False
    import io

    from medvlt_data.pipeline.image_step import prepare_image_details

    details = prepare_image_details(CLOSED_ROWS[0]["image"])
    assert details.resized and Image.open(io.BytesIO(details.data)).size == (1024, 658)
