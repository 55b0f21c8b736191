"""The learnable demo learns: its questions hold the eval out, its SFT teaches the format, and its base
model's pass counts spread over the recipe's band at the recipe's k.

The demo (medvlt_data/demo/rules.py, medvlt_train/demo_model.py) is made up; the recipe facts it
keeps are the difficulty stage's 16 rollouts and band 1..7 (UCSC-VLAA/MedVLThinker eval/estimate_pass_rate.sh:40-56,
data_process/train_dataset/order_easy_to_hard.py:51-62), read from medvlt_data/recipes/text_hard.yaml.
"""

from __future__ import annotations

import json
import re

import pytest

from medvlt_data.demo.rules import (
    CLASSES,
    EVAL_STEMS,
    SUFFIXES,
    TRAIN_STEMS,
    eval_questions,
    training_questions,
)
from medvlt_data.schema import LETTERS
from medvlt_data.verify import build_prompt, format_gated_reward

_FORMAT = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.DOTALL)


def test_every_answer_follows_the_drug_suffix_and_the_eval_drugs_and_phrasings_are_held_out():
    train, held_out = training_questions(), eval_questions()
    assert (len(train), len(held_out)) == (120, 40)
    for q in train + held_out:
        assert q.options == CLASSES and q.drug == q.stem + SUFFIXES[q.answer] and q.drug in q.question
    assert not {q.question for q in held_out} & {q.question for q in train}
    # every held-out drug is new: no stem of the evaluation is a training stem
    assert {q.stem for q in train} == set(TRAIN_STEMS) and {q.stem for q in held_out} == set(EVAL_STEMS)
    assert not set(TRAIN_STEMS) & set(EVAL_STEMS)
    # no held-out sentence shares its phrasing with a training one: the text around the drug differs
    frame = {q.question.replace(q.drug, "X") for q in train}
    assert not {q.question.replace(q.drug, "X") for q in held_out} & frame
    # every class is asked 10 times, in both evaluation phrasings
    for c in range(len(CLASSES)):
        asked = [q for q in held_out if q.answer == c]
        assert len(asked) == 10 and len({q.question.replace(q.drug, "X")[:12] for q in asked}) == 2
    assert train[0].reasoning == "Darolol ends in -olol, so it is a beta blocker."


def test_the_demo_tokenizer_shows_every_drug_as_stem_pieces_then_its_suffix_token():
    """The rule is visible to the model, and a new drug looks like a training one: each suffix is one token,
    and no drug name, training or held out, is a token of its own (its stem is split into prose pieces)."""
    from medvlt_train.demo_model import _build_tokenizer

    tokenizer = _build_tokenizer()
    suffix_ids = [tokenizer.convert_tokens_to_ids(suffix) for suffix in SUFFIXES]
    for q in training_questions() + eval_questions():
        ids = tokenizer(" " + q.drug, add_special_tokens=False)["input_ids"]
        assert ids[-1] == suffix_ids[q.answer] and len(ids) >= 2, (
            q.drug,
            tokenizer.convert_ids_to_tokens(ids),
        )
        assert suffix_ids[q.answer] not in ids[:-1]
    pieces = {len(tokenizer(" " + q.stem, add_special_tokens=False)["input_ids"]) for q in eval_questions()}
    assert min(pieces) >= 2  # held-out stems are no single token either


def _format_and_accuracy(folder, questions) -> tuple[float, float]:
    """Greedy answers of the model in ``folder`` to ``questions``: share well formatted, share rewarded."""
    import torch
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    tokenizer = AutoProcessor.from_pretrained(folder).tokenizer
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(folder).eval()
    prompts = [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": build_prompt(q.question, {LETTERS[i]: o for i, o in enumerate(q.options)})}],
            tokenize=False, add_generation_prompt=True,
        )
        for q in questions
    ]  # fmt: skip
    encoded = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**encoded, do_sample=False, max_new_tokens=48)
    texts = tokenizer.batch_decode(out[:, encoded["input_ids"].shape[1] :], skip_special_tokens=True)
    formatted = sum(bool(_FORMAT.search(t)) for t in texts) / len(texts)
    right = sum(
        format_gated_reward(t, LETTERS[q.answer], q.options[q.answer])
        for t, q in zip(texts, questions, strict=True)
    )
    return formatted, right / len(texts)


@pytest.mark.slow
def test_sft_on_the_demo_traces_teaches_the_format_and_the_rule_on_held_out_prompts(tmp_path):
    """Untrained preset: no well-formatted answer on the held-out prompts (<= 5%). SFT on the training
    traces run 30 steps past demo-base's (demo_model.build_demo_base_model, 180 steps): >= 90% well
    formatted and most new drugs right (measured: 100% and 85%). demo-base itself stops before the rule is
    learned (measured: 70% formatted, 27.5% right, chance 25%), which leaves RLVR something to learn."""
    from medvlt_train.demo_model import SFT_STEPS, build_demo_base_model, build_demo_model

    held_out = eval_questions()
    untrained = _format_and_accuracy(build_demo_model(tmp_path / "preset"), held_out)
    trained = _format_and_accuracy(build_demo_base_model(tmp_path / "sft", steps=SFT_STEPS + 30), held_out)
    assert untrained[0] <= 0.05 and untrained[1] == 0.0, untrained
    assert trained[0] >= 0.9 and trained[1] >= 0.6, trained


@pytest.mark.slow
def test_the_demo_base_model_is_reproducible_bit_for_bit(tmp_path):
    from medvlt_train.demo_model import build_demo_base_model

    first = build_demo_base_model(tmp_path / "a", steps=3)
    second = build_demo_base_model(tmp_path / "b", steps=3)
    assert (first / "model.safetensors").read_bytes() == (second / "model.safetensors").read_bytes()


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """The README's first command, `medvlt data build --split text-hard --demo`, with an empty cache (the
    demo base model is built on first use); yields (build folder, its output, the cache)."""
    from click.testing import CliRunner

    from medvlt_cli.main import cli

    root = tmp_path_factory.mktemp("demo-run")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MEDVLT_CACHE", str(root / "cache"))
        result = CliRunner().invoke(
            cli, ["data", "build", "--split", "text-hard", "--demo", "--out", str(root / "d")]
        )
        assert result.exit_code == 0, result.output[-3000:]
        yield root / "d", result.output, root / "cache"


@pytest.mark.slow
def test_the_readme_demo_scores_with_the_demo_base_model_at_the_recipes_k_and_band(demo_run):
    """The demo base model scores every pool question 16 times in process; the pass counts spread over
    at least 4 values and the recipe's band 1..7 keeps a non-empty set."""
    build, output, cache = demo_run
    stats = json.loads((build / "stats.json").read_text())
    scoring = stats["difficulty"]
    assert (scoring["model"], scoring["backend"], scoring["rollouts"]) == ("demo-base", "transformers", 16)
    assert scoring["band"] == [1, 7]
    histogram = {int(k): v for k, v in stats["pass_counts"].items()}
    assert len([n for n in histogram.values() if n]) >= 4, histogram
    in_band = sum(v for k, v in histogram.items() if 1 <= k <= 7)
    assert in_band > 0 and stats["num_records"] == in_band
    assert (cache / "demo-base-qwen2.5-vl" / "medvlt_demo.json").is_file()
    bars = ", ".join(f"{k}={v}" for k, v in sorted(histogram.items()))
    assert f"pass counts (of 16): {bars}" in output


def _shuffled_labels(build, out):
    """The build's records with (answer_label, answer) of another record, a seeded derangement of the
    letters where possible: the control run's data."""
    import random

    import pyarrow as pa
    import pyarrow.parquet as pq

    from medvlt_data.parquet_io import parquet_files

    table = pa.concat_tables([pq.read_table(f) for f in parquet_files(build)])
    labels, answers = table.column("answer_label").to_pylist(), table.column("answer").to_pylist()
    order = list(range(len(labels)))
    random.Random(0).shuffle(order)
    table = table.set_column(table.schema.get_field_index("answer_label"), "answer_label",
                             pa.array([labels[i] for i in order]))  # fmt: skip
    table = table.set_column(
        table.schema.get_field_index("answer"), "answer", pa.array([answers[i] for i in order])
    )
    out.mkdir(parents=True)
    pq.write_table(table, out / "train-00000-of-00001.parquet")
    changed = sum(a != b for a, b in zip(labels, table.column("answer_label").to_pylist(), strict=True))
    return out / "train-00000-of-00001.parquet", changed / len(labels)


def _rewards(folder) -> list[float]:
    history = json.loads((folder / "trainer_state.json").read_text())["log_history"]
    return [entry["reward"] for entry in history if "reward" in entry]


#: Mean reward of the last 10 steps minus the first 10's, over the recipe's 120 steps (rlvr-demo from
#: demo-base on this build, deterministic kernels). Measured: true labels +0.37 (0.27 -> 0.64) with the
#: recipe's seed and +0.41 (0.26 -> 0.67) with seed 1; labels shuffled +0.13 (0.12 -> 0.25), what is
#: left when only the format can be learned. The margin sits between.
REWARD_GAIN = 0.25
#: The control's last 10 steps stay this far below the true run's (measured: 0.39 apart).
CONTROL_GAP = 0.2


@pytest.fixture(scope="module")
def rlvr_runs(demo_run, tmp_path_factory):
    """`medvlt train rlvr --recipe demo` on the demo build, and the same on its shuffled-label copy."""
    from click.testing import CliRunner

    from medvlt_cli.main import cli

    build, _, cache = demo_run
    root = tmp_path_factory.mktemp("rlvr")
    shuffled, _ = _shuffled_labels(build, root / "shuffled")
    import torch

    runs = {}
    # Deterministic kernels: the runs, and so the verdicts below, are the same every time on the same
    # machine (measured: the same weights on one thread as on two).
    torch.use_deterministic_algorithms(True)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("MEDVLT_CACHE", str(cache))
            for name, data in (("true", build), ("shuffled", shuffled)):
                result = CliRunner().invoke(cli, ["train", "rlvr", "--dataset", str(data), "--recipe", "demo",
                                                  "--output", str(root / name)])  # fmt: skip
                assert result.exit_code == 0, result.output[-3000:]
                runs[name] = root / name
    finally:
        torch.use_deterministic_algorithms(False)
    yield runs, cache


def _gain(rewards: list[float]) -> float:
    return sum(rewards[-10:]) / 10 - sum(rewards[:10]) / 10


@pytest.mark.slow
def test_rlvr_with_the_medvlt_reward_raises_the_reward_and_shuffled_labels_do_not(rlvr_runs):
    """The reward reads the right column with the right labels and sign: GRPO from demo-base raises the
    mean reward of the last 10 of 120 steps over the first 10 by REWARD_GAIN; the control run, whose
    labels are another record's, does not reach that gain, and ends CONTROL_GAP below it. A reward that
    reads its label from another column (the option text where the letter belongs) or gets wrong labels
    (the control) fails the gain; exchanging the letter and text columns with each other would not, as the
    strict grader accepts either."""
    runs, _ = rlvr_runs
    true, shuffled = _rewards(runs["true"]), _rewards(runs["shuffled"])
    assert len(true) == len(shuffled) == 120
    assert _gain(true) >= REWARD_GAIN, (round(_gain(true), 3), true)
    assert _gain(shuffled) < REWARD_GAIN, (round(_gain(shuffled), 3), shuffled)
    assert sum(shuffled[-10:]) / 10 <= sum(true[-10:]) / 10 - CONTROL_GAP, (shuffled[-10:], true[-10:])


#: Accuracy points the trained model gains on the demo PMC-VQA (measured: demo-base 17.11, 13 of 76, below
#: chance as it often breaks the format on the scans; trained 40.79 and 44.74 with seeds 42 and 1).
EVAL_GAIN = 10.0


@pytest.mark.slow
def test_the_trained_model_beats_the_base_model_and_chance_on_the_demo_benchmark(rlvr_runs, tmp_path):
    """`medvlt eval --demo` on the demo PMC-VQA benchmark (its 40 held-out drug-class questions, new drugs
    in new phrasings, and 36 scan questions), greedy: the RLVR model's strict accuracy exceeds demo-base's
    by EVAL_GAIN points and chance (4 options: 25%); `medvlt eval compare` puts them side by side."""
    from click.testing import CliRunner

    from medvlt_cli.main import cli

    runs, cache = rlvr_runs
    accuracy = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MEDVLT_CACHE", str(cache))
        for name, model in (("base", "demo-base"), ("trained", str(runs["true"]))):
            result = CliRunner().invoke(cli, ["eval", "--model", model, "--demo", "--benchmarks", "pmc_vqa", "--runs",
                                              "1", "--max-new-tokens", "48", "--out", str(tmp_path / name)])  # fmt: skip
            assert result.exit_code == 0, result.output[-3000:]
            results = json.loads((tmp_path / name / "results.json").read_text())
            accuracy[name] = results["benchmarks"]["pmc_vqa"]["accuracy"]  # strict
        result = CliRunner().invoke(cli, ["eval", "compare", str(tmp_path / "base"), str(tmp_path / "trained"),
                                          "--out", str(tmp_path / "compare")])  # fmt: skip
        assert result.exit_code == 0, result.output[-3000:]
    assert accuracy["trained"] >= accuracy["base"] + EVAL_GAIN and accuracy["trained"] > 25.0, accuracy
    assert (tmp_path / "compare" / "compare.png").is_file()


def test_the_in_process_server_answers_n_samples_in_one_request_seeded_by_its_content(tmp_path):
    """medvlt_data/batch_server.py: n choices a request, raw text (no reasoning split off), the same
    answers for the same request whatever the model's name in it, and a clear error for an unknown route."""
    import urllib.error
    import urllib.request

    from medvlt_data.batch_server import serve_in_process
    from medvlt_train.demo_model import build_demo_model

    def post(url: str, body: dict) -> dict:
        request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    body = {"messages": [{"role": "user", "content": "Which class of medication includes Darolol?"}], "n": 4,
            "max_tokens": 6, "temperature": 1.0}  # fmt: skip
    with serve_in_process(str(build_demo_model(tmp_path / "m"))) as url:
        first, again = post(f"{url}/chat/completions", body), post(f"{url}/chat/completions", body)
        other = post(f"{url}/chat/completions", {**body, "seed": 7})
        renamed = post(f"{url}/chat/completions", {**body, "model": "/another/cache/demo-base-qwen2.5-vl"})
        with pytest.raises(urllib.error.HTTPError) as missing:
            post(f"{url}/completions", body)
    texts = [c["message"]["content"] for c in first["choices"]]
    assert len(texts) == 4 and len(set(texts)) > 1  # four different samples of one request
    assert texts == [c["message"]["content"] for c in again["choices"]]
    assert texts == [c["message"]["content"] for c in renamed["choices"]]  # the model's path is no seed
    assert texts != [c["message"]["content"] for c in other["choices"]]
    assert {c["finish_reason"] for c in first["choices"]} <= {"stop", "length"}
    assert missing.value.code == 404 and "no route /v1/completions" in missing.value.read().decode()


def test_the_demo_keeps_the_recipes_sft_target_prompt_rollouts_and_reward():
    """The demo SFT target is medvlt_train.data.sft_target's (MedVLThinker data_process/train_dataset/
    convert_trl_format.py:33), the prompt the paper's; rlvr-demo keeps the recipe's 8 rollouts a prompt
    (UCSC-VLAA/MedVLThinker train/train-qwen2_5_vl_3b-m23k.sh:45 rollout.n=8), sampling temperature 1.0
    and the medvlt reward; its learning rate, KL coefficient and step count are the demo's own (stated in
    the recipe)."""
    from medvlt_data.schema import Record
    from medvlt_train import recipes
    from medvlt_train.data import sft_target
    from medvlt_train.demo_model import demo_sft_examples

    first = training_questions()[0]
    user, target = demo_sft_examples()[0]
    record = Record(source="demo", source_id=first.id, split="train", question=first.question,
                    options=dict(zip(LETTERS, CLASSES, strict=False)), answer_label="A", answer=CLASSES[0],
                    reasoning=first.reasoning)  # fmt: skip
    assert (
        target
        == sft_target(record)
        == ("<think> Darolol ends in -olol, so it is a beta blocker. </think>\n<answer> A </answer>")
    )
    assert user == build_prompt(first.question, record.options, prompt="paper")
    run = recipes.parse_recipe("rlvr-demo", "rlvr")
    assert (run.args.model, run.args.prompt, run.args.rewards) == (
        "demo-base",
        "paper",
        {"medvlt": 1.0},
    )
    assert (run.config.num_generations, run.config.temperature, run.config.max_steps) == (8, 1.0, 120)
