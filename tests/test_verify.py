"""Prompt, the strict, paper-lenient and robust graders, the format gate and the format-gated reward
(medvlt_data.verify). The paper's verdicts on a table of completions are in tests/test_grader_parity.py;
this file covers our robust grader, the reward variants and the prompt bytes."""

from __future__ import annotations

import pytest

from medvlt_data.verify import (
    PROMPTS,
    build_prompt,
    extract_paper_lenient,
    extract_strict,
    format_gated_reward,
    grade,
    grade_paper_lenient,
    grade_robust,
    grade_strict,
    has_format,
    matches_gold,
    paper_letter,
    robust_letter,
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

# (id, completion, strict (dotall), robust letter, format gate on the stripped completion, reward
# default, reward paper)
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
    ("surrounding whitespace", "\n\n  " + THINK + "\n<answer>B</answer>\n", True, "B", True, 1.0, 0.0),
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
    assert robust_letter(completion, OPTIONS) == letter
    assert grade_robust(completion, OPTIONS, LABEL) is (letter == LABEL)
    assert has_format(completion, strip=True) is fmt
    assert has_format(completion) is (fmt and completion == completion.strip())
    assert format_gated_reward(completion, LABEL, ANSWER) == reward_default
    assert format_gated_reward(completion, LABEL, ANSWER, variant="paper") == reward_paper
    assert grade(completion, OPTIONS, LABEL) == {
        "strict": strict,
        "lenient_paper": grade_paper_lenient(completion, LABEL, ANSWER),
        "robust": letter == LABEL,
        "format": fmt,
        "extracted": extract_strict(completion).strip(),
        "extracted_paper": extract_paper_lenient(completion),
        "letter_paper": paper_letter(completion, OPTIONS),
        "letter_robust": letter,
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
        pytest.param(THINK + "\n<answer>b</answer>", 1.0, 1.0, id="single line, newline between"),
        pytest.param(THINK + "\n<answer>b</answer>\n", 0.0, 1.0, id="single line, trailing newline"),
        pytest.param("\n" + THINK + "<answer>b</answer>", 0.0, 1.0, id="single line, leading newline"),
        pytest.param(
            THINK + "<answer>\nA\n</answer>\n<answer>B</answer>", 1.0, 0.0, id="later one-line block read"
        ),
        pytest.param(THINK + "<answer>\nC\n</answer>", 0.0, 0.0, id="wrong letter on its own line"),
    ],
)
def test_multiline_answer_paper_vs_default(completion, paper, default):
    """The paper's reward (train/my_reward.py:13-31): the gate on the raw completion, the answer read by
    re.search without DOTALL, so a multi-line first block is skipped for a later one-line block."""
    assert has_format(completion, strip=True) is True
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
def test_extract_paper_lenient(text, expected):
    assert extract_paper_lenient(text) == expected


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
def test_robust_letter_yes_no(completion, expected):
    assert robust_letter(completion, YES_NO) == expected


def test_robust_duplicate_option_text_is_ambiguous():
    options = {"A": "Normal", "B": "normal", "C": "Fracture"}
    assert robust_letter("<answer>Normal</answer>", options) is None
    assert robust_letter("<answer>B. normal</answer>", options) == "B"
    # The regrade's vote mapping takes the first option that matches (regrade_eval_results.py:106-112).
    assert paper_letter("<answer>Normal</answer>", options) == "A"


def test_grade_robust_label_case():
    assert grade_robust("<answer>(d)</answer>", OPTIONS, "d") is True
    assert grade_robust("<answer>(d)</answer>", OPTIONS, "C") is False
    assert grade_robust("<answer>Not sure</answer>", OPTIONS, "A") is False


def test_gold_comparison_is_the_papers():
    """grade_answer (eval/run_offline_inference_v2.py:300-310): the label and the text are each
    stripped, the "label. text" form only as a whole, so a gold text with a leading space needs two
    spaces after the dot; without a label only the text counts."""
    assert grade_strict("<answer>b. myocardial infarction</answer>", " B", "Myocardial infarction ") is True
    assert grade_strict("<answer>B. Myocardial infarction</answer>", "B", " Myocardial infarction") is False
    assert grade_strict("<answer>B.  Myocardial infarction</answer>", "B", " Myocardial infarction") is True
    assert grade_strict("<answer>B - Myocardial infarction</answer>", "B", "Myocardial infarction") is False
    assert matches_gold("B", None, "Myocardial infarction") is False
    assert matches_gold(" myocardial INFARCTION ", None, "Myocardial infarction") is True


def test_grade_uses_the_record_answer_when_given():
    completion = THINK + "<answer>Acute MI</answer>"
    assert grade(completion, OPTIONS, LABEL)["strict"] is False
    verdict = grade(completion, OPTIONS, LABEL, answer="Acute MI")
    assert verdict["strict"] is True and verdict["lenient_paper"] is True and verdict["robust"] is False


QUESTION = "A 58-year-old man has crushing chest pain and ST elevation in V1-V4. What is the diagnosis?"
LAYOUT = (
    "\n\nQuestion: A 58-year-old man has crushing chest pain and ST elevation in V1-V4. What is the diagnosis?"
    "\n\nOptions:\n\nA. Pulmonary embolism\n\nB. Myocardial infarction\n\nC. Aortic dissection\n\nD. Pericarditis"
)


def test_build_prompt_paper_has_literal_backslash_n():
    """INSTRUCTION_PROMPT of UCSC-VLAA/MedVLThinker eval/run_offline_inference_v2.py:320 is a raw string
    (r"...answer.\\nWrite..."): a backslash and an n, not a newline; build_messages (lines 323-334)
    joins it to "Question: {q}\\n\\nOptions:" and one "\\n\\n{letter}. {option}" per option with "\\n\\n"."""
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
    assert PROMPTS["paper"] == (
        r"You will solve a problem/request. You should provide your thoughts within <think> </think> tags "
        r"before providing the answer.\nWrite your final answer within <answer> </answer> tags."
    )
    assert len(PROMPTS["paper"]) == 181 and PROMPTS["paper"].count("\\") == 1 and "\n" not in PROMPTS["paper"]
    # build_messages' layout, assembled piece by piece as the original does
    layout = f"Question: {QUESTION}\n\nOptions:"
    for letter, option in OPTIONS.items():
        layout += f"\n\n{letter}. {option}"
    assert prompt == PROMPTS["paper"] + "\n\n" + layout
    assert prompt.encode("utf-8") == (head + LAYOUT).encode("utf-8")


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


def test_grade_of_a_label_outside_the_options_without_an_answer_is_a_clear_error():
    # Before: a bare KeyError from options[label].
    with pytest.raises(ValueError, match=r"label 'C' is not one of the options \['A', 'B'\] and no answer"):
        grade("<answer>A</answer>", {"A": "x", "B": "y"}, "C")
    assert grade("<answer>C</answer>", {"A": "x", "B": "y"}, "C", answer="z")["strict"]  # answer given
