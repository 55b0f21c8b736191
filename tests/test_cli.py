"""The `medvlt` CLI, driven through click's CliRunner."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
from click.testing import CliRunner

from medvlt_cli.main import cli
from medvlt_data import __version__
from medvlt_data.sources import SOURCES
from tests.conftest import realdata


def run(*args: str):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result


def test_version_and_help():
    assert run("--version").output.strip() == f"medvlt, version {__version__}"
    out = run("--help").output
    assert "data" in out
    assert "--source" in run("data", "ingest", "--help").output


def test_sources_lists_every_adapter():
    out = run("data", "sources").output
    for name in SOURCES:
        assert f"\n{name} " in out
    assert "CC0-1.0" in out and "flaviagiammarino/vqa-rad" in out


def test_ingest_one_source_writes_records_rejects_and_summary(tmp_path):
    out = tmp_path / "out"
    result = run("data", "ingest", "--source", "vqa_rad", "--path", str(realdata("vqa_rad")),
                 "--split", "test", "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["read"] == 451 and summary["kept"] == 271 and summary["rejected"] == 180
    assert summary["rejected_by_reason"] == {"open-ended": 179, "closed-no-options": 1}
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    assert len(rejects) == 180 and all(r["file"].endswith("testset.json") for r in rejects)
    assert set(rejects[0]) == {"id", "step", "reason", "source", "split", "source_id", "file", "detail"}
    assert {r["step"] for r in rejects} == {"ingest"}
    assert rejects[0]["id"] == f"vqa_rad:test:{rejects[0]['source_id']}"
    table = pq.read_table(out / "data" / "test-00000-of-00001.parquet")
    assert table.num_rows == 271
    assert "vqa_rad" in result.output and "451" in result.output and "open-ended=179" in result.output
    inspected = run("data", "inspect", str(out)).output
    assert "records: 271" in inspected
    assert "dropped at ingest: closed-no-options=1, open-ended=179" in inspected


def test_ingested_parquet_loads_with_datasets(tmp_path):
    import datasets
    from PIL import Image

    out = tmp_path / "out"
    run("data", "ingest", "--source", "vqa_rad", "--path", str(realdata("vqa_rad")), "--split", "test",
        "--out", str(out))  # fmt: skip
    ds = datasets.load_dataset("parquet", data_files=str(out / "data" / "*.parquet"), split="train")
    assert len(ds) == 271
    row = ds[0]
    assert isinstance(row["images"][0], Image.Image)
    assert json.loads(row["options"]) == {"A": "Yes", "B": "No"}


def test_user_errors_are_clear(tmp_path):
    result = CliRunner().invoke(cli, ["data", "ingest", "--source", "medqa", "--path", str(tmp_path / "no"),
                                      "--out", str(tmp_path / "o")])  # fmt: skip
    assert result.exit_code == 1
    assert "Error: medqa: path does not exist" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(cli, ["data", "ingest", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "choose one of" in result.output
    result = CliRunner().invoke(cli, ["data", "ingest", "--source", "nope", "--out", "x"])
    assert result.exit_code == 2 and "nope" in result.output


def test_demo_ingests_every_source(tmp_path):
    out = tmp_path / "demo"
    result = run("data", "ingest", "--demo", "--out", str(out))
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split() for line in result.output.splitlines() if line.strip()}
    for name in (p.name for p in (out / "raw").iterdir()):
        summary = json.loads((out / name / "summary.json").read_text())
        assert summary["read"] == summary["kept"] + summary["rejected"]
        assert summary["kept"] >= 18, (name, summary)
        assert summary["rejected"] >= 1, (name, summary)  # every demo layout carries a broken row
        assert lines[name][1:4] == [str(summary["read"]), str(summary["kept"]), str(summary["rejected"])]
    read, kept, rejected = (int(x) for x in lines["total"][1:4])
    assert read == kept + rejected


def test_root_ingests_realdata_folders_and_skips_others(tmp_path):
    result = CliRunner().invoke(cli, ["data", "ingest", "--root", str(realdata()), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "skipped" in result.output and "mmlu_medical" in result.output
    rows = {line.split()[0]: line.split()[1:4] for line in result.output.splitlines() if line[:1].isalpha()}
    for name, (read, kept, rejected) in rows.items():
        if name in SOURCES or name == "total":
            assert int(read) == int(kept) + int(rejected), name
    assert rows["vqa_rad"][0] == "3515" and rows["medqa"] == ["1273", "1273", "0"]


def test_config_option(tmp_path):
    from medvlt_data.demo import write_demo_corpus

    corpus = write_demo_corpus(tmp_path / "raw")
    result = run("data", "ingest", "--source", "medxpertqa", "--path", str(corpus["medxpertqa"]),
                 "--config", "MM", "--out", str(tmp_path / "mm"))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "mm" / "summary.json").read_text())["kept"] == 36
    result = CliRunner().invoke(cli, ["data", "ingest", "--source", "medqa", "--path", str(corpus["medqa"]),
                                      "--config", "MM", "--out", str(tmp_path / "x")])  # fmt: skip
    assert result.exit_code == 1 and "source 'medqa' has no configs" in result.output
    result = CliRunner().invoke(cli, ["data", "ingest", "--source", "medxpertqa", "--path",
                                      str(corpus["medxpertqa"]), "--config", "XX", "--out", str(tmp_path / "y")])  # fmt: skip
    assert result.exit_code == 1 and "unknown config 'XX'" in result.output


def test_command_reference_is_current():
    """docs/cli.md is every command's --help; regenerate it when a command changes."""
    from pathlib import Path

    from medvlt_cli.docs import render_reference

    reference = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
    assert reference.read_text() == render_reference(), (
        "docs/cli.md is stale: run `python -m medvlt_cli.docs > docs/cli.md`"
    )
    assert render_reference().count("\n## `medvlt") == 20
