"""medvlt_train.rewards: format-gated accuracy (default and paper), accuracy, format, the registry, and
rewards of one's own by import path (``distinct_chars`` here, which the training tests name)."""

from __future__ import annotations

import pytest

from medvlt_train.rewards import (
    REWARDS,
    accuracy_reward,
    completion_text,
    format_reward,
    get_rewards,
    medvlt_reward,
    medvlt_reward_paper,
    resolve_reward,
)


def distinct_chars(completions, **columns):
    """A reward of one's own: the number of distinct characters, which varies across a random model's rollouts
    (medvlt's reward is 0 for all of them). Training tests name it ``tests.test_rewards:distinct_chars``."""
    return [float(len(set(completion_text(c)))) for c in completions]


GOOD = "<think>Islet beta cells secrete insulin.</think>\n<answer>B</answer>"

# (completion text, medvlt, medvlt_paper, accuracy, format); gold label B, answer "Pancreas". medvlt_paper
# is UCSC-VLAA/MedVLThinker train/my_reward.py:47-59 (compute_score) exactly; the parity table of
# tests/test_grader_parity.py holds more of its verdicts.
CASES = [
    (GOOD, 1.0, 1.0, 1.0, 1.0),
    ("<think>x</think><answer> b. pancreas </answer>", 1.0, 1.0, 1.0, 1.0),
    ("<think>x</think><answer>Pancreas</answer>", 1.0, 1.0, 1.0, 1.0),
    ("<think>x</think><answer>A</answer>", 0.0, 0.0, 0.0, 1.0),
    ("<answer>B</answer>", 0.0, 0.0, 1.0, 0.0),  # no <think>: gated to 0
    ("B", 0.0, 0.0, 1.0, 0.0),  # no tags at all: whole text graded
    ("<think>x</think><answer>\nB\n</answer>", 1.0, 0.0, 1.0, 1.0),  # multi-line answer: paper quirk
    ("Sure! <think>x</think><answer>B</answer>", 0.0, 0.0, 1.0, 0.0),  # text before <think>
    ("<think>x</think><answer>B</answer> Hope this helps.", 0.0, 0.0, 1.0, 0.0),  # text after
    (GOOD + "\n", 1.0, 0.0, 1.0, 1.0),  # trailing newline: the paper's gate sees the raw text
    ("\n" + GOOD, 1.0, 0.0, 1.0, 1.0),  # leading newline: likewise
    ("<think>x</think><answer>\nA\n</answer><answer>B</answer>", 0.0, 1.0, 0.0, 1.0),  # paper reads 2nd
    ("<think>x</think><answer>B) Pancreas</answer>", 0.0, 0.0, 0.0, 1.0),  # strict: not "B. Pancreas"
    ("<think>x<answer>B</answer>", 0.0, 0.0, 1.0, 0.0),  # unclosed think
    ("<think>x</think><answer>A</answer><answer>B</answer>", 0.0, 0.0, 0.0, 1.0),  # first block counts
    ("", 0.0, 0.0, 0.0, 0.0),
]
FUNCS = {"medvlt": 1, "medvlt_paper": 2, "accuracy": 3, "format": 4}


@pytest.mark.parametrize("case", CASES, ids=[repr(c[0])[:40] for c in CASES])
@pytest.mark.parametrize("name", list(FUNCS))
def test_reward_table_conversational(name, case):
    completions = [[{"role": "assistant", "content": case[0]}]]
    got = REWARDS[name](completions, answer_label=["B"], answer=["Pancreas"], trainer_state=None)
    assert got == [case[FUNCS[name]]]


@pytest.mark.parametrize("name", list(FUNCS))
def test_reward_batch_of_plain_strings(name):
    texts = [c[0] for c in CASES]
    n = len(texts)
    got = REWARDS[name](texts, answer_label=["B"] * n, answer=["Pancreas"] * n)
    assert got == [c[FUNCS[name]] for c in CASES]


def test_labels_per_row_and_content_parts():
    parts = [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "<think>x</think>"},
                {"type": "text", "text": "<answer>C</answer>"},
            ],
        }
    ]
    completions = [parts, parts]
    assert medvlt_reward(completions, answer_label=["C", "A"], answer=["Anemia", "Asthma"]) == [1.0, 0.0]
    assert completion_text(parts) == "<think>x</think><answer>C</answer>"
    assert completion_text([]) == ""


def test_missing_label_gives_none_and_missing_column_is_clear():
    assert accuracy_reward([GOOD], answer_label=[None], answer=[None]) == [None]
    assert medvlt_reward_paper([GOOD], answer_label=[None], answer=["Pancreas"]) == [None]
    with pytest.raises(KeyError, match="answer_label"):
        medvlt_reward([GOOD], answer=["Pancreas"])
    with pytest.raises(ValueError, match="2 values for 1 completions"):
        medvlt_reward([GOOD], answer_label=["B", "B"], answer=["x", "y"])
    assert format_reward([GOOD]) == [1.0]  # needs no columns


def test_get_rewards_weights():
    funcs, weights = get_rewards({"medvlt": 1.0, "format": 0.25})
    assert funcs == [medvlt_reward, format_reward] and weights == [1.0, 0.25]
    funcs, weights = get_rewards(["medvlt_paper", "accuracy"])
    assert funcs == [medvlt_reward_paper, accuracy_reward] and weights == [1.0, 1.0]
    assert get_rewards("medvlt") == ([medvlt_reward], [1.0])


def test_get_rewards_unknown_name_lists_known():
    with pytest.raises(
        ValueError, match=r"unknown reward\(s\) bleu, rouge; known: accuracy, format, medvlt, medvlt_paper"
    ):
        get_rewards({"medvlt": 1.0, "bleu": 1.0, "rouge": 0.5})
    with pytest.raises(ValueError, match="no rewards given"):
        get_rewards([])


def test_a_reward_by_import_path():
    funcs, weights = get_rewards({"tests.test_rewards:distinct_chars": 0.5, "medvlt": 1.0})
    assert funcs == [distinct_chars, medvlt_reward] and weights == [0.5, 1.0]
    assert resolve_reward("tests.test_rewards.distinct_chars") is distinct_chars  # the dotted spelling
    assert distinct_chars(["aab", [{"role": "assistant", "content": "xyz"}]]) == [2.0, 3.0]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "tests.no_such_module:reward",
            r"reward 'tests.no_such_module:reward': cannot import tests.no_such_module",
        ),
        ("tests.test_rewards:no_such_reward", r"module tests.test_rewards has no 'no_such_reward'"),
        ("tests.test_rewards:CASES", r"tests.test_rewards.CASES is a list, not a function"),
    ],
)
def test_a_reward_path_that_does_not_resolve_is_named(name, message):
    with pytest.raises(ValueError, match=message):
        get_rewards({name: 1.0})
