"""Prompt, answer extraction and grading for multiple-choice medical QA (MedVLThinker, arXiv 2508.02669).

One module serves difficulty scoring, the RLVR reward and evaluation, so all three read answers alike.
Three graders, named for what they are:

* ``strict``: the paper's eval grader (UCSC-VLAA/MedVLThinker eval/run_offline_inference_v2.py:294-310,
  ``extract_answer`` + ``grade_answer``): :func:`extract_strict`, :func:`grade_strict`.
* ``lenient_paper``: the paper's regrade, used for its published tables (UCSC-VLAA/MedVLThinker
  analysis/regrade_eval_results.py:18-76): :func:`extract_paper_lenient`, :func:`grade_paper_lenient`.
  Only the extraction differs from strict; the comparison is the same exact match, so ``(B)``, ``B.``
  or ``**B**`` are wrong there. :func:`paper_letter` is the regrade's option mapping, which only feeds
  its majority vote (regrade_eval_results.py:106-112).
* ``robust``: medvlt's own, more forgiving grader, NOT the paper's: it also reads ``(B)``, ``B)``,
  ``**B**``, ``Option B``, a trailing period, a letter followed by any text: :func:`robust_letter`,
  :func:`grade_robust`.

The reward (UCSC-VLAA/MedVLThinker train/my_reward.py:13-59): :func:`has_format` (the format gate) and
:func:`format_gated_reward` in two variants, ``paper`` (the original exactly) and ``default`` (ours:
surrounding whitespace ignored by the gate, a multi-line answer block read). :func:`grade` bundles the
verdicts stored with eval generations.

>>> grade_strict("<think>ST elevation in II, III, aVF.</think><answer>B</answer>", "B", "Inferior MI")
True
>>> grade_paper_lenient("<answer>(B)</answer>", "B", "Inferior MI"), grade_robust("<answer>(B)</answer>", {"B": "Inferior MI"}, "B")
(False, True)
>>> format_gated_reward("<think>x</think><answer>B</answer>\\n", "B", "Inferior MI", variant="paper")
0.0
"""

from __future__ import annotations

import re

_INSTRUCTION = (
    "You will solve a problem/request. You should provide your thoughts within <think> </think> tags "
    "before providing the answer.{sep}Write your final answer within <answer> </answer> tags."
)

#: Instruction variants. ``paper`` is the released INSTRUCTION_PROMPT, a raw string whose ``\n`` is two
#: characters, a backslash and an n (UCSC-VLAA/MedVLThinker eval/run_offline_inference_v2.py:320, the
#: same in data_process/train_dataset/convert_verl_format.py:50 and train/sft/sft_vlm.py:182);
#: ``default`` has a real newline there.
PROMPTS: dict[str, str] = {
    "paper": _INSTRUCTION.format(sep="\\n"),
    "default": _INSTRUCTION.format(sep="\n"),
}

# The tags, read by str.find scans that are linear in the completion's length (the lazy regexes
# ``<answer>(.*?)</answer>`` they replace took quadratic time on unclosed tags).
_OPEN, _CLOSE = "<answer>", "</answer>"
_THINK_OPEN, _THINK_CLOSE = "<think>", "</think>"
_SPACES = re.compile(r"\s*")  # greedy from one position, nothing after it: never backtracks
# The regrade's fallbacks, tried in this order when there is no answer block; the first pattern that
# matches anywhere wins and its LAST match is read. No DOTALL: ``.*`` stops at the line end, but
# ``\s*`` crosses newlines, so "Answer:\nB" reads "B" (regrade_eval_results.py:29-47).
_PAPER_FALLBACKS = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (r"answer:\s*(.*)", r"answer is:\s*(.*)", r"answer is\s*(.*)", r"is:\s*(.*)")
)
# Removed literally and case-sensitively, one after the other (regrade_eval_results.py:54-57).
_PAPER_TAGS = ("<think>", "</think>", "<answer>", "</answer>")
_LINE_BREAK = re.compile(r"[\n\r]")

# The robust grader (ours) also removes tags in any case and reads these shapes.
_ANY_CASE_TAGS = re.compile(r"</?(?:think|answer)\s*>", re.IGNORECASE)
# A bare letter: "B", "b", "(B)", "B)", "B:", "[B]", "Option B" (emphasis and a final period removed first).
_LETTER_ONLY = re.compile(r"(?:option\s+)?[(\[]?([A-Za-z])[)\]]?[.:)]?", re.IGNORECASE)
# A letter then text: "B. text", "B: text", "B) text", "(B) text", "Option B: text".
_LETTER_TEXT = re.compile(
    r"(?:option\s+)?(?:\(([A-Za-z])\)|([A-Za-z])[.:)])\s+\S.*", re.IGNORECASE | re.DOTALL
)


def build_prompt(question: str, options: dict[str, str], prompt: str = "paper") -> str:
    """The user prompt: instruction, a blank line, ``Question: ...``, a blank line, ``Options:``, then
    each option as ``"{letter}. {text}"`` after a blank line, in the given order.

    The layout of UCSC-VLAA/MedVLThinker eval/run_offline_inference_v2.py:323-334 (``build_messages``),
    also used for training (data_process/train_dataset/convert_verl_format.py:176-179).

    >>> p = build_prompt("Most likely diagnosis?", {"A": "Asthma", "B": "COPD"}, prompt="default")
    >>> p.endswith("tags.\\n\\nQuestion: Most likely diagnosis?\\n\\nOptions:\\n\\nA. Asthma\\n\\nB. COPD")
    True
    >>> "answer.\\\\nWrite" in build_prompt("Most likely diagnosis?", {"A": "Asthma"})
    True
    """
    if prompt not in PROMPTS:
        raise ValueError(f"unknown prompt variant {prompt!r}; known: {', '.join(sorted(PROMPTS))}")
    lines = "".join(f"\n\n{letter}. {text}" for letter, text in options.items())
    return f"{PROMPTS[prompt]}\n\nQuestion: {question}\n\nOptions:{lines}"


def matches_gold(prediction: str, label: str | None, answer: str) -> bool:
    """The paper's comparison: ``prediction`` equals ``"{label}. {answer}"``, ``label`` or ``answer``,
    each side stripped and lower-cased (the combined form is stripped as a whole, as in the original).
    With ``label`` None only the answer text counts.

    The same function in the eval, the regrade and the reward (eval/run_offline_inference_v2.py:300-310,
    analysis/regrade_eval_results.py:62-76 without its LLaVA-Med rule, train/my_reward.py:34-44).

    >>> matches_gold(" b. copd ", "B", "COPD"), matches_gold("B.", "B", "COPD"), matches_gold("copd", None, "COPD")
    (True, False, True)
    """
    pred = prediction.strip().lower()
    if label is not None and pred in (f"{label}. {answer}".strip().lower(), label.strip().lower()):
        return True
    return pred == answer.strip().lower()


def first_block(text: str, open_tag: str, close_tag: str, dotall: bool = True) -> str | None:
    """The text ``re.search(open_tag + "(.*?)" + close_tag)`` captures, found in linear time: from the
    first ``open_tag`` to the next ``close_tag``. With ``dotall=False`` the block may not hold a ``\\n``,
    so the first opening tag whose closing tag follows on the same line counts. None when none does.

    >>> first_block("<b>x<b>y</b>", "<b>", "</b>"), first_block("<b>\\n</b><b>z</b>", "<b>", "</b>", dotall=False)
    ('x<b>y', 'z')
    """
    start = text.find(open_tag)
    while start >= 0:
        body = start + len(open_tag)
        line_end = len(text) if dotall else _line_end(text, body)
        close = text.find(close_tag, body, line_end)
        if close >= 0:
            return text[body:close]
        if dotall:  # a later opening tag has even less text after it
            return None
        # every other opening tag on this line has no closing tag before the line ends either
        start = text.find(open_tag, line_end + 1)
    return None


def _line_end(text: str, start: int) -> int:
    end = text.find("\n", start)
    return len(text) if end < 0 else end


def answer_block(text: str, dotall: bool = True) -> str | None:
    """The inside of the first ``<answer>...</answer>`` block (see :func:`first_block`), or None.

    >>> answer_block("<answer>A</answer><answer>B</answer>"), answer_block("<answer>A")
    ('A', None)
    """
    return first_block(text, _OPEN, _CLOSE, dotall)


def last_answer_block(text: str) -> str | None:
    """The inside of the last block ``re.findall(r"<answer>(.*?)</answer>", re.DOTALL)`` returns (blocks
    read left to right, each search resuming after the previous block), in linear time; None if none.

    >>> last_answer_block("<answer>A</answer> <answer><answer>B</answer></answer>")
    '<answer>B'
    """
    found, pos = None, 0
    while (start := text.find(_OPEN, pos)) >= 0:
        close = text.find(_CLOSE, start + len(_OPEN))
        if close < 0:
            break
        found, pos = (start + len(_OPEN), close), close + len(_CLOSE)
    return None if found is None else text[found[0] : found[1]]


def think_block(text: str) -> str | None:
    """The inside of the first ``<think>...</think>`` block (dot matches newline), or None.

    >>> think_block("<think>a</think><think>b</think>"), think_block("<think>a")
    ('a', None)
    """
    return first_block(text, _THINK_OPEN, _THINK_CLOSE)


def extract_strict(text: str, dotall: bool = True) -> str:
    """Text inside the FIRST ``<answer>...</answer>`` block, or the whole text when there is none.

    With ``dotall=False`` a block may not span lines (the paper's reward, train/my_reward.py:21, where
    ``re.search`` then finds a LATER single-line block if there is one, else none). Nothing is stripped.

    >>> extract_strict("<answer>A</answer> <answer>B</answer>")
    'A'
    >>> extract_strict("<answer>A\\nB</answer>", dotall=False)
    '<answer>A\\nB</answer>'
    >>> extract_strict("<answer>\\nA\\n</answer><answer>C</answer>", dotall=False)
    'C'
    """
    found = answer_block(text, dotall)
    return text if found is None else found


def grade_strict(completion: str, label: str | None, answer: str, dotall: bool = True) -> bool:
    """The paper's eval grader: :func:`extract_strict` then :func:`matches_gold`.

    ``label`` is the gold letter and ``answer`` the gold option text.

    >>> grade_strict("<answer> b. copd </answer>", "B", "COPD")
    True
    >>> grade_strict("<answer>B) COPD</answer>", "B", "COPD")
    False
    """
    return matches_gold(extract_strict(completion, dotall=dotall), label, answer)


def _paper_raw_extract(text: str) -> str:
    """The regrade's ``_extract_answer`` (regrade_eval_results.py:18-49), before tag removal."""
    block = last_answer_block(text)
    if block is not None:
        # The stripped last block's first line (up to \n or \r); an empty block gives "".
        return _LINE_BREAK.split(block.strip(), maxsplit=1)[0].strip()
    for pattern in _PAPER_FALLBACKS:
        matches = pattern.findall(text)
        if matches:
            return matches[-1].strip()
    return text.strip()


def extract_paper_lenient(text: str) -> str:
    """The answer text MedVLThinker's regrade reads (analysis/regrade_eval_results.py:18-59).

    1. With any ``<answer>...</answer>`` block (case-sensitive, dot matches newline): the LAST block,
       stripped, up to its first ``\\n`` or ``\\r``; an empty block gives ``""``.
    2. Else the last match of the first of ``answer:``, ``answer is:``, ``answer is``, ``is:`` that
       matches anywhere (case-insensitive; the whitespace after it may cross lines, the answer runs to
       the end of its line).
    3. Else the whole text.

    Then the literal tags ``<think>``, ``</think>``, ``<answer>``, ``</answer>`` (exactly these, case
    sensitive) are removed and the result is stripped.

    >>> extract_paper_lenient("<answer>A</answer> then <answer>\\nC. Sepsis\\nbecause...</answer>")
    'C. Sepsis'
    >>> extract_paper_lenient("I think... The answer is: D"), extract_paper_lenient("Answer:\\n\\n<answer>B")
    ('D', 'B')
    """
    found = _paper_raw_extract(text)
    for tag in _PAPER_TAGS:
        found = found.replace(tag, "")
    return found.strip()


def grade_paper_lenient(completion: str, label: str | None, answer: str) -> bool:
    """The paper's published regrade: :func:`extract_paper_lenient` then :func:`matches_gold`
    (analysis/regrade_eval_results.py:103 and 126).

    >>> [grade_paper_lenient(c, "B", "COPD") for c in ("Answer: B", "<answer>B\\nsmoker</answer>", "<answer>**B**</answer>")]
    [True, True, False]
    """
    return matches_gold(extract_paper_lenient(completion), label, answer)


def paper_letter(completion: str, options: dict[str, str]) -> str | None:
    """The option letter the regrade files a prediction under for its majority vote: the first option
    (in order) whose letter, text or ``"{letter}. {text}"`` :func:`matches_gold` the regrade's extraction
    (analysis/regrade_eval_results.py:103-112). None where no option matches (the original keeps the
    extracted text instead; it is :func:`extract_paper_lenient`). For the vote only: correctness is
    :func:`grade_paper_lenient`.

    >>> paper_letter("The answer is: copd", {"A": "Asthma", "B": "COPD"}), paper_letter("(B)", {"B": "COPD"})
    ('B', None)
    """
    pred = extract_paper_lenient(completion)
    return next((letter for letter, text in options.items() if matches_gold(pred, letter, text)), None)


def _clean(text: str) -> str:
    """Strip whitespace, markdown emphasis (``*``, ``_``, backticks) and one trailing period."""
    text = text.strip().strip("*_`").strip()
    text = text[:-1] if text.endswith(".") else text
    return text.strip().strip("*_`").strip()


def robust_letter(completion: str, options: dict[str, str]) -> str | None:
    """The letter medvlt's robust grader (ours, not the paper's) reads from ``completion``, or None.

    On :func:`extract_paper_lenient`'s text with ``<think>``/``<answer>`` tags of any case and markdown
    emphasis removed, the first rule that applies wins:

    1. Exactly a letter of ``options``, any case, optionally punctuated or prefixed by "Option":
       ``B``, ``b``, ``(B)``, ``B.``, ``B)``, ``B:``, ``**B**``, ``Option B``.
    2. Exactly one option's text (case-insensitive, stripped, trailing period ignored).
    3. A letter of ``options`` then text: ``B. text``, ``B: text``, ``B) text``, ``(B) text``. The letter
       wins even when the text names another option (the letter is what the model committed to).

    Anything else, including an option's text inside a longer sentence, gives None.

    >>> opts = {"A": "Asthma", "B": "COPD"}
    >>> [robust_letter(c, opts) for c in ("<answer>**b**</answer>", "Answer: copd.", "Answer: B: COPD")]
    ['B', 'B', 'B']
    >>> robust_letter("The answer is likely COPD given the smoking history.", opts) is None
    True
    """
    letters = {letter.strip().upper(): letter for letter in options}
    pred = _clean(_ANY_CASE_TAGS.sub("", extract_paper_lenient(completion)))
    match = _LETTER_ONLY.fullmatch(pred)
    if match and match.group(1).upper() in letters:
        return letters[match.group(1).upper()]
    by_text = [letter for letter, text in options.items() if _clean(text).lower() == pred.lower()]
    if len(by_text) == 1:
        return by_text[0]
    match = _LETTER_TEXT.fullmatch(pred)
    if match:
        letter = (match.group(1) or match.group(2)).upper()
        if letter in letters:
            return letters[letter]
    return None


def grade_robust(completion: str, options: dict[str, str], label: str) -> bool:
    """True when :func:`robust_letter` reads the gold letter ``label`` (any case). Ours, not the paper's.

    >>> grade_robust("Answer: (A)", {"A": "Asthma", "B": "COPD"}, "a")
    True
    """
    letter = robust_letter(completion, options)
    return letter is not None and letter.strip().upper() == label.strip().upper()


def has_format(completion: str, strip: bool = False) -> bool:
    """True when the completion fully matches ``<think>.*?</think>\\s*<answer>.*?</answer>`` (dot
    matches newline), as the paper's reward gate does on the RAW completion (train/my_reward.py:13-16):
    a leading or trailing newline fails it. ``strip=True`` (ours) ignores surrounding whitespace first.

    It decides what that regex decides (a scan linear in the length, not the regex): an extra ``<think>``
    inside the thoughts or a second answer block after the first still matches, as the lazy groups widen.

    >>> has_format("<think>x</think>\\n<answer>A</answer>"), has_format("<think>x</think><answer>A</answer>\\n")
    (True, False)
    >>> has_format("<think>x</think><answer>A</answer>\\n", strip=True)
    True
    """
    text = completion.strip() if strip else completion
    if not (text.startswith(_THINK_OPEN) and text.endswith(_CLOSE)):
        return False
    # Some "</think>", then only whitespace, then "<answer>" that ends before the final "</answer>":
    # each "</think>" is tried once and the whitespace after it read once, so the scan is linear.
    end, pos = len(text) - len(_CLOSE), len(_THINK_OPEN)
    while (close := text.find(_THINK_CLOSE, pos, end)) >= 0:
        pos = _SPACES.match(text, close + len(_THINK_CLOSE)).end()
        if text.startswith(_OPEN, pos, end):
            return True
    return False


REWARD_VARIANTS = ("default", "paper")


def format_gated_reward(completion: str, label: str | None, answer: str, variant: str = "default") -> float:
    """RLVR reward: 0.0 unless the format gate passes, else the strict grade as 0.0/1.0.

    ``paper`` is train/my_reward.py:47-59 (``compute_score``) exactly: the gate on the raw completion,
    then the answer read without DOTALL (a multi-line block is skipped: a later single-line block, else
    the whole text, is graded). ``default`` (ours) strips the completion for the gate and reads the
    first block across lines.

    >>> format_gated_reward("<think>Hb 6 g/dL.</think><answer>\\nC\\n</answer>", "C", "Anemia")
    1.0
    >>> format_gated_reward("<think>Hb 6 g/dL.</think><answer>\\nC\\n</answer>", "C", "Anemia", "paper")
    0.0
    """
    if variant not in REWARD_VARIANTS:
        raise ValueError(f"unknown reward variant {variant!r}; known: {', '.join(REWARD_VARIANTS)}")
    paper = variant == "paper"
    if not has_format(completion, strip=not paper):
        return 0.0
    return float(grade_strict(completion, label, answer, dotall=not paper))


def grade(
    completion: str, options: dict[str, str], label: str, answer: str | None = None
) -> dict[str, bool | str | None]:
    """Every verdict on one completion, as stored with eval generations; the gold text is ``answer``
    (the record's answer column, which the original graders compare) or else ``options[label]``.

    Keys: ``strict`` (:func:`grade_strict`), ``lenient_paper`` (:func:`grade_paper_lenient`, the
    published regrade), ``robust`` (:func:`grade_robust`, ours), ``format`` (:func:`has_format` on the
    completion stripped, as the paper's eval stores outputs stripped, eval/run_offline_inference_v2.py:224),
    ``extracted`` (the stripped strict extraction), ``extracted_paper`` (:func:`extract_paper_lenient`),
    ``letter_paper`` (:func:`paper_letter`) and ``letter_robust`` (:func:`robust_letter`).

    >>> v = grade("<think>wheeze</think><answer>(A)</answer>", {"A": "Asthma", "B": "COPD"}, "A")
    >>> v["strict"], v["lenient_paper"], v["robust"], v["letter_paper"], v["letter_robust"]
    (False, False, True, None, 'A')
    """
    if answer is None:
        if label not in options:
            raise ValueError(
                f"label {label!r} is not one of the options {list(options)} and no answer text is given"
            )
        answer = options[label]
    return {
        "strict": grade_strict(completion, label, answer),
        "lenient_paper": grade_paper_lenient(completion, label, answer),
        "robust": grade_robust(completion, options, label),
        "format": has_format(completion, strip=True),
        "extracted": extract_strict(completion).strip(),
        "extracted_paper": extract_paper_lenient(completion),
        "letter_paper": paper_letter(completion, options),
        "letter_robust": robust_letter(completion, options),
    }
