"""Property tests of the graders (medvlt_data/verify.py) and the RL rewards (medvlt_train/rewards.py):
random text built from tag fragments never raises, every verdict is in its documented range, and
grading is invariant to what the documented semantics ignore (surrounding whitespace, the case of the
gold letter and text, the order of the options for the robust grader, the form a completion comes in).

The equality of the linear-time extraction with the regexes it replaced is tests/test_grading_linear.py.
"""

from __future__ import annotations

import string
import time

from hypothesis import example, given
from hypothesis import strategies as st

from medvlt_data.schema import LETTERS
from medvlt_data.verify import (
    extract_paper_lenient,
    extract_strict,
    format_gated_reward,
    grade,
    grade_paper_lenient,
    grade_robust,
    grade_strict,
    has_format,
    matches_gold,
    robust_letter,
)
from medvlt_train.rewards import (
    accuracy_reward,
    completion_text,
    format_reward,
    medvlt_reward,
    medvlt_reward_paper,
)

#: Pieces of completions: the tags, broken and odd-cased tags, the shapes the graders read, separators.
FRAGMENTS = [
    "<answer>", "</answer>", "<think>", "</think>", "<answer", "answer>", "</answer", "<", ">", "/",
    "<ANSWER>", "</Answer >", "<think >", "< answer>", "A", "B", "b", "C", "J", "K", "(B)", "B.", "B)",
    "B:", "[B]", "**B**", "`A`", "Option B", "option b:", "B. COPD", "COPD", "copd.", "Asthma", "yes", "No",
    "Answer:", "answer is", "The answer is:", "is:", "Answer: ", "\n", "\r", "\r\n", " ", "\t", "\u2028",
    "\x00", "\u00a0", ".", "*", "_", "é", "ß", "İ",
]  # fmt: skip
WHITESPACE = " \t\n\r\x0b\x0c\u00a0\u2028\u3000"

texts = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=6)), max_size=30).map("".join)
ascii_texts = st.text(alphabet=string.ascii_letters + " -", min_size=1, max_size=12)
whitespace = st.text(alphabet=WHITESPACE, max_size=4)


GOLD = st.one_of(st.sampled_from(["COPD", "Asthma", "yes", "No", "B"]), texts)


@st.composite
def options_and_label(draw, gold=GOLD):
    count = draw(st.integers(min_value=2, max_value=len(LETTERS)))
    options = {letter: draw(gold) for letter in LETTERS[:count]}
    return options, draw(st.sampled_from(list(options)))


@given(completion=texts, choice=options_and_label())
@example(completion="<answer>b</answer>", choice=({"A": "Asthma", "B": "COPD"}, "B"))
@example(completion="Answer:\r\n<answer>" * 50, choice=({"A": "", "B": ""}, "A"))
def test_graders_never_raise_and_stay_in_range(completion, choice):
    options, label = choice
    verdict = grade(completion, options, label)
    assert set(verdict) == {"strict", "lenient_paper", "robust", "format", "extracted", "extracted_paper",
                            "letter_paper", "letter_robust"}  # fmt: skip
    for key in ("strict", "lenient_paper", "robust", "format"):
        assert type(verdict[key]) is bool, key
    assert verdict["letter_paper"] in (None, *options) and verdict["letter_robust"] in (None, *options)
    assert verdict["robust"] is (verdict["letter_robust"] == label)
    if verdict["letter_paper"] is not None:  # the first option the regrade's extraction matches
        letter = verdict["letter_paper"]
        assert matches_gold(verdict["extracted_paper"], letter, options[letter])
    for dotall in (True, False):
        assert extract_strict(completion, dotall=dotall) in completion
    assert verdict["extracted"] == extract_strict(completion).strip()
    assert type(grade_strict(completion, None, options[label])) is bool
    for variant in ("default", "paper"):
        reward = format_gated_reward(completion, label, options[label], variant)
        assert reward in (0.0, 1.0)
        if reward:  # 1.0 only through the gate and the strict grade
            assert has_format(completion, strip=variant == "default")
            assert grade_strict(completion, label, options[label], dotall=variant == "default")


@given(before=whitespace, inner=texts, after=whitespace, outside=whitespace, choice=options_and_label())
def test_grading_ignores_surrounding_whitespace(before, inner, after, outside, choice):
    """The strict grade of a block ignores whitespace around the answer inside it; the gate (default
    variant), the default reward and the regrade's extraction ignore whitespace around the completion."""
    options, label = choice
    gold = options[label]
    if "<answer>" not in inner and "</answer>" not in inner:
        bare = f"<answer>{inner}</answer>"
        assert grade_strict(f"<answer>{before}{inner}{after}</answer>", label, gold) is grade_strict(
            bare, label, gold
        )
    padded = f"{outside}{inner}{before}"
    assert has_format(padded, strip=True) is has_format(inner, strip=True)
    assert format_gated_reward(padded, label, gold) == format_gated_reward(inner, label, gold)
    assert extract_paper_lenient(padded) == extract_paper_lenient(inner)
    assert grade_paper_lenient(padded, label, gold) is grade_paper_lenient(inner, label, gold)
    assert grade_robust(padded, options, label) is grade_robust(inner, options, label)


@given(completion=texts, choice=options_and_label(gold=ascii_texts))
def test_grading_ignores_the_case_of_the_gold(completion, choice):
    options, label = choice
    gold = options[label]
    assert grade_strict(completion, label, gold) is grade_strict(completion, label.lower(), gold.upper())
    assert grade_paper_lenient(completion, label, gold) is grade_paper_lenient(
        completion, label.lower(), gold.swapcase()
    )
    assert grade_robust(completion, options, label) is grade_robust(completion, options, f" {label.lower()} ")


@given(completion=texts, choice=options_and_label())
def test_the_robust_letter_does_not_depend_on_the_order_of_the_options(completion, choice):
    options, _ = choice
    shuffled = dict(reversed(list(options.items())))
    assert robust_letter(completion, shuffled) == robust_letter(completion, options)


@given(completions=st.lists(texts, min_size=1, max_size=4), data=st.data())
def test_rewards_are_the_graders_in_every_completion_form(completions, data):
    """Each reward gives one value per completion: None where the label is None, else 0.0 or 1.0, the
    same for a plain string, a message, or a message of text parts (other parts ignored)."""
    labels = data.draw(st.lists(st.one_of(st.none(), st.sampled_from("ABCD")), min_size=len(completions),
                                max_size=len(completions)))  # fmt: skip
    answers = data.draw(
        st.lists(st.one_of(st.none(), texts), min_size=len(completions), max_size=len(completions))
    )
    messages = [[{"role": "assistant", "content": c}] for c in completions]
    pieces = [
        [{"type": "image"}, {"type": "text", "text": c[:5]}, {"type": "text", "text": c[5:]}]
        for c in completions
    ]
    parts = [[{"role": "assistant", "content": p}] for p in pieces]
    for form in (messages, parts):
        assert [completion_text(m) for m in form] == completions
    for reward, variant in ((medvlt_reward, "default"), (medvlt_reward_paper, "paper")):
        expected = [None if label is None else format_gated_reward(c, label, answer or "", variant)
                    for c, label, answer in zip(completions, labels, answers, strict=True)]  # fmt: skip
        for form in (completions, messages, parts):
            assert reward(form, answer_label=labels, answer=answers, prompts=None) == expected
    accuracy = accuracy_reward(parts, answer_label=labels, answer=answers)
    assert all(
        v is None if label is None else v in (0.0, 1.0) for v, label in zip(accuracy, labels, strict=True)
    )
    assert format_reward(messages) == [float(has_format(c, strip=True)) for c in completions]


@given(piece=st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=6).map("".join))
def test_long_completions_of_repeated_fragments_are_graded_fast(piece):
    """100 KB of any repeated fragment: linear grading takes milliseconds; the lazy regexes it replaced
    took seconds at this size."""
    completion = piece * (100_000 // len(piece) + 1)
    started = time.perf_counter()
    grade(completion, {"A": "Asthma", "B": "COPD"}, "B")
    format_gated_reward(completion, "B", "COPD", "paper")
    assert time.perf_counter() - started < 2.0
