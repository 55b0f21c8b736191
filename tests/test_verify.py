"""Prompt, strict and lenient grading, the format gate and the format-gated reward (medvlt_data.verify)."""

from __future__ import annotations

import pytest

from medvlt_data.verify import (
    PROMPTS,
    build_prompt,
    extract_lenient,
    extract_strict,
    format_gated_reward,
    grade,
    grade_lenient,
    grade_strict,
    has_format,
    lenient_letter,
)

OPTIONS = {
    "A": "Pulmonary embolism",
    "B": "Myocardial infarction",
    "C": "Aortic dissection",
    "D": "Pericarditis",
}
LABEL, ANSWER = "B", OPTIONS["B"]

THINK = (
    "<think>A 58-year-old smoker has crushing substernal chest pain radiating to the left arm, "
    "diaphoresis and ST elevation in V1-V4 with a troponin rise. Pleuritic pain and unequal arm "
    "pressures are absent, so PE and dissection are unlikely; the picture is an acute coronary "
    "occlusion.</think>"
)

# (id, completion, strict (dotall), lenient letter, format, reward default, reward paper)
# fmt: off
CASES = [
    (
        "well-formed letter and text",
        THINK + "\n<answer>B. Myocardial infarction</answer>",
        True, "B", True, 1.0, 1.0,
    ),
    ("well-formed letter", THINK + "<answer>B</answer>", True, "B", True, 1.0, 1.0),
    (
        "well-formed option text",
        THINK + "\n<answer>Myocardial infarction</answer>",
        True, "B", True, 1.0, 1.0,
    ),
    ("well-formed wrong letter", THINK + "\n<answer>C</answer>", False, "C", True, 0.0, 0.0),
    ("wrong letter and text", THINK + "\n<answer>C. Aortic dissection</answer>", False, "C", True, 0.0, 0.0),
    ("lower case", THINK + "\n<answer>b. myocardial infarction</answer>", True, "B", True, 1.0, 1.0),
    ("upper case text", THINK + "\n<answer>MYOCARDIAL INFARCTION</answer>", True, "B", True, 1.0, 1.0),
    ("lower-case letter", THINK + "\n<answer>b</answer>", True, "B", True, 1.0, 1.0),
    ("spaces around letter", THINK + "\n<answer>   B   </answer>", True, "B", True, 1.0, 1.0),
    (
        "double space after dot",
        THINK + "<answer>B.  Myocardial infarction</answer>",
        False, "B", True, 0.0, 0.0,
    ),
    (
        "answer on its own line",
        THINK + "\n<answer>\n  B. Myocardial infarction  \n</answer>",
        True, "B", True, 1.0, 0.0,
    ),
    (
        "letter then explanation line",
        THINK + "\n<answer>B\nST elevation with troponin rise indicates infarction.</answer>",
        False, "B", True, 0.0, 0.0,
    ),
    ("parenthesised letter", THINK + "\n<answer>(B)</answer>", False, "B", True, 0.0, 0.0),
    ("letter with period", THINK + "\n<answer>B.</answer>", False, "B", True, 0.0, 0.0),
    ("letter with paren", THINK + "\n<answer>B)</answer>", False, "B", True, 0.0, 0.0),
    ("bold letter", THINK + "\n<answer>**B**</answer>", False, "B", True, 0.0, 0.0),
    ("option prefix", THINK + "\n<answer>Option B</answer>", False, "B", True, 0.0, 0.0),
    ("letter colon text", THINK + "\n<answer>B: Myocardial infarction</answer>", False, "B", True, 0.0, 0.0),
    ("letter paren text", THINK + "\n<answer>B) Myocardial infarction</answer>", False, "B", True, 0.0, 0.0),
    ("(letter) text", THINK + "\n<answer>(B) Myocardial infarction</answer>", False, "B", True, 0.0, 0.0),
    ("text with period", THINK + "\n<answer>Myocardial infarction.</answer>", False, "B", True, 0.0, 0.0),
    ("letter contradicts text", THINK + "\n<answer>B. Pericarditis</answer>", False, "B", True, 0.0, 0.0),
    ("letter not an option", THINK + "\n<answer>E</answer>", False, None, True, 0.0, 0.0),
    ("empty answer block", THINK + "\n<answer></answer>", False, None, True, 0.0, 0.0),
    ("no think block", "<answer>B</answer>", True, "B", False, 0.0, 0.0),
    (
        "reasoning without think tags",
        "ECG: ST elevation in V1-V4, troponin 4.2 ng/mL.\n<answer>B</answer>",
        True, "B", False, 0.0, 0.0,
    ),
    ("bare letter, no tags", "B", True, "B", False, 0.0, 0.0),
    ("bare text, no tags", "  myocardial infarction \n", True, "B", False, 0.0, 0.0),
    ("the answer is C", THINK + "\nThe answer is C.", False, "C", False, 0.0, 0.0),
    (
        "Answer: D",
        "Diffuse saddle-shaped ST elevation with PR depression.\nAnswer: D",
        False, "D", False, 0.0, 0.0,
    ),
    ("... is: A", "Sudden dyspnoea after a long flight, so the diagnosis is: A", False, "A", False, 0.0, 0.0),
    ("answer is: letter text", "The answer is: C. Aortic dissection", False, "C", False, 0.0, 0.0),
    (
        "answer is bold letter text",
        "Given the troponin rise, the correct answer is **B. Myocardial infarction**.",
        False, "B", False, 0.0, 0.0,
    ),
    (
        "fallback takes last match",
        "Answer: A\nOn reflection the troponin rise argues against PE.\nAnswer: B",
        False, "B", False, 0.0, 0.0,
    ),
    ("fallback pattern order", "The answer is C.\nThe final diagnosis is: A", False, "C", False, 0.0, 0.0),
    (
        "first block vs last block",
        THINK + "<answer>C</answer>\n<answer>B</answer>",
        False, "B", True, 0.0, 0.0,
    ),
    ("first block correct", THINK + "<answer>B</answer><answer>C</answer>", True, "C", True, 1.0, 1.0),
    (
        "answer tag inside think",
        "<think>Maybe <answer>C</answer>? No: ST elevation and troponin mean infarction.</think><answer>B</answer>",
        False, "B", True, 0.0, 0.0,
    ),
    (
        "answer is inside think, block wins",
        "<think>If the answer is A we would expect pleuritic pain and hypoxia.</think>\n<answer>B</answer>",
        True, "B", True, 1.0, 1.0,
    ),
    (
        "option text inside a sentence",
        THINK + "\n<answer>The presentation is most consistent with myocardial infarction rather than "
        "pericarditis.</answer>",
        False, None, True, 0.0, 0.0,
    ),
    (
        "option text in a sentence, no tags",
        "I believe myocardial infarction is the most likely diagnosis here.",
        False, None, False, 0.0, 0.0,
    ),
    (
        "answer: followed by a sentence",
        "Answer: the findings suggest myocardial infarction",
        False, None, False, 0.0, 0.0,
    ),
    (
        "text before think",
        "Sure, let me work through this.\n" + THINK + "<answer>B</answer>",
        True, "B", False, 0.0, 0.0,
    ),
    ("text after answer", THINK + "<answer>B</answer>\nI hope this helps!", True, "B", False, 0.0, 0.0),
    ("surrounding whitespace", "\n\n  " + THINK + "\n<answer>B</answer>\n", True, "B", True, 1.0, 1.0),
    ("unclosed answer", THINK + "\n<answer>B", False, None, False, 0.0, 0.0),
    ("unclosed think", "<think>ST elevation in V1-V4.\n<answer>B</answer>", True, "B", False, 0.0, 0.0),
    (
        "nested think accepted by the regex",
        "<think>First pass <think>ST elevation</think> confirms occlusion.</think>\n<answer>B</answer>",
        True, "B", True, 1.0, 1.0,
    ),
    ("capitalised tags", THINK + "<Answer>B</Answer>", False, None, False, 0.0, 0.0),
    ("capitalised tags alone", "<Answer>B</Answer>", False, "B", False, 0.0, 0.0),
]
# fmt: on


@pytest.mark.parametrize(
    ("completion", "strict", "letter", "fmt", "reward_default", "reward_paper"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_completion_table(completion, strict, letter, fmt, reward_default, reward_paper):
    assert grade_strict(completion, LABEL, ANSWER) is strict
    assert lenient_letter(completion, OPTIONS) == letter
    assert grade_lenient(completion, OPTIONS, LABEL) is (letter == LABEL)
    assert has_format(completion) is fmt
    assert format_gated_reward(completion, LABEL, ANSWER) == reward_default
    assert format_gated_reward(completion, LABEL, ANSWER, variant="paper") == reward_paper
    assert grade(completion, OPTIONS, LABEL) == {
        "strict": strict,
        "lenient": letter == LABEL,
        "format": fmt,
        "extracted": extract_strict(completion).strip(),
    }


def test_table_is_large_and_mixed():
    assert len(CASES) >= 40
    assert len({case[0] for case in CASES}) == len(CASES)
    assert {case[2] for case in CASES} == {True, False}
    assert {case[4] for case in CASES} == {True, False}
    assert any(case[5] != case[6] for case in CASES)


# The paper's reward cases, stated on their own.
@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        pytest.param("<answer>B</answer>", 0.0, id="no think block gets 0"),
        pytest.param(
            "The most likely diagnosis is myocardial infarction.\n<answer>B</answer>", 0.0, id="no think tags"
        ),
        pytest.param(THINK + "\n<answer>B</answer>", 1.0, id="well-formed correct letter gets 1"),
        pytest.param(THINK + "\n<answer>A</answer>", 0.0, id="well-formed wrong letter gets 0"),
    ],
)
@pytest.mark.parametrize("variant", ["paper", "default"])
def test_paper_reward_cases(completion, expected, variant):
    assert format_gated_reward(completion, LABEL, ANSWER, variant=variant) == expected


@pytest.mark.parametrize(
    ("completion", "paper", "default"),
    [
        pytest.param(THINK + "<answer>\nB\n</answer>", 0.0, 1.0, id="letter on its own line"),
        pytest.param(
            THINK + "<answer>B.\nMyocardial infarction</answer>", 0.0, 0.0, id="split letter and text"
        ),
        pytest.param(THINK + "\n<answer>b</answer>\n", 1.0, 1.0, id="single line, trailing newline"),
        pytest.param(THINK + "<answer>\nC\n</answer>", 0.0, 0.0, id="wrong letter on its own line"),
    ],
)
def test_multiline_answer_paper_vs_default(completion, paper, default):
    assert has_format(completion) is True
    assert format_gated_reward(completion, LABEL, ANSWER, variant="paper") == paper
    assert format_gated_reward(completion, LABEL, ANSWER, variant="default") == default


@pytest.mark.parametrize(
    ("text", "dotall", "expected"),
    [
        ("<think>x</think><answer> B </answer>", True, " B "),
        ("<answer>A</answer> and later <answer>C</answer>", True, "A"),
        ("<answer>B\nbecause of ST elevation</answer>", True, "B\nbecause of ST elevation"),
        ("<answer>B\nbecause</answer>", False, "<answer>B\nbecause</answer>"),
        ("<answer>A\nx</answer> <answer>C</answer>", False, "C"),
        ("The answer is B", True, "The answer is B"),
        ("", True, ""),
    ],
)
def test_extract_strict(text, dotall, expected):
    assert extract_strict(text, dotall=dotall) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<answer>A</answer><answer>\n\n  C. Sepsis\nblood cultures grew E. coli</answer>", "C. Sepsis"),
        ("<answer><think>B</think></answer>", "B"),
        ("The answer is C because of the widened mediastinum.", "C because of the widened mediastinum."),
        ("answer is: <answer>D", "D"),
        ("ANSWER:   A  ", "A"),
        ("No conclusion could be reached.", "No conclusion could be reached."),
        ("<think>unsure</think>", "unsure"),
    ],
)
def test_extract_lenient(text, expected):
    assert extract_lenient(text) == expected


YES_NO = {"A": "Yes", "B": "No"}


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        ("<answer>yes</answer>", "A"),
        ("Answer: No.", "B"),
        ("The answer is yes, given the air-fluid level.", None),
        ("<answer>There is no evidence of pneumothorax</answer>", None),
        ("<answer>[B]</answer>", "B"),
        ("<answer>`A`</answer>", "A"),
        ("<answer>C</answer>", None),
    ],
)
def test_lenient_letter_yes_no(completion, expected):
    assert lenient_letter(completion, YES_NO) == expected


def test_lenient_duplicate_option_text_is_ambiguous():
    options = {"A": "Normal", "B": "normal", "C": "Fracture"}
    assert lenient_letter("<answer>Normal</answer>", options) is None
    assert lenient_letter("<answer>B. normal</answer>", options) == "B"


def test_grade_lenient_label_case():
    assert grade_lenient("<answer>(d)</answer>", OPTIONS, "d") is True
    assert grade_lenient("<answer>(d)</answer>", OPTIONS, "C") is False
    assert grade_lenient("<answer>Not sure</answer>", OPTIONS, "A") is False


def test_grade_strict_strips_gold():
    assert grade_strict("<answer>b. myocardial infarction</answer>", " B ", " Myocardial infarction ") is True
    assert grade_strict("<answer>B - Myocardial infarction</answer>", "B", "Myocardial infarction") is False


QUESTION = "A 58-year-old man has crushing chest pain and ST elevation in V1-V4. What is the diagnosis?"
LAYOUT = (
    "\n\nQuestion: A 58-year-old man has crushing chest pain and ST elevation in V1-V4. What is the diagnosis?"
    "\n\nOptions:\n\nA. Pulmonary embolism\n\nB. Myocardial infarction\n\nC. Aortic dissection\n\nD. Pericarditis"
)


def test_build_prompt_paper_has_literal_backslash_n():
    prompt = build_prompt(QUESTION, OPTIONS)
    head = (
        "You will solve a problem/request. You should provide your thoughts within <think> </think> tags "
        "before providing the answer.\\nWrite your final answer within <answer> </answer> tags."
    )
    assert prompt == head + LAYOUT
    assert "answer.\\nWrite" in prompt
    assert "answer.\nWrite" not in prompt
    assert build_prompt(QUESTION, OPTIONS, prompt="paper") == prompt
    assert PROMPTS["paper"] == head


def test_build_prompt_default_has_real_newline():
    prompt = build_prompt(QUESTION, OPTIONS, prompt="default")
    head = (
        "You will solve a problem/request. You should provide your thoughts within <think> </think> tags "
        "before providing the answer.\nWrite your final answer within <answer> </answer> tags."
    )
    assert prompt == head + LAYOUT
    assert "\\" not in prompt
    assert PROMPTS["default"] == head


def test_build_prompt_keeps_option_order():
    prompt = build_prompt("Which is a loop diuretic?", {"B": "Furosemide", "A": "Spironolactone"}, "default")
    assert prompt.endswith(
        "Question: Which is a loop diuretic?\n\nOptions:\n\nB. Furosemide\n\nA. Spironolactone"
    )


def test_build_prompt_unknown_variant():
    with pytest.raises(ValueError, match="default, paper"):
        build_prompt(QUESTION, OPTIONS, prompt="qwen")


def test_reward_unknown_variant():
    with pytest.raises(ValueError, match="default, paper"):
        format_gated_reward(THINK + "<answer>B</answer>", LABEL, ANSWER, variant="strict")
