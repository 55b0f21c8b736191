"""Who owns --out, and what a re-run resumes: a folder that is not medvlt's is refused (or, with
--overwrite, only medvlt's files are replaced), a re-run with other inputs or settings is refused with
what changed, the content hash does not depend on where the input lies, and the card's decontamination
section says what ran."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from medvlt_cli.main import cli

#: A text-all build of the demo MedQA layout only (26 lines), no decontamination: a few seconds.
MEDQA = ["--split", "text-all", "--sources", "medqa", "--decontaminate-against", "none"]


def medqa_layout(folder: Path) -> Path:
    """The demo MedQA local layout (train.jsonl: 24 questions, a bad label, a truncated line)."""
    from medvlt_data.demo import medqa

    folder.mkdir(parents=True, exist_ok=True)
    return medqa.write(folder)


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def build(out: Path, layout: Path, *more: str):
    return invoke("data", "build", "--out", str(out), *MEDQA, "--source-path", f"medqa={layout}", *more)


def stats(out: Path) -> dict:
    return json.loads((out / "stats.json").read_text())


def message(result) -> str:
    return " ".join(result.output.split())  # click wraps nothing, but the terminal width may


# --- ownership of --out --------------------------------------------------------------------------


def test_a_folder_that_is_not_a_build_is_refused_and_left_alone(tmp_path):
    out = tmp_path / "mine"
    (out / "data").mkdir(parents=True)
    (out / "data" / "important.csv").write_text("a,b\n1,2\n")
    (out / "README.md").write_text("my notes\n")
    result = build(out, medqa_layout(tmp_path / "medqa"))
    assert result.exit_code == 1, result.output
    text = message(result)
    assert f"--out {out} is not empty and not a medvlt data build folder" in text
    assert "(it holds README.md, data)" in text and "choose another --out, or pass --overwrite" in text
    assert (out / "data" / "important.csv").read_text() == "a,b\n1,2\n"
    assert (out / "README.md").read_text() == "my notes\n"
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "data"]  # nothing written


def test_overwrite_replaces_only_medvlts_files(tmp_path):
    out = tmp_path / "mine"
    (out / "data").mkdir(parents=True)
    (out / "data" / "important.csv").write_text("a,b\n1,2\n")
    layout = medqa_layout(tmp_path / "medqa")
    result = build(out, layout, "--overwrite")
    assert result.exit_code == 0, result.output
    assert (out / "data" / "important.csv").read_text() == "a,b\n1,2\n"
    assert stats(out)["num_records"] == 24
    shards = sorted(f"data/{p.name}" for p in (out / "data").glob("*.parquet"))
    assert shards and all(name.startswith("data/train-0000") for name in shards)
    assert sorted(p.name for p in (out / "data").iterdir()) == ["important.csv", *(s[5:] for s in shards)]
    marker = json.loads((out / ".medvlt.json").read_text())
    assert marker["kind"] == "build" and marker["files"] == shards  # what a re-run may replace
    # a re-run of the same build resumes; a file the user added to data/ meanwhile stays
    (out / "data" / "notes.txt").write_text("mine\n")
    again = build(out, layout)
    assert again.exit_code == 0, again.output
    assert (out / "data" / "notes.txt").read_text() == "mine\n"
    assert (out / "data" / "important.csv").exists() and stats(out)["num_records"] == 24


def test_ingest_and_eval_refuse_a_folder_that_is_not_theirs(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "summary.json").write_text("{}\n")
    layout = medqa_layout(tmp_path / "medqa")
    result = invoke("data", "ingest", "--source", "medqa", "--path", str(layout), "--out", str(out))
    assert result.exit_code == 1, result.output
    assert f"--out {out} is not empty and not a medvlt data ingest folder" in message(result)
    assert (out / "summary.json").read_text() == "{}\n" and not (out / "data").exists()
    result = invoke("eval", "--model", "tiny", "--demo", "--out", str(out))
    assert result.exit_code == 1, result.output
    assert "not empty and not a medvlt eval folder (it holds summary.json)" in message(result)
    assert sorted(p.name for p in out.iterdir()) == ["summary.json"]


def test_a_reingest_replaces_its_own_shards_only(tmp_path):
    out = tmp_path / "ingest"
    layout = medqa_layout(tmp_path / "medqa")
    first = invoke("data", "ingest", "--source", "medqa", "--path", str(layout), "--out", str(out))
    assert first.exit_code == 0, first.output
    assert sorted(p.name for p in (out / "data").iterdir()) == [
        "test-00000-of-00001.parquet", "train-00000-of-00001.parquet"
    ]  # fmt: skip
    (out / "data" / "notes.txt").write_text("mine\n")
    again = invoke("data", "ingest", "--source", "medqa", "--path", str(layout), "--split", "test",
                   "--out", str(out))  # fmt: skip
    assert again.exit_code == 0, again.output
    # the earlier ingest's train shard is gone (it is not this ingest's), the user's file stays
    assert sorted(p.name for p in (out / "data").iterdir()) == ["notes.txt", "test-00000-of-00001.parquet"]


# --- resume means the same work ------------------------------------------------------------------


def test_a_finished_build_with_other_sources_is_refused(tmp_path):
    out = tmp_path / "b"
    first = invoke("data", "build", "--out", str(out), "--demo", *MEDQA)
    assert first.exit_code == 0, first.output
    before = (out / "stats.json").read_bytes()
    other = invoke("data", "build", "--out", str(out), "--demo", "--split", "text-all",
                   "--sources", "medmcqa", "--decontaminate-against", "none")  # fmt: skip
    assert other.exit_code == 1, other.output
    text = message(other)
    assert f"--out {out} holds a build of other work: " in text
    assert "recipe.params.sources" not in text and "sources.medmcqa, sources.medqa changed" in text
    assert "pass --overwrite" in text and "choose another --out" in text
    assert (out / "stats.json").read_bytes() == before


def test_an_edited_input_file_is_refused_until_overwrite(tmp_path):
    out, layout = tmp_path / "b", medqa_layout(tmp_path / "medqa")
    assert build(out, layout).exit_code == 0
    assert stats(out)["sources"][0]["read"] == 26
    train = layout / "train.jsonl"
    train.write_text("".join(train.read_text().splitlines(keepends=True)[:10]))
    result = build(out, layout)
    assert result.exit_code == 1, result.output
    assert "holds a build of other work: sources.medqa.files.train.jsonl changed" in message(result)
    assert stats(out)["sources"][0]["read"] == 26  # the old build is still there, not passed off as new
    result = build(out, layout, "--overwrite")
    assert result.exit_code == 0, result.output
    assert stats(out)["sources"][0]["read"] == 10


def test_an_unfinished_hard_build_with_other_rollouts_is_refused(tmp_path, monkeypatch):
    import medvlt_data.pipeline.build as build_module

    out = tmp_path / "hard"
    args = ["data", "build", "--split", "text-hard", "--demo", "--sources", "medqa",
            "--decontaminate-against", "none", "--out", str(out)]  # fmt: skip

    def interrupted(stage, *rest, **kwargs):
        raise build_module.BuildError(f"stage {stage!r} interrupted (test)")

    monkeypatch.setattr(build_module, "_run_stage", interrupted)
    first = invoke(*args, "--rollouts", "2")
    assert first.exit_code == 1 and "interrupted (test)" in first.output
    result = invoke(*args, "--rollouts", "3", "--max-pass", "2")
    assert result.exit_code == 1, result.output
    text = message(result)
    assert "holds a build of other work: " in text
    assert "difficulty.band, difficulty.rollouts" in text and "recipe.params.difficulty.rollouts" in text


def test_a_resumed_prepare_stage_keeps_its_task_count(tmp_path):
    """An interrupted prepare stage of two tasks, resumed with --workers 1, still runs task 1."""
    layout = medqa_layout(tmp_path / "medqa")
    whole = tmp_path / "whole"
    assert build(whole, layout).exit_code == 0
    out = tmp_path / "b"
    assert build(out, layout, "--workers", "2").exit_code == 0
    for path in [*(out / ".work" / "logs").glob("*/completions/*"), out / "stats.json"]:  # all but task 0
        if path.relative_to(out).parts[2:] != ("prepare", "completions", "00000"):
            path.unlink()
    (out / ".work" / "prepared" / "00001.parquet").unlink()
    (out / ".work" / "read_counts" / "00001.json").unlink()
    result = build(out, layout, "--workers", "1")
    assert result.exit_code == 0, result.output
    assert stats(out)["content_hash"] == stats(whole)["content_hash"]
    assert stats(out)["sources"][0]["read"] == 26


# --- a content hash independent of where the input lies ----------------------------------------


def test_the_same_files_in_two_folders_give_the_same_content_hash(tmp_path):
    one, two = (
        medqa_layout(tmp_path / "in-one" / "medqa"),
        medqa_layout(tmp_path / "elsewhere" / "x" / "medqa"),
    )
    assert build(tmp_path / "out-one", one).exit_code == 0
    assert build(tmp_path / "out-two", two).exit_code == 0
    assert stats(tmp_path / "out-one")["content_hash"] == stats(tmp_path / "out-two")["content_hash"]
    rows = [
        row
        for shard in (tmp_path / "out-one" / "data").glob("*.parquet")
        for row in pq.read_table(shard).to_pylist()
    ]
    files = {json.loads(row["meta"])["file"] for row in rows}
    assert files == {"train.jsonl"}  # relative to the source's root


def test_the_demo_built_into_two_folders_gives_the_same_content_hash(tmp_path):
    for name in ("a", "b"):
        result = invoke("data", "build", "--out", str(tmp_path / name), "--demo", *MEDQA)
        assert result.exit_code == 0, result.output
    assert stats(tmp_path / "a")["version"] == stats(tmp_path / "b")["version"]


# --- the card's decontamination section ----------------------------------------------------------


def _card_stats(**changes) -> dict:
    from tests.test_dataset_card import text_stats

    found = text_stats()
    found["recipe"] = {"sources": ["medqa"]}  # the recipe parameters do not say what ran
    found.update(changes)
    return found


def test_the_card_says_the_step_ran_and_removed_nothing():
    from hub_cards.dataset_card import render_dataset_card

    card = render_dataset_card(_card_stats(decontaminated_against=["vqa_rad", "slake"], decontamination={}),
                               embed_images=False)  # fmt: skip
    section = card.split("## Decontamination", 1)[1].split("\n## ", 1)[0]
    assert "No decontamination step" not in section
    assert (
        "The decontamination step ran against 2 benchmarks (vqa_rad, slake) and removed 0 records." in section
    )
    assert "| vqa_rad | 0 |" in section and "| slake | 0 |" in section


def test_the_card_says_no_step_only_when_none_ran():
    from hub_cards.dataset_card import render_dataset_card

    card = render_dataset_card(_card_stats(decontaminated_against=[], decontamination={}), embed_images=False)
    assert "No decontamination step was run for this build." in card


def test_a_build_records_what_it_was_decontaminated_against(tmp_path):
    out = tmp_path / "b"
    result = invoke("data", "build", "--out", str(out), "--demo", "--split", "text-all", "--sources", "medqa",
                    "--decontaminate-against", "slake")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert stats(out)["decontaminated_against"] == ["slake"] and stats(out)["decontamination"] == {}
    card = (out / "README.md").read_text()
    assert "The decontamination step ran against 1 benchmark (slake) and removed 0 records." in card


# --- a distillation resumes only the same work ---------------------------------------------------


@pytest.fixture(scope="module")
def small_build(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("distill") / "build"
    result = invoke("data", "build", "--out", str(out), "--demo", *MEDQA)
    assert result.exit_code == 0, result.output
    return out


def test_a_distillation_with_other_settings_or_into_a_foreign_folder_is_refused(tmp_path, small_build):
    from tests.openai_proxy import OpenAIProxy, scripted

    def teacher(payload: dict, i: int) -> str:
        return "<think>thinking</think>\n<answer>A</answer>"

    out = tmp_path / "d"
    with OpenAIProxy(scripted(teacher)) as proxy:
        base = ["data", "distill", "--dataset", str(small_build), "--teacher", "scripted",
                "--endpoint", proxy.url, "--out", str(out)]  # fmt: skip
        first = invoke(*base, "--n", "1")
        assert first.exit_code == 0, first.output
        requests = proxy.chat_requests
        assert invoke(*base, "--n", "1").exit_code == 0 and proxy.chat_requests == requests  # resumed
        other = invoke(*base, "--n", "2")
        assert other.exit_code == 1, other.output
        assert f"--out {out} holds a distillation of other work: teacher.n changed" in message(other)
        mine = tmp_path / "mine"
        (mine / "data").mkdir(parents=True)
        (mine / "data" / "important.csv").write_text("x\n")
        foreign = invoke(*base[:-1], str(mine), "--n", "1")
        assert foreign.exit_code == 1, foreign.output
        assert "is not empty and not a medvlt data distill folder" in message(foreign)
        assert invoke(*base[:-1], str(mine), "--n", "1", "--overwrite").exit_code == 0
    assert (mine / "data" / "important.csv").read_text() == "x\n"
    distilled = sorted(p.name for p in (mine / "data").glob("*.parquet"))
    assert distilled == sorted(p.name for p in (small_build / "data").glob("*.parquet"))  # its shards only


# --- the folder marker and the fingerprint functions ---------------------------------------------


def test_overwrite_removes_medvlts_files_but_keeps_the_checkpointed_answers(tmp_path):
    from medvlt_data.out_folder import claim, read_marker

    out = tmp_path / "b"
    claim(out, "build")
    for name in (".work/rollouts/key-00000.jsonl", ".work/logs/prepare/completions/00000", "data/mine.csv",
                 "data/train-00000-of-00001.parquet", "rejects/read/00000.jsonl", "rejects/notes.txt",
                 "stats.json", "README.md", "assets/pass_counts.png", "assets/logo.png"):  # fmt: skip
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text("x")
    marker = claim(out, "build", overwrite=True)
    left = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert left == [".medvlt.json", ".work/rollouts/key-00000.jsonl", "assets/logo.png", "data/mine.csv",
                    "rejects/notes.txt"]  # fmt: skip
    assert marker == read_marker(out) and "fingerprint" not in marker


def test_a_folder_of_another_kind_is_refused_by_name(tmp_path):
    from medvlt_data.out_folder import FolderError, claim

    out = tmp_path / "x"
    claim(out, "ingest")
    (out / "summary.json").write_text("{}")
    with pytest.raises(FolderError, match=r"is a medvlt data ingest folder, not a medvlt data build folder"):
        claim(out, "build")
    (tmp_path / "file").write_text("")
    with pytest.raises(FolderError, match=r"is a file, not a folder"):
        claim(tmp_path / "file", "build")


def test_an_evaluation_folder_from_before_the_marker_is_taken_as_one(tmp_path):
    from medvlt_data.out_folder import claim

    out = tmp_path / "ev"
    out.mkdir()
    (out / "eval_config.json").write_text(json.dumps({"model": "m", "seeds": [42], "benchmarks": ["slake"]}))
    assert claim(out, "eval")["kind"] == "eval"
    with pytest.raises(Exception, match="not a medvlt data build folder"):
        claim(out, "build")


def test_file_hashes_are_read_once_and_changed_keys_name_what_differs(tmp_path):
    from medvlt_data.fingerprint import HASHES_FILE, FileHashes, changed_keys

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.json").write_text("[1]")
    (tmp_path / "in" / ".hidden").write_text("x")
    hashes = FileHashes(tmp_path / "work")
    tree = hashes.tree(tmp_path / "in")
    hashes.save()
    assert list(tree["files"]) == ["a.json"] and tree["files"]["a.json"][0] == 3
    cached = json.loads((tmp_path / "work" / HASHES_FILE).read_text())
    key = str((tmp_path / "in" / "a.json").resolve())
    cached[key][2] = "from the cache"  # same size and mtime: the cache answers, the file is not read
    (tmp_path / "work" / HASHES_FILE).write_text(json.dumps(cached))
    assert FileHashes(tmp_path / "work").tree(tmp_path / "in")["files"]["a.json"][1] == "from the cache"
    old = {"sources": {"a": {"files": {"x": [1, "h"]}}, "b": {}}, "difficulty": {"rollouts": 16}}
    new = {"sources": {"a": {"files": {"x": [1, "g"]}}, "c": {}}, "difficulty": {"rollouts": 8}}
    assert changed_keys(old, new) == ["difficulty.rollouts", "sources.a.files.x", "sources.b", "sources.c"]


def test_overwrite_of_an_evaluation_removes_its_results_and_eval_data_only(tmp_path):
    from medvlt_data.out_folder import claim

    out = tmp_path / "ev"
    claim(out, "eval")
    claim(out / "eval-data", "build")
    for name in ("eval_config.json", "generations/run-1.jsonl", "results.json", "results.md",
                 "vllm-server.log", "eval-data/data/vqa_rad-00000-of-00001.parquet", "eval-data/.work/logs/x",
                 "notes.md"):  # fmt: skip
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text("x")
    claim(out, "eval", overwrite=True)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [".medvlt.json", "notes.md"]


def test_the_fingerprint_neither_follows_nor_hashes_links_that_lead_outside_the_source(tmp_path):
    # Before: os.walk(followlinks=True) read and hashed what a link in the source folder pointed to.
    from medvlt_data.fingerprint import FileHashes

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not the source's")
    source = tmp_path / "source"
    source.mkdir()
    (source / "train.jsonl").write_text("{}\n")
    (source / "leak.txt").symlink_to(outside / "secret.txt")
    (source / "leak_dir").symlink_to(outside, target_is_directory=True)
    (source / "inside.txt").symlink_to(source / "train.jsonl")
    tree = json.dumps(FileHashes(None).tree(source))
    assert "train.jsonl" in tree and "inside.txt" in tree
    assert "leak" not in tree and "secret" not in tree
