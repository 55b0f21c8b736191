"""Clear messages instead of tracebacks: input that is not UTF-8, an output folder that cannot be written, a
broken generations file, a failed stage's log, advice that names the command's own options, and names
that are refused or understood instead of being ignored."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from medvlt_cli.main import cli
from medvlt_data.benchmarks import EVAL_BENCHMARKS, parse_benchmarks
from medvlt_data.demo import write_demo_corpus
from medvlt_data.sources import Rejected, SourceError, get_source


def invoke(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_demo_corpus(tmp_path_factory.mktemp("messages") / "raw")


def _read(name, path):
    items = list(get_source(name).read(path=path))
    return [i for i in items if not isinstance(i, Rejected)], [i for i in items if isinstance(i, Rejected)]


QUESTION = "Which organ makes insulin?\\nAnswer Choices: (A) Liver (B) Pancreas"


def _jsonl_bytes(*middle: bytes) -> bytes:
    good = '{"id": "%s", "question": "' + QUESTION + '", "label": ["B"]}\n'
    return (good % "first").encode() + b"".join(middle) + (good % "last").encode()


# ---- input that is not UTF-8 --------------------------------------------------------------------------------


def test_undecodable_json_lines_are_counted_rejects_of_their_own(tmp_path):
    folder = tmp_path / "medqa"
    folder.mkdir()
    latin1 = ('{"id": "latin", "question": "Caf\u00e9? ' + QUESTION + '", "label": ["B"]}\n').encode(
        "latin-1"
    )
    binary = b"\x89PNG\r\n"[:4] + b"\x00\x01\xfe\n"
    (folder / "test.jsonl").write_bytes(_jsonl_bytes(latin1, binary))
    result = invoke("data", "ingest", "--source", "medqa", "--path", folder, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert (summary["read"], summary["kept"], summary["rejected"]) == (4, 2, 2)
    assert summary["rejected_by_reason"] == {"undecodable-line": 2}
    rejects = [json.loads(line) for line in (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()]
    assert [r["source_id"] for r in rejects] == ["line 2", "line 3"]
    assert f"{folder / 'test.jsonl'}:2: not UTF-8" in rejects[0]["detail"]
    assert "byte 0xe9" in rejects[0]["detail"]


def test_a_byte_order_mark_is_read_and_utf16_is_named(tmp_path):
    folder = tmp_path / "medqa"
    folder.mkdir()
    (folder / "test.jsonl").write_bytes(b"\xef\xbb\xbf" + _jsonl_bytes())
    kept, rejected = _read("medqa", folder)
    assert [r.source_id for r in kept] == ["first", "last"] and rejected == []
    (folder / "test.jsonl").write_bytes(_jsonl_bytes().decode().encode("utf-16"))
    result = invoke("data", "ingest", "--source", "medqa", "--path", folder, "--out", tmp_path / "out")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"{folder / 'test.jsonl'}: UTF-16 text" in result.output and "UTF-8" in result.output


@pytest.mark.parametrize(
    "source, file",
    [("vqa_rad", "testset.json"), ("pubmedqa", "ori_pqal.json"), ("gpqa", "gpqa_diamond.csv"),
     ("headqa", "HEAD_EN/test_HEAD_EN.json")],
)  # fmt: skip
def test_a_whole_file_that_is_not_utf8_is_an_error_naming_the_file(tmp_path, corpus, source, file):
    folder = tmp_path / source
    shutil.copytree(corpus[source], folder)
    path = folder / file
    text = path.read_text(encoding="utf-8")
    cut = text.index("\n", len(text) // 2) + 1  # the bad byte on a later line
    path.write_bytes(text[:cut].encode() + "Caf\u00e9".encode("latin-1") + text[cut:].encode())
    line = text[:cut].count("\n") + 1
    with pytest.raises(SourceError) as error:
        _read(source, folder)
    assert str(error.value).startswith(f"{path}: not UTF-8 text")
    assert f"line {line}" in str(error.value) and "byte 0xe9" in str(error.value)


@pytest.mark.parametrize("source", ["mmlu", "mmlu_pro", "headqa"])
def test_json_lines_of_every_adapter_reject_an_undecodable_line(tmp_path, corpus, source):
    folder = tmp_path / source
    folder.mkdir()
    if source == "headqa":
        row = {"qid": 1, "qtext": "Which organ makes insulin?", "ra": 2,
               "answers": [{"aid": 1, "atext": "Liver"}, {"aid": 2, "atext": "Pancreas"}]}  # fmt: skip
    elif source == "mmlu_pro":
        row = {"question_id": 1, "question": "Which organ makes insulin?", "options": ["Liver", "Pancreas"],
               "answer": "B", "answer_index": 1}  # fmt: skip
    else:
        row = {"question": QUESTION.replace("\\n", "\n"), "label": ["B"], "subject": "anatomy"}
    good = json.dumps(row) + "\n"
    (folder / "test.jsonl").write_bytes(good.encode() + b'{"question": "Caf\xe9"}\n' + good.encode())
    kept, rejected = _read(source, folder)
    assert len(kept) == 2 and [r.reason for r in rejected] == ["undecodable-line"]
    assert ":2: not UTF-8" in rejected[0].detail or "line 2: not UTF-8" in rejected[0].detail


# ---- output folders -----------------------------------------------------------------------------------------


def test_an_output_folder_that_cannot_be_written_is_a_clear_error(tmp_path, corpus):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = invoke(
        "data", "ingest", "--source", "medqa", "--path", corpus["medqa"], "--out", blocker / "out"
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"cannot write {blocker / 'out'}: Not a directory" in result.output
    result = invoke("data", "ingest", "--source", "medqa", "--path", corpus["medqa"], "--out", blocker)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"{blocker} is a file, not a folder" in result.output or f"cannot write {blocker}" in result.output


def test_an_unknown_split_leaves_no_folder_behind(tmp_path, corpus):
    out = tmp_path / "out"
    result = invoke(
        "data", "ingest", "--source", "medqa", "--path", corpus["medqa"], "--split", "tset", "--out", out
    )
    assert result.exit_code == 1 and "no *.jsonl file for split 'tset'" in result.output
    assert not out.exists()
    result = invoke("data", "ingest", "--root", corpus["medqa"].parent, "--split", "tset", "--out", out)
    assert result.exit_code == 1 and "some sources failed" in result.output
    assert not out.exists()
    result = invoke("data", "build", "--split", "text-hrad", "--demo", "--out", out)
    assert result.exit_code == 1 and "unknown split 'text-hrad'" in result.output
    assert not out.exists()


# ---- regrade of a broken generations file -------------------------------------------------------------------


ROW = {"id": "vqa_rad/q1", "benchmark": "vqa_rad", "run": 1, "seed": 42, "source_id": "q1", "question": "Is it?",
       "options": {"A": "yes", "B": "no"}, "answer_label": "A", "answer": "yes", "num_images": 1,
       "completion": "<think>x</think><answer>A</answer>"}  # fmt: skip


def _eval_folder(tmp_path, broken: dict | str | None):
    out = tmp_path / "ev"
    (out / "generations").mkdir(parents=True)
    config = {"model": "m", "prompt": "paper", "max_new_tokens": 8, "benchmarks": ["vqa_rad"], "limit": None,
              "seed": 42, "seeds": [42], "questions": {"vqa_rad": 2}, "backend": {"backend": "endpoint"},
              "dataset": {"label": "d"}}  # fmt: skip
    (out / "eval_config.json").write_text(json.dumps(config))
    second = {**ROW, "id": "vqa_rad/q2", "source_id": "q2"}
    if isinstance(broken, dict):
        second = {key: value for key, value in {**second, **broken}.items() if value != "DROP"}
    line = broken if isinstance(broken, str) else json.dumps(second)
    (out / "generations" / "run-1.jsonl").write_text(json.dumps(ROW) + "\n" + line + "\n")
    return out


@pytest.mark.parametrize(
    "broken, message",
    [
        ({"id": "DROP"}, "has no id"),
        ({"completion": None}, "completion is null, not text"),
        ({"answer_label": "Z"}, "answer_label 'Z' is not one of the options A, B"),
        ({"options": None}, "options must be a mapping of letters to texts"),
        ("[1, 2]", "not a JSON object"),
    ],
)
def test_regrade_names_the_file_and_line_of_a_broken_generation(tmp_path, broken, message):
    out = _eval_folder(tmp_path, broken)
    result = invoke("eval", "regrade", out)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert f"{out / 'generations' / 'run-1.jsonl'}:2" in result.output and message in result.output


def test_resuming_over_a_broken_generation_names_it(tmp_path):
    from medvlt_train.eval.generations import GenerationLog

    out = _eval_folder(tmp_path, {"completion": None})
    with pytest.raises(
        ValueError, match=r"run-1\.jsonl:2: generation 'vqa_rad/q2': completion is null, not text"
    ):
        GenerationLog(out / "generations" / "run-1.jsonl")


def test_regrade_of_a_sound_folder_still_works(tmp_path):
    out = _eval_folder(tmp_path, None)
    result = invoke("eval", "regrade", out)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "results.json").read_text())["benchmarks"]["vqa_rad"]["accuracy"] == 100.0


# ---- a failed stage's log -----------------------------------------------------------------------------------


def test_a_failed_stage_logs_its_traceback_without_variable_values(tmp_path, corpus, monkeypatch):
    from medvlt_data.pipeline import prepare
    from medvlt_data.pipeline.build import BuildError, run_build
    from medvlt_data.recipes import BuildContext, make_plan

    def failing(spec, **options):
        planted = "sk-planted-in-a-local-variable"
        raise RuntimeError("adapter failed" + planted[:0])
        yield

    monkeypatch.setattr(prepare, "read_source", failing)  # the stage's reader only
    plan = make_plan("text-all", BuildContext(source_paths={"medqa": str(corpus["medqa"])},
                                              decontaminate_against=[], only_sources=["medqa"]))  # fmt: skip
    with pytest.raises(BuildError, match="stage 'prepare' failed: RuntimeError: adapter failed"):
        run_build(plan, tmp_path / "build")
    logs = "".join(p.read_text() for p in (tmp_path / "build" / ".work" / "logs").rglob("*.log"))
    assert "RuntimeError: adapter failed" in logs  # the traceback is kept
    assert "sk-planted" not in logs  # no variable values


# ---- advice and names ---------------------------------------------------------------------------------------


def test_the_offline_error_of_eval_names_its_own_options(tmp_path, corpus, monkeypatch):
    import huggingface_hub

    def offline(self, repo_id, **kwargs):
        raise ConnectionError(f"offline: {repo_id}")

    monkeypatch.setattr(huggingface_hub.HfApi, "dataset_info", offline)
    result = invoke("eval", "--model", "tiny", "--source-path", f"vqa_rad={corpus['vqa_rad']}",
                    "--benchmarks", "vqa_rad,slake", "--out", tmp_path / "ev")  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "slake (hub:BoKelvin/SLAKE)" in result.output
    assert "--source-path BENCHMARK=DIR" in result.output and "--benchmarks NAME,NAME" in result.output
    assert "--dataset" in result.output and "--sources" not in result.output


@pytest.mark.parametrize("command", ["build", "eval"])
def test_an_unknown_source_path_name_is_refused_with_the_known_ones(tmp_path, corpus, command):
    args = (("data", "build", "--split", "text-all", "--dry-run") if command == "build" else
            ("eval", "--model", "tiny", "--out", tmp_path / "ev"))  # fmt: skip
    result = invoke(*args, "--source-path", f"mdqa={corpus['medqa']}")
    assert result.exit_code == 2, result.output
    assert "unknown name 'mdqa'" in result.output
    assert ("medqa" if command == "build" else "vqa_rad") in result.output.split("known:", 1)[1]
    assert not (tmp_path / "ev").exists()


def test_an_adapter_name_that_names_one_benchmark_is_understood():
    assert parse_benchmarks("medxpertqa, vqa_rad", EVAL_BENCHMARKS) == ["medxpertqa_mm", "vqa_rad"]
    assert parse_benchmarks("medqa,medqa_test,gpqa") == ["medqa_test", "gpqa_diamond"]
    with pytest.raises(
        ValueError, match=r"\['medxpert'\]; known: \['pmc_vqa', .*\]; did you mean medxpertqa_mm\?"
    ):
        parse_benchmarks("medxpert", EVAL_BENCHMARKS)
    with pytest.raises(ValueError, match=r"unknown benchmark\(s\) \['medqa'\]; known: \['pmc_vqa'"):
        parse_benchmarks("medqa", EVAL_BENCHMARKS)  # a text benchmark's adapter, not one of the six
    result = invoke(
        "data", "build", "--split", "text-all", "--dry-run", "--decontaminate-against", "medxpertqa,medqa"
    )
    assert result.exit_code == 0, result.output
    assert "decontaminated against 2 benchmark(s): medxpertqa_mm, medqa_test" in result.output
