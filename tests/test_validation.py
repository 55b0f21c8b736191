"""Validation at the edge: numeric settings have ranges (command line and recipe alike), and records
with too many options, control characters or several answer letters are rejected with a reason."""

from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner

from medvlt_cli.main import cli
from medvlt_data.inference.backends import BackendSpec
from medvlt_data.inference.client import ChatClient
from medvlt_data.inference.limits import SettingError
from medvlt_data.parquet_io import RecordWriter
from medvlt_data.pipeline.difficulty import DifficultySettings, settings_from_params
from medvlt_data.schema import Record, validate_record
from tests.openai_proxy import OpenAIProxy, scripted


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


# ---- item 7: numbers are checked -------------------------------------------------------------------------

BUILD = ("data", "build", "--split", "text-hard", "--dry-run")
EVAL = ("eval", "--model", "tiny", "--out", "never-written")
DISTILL = ("data", "distill", "--dataset", "nowhere", "--teacher", "t", "--out", "never-written")


@pytest.mark.parametrize(
    "args, option, message",
    [
        ((*BUILD, "--workers", "0"), "--workers", "0 is not in the range x>=1"),
        ((*BUILD, "--concurrency", "0"), "--concurrency", "concurrency must be a whole number >= 1, got 0"),
        ((*BUILD, "--rollouts", "0"), "--rollouts", "rollouts must be a whole number >= 1, got 0"),
        ((*BUILD, "--max-tokens", "0"), "--max-tokens", "max_tokens must be a whole number >= 1, got 0"),
        ((*BUILD, "--temperature", "-0.5"), "--temperature", "temperature must be a number >= 0, got -0.5"),
        ((*BUILD, "--min-pass", "-1"), "--min-pass", "min_pass must be a whole number >= 0, got -1"),
        ((*BUILD, "--max-pass", "-1"), "--max-pass", "max_pass must be a whole number >= 0, got -1"),
        (
            (*BUILD, "--request-timeout", "0"),
            "--request-timeout",
            "request_timeout must be a number > 0, got 0.0",
        ),
        ((*BUILD, "--max-retries", "-1"), "--max-retries", "max_retries must be a whole number >= 0, got -1"),
        (
            (*BUILD, "--tensor-parallel", "0"),
            "--tensor-parallel",
            "tensor_parallel must be a whole number >= 1",
        ),
        ((*EVAL, "--concurrency", "0"), "--concurrency", "concurrency must be a whole number >= 1, got 0"),
        ((*EVAL, "--seed", "-1"), "--seed", "-1 is not in the range 0<=x<=2147483647"),
        ((*EVAL, "--request-timeout", "-3"), "--request-timeout", "request_timeout must be a number > 0"),
        ((*EVAL, "--max-retries", "-1"), "--max-retries", "max_retries must be a whole number >= 0"),
        ((*DISTILL, "--n", "0"), "--n", "0 is not in the range x>=1"),
        ((*DISTILL, "--temperature", "-1"), "--temperature", "temperature must be a number >= 0, got -1.0"),
        ((*DISTILL, "--max-tokens", "0"), "--max-tokens", "0 is not in the range x>=1"),
        ((*DISTILL, "--concurrency", "0"), "--concurrency", "concurrency must be a whole number >= 1, got 0"),
        ((*DISTILL, "--request-timeout", "0"), "--request-timeout", "request_timeout must be a number > 0"),
        (("data", "inspect", ".", "--records", "-2"), "--records", "-2 is not in the range x>=0"),
    ],
)
def test_a_number_out_of_range_is_a_usage_error(tmp_path, monkeypatch, args, option, message):
    monkeypatch.chdir(tmp_path)
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{option}'" in result.output and message in result.output
    assert not (tmp_path / "never-written").exists()


@pytest.mark.parametrize(
    "band, message",
    [
        (("--min-pass", "5", "--max-pass", "2"), "min_pass 5 is above max_pass 2"),
        (("--max-pass", "0"), "min_pass 1 is above max_pass 0"),  # the recipe's min_pass is 1
        (("--min-pass", "5", "--max-pass", "9", "--rollouts", "4"), "min_pass 5 is above the 4 rollouts"),
    ],
)
def test_an_empty_band_is_a_usage_error(band, message):
    result = invoke(*BUILD, *band)
    assert result.exit_code == 2, result.output
    assert message in result.output and "no question can be kept" in result.output


def test_request_timeout_and_retries_are_options_with_their_defaults_shown():
    for command in (("data", "build"), ("data", "distill"), ("eval",)):
        text = " ".join(invoke(*command, "--help").output.split())
        assert "--request-timeout SECONDS" in text and "--max-retries N" in text, command
        assert "[default: 600" in text, command
        assert "4096-token answer" in text, command


def test_recipe_and_command_line_values_get_the_same_check():
    with pytest.raises(SettingError, match=r"rollouts must be a whole number >= 1, got 0"):
        settings_from_params({"rollouts": 0}, {})
    with pytest.raises(SettingError, match=r"rollouts must be a whole number >= 1, got '16'"):
        settings_from_params({"rollouts": "16"}, {})
    with pytest.raises(SettingError, match=r"top_p must be a number > 0 and <= 1, got 1.5"):
        settings_from_params({"top_p": 1.5}, {})
    with pytest.raises(SettingError, match=r"concurrency must be a whole number >= 1, got 0"):
        DifficultySettings(concurrency=0)
    with pytest.raises(SettingError, match=r"tensor_parallel must be a whole number >= 1, got 0"):
        BackendSpec(tensor_parallel=0)
    with pytest.raises(SettingError, match=r"concurrency must be a whole number >= 1, got 0"):
        ChatClient("http://127.0.0.1:9/v1", "m", concurrency=0)  # a semaphore of 0 waits forever
    settings = settings_from_params({"rollouts": 4}, {"request_timeout": 12.5, "max_retries": 0})
    assert (settings.rollouts, settings.request_timeout, settings.max_retries) == (4, 12.5, 0)


def test_a_recipe_value_out_of_range_fails_the_plan_naming_the_split(monkeypatch):
    from medvlt_data import recipes

    real = recipes.recipe_params

    def broken(split):
        params = real(split)
        if split == "text-hard":
            params["difficulty"] = {**params["difficulty"], "rollouts": 0}
        return params

    monkeypatch.setattr(recipes, "recipe_params", broken)
    result = invoke(*BUILD)
    assert result.exit_code == 2, result.output
    assert "text-hard: rollouts must be a whole number >= 1, got 0" in result.output


def _dataset(folder):
    with RecordWriter(folder) as writer:
        writer.write(Record(question="Which organ makes insulin?", options={"A": "Liver", "B": "Pancreas"},
                            answer_label="B", answer="Pancreas", source="demo", source_id="q1"))  # fmt: skip
    return folder


def test_a_server_that_never_answers_fails_after_the_request_timeout(tmp_path):
    dataset = _dataset(tmp_path / "set")
    stalls = dict.fromkeys(range(1, 20), "stall")
    with OpenAIProxy(scripted(lambda p, i: "A"), faults=stalls, stall_seconds=6.0) as proxy:
        started = time.perf_counter()
        result = invoke("data", "distill", "--dataset", str(dataset), "--teacher", "t", "--endpoint", proxy.url,
                        "--request-timeout", "0.5", "--max-retries", "1", "--out", str(tmp_path / "d"))  # fmt: skip
        elapsed = time.perf_counter() - started
        requests = proxy.chat_requests
    assert result.exit_code == 1, result.output
    assert "no answer after 2 attempts" in result.output and "ReadTimeout" in result.output
    assert requests == 2 and elapsed < 5, (requests, elapsed)


def test_eval_hands_the_request_timeout_and_retries_to_its_server_client(tmp_path):
    from medvlt_train.eval.runner import EvalSettings, _generator

    settings = EvalSettings(model="m", out=tmp_path, backend="endpoint", endpoint="http://127.0.0.1:9/v1",
                            request_timeout=7.0, max_retries=2)  # fmt: skip
    generator = _generator(settings)
    assert (generator.timeout, generator.max_retries) == (7.0, 2)


# ---- item 9: bad records are rejected ---------------------------------------------------------------------


def _embedded_file(tmp_path, rows):
    folder = tmp_path / "medqa"
    folder.mkdir()
    (folder / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return folder


def _read(name, folder):
    from medvlt_data.sources import Rejected, get_source

    items = list(get_source(name).read(path=folder))
    kept = [i for i in items if not isinstance(i, Rejected)]
    rejected = [i for i in items if isinstance(i, Rejected)]
    return kept, rejected


def test_more_than_ten_embedded_options_are_a_reject_not_merged_into_j(tmp_path):
    many = " ".join(f"({chr(65 + i % 26)}) option {i}" for i in range(10_000))
    eleven = " ".join(f"({letter}) choice {letter}" for letter in "ABCDEFGHIJK")
    rows = [
        {"id": "many", "question": f"Which one?\nAnswer Choices: {many}", "label": ["A"]},
        {"id": "eleven", "question": f"Which one?\nAnswer Choices: {eleven}", "label": ["B"]},
        {
            "id": "ten",
            "question": "Which one?\nAnswer Choices: " + eleven.rsplit(" (K)", 1)[0],
            "label": ["J"],
        },
    ]
    kept, rejected = _read("medqa", _embedded_file(tmp_path, rows))
    assert [r.source_id for r in kept] == ["ten"] and kept[0].options["J"] == "choice J"
    assert [(r.ref, r.reason) for r in rejected] == [
        ("many", "too-many-options"),
        ("eleven", "too-many-options"),
    ]
    assert "11 options" in rejected[1].detail and "at most 10" in rejected[1].detail


def test_a_label_naming_several_letters_is_a_reject(tmp_path):
    question = "Which one?\nAnswer Choices: (A) one (B) two (C) three"
    rows = [{"id": "both", "question": question, "label": ["A", "B"]},
            {"id": "twice", "question": question, "label": ["C", "C"]},
            {"id": "one", "question": question, "label": ["B"]}]  # fmt: skip
    kept, rejected = _read("medqa", _embedded_file(tmp_path, rows))
    assert [(r.source_id, r.answer_label) for r in kept] == [("twice", "C"), ("one", "B")]
    assert [(r.ref, r.reason) for r in rejected] == [("both", "multiple-answers")]
    assert "['A', 'B']" in rejected[0].detail


def test_a_list_of_more_than_ten_options_is_not_cut_to_ten(tmp_path):
    folder = tmp_path / "mmlu_pro"
    folder.mkdir()
    row = {"question_id": 7, "question": "Which?", "options": [f"option {i}" for i in range(12)], "answer": "A",
           "answer_index": 0}  # fmt: skip
    (folder / "test.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    kept, rejected = _read("mmlu_pro", folder)
    assert kept == [] and [(r.ref, r.reason) for r in rejected] == [("7", "too-many-options")]


def _record(question="Which organ makes insulin?", options=None):
    options = options or {"A": "Liver", "B": "Pancreas"}
    return Record(question=question, options=options, answer_label="B", answer=options["B"], source="demo",
                  source_id="q1")  # fmt: skip


def test_control_characters_are_rejected_newlines_and_tabs_are_not():
    assert validate_record(_record("Which organ\tmakes insulin?\r\nPick one.\n")) == []
    nul = validate_record(_record("\x00\x00\x00"))
    assert [p.code for p in nul] == ["empty-question"] and "control characters" in nul[0].message
    inner = validate_record(_record("Which organ\x00 makes\x07 insulin?"))
    assert [p.code for p in inner] == ["control-characters"]
    assert "question" in inner[0].message and "U+0000" in inner[0].message and "U+0007" in inner[0].message
    option = validate_record(_record(options={"A": "Liver\x1b[31m", "B": "Pancreas"}))
    assert [p.code for p in option] == ["control-characters"] and "option A" in option[0].message
    blank = validate_record(_record(options={"A": "\x00", "B": "Pancreas"}))
    assert [p.code for p in blank] == ["empty-option"]
