"""The learnable demo learns: its questions hold the eval out, its SFT teaches the format, and its base
model's pass counts spread over the recipe's band at the recipe's k.

The demo (medvlt_data/demo/rules.py, medvlt_train/demo_model.py) is made up; the recipe facts it
keeps are the scoring's k=16 and band 1..7 (UCSC-VLAA/MedVLThinker eval/estimate_pass_rate.sh:40-56,
data_process/train_dataset/order_easy_to_hard.py:51-62), read from medvlt_data/recipes/text_hard.yaml.
"""

from __future__ import annotations

import json
import re

import pytest

from medvlt_data.demo.rules import CLASSES, SUFFIXES, eval_questions, training_questions
from medvlt_data.schema import LETTERS
from medvlt_data.verify import build_prompt, format_gated_reward

_FORMAT = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.DOTALL)


def test_every_answer_follows_the_drug_suffix_and_the_eval_phrasings_are_held_out():
    train, held_out = training_questions(), eval_questions()
    assert (len(train), len(held_out)) == (120, 40)
    for q in train + held_out:
        assert q.options == CLASSES and q.drug.endswith(SUFFIXES[q.answer]) and q.drug in q.question
    assert not {q.question for q in held_out} & {q.question for q in train}
    # no held-out sentence shares its phrasing with a training one: the text around the drug differs
    frame = {q.question.replace(q.drug, "X") for q in train}
    assert not {q.question.replace(q.drug, "X") for q in held_out} & frame
    assert sorted({q.answer for q in held_out}) == [0, 1, 2, 3]  # every letter is asked
    assert train[0].reasoning == "Darolol ends in -olol, so it is a beta blocker."


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
def test_sft_on_the_demo_traces_teaches_the_format_on_held_out_prompts(tmp_path):
    """Untrained preset: no well-formatted answer on the held-out prompts (<= 5%); after 150 SFT steps on
    the training traces (demo_model.build_demo_base_model): >= 90%, and more right than chance (25%)."""
    from medvlt_train.demo_model import build_demo_base_model, build_demo_model

    held_out = eval_questions()
    untrained = _format_and_accuracy(build_demo_model(tmp_path / "preset"), held_out)
    trained = _format_and_accuracy(build_demo_base_model(tmp_path / "sft", steps=150), held_out)
    assert untrained[0] <= 0.05 and untrained[1] == 0.0
    assert trained[0] >= 0.9 and trained[1] > 0.25, trained


@pytest.mark.slow
def test_the_demo_base_model_is_reproducible_bit_for_bit(tmp_path):
    from medvlt_train.demo_model import build_demo_base_model

    first = build_demo_base_model(tmp_path / "a", steps=3)
    second = build_demo_base_model(tmp_path / "b", steps=3)
    assert (first / "model.safetensors").read_bytes() == (second / "model.safetensors").read_bytes()


@pytest.mark.slow
def test_the_readme_demo_scores_with_the_demo_base_model_at_the_recipes_k_and_band(tmp_path, monkeypatch):
    """`medvlt data build --split text-hard --demo`: the demo base model (built on first use into the
    cache) scores every pool question 16 times in process; the pass counts spread over at least 4
    values and the recipe's band 1..7 keeps a non-empty set."""
    from click.testing import CliRunner

    from medvlt_cli.main import cli

    monkeypatch.setenv("MEDVLT_CACHE", str(tmp_path / "cache"))
    result = CliRunner().invoke(
        cli, ["data", "build", "--split", "text-hard", "--demo", "--out", str(tmp_path / "d")]
    )
    assert result.exit_code == 0, result.output[-3000:]
    stats = json.loads((tmp_path / "d" / "stats.json").read_text())
    scoring = stats["difficulty"]
    assert (scoring["model"], scoring["backend"], scoring["k"]) == ("demo-base", "transformers", 16)
    assert scoring["band"] == [1, 7]
    histogram = {int(k): v for k, v in stats["pass_counts"].items()}
    assert len([n for n in histogram.values() if n]) >= 4, histogram
    in_band = sum(v for k, v in histogram.items() if 1 <= k <= 7)
    assert in_band > 0 and stats["num_records"] == in_band
    assert (tmp_path / "cache" / "demo-base-qwen2.5-vl" / "medvlt_demo.json").is_file()
    assert "pass counts (of 16): " in result.output
