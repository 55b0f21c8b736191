"""Checkpointed answers are keyed by what was asked (the prompt, the images, the settings), not by a
record's id: two questions that share a source id get their own answers, identical prompts share
theirs, and a checkpoint keyed the old way is not read. Scripted loopback servers, as in
tests/test_difficulty.py."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from medvlt_data.inference.rollouts import request_key, settings_key
from medvlt_data.pipeline.build import BuildError, run_build
from medvlt_data.recipes import BuildContext, make_plan
from medvlt_data.schema import Record
from medvlt_train.eval.generations import GenerationLog, graded_row
from medvlt_train.eval.questions import Question
from tests.openai_proxy import OpenAIProxy, asked, scripted

K = 3

#: Six questions, two by two under one source id; how many of its K answers the server gets right.
QUESTIONS = [
    ("dup-1", "Which organ secretes insulin?", ["Liver", "Pancreas", "Spleen", "Kidney"], "B", 0),
    ("dup-1", "Which organ stores bile?", ["Gallbladder", "Pancreas", "Spleen", "Kidney"], "A", 3),
    ("dup-2", "Which vitamin prevents scurvy?", ["Vitamin A", "Vitamin B12", "Vitamin C", "Vitamin D"], "C", 1),
    ("dup-2", "Which vitamin deficiency causes rickets?", ["Vitamin A", "Vitamin B12", "Vitamin C", "Vitamin D"], "D", 2),
    ("dup-3", "Which cell type carries oxygen?", ["Erythrocyte", "Neutrophil", "Platelet", "Lymphocyte"], "A", 3),
    ("dup-3", "Which cell type makes antibodies?", ["Erythrocyte", "Neutrophil", "Platelet", "Plasma cell"], "D", 1),
]  # fmt: skip
GOLD = {q: (label, right) for _, q, _, label, right in QUESTIONS}


def _write_source(folder: Path) -> Path:
    folder.mkdir(parents=True)
    lines = []
    for source_id, question, options, label, _ in QUESTIONS:
        choices = " ".join(f"({letter}) {text}" for letter, text in zip("ABCD", options, strict=True))
        lines.append(json.dumps({"id": source_id, "question": f"{question}\nAnswer Choices: {choices}",
                                 "label": [label]}))  # fmt: skip
    (folder / "train.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def _answer(payload: dict, i: int) -> str:
    """Right on the first ``right`` of a question's K answers; each answer names its question."""
    question = asked(payload).question
    label, right = GOLD[question]
    letter = label if i < right else next(x for x in "ABCD" if x != label)
    return f"<think>{question}</think><answer>{letter}</answer>"


def _build(out: Path, source: Path, url: str, **difficulty):
    context = BuildContext(
        source_paths={"medqa": str(source)}, decontaminate_against=[], only_sources=["medqa"],
        difficulty={"backend": "endpoint", "endpoint": url, "model": "scripted", "rollouts": K, "max_tokens": 8,
                    "concurrency": 8, "backoff": 0.01, "min_pass": 0, "max_pass": K, **difficulty},
    )  # fmt: skip
    return run_build(make_plan("text-hard", context), out)


def _rows(out: Path) -> list[dict]:
    return [r for p in sorted((out / "data").glob("*.parquet")) for r in pq.read_table(p).to_pylist()]


def _log(out: Path) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for path in sorted((out / ".work" / "rollouts").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").split("\n")[:-1]:
            entry = json.loads(line)
            found.setdefault(entry["key"], []).append(entry)
    return found


def _question_of(row: dict) -> str:
    return row["question"].split("\nAnswer Choices:")[0].strip()


def test_questions_that_share_a_source_id_get_their_own_rollouts(tmp_path):
    source = _write_source(tmp_path / "medqa")
    with OpenAIProxy(scripted(_answer)) as proxy:
        stats = _build(tmp_path / "out", source, proxy.url)
    assert sum(p.get("n", 1) for p in proxy.forwarded) == 6 * K  # every question asked, K rollouts each
    assert sorted(asked(p).question for p in proxy.forwarded) == sorted(GOLD)
    rows = _rows(tmp_path / "out")
    assert len(rows) == stats["num_records"] == 6
    assert sorted(r["source_id"] for r in rows) == ["dup-1", "dup-1", "dup-2", "dup-2", "dup-3", "dup-3"]
    for row in rows:  # each question graded on its own answers
        assert row["pass_count"] == GOLD[_question_of(row)][1], row["question"]
    log = _log(tmp_path / "out")
    assert len(log) == 6 and all(len(entries) == K for entries in log.values())
    for entries in log.values():  # a key's answers are all to one question
        assert len({e["text"].split("</think>")[0] for e in entries}) == 1


def _old_checkpoint_name(model: str = "scripted") -> str:
    """The checkpoint file stem of the earlier versions, whose keys were record ids."""
    params = {"model": model, "prompt": "paper", "temperature": 1.0, "top_p": 1.0, "max_tokens": 8}
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:16]


def test_a_checkpoint_keyed_by_record_id_is_not_read_and_says_so(tmp_path):
    source, out = _write_source(tmp_path / "medqa"), tmp_path / "out"
    down = dict.fromkeys(range(1, 1000), 500)
    with OpenAIProxy(scripted(_answer), faults=down) as broken, pytest.raises(BuildError, match="difficulty"):
        _build(out, source, broken.url, max_retries=0)
    # an earlier version's answers for the same settings, keyed by record id: all right, so reading
    # them would make every pass_count K
    old = out / ".work" / "rollouts" / f"{_old_checkpoint_name()}-00000.jsonl"
    old.parent.mkdir(parents=True, exist_ok=True)
    entry = {"text": "<answer>A</answer>", "reasoning": "", "finish_reason": "stop"}
    old.write_text("".join(json.dumps({"key": f"medqa:train:dup-{n}", **entry}) + "\n"
                           for n in (1, 2, 3) for _ in range(K)), encoding="utf-8")  # fmt: skip
    with OpenAIProxy(scripted(_answer)) as proxy:
        _build(out, source, proxy.url, max_retries=0)  # the settings it was started with
    assert sum(p.get("n", 1) for p in proxy.forwarded) == 6 * K
    assert {_question_of(r): r["pass_count"] for r in _rows(out)} == {q: g[1] for q, g in GOLD.items()}
    task_log = (out / ".work" / "logs" / "difficulty" / "logs" / "task_00000.log").read_text()
    assert (
        f"{old.parent}: not reading 1 checkpoint file(s) written with other settings or by an earlier "
        "medvlt (which keyed answers by record id); their questions are asked again"
    ) in task_log


# ---- the scorer on documents: identical prompts share, other images do not -------------------------

PNG_1, PNG_2 = b"\x89PNG\r\n\x1a\n-one", b"\x89PNG\r\n\x1a\n-two"


def test_identical_prompts_share_rollouts_and_other_images_or_options_do_not(tmp_path):
    from medvlt_data.inference.backends import BackendSpec
    from medvlt_data.pipeline.difficulty import DifficultyScorer, DifficultySettings
    from medvlt_data.pipeline.documents import record_to_document
    from medvlt_data.pipeline.storage import rejects_writer

    def record(source_id: str, options: dict, label: str, image: bytes) -> Record:
        return Record(question="What does the image show?", options=options, answer_label=label,
                      answer=options[label], source="pmc_vqa", source_id=source_id, split="train",
                      images=[image])  # fmt: skip

    right_a, right_b = {"A": "right", "B": "wrong"}, {"A": "wrong", "B": "right"}
    records = [
        record("a", right_a, "A", PNG_1),
        record("b", right_a, "A", PNG_1),  # the same prompt as "a": shares its answers
        record("c", right_a, "A", PNG_2),  # another image: the server gets it wrong
        record("a", right_b, "B", PNG_1),  # the id of the first, other options
    ]
    expected = {0: K, 1: K, 2: 0, 3: K}

    def answer(payload: dict, i: int) -> str:
        seen = asked(payload)
        right = next(letter for letter, text in seen.options.items() if text == "right")
        wrong = next(letter for letter in seen.options if letter != right)
        return f"<answer>{right if seen.images == [PNG_1] else wrong}</answer>"

    with OpenAIProxy(scripted(answer)) as proxy:
        settings = DifficultySettings(backend=BackendSpec(backend="endpoint", endpoint=proxy.url, model="m"),
                                      rollouts=K, min_pass=0, max_pass=K, concurrency=16, backoff=0.01)  # fmt: skip
        scorer = DifficultyScorer(
            settings, str(tmp_path / "work"), rejects_writer(str(tmp_path), "difficulty")
        )
        docs = [record_to_document(r, (0, i)) for i, r in enumerate(records)]
        kept = list(scorer.run(iter(docs)))
    assert [d.metadata["row"]["pass_count"] for d in kept] == [expected[i] for i in range(4)]
    assert sum(p.get("n", 1) for p in proxy.forwarded) == 3 * K  # "a" and "b" asked once
    (checkpoint,) = (tmp_path / "work" / "rollouts").glob("*.jsonl")
    keys = [json.loads(line)["key"] for line in checkpoint.read_text().split("\n")[:-1]]
    assert len(keys) == 3 * K and len(set(keys)) == 3


def test_the_request_key_covers_the_prompt_the_images_and_the_settings():
    base = request_key("Q", [PNG_1], settings_key(model="m"))
    assert base == request_key("Q", [PNG_1], settings_key(model="m"))
    others = [request_key("Q ", [PNG_1], settings_key(model="m")), request_key("Q", [PNG_2], settings_key(model="m")),
              request_key("Q", [PNG_1, PNG_1], settings_key(model="m")), request_key("Q", [], settings_key(model="m")),
              request_key("Q", [PNG_1], settings_key(model="n")), request_key("Q\ud800", [PNG_1])]  # fmt: skip
    assert len({base, *others}) == len(others) + 1
    # the parts are length-prefixed: moving bytes between the prompt and an image changes the key
    assert request_key("ab", [b"c"]) != request_key("a", [b"bc"])


# ---- eval generations: a saved line is reused only for the question it answered -------------------


def _eval_question(text: str, qid: str = "vqa_rad/17", image: bytes = PNG_1) -> Question:
    return Question(id=qid, benchmark="vqa_rad", source_id="17", question=text, options={"A": "yes", "B": "no"},
                    answer_label="A", answer="yes", images=(image,))  # fmt: skip


def test_an_eval_line_is_reused_only_for_the_question_it_answered(tmp_path):
    path = tmp_path / "run-1.jsonl"
    asked_before = _eval_question("Is there a fracture?")
    with GenerationLog(path) as log:
        log.add(graded_row(asked_before, 1, 42, "<answer>A</answer>", prompt="paper"))
    now = [asked_before, _eval_question("Is there an effusion?", qid="vqa_rad/17#2"),
           _eval_question("Is there a fracture?", image=PNG_2)]  # fmt: skip
    with GenerationLog(path) as log:
        assert [q.question for q in log.missing(now[:2], "paper")] == ["Is there an effusion?"]
        assert log.missing(now[2:], "paper") == now[2:]  # same id and text, another image: asked again
        assert log.missing(now[:1], "default") == now[:1]  # another prompt variant: asked again
        log.add(graded_row(now[2], 1, 42, "<answer>B</answer>", prompt="paper"))
    with GenerationLog(path) as log:  # the newer line for the id wins
        assert log.rows["vqa_rad/17"]["completion"] == "<answer>B</answer>"
        assert log.missing(now[2:], "paper") == []


def test_an_eval_line_of_an_earlier_version_is_reused_when_it_records_the_same_question(tmp_path):
    path = tmp_path / "run-1.jsonl"
    question = _eval_question("Is there a fracture?")
    old = graded_row(question, 1, 42, "<answer>A</answer>")  # no request key, as earlier versions wrote
    assert "request_key" not in old
    path.write_text(json.dumps(old) + "\n", encoding="utf-8")
    edited = _eval_question("Is there a fracture of the rib?")
    with GenerationLog(path) as log:
        assert log.missing([question], "paper") == []
        assert log.missing([edited], "paper") == [edited]


# ---- distillation: records that share a source id and a text but not their images ------------------


def test_distill_gives_records_that_share_a_source_id_their_own_samples(tmp_path):
    from click.testing import CliRunner

    from medvlt_cli.main import cli
    from medvlt_data.demo import write_demo_corpus

    corpus = write_demo_corpus(tmp_path / "demo")
    context = BuildContext(source_paths={"pmc_vqa": str(corpus["pmc_vqa"])}, decontaminate_against=[],
                           only_sources=["pmc_vqa"])  # fmt: skip
    run_build(make_plan("image-all", context), tmp_path / "build")
    parts = sorted((tmp_path / "build" / "data").glob("*.parquet"))
    table = pq.read_table(parts[0])
    every = [r for part in parts for r in pq.read_table(part).to_pylist()]
    images = list(dict.fromkeys(r["images"][0]["bytes"] for r in every))  # the demo reuses a few images
    assert len(images) >= 2
    by_image = {image: [r for r in every if r["images"][0]["bytes"] == image] for image in images}
    rows = []
    for n in range(3):  # three pairs: one id, text and gold, two images
        first, second = by_image[images[0]][n], dict(by_image[images[1]][n])
        for column in ("source_id", "question", "options", "answer_label", "answer", "hash"):
            second[column] = first[column]
        rows += [first, second]
    for extra in parts[1:]:  # the six records in one shard
        extra.unlink()
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), parts[0])
    image_name = {image: f"image {i}" for i, image in enumerate(images)}

    def teacher(payload: dict, i: int) -> str:
        seen = asked(payload)
        (image,) = seen.images
        label = next(r["answer_label"] for r in rows if r["images"][0]["bytes"] == image
                     and " ".join(r["question"].split()) == " ".join(seen.question.split()))  # fmt: skip
        return f"<think>{image_name[image]}</think><answer>{label}</answer>"

    with OpenAIProxy(scripted(teacher)) as proxy:
        result = CliRunner().invoke(cli, ["data", "distill", "--dataset", str(tmp_path / "build"), "--teacher",
                                          "scripted", "--endpoint", proxy.url, "--n", "2", "--out", str(tmp_path / "d")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert proxy.chat_requests == 6  # each record asked once: its first sample is right
    (out_part,) = sorted((tmp_path / "d" / "data").glob("*.parquet"))
    got = pq.read_table(out_part).to_pylist()
    assert [r["source_id"] for r in got] == [r["source_id"] for r in rows]
    assert [r["reasoning"] for r in got] == [image_name[r["images"][0]["bytes"]] for r in rows]
    assert [r["reasoning"] for r in got] == ["image 0", "image 1"] * 3


def test_a_checkpoint_line_that_is_not_utf8_is_an_error_naming_the_file(tmp_path):
    # Before: a bare UnicodeDecodeError that named no file.
    from medvlt_data.checkpoint import read_json_lines

    path = tmp_path / "rollouts.jsonl"
    path.write_bytes(b'{"key": "a"}\n\xff\xfe not text\n')
    with pytest.raises(
        ValueError, match=r"rollouts.jsonl:2: not a JSON line .*delete the file to start over"
    ):
        read_json_lines(path)
