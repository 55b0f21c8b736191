"""Parity of our graders with the original MedVLThinker code, on a table of tricky completions.

For each completion the table holds the ORIGINAL's verdicts, derived by reading the original code:

* strict: UCSC-VLAA/MedVLThinker eval/run_offline_inference_v2.py:224-227 and 294-310 (the output is
  stripped, the FIRST ``<answer>`` block is read with re.S, else the whole text; ``grade_answer``);
* lenient: analysis/regrade_eval_results.py:18-76 and 126 (the LAST block's first line up to ``\\n`` or
  ``\\r``, else the last match of the first fallback of ``answer:``, ``answer is:``, ``answer is``, ``is:``
  that matches, whose ``\\s*`` crosses newlines, else the whole text; the four literal tags removed
  case-sensitively; the same ``grade_answer``);
* reward: train/my_reward.py:13-59 (``compute_score``: ``format_reward`` fullmatches the RAW completion,
  ``accuracy_reward`` reads the block with re.search WITHOUT DOTALL, so a later one-line block is found).

Where ours differ on purpose, the table says so: ``robust`` (medvlt's own grader, compared with the
paper's lenient verdict) and ``reward_default`` (our default reward, compared with the paper's).
The last test runs ``medvlt eval regrade`` on saved generations of these completions.
"""

from __future__ import annotations

import json
import statistics

import pytest
from click.testing import CliRunner

from medvlt_cli.main import cli
from medvlt_data.verify import (
    extract_paper_lenient,
    format_gated_reward,
    grade,
    grade_paper_lenient,
    grade_robust,
    grade_strict,
)
from medvlt_train.eval.generations import graded_row, read_generations, run_file
from medvlt_train.eval.questions import Question
from medvlt_train.rewards import medvlt_reward, medvlt_reward_paper

OPTIONS = {
    "A": "Pulmonary embolism",
    "B": "Myocardial infarction",
    "C": "Aortic dissection",
    "D": "Pericarditis",
}
LABEL, ANSWER = "B", OPTIONS["B"]
T = "<think>ST elevation in V1-V4 with a troponin rise: an acute coronary occlusion.</think>"

# (id, completion, strict, lenient (the regrade), reward (paper), where ours differ: {"robust": bool,
# "reward_default": float}). Gold: B, "Myocardial infarction".
# fmt: off
CASES: list[tuple[str, str, bool, bool, float, dict]] = [
    # well-formed answers
    ("letter", T + "<answer>B</answer>", True, True, 1.0, {}),
    ("lower-case letter", T + "<answer>b</answer>", True, True, 1.0, {}),
    ("spaces around the letter", T + "<answer>   B   </answer>", True, True, 1.0, {}),
    ("label-dot-text", T + "<answer>B. Myocardial infarction</answer>", True, True, 1.0, {}),
    ("label-dot-text lower case", T + "<answer>b. myocardial infarction</answer>", True, True, 1.0, {}),
    ("option text", T + "<answer>Myocardial infarction</answer>", True, True, 1.0, {}),
    ("option text mixed case", T + "<answer>mYOCARDIAL Infarction</answer>", True, True, 1.0, {}),
    ("newline between think and answer", T + "\n<answer>B</answer>", True, True, 1.0, {}),
    ("wrong letter", T + "<answer>C</answer>", False, False, 0.0, {}),
    ("letter not an option", T + "<answer>E</answer>", False, False, 0.0, {}),
    ("nested think, regex still matches",
     "<think>first <think>ST elevation</think> then occlusion</think><answer>B</answer>", True, True, 1.0, {}),
    # shapes the paper's exact comparison rejects; the robust grader (ours) reads them
    ("parenthesised letter", T + "<answer>(B)</answer>", False, False, 0.0, {"robust": True}),
    ("bold letter", T + "<answer>**B**</answer>", False, False, 0.0, {"robust": True}),
    ("letter and period", T + "<answer>B.</answer>", False, False, 0.0, {"robust": True}),
    ("letter and paren", T + "<answer>B)</answer>", False, False, 0.0, {"robust": True}),
    ("bracketed letter", T + "<answer>[B]</answer>", False, False, 0.0, {"robust": True}),
    ("Option B", T + "<answer>Option B</answer>", False, False, 0.0, {"robust": True}),
    ("letter colon text", T + "<answer>B: Myocardial infarction</answer>", False, False, 0.0, {"robust": True}),
    ("option text and period", T + "<answer>Myocardial infarction.</answer>", False, False, 0.0,
     {"robust": True}),
    ("label with the wrong text", T + "<answer>B. Pericarditis</answer>", False, False, 0.0, {"robust": True}),
    ("two spaces after the dot", T + "<answer>B.  Myocardial infarction</answer>", False, False, 0.0,
     {"robust": True}),
    ("option text inside a sentence",
     T + "<answer>The findings indicate myocardial infarction.</answer>", False, False, 0.0, {}),
    # multi-line blocks: the regrade reads the first line, strict the whole block, the paper's reward
    # skips a block that spans lines
    ("letter then an explanation line",
     T + "<answer>B\nST elevation means infarction.</answer>", False, True, 0.0, {}),
    ("letter on its own line", T + "<answer>\nB\n</answer>", True, True, 0.0, {"reward_default": 1.0}),
    ("label-dot-text on its own line", T + "\n<answer>\n  B. Myocardial infarction  \n</answer>",
     True, True, 0.0, {"reward_default": 1.0}),
    ("blank lines before the letter", T + "<answer>\n\n  B  \nbecause of the troponin</answer>",
     False, True, 0.0, {}),
    ("carriage return ends the first line", T + "<answer>B\rtroponin</answer>", False, True, 0.0, {}),
    ("U+2028 does not end the first line", T + "<answer>B\u2028troponin</answer>", False, False, 0.0, {}),
    ("multi-line first block, one-line second block",
     T + "<answer>\nC\n</answer>\n<answer>B</answer>", False, True, 1.0, {"reward_default": 0.0}),
    # several blocks: strict and the reward read the first, the regrade the last
    ("two blocks, the last correct", T + "<answer>C</answer>\n<answer>B</answer>", False, True, 0.0, {}),
    ("two blocks, the first correct", T + "<answer>B</answer>\n<answer>C</answer>", True, False, 1.0, {}),
    ("empty last block", T + "<answer>B</answer><answer></answer>", True, False, 1.0, {}),
    ("answer block inside think",
     "<think>Maybe <answer>C</answer>? No: troponin.</think><answer>B</answer>", False, True, 0.0, {}),
    ("answer is inside think, block wins",
     "<think>If the answer is A we would expect hypoxia.</think>\n<answer>B</answer>", True, True, 1.0, {}),
    ("think tags inside the block", T + "<answer><think>B</think></answer>", False, True, 0.0, {}),
    # empty blocks
    ("empty block", T + "<answer></answer>", False, False, 0.0, {}),
    ("whitespace-only block", T + "<answer>  \n </answer>", False, False, 0.0, {}),
    # the raw completion for the paper's gate
    ("leading newline", "\n" + T + "<answer>B</answer>", True, True, 0.0, {"reward_default": 1.0}),
    ("trailing newline", T + "<answer>B</answer>\n", True, True, 0.0, {"reward_default": 1.0}),
    ("trailing space", T + "<answer>B</answer> ", True, True, 0.0, {"reward_default": 1.0}),
    ("text before think", "Sure.\n" + T + "<answer>B</answer>", True, True, 0.0, {}),
    ("text after the answer", T + "<answer>B</answer> Hope this helps.", True, True, 0.0, {}),
    ("no think block", "<answer>B</answer>", True, True, 0.0, {}),
    ("unclosed think", "<think>ST elevation\n<answer>B</answer>", True, True, 0.0, {}),
    ("unclosed answer", T + "<answer>B", False, False, 0.0, {}),
    ("think without answer", T, False, False, 0.0, {}),
    ("think without answer, answer is inside", "<think>So the answer is B</think>", False, True, 0.0, {}),
    # no block: the regrade's fallbacks
    ("Answer: B", "Answer: B", False, True, 0.0, {}),
    ("final answer: b", "After weighing it all, final answer: b", False, True, 0.0, {}),
    ("Answer: label-dot-text", "Answer: B. Myocardial infarction", False, True, 0.0, {}),
    ("answer: option text", "answer: myocardial infarction", False, True, 0.0, {}),
    ("Answer: (B)", "Answer: (B)", False, False, 0.0, {"robust": True}),
    ("Answer: and a newline", "Answer:\nB", False, True, 0.0, {}),
    ("Answer: with nothing after", "The ECG shows ST elevation.\nAnswer:", False, False, 0.0, {}),
    ("Answer: then a sentence", "Answer: B because of the ST elevation", False, False, 0.0, {}),
    ("The answer is: B", "The answer is: B", False, True, 0.0, {}),
    ("The answer is: label-dot-text", "The answer is: B. Myocardial infarction", False, True, 0.0, {}),
    ("The answer is B", "The answer is B", False, True, 0.0, {}),
    ("The answer is B.", "The answer is B.", False, False, 0.0, {"robust": True}),
    ("The answer is bold", "The answer is **B**", False, False, 0.0, {"robust": True}),
    ("THE ANSWER IS B", "THE ANSWER IS B", False, True, 0.0, {}),
    ("answer is, then a newline", "The answer is\nB", False, True, 0.0, {}),
    ("is:", "The diagnosis is: B", False, True, 0.0, {}),
    ("is: option text", "Most likely diagnosis is: Myocardial infarction", False, True, 0.0, {}),
    ("Analysis: matches is:", "Analysis: B", False, True, 0.0, {}),
    ("answer: beats answer is", "The answer is C.\nAnswer: B", False, True, 0.0, {}),
    ("answer: first even when wrong", "Answer: C\nSo the answer is B", False, False, 0.0, {}),
    ("the last answer: counts", "Answer: A\nOn reflection, not PE.\nAnswer: B", False, True, 0.0, {}),
    ("tag inside the fallback", "Answer: <answer>B", False, True, 0.0, {}),
    ("closing think inside the fallback", "done thinking</think>\nThe answer is: B</think>", False, True,
     0.0, {}),
    ("answer: inside think, text after", "<think>answer: C</think> B", False, False, 0.0, {}),
    # tags in another case are not tags to the paper
    ("capitalised tags", "<Answer>B</Answer>", False, False, 0.0, {"robust": True}),
    ("capitalised tags around Answer:", T + "<ANSWER>Answer: B</ANSWER>", False, False, 0.0,
     {"robust": True}),
    # no tags at all
    ("bare letter", "B", True, True, 0.0, {}),
    ("bare letter and newline", "B\n", True, True, 0.0, {}),
    ("bare option text", "Myocardial infarction", True, True, 0.0, {}),
]
# fmt: on


def test_table_is_large_unique_and_mixed():
    assert len(CASES) >= 60
    assert len({case[0] for case in CASES}) == len(CASES)
    assert len({case[1] for case in CASES}) == len(CASES)
    strict, lenient, reward = ({case[i] for case in CASES} for i in (2, 3, 4))
    assert strict == lenient == {True, False} and reward == {0.0, 1.0}
    assert sum(case[2] != case[3] for case in CASES) >= 20  # strict and the regrade disagree often
    assert sum("robust" in case[5] for case in CASES) >= 15
    assert sum("reward_default" in case[5] for case in CASES) >= 5


@pytest.mark.parametrize(
    ("completion", "strict", "lenient", "reward", "ours"), [pytest.param(*c[1:], id=c[0]) for c in CASES]
)
def test_verdicts_are_the_originals(completion, strict, lenient, reward, ours):
    assert grade_strict(completion, LABEL, ANSWER) is strict
    assert grade_strict(completion.strip(), LABEL, ANSWER) is strict  # the eval strips its outputs
    assert grade_paper_lenient(completion, LABEL, ANSWER) is lenient
    assert format_gated_reward(completion, LABEL, ANSWER, variant="paper") == reward
    assert medvlt_reward_paper(
        [[{"role": "assistant", "content": completion}]], answer_label=[LABEL], answer=[ANSWER]
    ) == [reward]
    robust = ours.get("robust", lenient)
    reward_default = ours.get("reward_default", reward)
    assert grade_robust(completion, OPTIONS, LABEL) is robust
    assert format_gated_reward(completion, LABEL, ANSWER) == reward_default
    assert medvlt_reward([completion], answer_label=[LABEL], answer=[ANSWER]) == [reward_default]
    verdict = grade(completion, OPTIONS, LABEL)
    assert (verdict["strict"], verdict["lenient_paper"], verdict["robust"]) == (strict, lenient, robust)


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        pytest.param(T + "<answer>\n\n  C. Sepsis \nblood cultures</answer>", "C. Sepsis", id="first line"),
        pytest.param(T + "<answer>B\u2028x</answer>", "B\u2028x", id="only \\n and \\r end a line"),
        pytest.param("Answer: <answer>B</ANSWER>", "B</ANSWER>", id="tags removed case-sensitively"),
        pytest.param("<ans<think>wer>B", "B", id="tags removed one after the other"),
        pytest.param(
            "Answer:   \n\n  B. Myocardial infarction  \nmore",
            "B. Myocardial infarction",
            id="whitespace after answer: crosses lines",
        ),
        pytest.param("x answer: A answer: B", "A answer: B", id="one match per line"),
        pytest.param(T + "<answer></answer>", "", id="empty block"),
        pytest.param("  No conclusion.  ", "No conclusion.", id="whole text stripped"),
    ],
)
def test_paper_extraction(completion, expected):
    assert extract_paper_lenient(completion) == expected


# ---- `medvlt eval regrade` on saved generations ---------------------------------------------------

BENCHMARKS = ("pmc_vqa", "mmmu_medical", "medxpertqa_mm", "pathvqa", "slake", "vqa_rad")


def _question(i: int) -> Question:
    benchmark = BENCHMARKS[i % len(BENCHMARKS)]
    return Question(id=f"{benchmark}/q{i}", benchmark=benchmark, source_id=f"q{i}",
                    question="A 58-year-old smoker has crushing chest pain. Diagnosis?", options=OPTIONS,
                    answer_label=LABEL, answer=ANSWER, images=())  # fmt: skip


def _percent(flags: list[bool]) -> float:
    return round(100.0 * sum(flags) / len(flags), 4)


def test_eval_regrade_reproduces_the_paper_lenient_verdicts(tmp_path):
    """Generations saved in the format of medvlt_train/eval/generations.py, two runs (run 2 answers
    question i with completion i+1), with verdicts of an earlier version (``lenient``, ``lenient_letter``
    holding the robust grader's) and a tampered strict verdict: regrade recomputes every verdict from the
    completion, and each benchmark's accuracies follow from the table."""
    out = tmp_path / "ev"
    questions = [_question(i) for i in range(len(CASES))]
    completions = {1: [c[1] for c in CASES], 2: [c[1] for c in CASES[1:] + CASES[:1]]}
    expected = {1: CASES, 2: CASES[1:] + CASES[:1]}
    (out / "generations").mkdir(parents=True)
    for run, seed in ((1, 42), (2, 43)):
        rows = []
        for question, completion in zip(questions, completions[run], strict=True):
            row = graded_row(question, run, seed, completion)
            stale = {k: v for k, v in row.items() if k not in ("lenient_paper", "robust", "letter_paper")}
            rows.append(
                {**stale, "strict": not row["strict"], "lenient": row["robust"], "lenient_letter": "B"}
            )
        run_file(out, run).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    config = {"model": "saved", "backend": {"backend": "endpoint"}, "prompt": "paper", "max_new_tokens": 4096,
              "benchmarks": list(BENCHMARKS), "limit": None, "seed": 42, "seeds": [42, 43],
              "dataset": {"label": "UCSC-VLAA/MedVLThinker-Eval"}, "versions": {},
              "questions": {b: sum(q.benchmark == b for q in questions) for b in BENCHMARKS}}  # fmt: skip
    (out / "eval_config.json").write_text(json.dumps(config), encoding="utf-8")

    result = CliRunner().invoke(cli, ["eval", "regrade", str(out)])
    assert result.exit_code == 0, result.output + repr(result.exception)

    for run in (1, 2):
        rows = read_generations(run_file(out, run))
        assert len(rows) == len(CASES)
        for question, case in zip(questions, expected[run], strict=True):
            row = rows[question.id]
            assert (row["strict"], row["lenient_paper"]) == (case[2], case[3]), (run, case[0])
            assert row["robust"] is case[5].get("robust", case[3]), (run, case[0])
            assert row["extracted_paper"] == extract_paper_lenient(case[1])
            assert "lenient" not in row and "lenient_letter" not in row
    results = json.loads((out / "results.json").read_text())
    assert set(results["graders"]) == {"strict", "lenient_paper", "robust"}
    assert "published tables" in results["graders"]["lenient_paper"]
    assert "not comparable with the paper" in results["graders"]["robust"]
    for benchmark in BENCHMARKS:
        got = results["benchmarks"][benchmark]
        for index, key in ((2, "strict"), (3, "lenient_paper")):
            runs = [
                _percent([c[index] for q, c in zip(questions, expected[run], strict=True)
                          if q.benchmark == benchmark])
                for run in (1, 2)
            ]  # fmt: skip
            suffix = "" if key == "strict" else "_" + key
            assert got[f"runs{suffix}"] == runs, (benchmark, key)
            assert got[f"accuracy{suffix}"] == round(statistics.fmean(runs), 4)
            assert got[f"std{suffix}"] == round(statistics.stdev(runs), 4)
    lenient_avg = round(
        statistics.fmean(b["accuracy_lenient_paper"] for b in results["benchmarks"].values()), 4
    )
    assert results["average_lenient_paper"] == lenient_avg
    table = (out / "results.md").read_text()
    pmc = results["benchmarks"]["pmc_vqa"]
    assert f"| saved | {pmc['accuracy']:.2f} |" in table
    assert f"| saved (lenient: the paper's regrade) | {pmc['accuracy_lenient_paper']:.2f} |" in table
    assert f"| saved (robust: medvlt's own) | {pmc['accuracy_robust']:.2f} |" in table
    assert "grader of the paper's published tables" in table
    before = (out / "results.json").read_bytes()
    assert CliRunner().invoke(cli, ["eval", "regrade", str(out)]).exit_code == 0
    assert (out / "results.json").read_bytes() == before


def test_regrade_names_the_file_of_a_broken_line(tmp_path):
    out = tmp_path / "ev"
    (out / "generations").mkdir(parents=True)
    row = graded_row(_question(0), 1, 42, "<answer>B</answer>")
    del row["completion"]
    run_file(out, 1).write_text(json.dumps(row) + "\n", encoding="utf-8")
    config = {"model": "m", "backend": {}, "prompt": "paper", "max_new_tokens": 8, "limit": None,
              "seeds": [42], "dataset": {}, "questions": {"pmc_vqa": 1}}  # fmt: skip
    (out / "eval_config.json").write_text(json.dumps(config), encoding="utf-8")
    result = CliRunner().invoke(cli, ["eval", "regrade", str(out)])
    assert result.exit_code == 1
    assert f"{run_file(out, 1)}:1: generation 'pmc_vqa/q0'" in result.output  # the file and its line
    assert "completion is null, not text" in result.output


def test_compare_by_the_papers_regrade_and_old_results(tmp_path):
    """`medvlt eval compare --grader lenient_paper` tabulates the paper-lenient accuracies; a results
    file of an earlier version (no lenient_paper keys) is refused with what to do."""
    folder = tmp_path / "new"
    folder.mkdir()
    results = {"model": "m", "average": 50.0, "average_lenient_paper": 62.5, "average_robust": 70.0,
               "benchmarks": {"vqa_rad": {"n": 8, "accuracy": 50.0, "accuracy_lenient_paper": 62.5,
                                          "accuracy_robust": 70.0}}}  # fmt: skip
    (folder / "results.json").write_text(json.dumps(results), encoding="utf-8")
    result = CliRunner().invoke(cli, ["eval", "compare", str(folder), "--grader", "lenient_paper",
                                      "--out", str(tmp_path / "cmp")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "| m (lenient: the paper's regrade) | - | - | - | - | - | 62.50 | 62.50 |" in result.output
    assert "grader lenient_paper: the paper's regrade" in (tmp_path / "cmp" / "compare.md").read_text()
    old = tmp_path / "old"
    old.mkdir()
    legacy = {"model": "m", "average": 50.0, "average_lenient": 60.0,
              "benchmarks": {"vqa_rad": {"n": 8, "accuracy": 50.0, "accuracy_lenient": 60.0}}}  # fmt: skip
    (old / "results.json").write_text(json.dumps(legacy), encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["eval", "compare", str(old), "--grader", "robust", "--out", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "results of m have no robust accuracies (written by an earlier version)" in result.output
    assert "`medvlt eval regrade` its folder" in result.output
