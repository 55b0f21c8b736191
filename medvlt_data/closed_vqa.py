"""Turning a closed-ended VQA question (VQA-RAD, SLAKE, PathVQA) into multiple choice.

The rule is deterministic and documented here, once:

1. A yes/no answer gives the options ``["Yes", "No"]`` (label A for yes, B for no).
2. A question of the form ``... X or Y?`` (also ``... X, Y, or Z?`` and, when every item between
   the commas is a few words without stop words, ``... image,X,Y or Z?`` as SLAKE writes it) gives
   the alternatives in the order the question names them, when the answer is one of them. An
   alternative is read from the words next to "or" (and next to each comma of a list), as many words
   as the answer has, stopping at articles, prepositions and verbs such as "the", "on", "is"; leading
   articles are dropped.
   The answer matches the alternative it equals, ignoring case, punctuation and a leading article.
3. Anything else is rejected with the reason ``open-ended``; a question its source marks CLOSED
   that the rule cannot convert is rejected as ``closed-no-options`` (:data:`NO_OPTIONS`), since the
   paper had GPT-4o write the options of such questions (UCSC-VLAA/MedVLThinker
   data_process/extract_options.py:11-67, prepare_vlm_eval_data.py:182-215), which no rule reproduces.

The paper's yes/no options are the same: its option prompt asks for ``["Yes", "No"]`` whenever the
answer is yes or no (extract_options.py:16), and the answer label is the option equal to the answer,
ignoring case (prepare_vlm_eval_data.py:197-200).

Option texts take the casing of the question's words, with a capital first letter.

>>> closed_to_choices("Is there evidence of an aortic aneurysm?", "yes")
(['Yes', 'No'], 'A')
>>> closed_to_choices("Is this an MRI or a CT scan?", "MRI")
(['MRI', 'CT'], 'A')
>>> closed_to_choices("Is the lesion on the left or right side of the brain?", "Right")
(['Left', 'Right'], 'B')
>>> closed_to_choices("Is this a T1 weighted, T2 weighted, or FLAIR image?", "FLAIR")
(['T1 weighted', 'T2 weighted', 'FLAIR'], 'C')
>>> closed_to_choices("Which is the biggest in this image,lung,liver or heart?", "Lung")
(['Lung', 'Liver', 'Heart'], 'A')
>>> closed_to_choices("What organ is shown?", "liver") is None
True
"""

from __future__ import annotations

import re

from medvlt_data.schema import LETTERS

#: Reject reason of a question its source marks CLOSED that the rule cannot give options.
NO_OPTIONS = "closed-no-options"

#: Words that end an alternative when read outward from "or" or a comma.
_STOP = {
    "a", "an", "the", "is", "are", "was", "were", "be", "this", "that", "these", "those", "there",
    "on", "in", "of", "at", "to", "from", "by", "with", "as", "it", "its", "does", "do", "did",
    "which", "what", "either", "just", "more", "less", "patient's", "image", "located", "shown",
}  # fmt: skip
_ARTICLES = ("a ", "an ", "the ")
_WORD = re.compile(r"[\w'\-/+.]+")


def answer_type_problem(value: object) -> tuple[str, str] | None:
    """Why a row with this ``answer_type`` is not a closed question, as (reason, detail), or None when
    it is one: ``OPEN`` is ``open-ended``, anything but ``CLOSED`` (any case, spaces ignored) a
    ``malformed-row``.

    >>> answer_type_problem("CLOSED "), answer_type_problem("OPEN"), answer_type_problem(None)[0]
    (None, ('open-ended', "answer_type 'OPEN'"), 'malformed-row')
    """
    answer_type = str(value or "").strip().upper()
    if answer_type == "OPEN":
        return "open-ended", "answer_type 'OPEN'"
    if answer_type != "CLOSED":
        return "malformed-row", f"answer_type {value!r} is neither OPEN nor CLOSED"
    return None


def closed_to_choices(question: str, answer: str) -> tuple[list[str], str] | None:
    """Options and the answer's letter for a closed question, or None when it is open-ended."""
    ans = _clean(answer)
    if ans in ("yes", "no"):
        return ["Yes", "No"], "A" if ans == "yes" else "B"
    if not ans:
        return None
    text = question.strip().rstrip("?").strip()
    match = list(re.finditer(r"\s+or\s+", text, flags=re.IGNORECASE))
    if not match:
        return None
    last = match[-1]
    left, right = text[: last.start()], text[last.end() :]
    n_words = len(ans.split())
    left_items = [s for s in (p.strip() for p in left.split(",")) if s]
    if len(left_items) > 1 and left.rstrip().endswith(","):
        middle = left_items[1:]
        width = max(n_words, *(len(m.split()) for m in middle))
        alternatives = [_take(left_items[0], width, from_end=True), *map(_strip_article, middle)]
    elif len(left_items) > 1 and all(_bare(item, n_words) for item in left_items[1:]):
        alternatives = [_strip_article(item) for item in left_items[1:]]  # "... image,lung,liver or heart"
    else:
        alternatives = [_take(left, n_words, from_end=True)]
    alternatives.append(_take(right, n_words, from_end=False))
    alternatives = [_capital(a) for a in alternatives if a]
    keys = [_clean(a) for a in alternatives]
    if len(set(keys)) != len(keys) or ans not in keys:
        return None
    return alternatives, LETTERS[keys.index(ans)]


def _take(text: str, n: int, *, from_end: bool) -> str:
    words = _WORD.findall(text if from_end else _strip_article(text))
    if from_end:
        words = words[::-1]
    taken: list[str] = []
    for word in words:
        if word.lower() in _STOP or len(taken) == n:
            break
        taken.append(word)
    if from_end:
        taken = taken[::-1]
    return " ".join(taken).strip(".")


def _bare(item: str, n_words: int) -> bool:
    """True when a comma-separated item is an alternative by itself: a few words, none a stop word."""
    words = _strip_article(item).split()
    return 0 < len(words) <= max(3, n_words) and not any(w.lower() in _STOP for w in words)


def _strip_article(text: str) -> str:
    lowered = text.lower()
    for article in _ARTICLES:
        if lowered.startswith(article):
            return text[len(article) :].strip()
    return text.strip()


def _clean(text: str) -> str:
    text = re.sub(r"[^\w\s'\-/+]", " ", str(text).lower())
    return _strip_article(" ".join(text.split()))


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]
