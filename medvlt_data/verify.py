"""Prompt, answer extraction and grading for multiple-choice medical QA (MedVLThinker, arXiv 2508.02669).

One module serves difficulty scoring, the RLVR reward and evaluation, so all three read answers alike.

* :func:`build_prompt` writes the instruction, the question and the lettered options.
* Strict grading (the paper's eval and reward): :func:`extract_strict`, :func:`grade_strict`.
* Lenient regrade (the published tables): :func:`extract_lenient`, :func:`lenient_letter`,
  :func:`grade_lenient`.
* The format gate and the reward: :func:`has_format`, :func:`format_gated_reward`.
* :func:`grade` bundles the verdicts for storing graded rollouts.

>>> grade_strict("<think>ST elevation in II, III, aVF.</think><answer>B</answer>", "B", "Inferior MI")
True
>>> lenient_letter("The answer is (c).", {"A": "Asthma", "B": "COPD", "C": "Pneumonia"})
'C'
>>> format_gated_reward("<answer>B</answer>", "B", "Inferior MI")
0.0
"""

from __future__ import annotations

import re

_INSTRUCTION = (
    "You will solve a problem/request. You should provide your thoughts within <think> </think> tags "
    "before providing the answer.{sep}Write your final answer within <answer> </answer> tags."
)

#: Instruction variants. ``paper`` is verbatim from the paper, with a literal backslash-n (two
#: characters) between the sentences; ``default`` has a real newline there.
PROMPTS: dict[str, str] = {
    "paper": _INSTRUCTION.format(sep="\\n"),
    "default": _INSTRUCTION.format(sep="\n"),
}

_ANSWER_BLOCK = r"<answer>(.*?)</answer>"
_FORMAT = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.DOTALL)
_FALLBACKS = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (r"answer:\s*(.*)", r"answer is:\s*(.*)", r"answer is\s*(.*)", r"is:\s*(.*)")
)
_TAGS = re.compile(r"</?(?:think|answer)\s*>", re.IGNORECASE)
# A bare letter: "B", "b", "(B)", "B)", "B:", "[B]", "Option B" (emphasis and a final period removed first).
_LETTER_ONLY = re.compile(r"(?:option\s+)?[(\[]?([A-Za-z])[)\]]?[.:)]?", re.IGNORECASE)
# A letter then text: "B. text", "B: text", "B) text", "(B) text", "Option B: text".
_LETTER_TEXT = re.compile(
    r"(?:option\s+)?(?:\(([A-Za-z])\)|([A-Za-z])[.:)])\s+\S.*", re.IGNORECASE | re.DOTALL
)


def build_prompt(question: str, options: dict[str, str], prompt: str = "paper") -> str:
    """The user prompt: instruction, question and options, each option as ``"{letter}. {text}"``.

    ``options`` is an ordered mapping letter -> text; options are separated by a blank line.

    >>> p = build_prompt("Most likely diagnosis?", {"A": "Asthma", "B": "COPD"}, prompt="default")
    >>> p.endswith("tags.\\n\\nQuestion: Most likely diagnosis?\\n\\nOptions:\\n\\nA. Asthma\\n\\nB. COPD")
    True
    >>> "answer.\\\\nWrite" in build_prompt("Most likely diagnosis?", {"A": "Asthma"})
    True
    """
    if prompt not in PROMPTS:
        raise ValueError(f"unknown prompt variant {prompt!r}; known: {', '.join(sorted(PROMPTS))}")
    lines = "\n\n".join(f"{letter}. {text}" for letter, text in options.items())
    return f"{PROMPTS[prompt]}\n\nQuestion: {question}\n\nOptions:\n\n{lines}"


def extract_strict(text: str, dotall: bool = True) -> str:
    """Text inside the FIRST ``<answer>...</answer>`` block, or the whole text when there is none.

    With ``dotall=False`` the block may not span lines (the paper's reward), so a multi-line block is
    not found and the whole text comes back. Nothing is stripped here.

    >>> extract_strict("<answer>A</answer> <answer>B</answer>")
    'A'
    >>> extract_strict("<answer>A\\nB</answer>", dotall=False)
    '<answer>A\\nB</answer>'
    """
    match = re.search(_ANSWER_BLOCK, text, re.DOTALL if dotall else 0)
    return match.group(1) if match else text


def grade_strict(completion: str, label: str, answer: str, dotall: bool = True) -> bool:
    """True when the strict extraction equals ``"{label}. {answer}"``, ``label`` or ``answer``.

    Comparison ignores case and surrounding whitespace; ``label`` is the gold letter and ``answer``
    the gold option text.

    >>> grade_strict("<answer> b. copd </answer>", "B", "COPD")
    True
    >>> grade_strict("<answer>B) COPD</answer>", "B", "COPD")
    False
    """
    pred = extract_strict(completion, dotall=dotall).strip().lower()
    label, answer = label.strip(), answer.strip()
    return pred in {f"{label}. {answer}".lower(), label.lower(), answer.lower()}


def extract_lenient(text: str) -> str:
    """The answer text the lenient regrade reads.

    1. The first non-empty line of the LAST closed ``<answer>`` block, if any block exists.
    2. Else the last match of the first of ``answer:``, ``answer is:``, ``answer is``, ``is:`` (case
       insensitive, to the end of the line) that matches anywhere.
    3. Else the whole text.

    ``<think>``/``<answer>`` tags (any case) are removed and the result is stripped. Finding a block is
    case-sensitive, as in the strict grader.

    >>> extract_lenient("<answer>A</answer> then <answer>\\nC. Sepsis\\nbecause...</answer>")
    'C. Sepsis'
    >>> extract_lenient("I think... The answer is: D")
    'D'
    """
    blocks = re.findall(_ANSWER_BLOCK, text, re.DOTALL)
    if blocks:
        lines = [line for line in blocks[-1].strip().splitlines() if line.strip()]
        found = lines[0] if lines else ""
    else:
        found = text
        for pattern in _FALLBACKS:
            matches = pattern.findall(text)
            if matches:
                found = matches[-1]
                break
    return _TAGS.sub("", found).strip()


def _clean(text: str) -> str:
    """Strip whitespace, markdown emphasis (``*``, ``_``, backticks) and one trailing period."""
    text = text.strip().strip("*_`").strip()
    text = text[:-1] if text.endswith(".") else text
    return text.strip().strip("*_`").strip()


def lenient_letter(completion: str, options: dict[str, str]) -> str | None:
    """The letter the lenient regrade reads from ``completion``, or None.

    Rules, on :func:`extract_lenient`'s text with markdown emphasis removed, first that applies wins:

    1. Exactly a letter of ``options``, any case, optionally punctuated or prefixed by "Option":
       ``B``, ``b``, ``(B)``, ``B.``, ``B)``, ``B:``, ``**B**``, ``Option B``.
    2. Exactly one option's text (case-insensitive, stripped, trailing period ignored).
    3. A letter of ``options`` then text: ``B. text``, ``B: text``, ``B) text``, ``(B) text``. The letter
       wins even when the text names another option (the letter is what the model committed to).

    Anything else, including an option's text inside a longer sentence, gives None.

    >>> opts = {"A": "Asthma", "B": "COPD"}
    >>> [lenient_letter(c, opts) for c in ("<answer>**b**</answer>", "Answer: copd.", "Answer: B: COPD")]
    ['B', 'B', 'B']
    >>> lenient_letter("The answer is likely COPD given the smoking history.", opts) is None
    True
    """
    letters = {letter.strip().upper(): letter for letter in options}
    pred = _clean(extract_lenient(completion))
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


def grade_lenient(completion: str, options: dict[str, str], label: str) -> bool:
    """True when :func:`lenient_letter` reads the gold letter ``label`` (any case).

    >>> grade_lenient("Answer: (A)", {"A": "Asthma", "B": "COPD"}, "a")
    True
    """
    letter = lenient_letter(completion, options)
    return letter is not None and letter.strip().upper() == label.strip().upper()


def has_format(completion: str) -> bool:
    """True when the stripped completion fully matches ``<think>.*?</think>\\s*<answer>.*?</answer>``.

    Dot matches newline. Surrounding whitespace is stripped first (a trailing newline from the
    sampler does not fail the gate); any other text before ``<think>`` or after ``</answer>`` does.
    This is a regex, not a parser: an extra ``<think>`` inside the thoughts or a second answer block
    after the first still matches, because the lazy groups can widen.

    >>> has_format("<think>x</think>\\n<answer>A</answer>\\n")
    True
    >>> has_format("Sure! <think>x</think><answer>A</answer>")
    False
    """
    return _FORMAT.fullmatch(completion.strip()) is not None


def format_gated_reward(completion: str, label: str, answer: str, variant: str = "default") -> float:
    """RLVR reward: 0.0 unless :func:`has_format`, else the strict grade as 0.0/1.0.

    ``variant="paper"`` extracts the answer without DOTALL as the paper's reward does (a multi-line
    answer block falls back to the whole text and fails); ``"default"`` tolerates newlines.

    >>> format_gated_reward("<think>Hb 6 g/dL.</think><answer>\\nC\\n</answer>", "C", "Anemia")
    1.0
    >>> format_gated_reward("<think>Hb 6 g/dL.</think><answer>\\nC\\n</answer>", "C", "Anemia", "paper")
    0.0
    """
    if variant not in ("paper", "default"):
        raise ValueError(f"unknown reward variant {variant!r}; known: default, paper")
    if not has_format(completion):
        return 0.0
    return float(grade_strict(completion, label, answer, dotall=variant == "default"))


def grade(completion: str, options: dict[str, str], label: str) -> dict[str, bool | str]:
    """All verdicts for one completion, for storing graded rollouts.

    Keys: ``strict`` (:func:`grade_strict` against ``options[label]``), ``lenient``
    (:func:`grade_lenient`), ``format`` (:func:`has_format`) and ``extracted`` (the stripped strict
    extraction, i.e. the text the strict grader compared).

    >>> grade("<think>wheeze</think><answer>A. Asthma</answer>", {"A": "Asthma", "B": "COPD"}, "A")
    {'strict': True, 'lenient': True, 'format': True, 'extracted': 'A. Asthma'}
    """
    return {
        "strict": grade_strict(completion, label, options[label]),
        "lenient": grade_lenient(completion, options, label),
        "format": has_format(completion),
        "extracted": extract_strict(completion).strip(),
    }
