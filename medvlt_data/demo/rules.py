"""The learnable part of the demo corpus: made-up drugs whose name's ending gives their class.

Every question asks for the class of one made-up drug, with the same four options in the same order
(:data:`CLASSES`), so the answer letter is a function of the drug's suffix (``-olol`` beta blocker,
``-pril`` ACE inhibitor, ``-vastatin`` statin, ``-prazole`` proton pump inhibitor, the real naming
conventions of those classes). A small model can learn that rule from the training questions and apply
it to drugs and phrasings it never saw:

- the training pool (:func:`training_questions`) uses the drugs of :data:`TRAIN_STEMS` in the phrasings
  of :data:`TRAIN_TEMPLATES`;
- the evaluation questions (:func:`eval_questions`) use other drugs (:data:`EVAL_STEMS`) in other
  phrasings (:data:`EVAL_TEMPLATES`), so no evaluation question, drug or sentence is in the pool.

The demo tokenizer (medvlt_train/demo_model.py) keeps each suffix one token and splits every stem into
the pieces of its prose, training and evaluation stems alike, so a new drug reaches the model as
unfamiliar pieces followed by a familiar suffix: what it learned about the suffix is all it can use.

Each question carries a one-line reasoning trace (:attr:`RuleQuestion.reasoning`) that states the rule;
the demo base model is the small preset after a short SFT on the training traces. All names and
sentences are written for medvlt; none comes from a real dataset.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The four options of every rule question, in this order (so the letter follows from the class).
CLASSES: tuple[str, ...] = ("Beta blocker", "ACE inhibitor", "Statin", "Proton pump inhibitor")

#: The suffix of each class, in :data:`CLASSES` order.
SUFFIXES: tuple[str, ...] = ("olol", "pril", "vastatin", "prazole")

#: Made-up stems of the training drugs (the name is the stem plus a suffix: "Darolol", "Kempril").
TRAIN_STEMS: tuple[str, ...] = ("Dar", "Kem", "Bax", "Tun", "Lor", "Fib", "Nem", "Sut", "Gav", "Hek")

#: Made-up stems of the evaluation drugs: none is a training stem, so every evaluation drug is new.
EVAL_STEMS: tuple[str, ...] = ("Mib", "Zet", "Qan", "Wex", "Cul", "Jad", "Rud", "Yen", "Fos", "Tib")

#: Phrasings of the training questions ({drug}, {age}, {who}).
TRAIN_TEMPLATES: tuple[str, ...] = (
    "A {age}-year-old {who} is started on {drug}. To which drug class does {drug} belong?",
    "Which class of medication includes {drug}?",
    "A {who} brings a box of {drug} to the clinic. What kind of drug is {drug}?",
)

#: Phrasings of the evaluation questions: none is a training phrasing.
EVAL_TEMPLATES: tuple[str, ...] = (
    "The discharge letter of a {age}-year-old {who} lists {drug}. {drug} is an example of which drug class?",
    "Into which group of medicines does {drug} fall?",
)

_WHO = ("man", "woman", "patient", "nurse", "farmer", "teacher")


@dataclass(frozen=True)
class RuleQuestion:
    """One made-up question: which class is ``drug``? ``answer`` indexes :data:`CLASSES`."""

    id: str
    question: str
    drug: str
    answer: int

    @property
    def options(self) -> tuple[str, ...]:
        return CLASSES

    @property
    def stem(self) -> str:
        """The drug's name without its class suffix."""
        return self.drug[: -len(SUFFIXES[self.answer])]

    @property
    def reasoning(self) -> str:
        """The trace: the rule applied to this drug."""
        suffix = SUFFIXES[self.answer]
        return f"{self.drug} ends in -{suffix}, so it is a {CLASSES[self.answer].lower()}."


def drug_name(stem: str, class_index: int) -> str:
    """A made-up drug: ``stem`` plus the suffix of class ``class_index``.

    >>> drug_name("Dar", 0), drug_name("Kem", 3)
    ('Darolol', 'Kemprazole')
    """
    return stem + SUFFIXES[class_index]


def _questions(prefix: str, stems: tuple[str, ...], templates: tuple[str, ...]) -> list[RuleQuestion]:
    questions = []
    for s, stem in enumerate(stems):
        for c in range(len(CLASSES)):
            drug = drug_name(stem, c)
            for t, template in enumerate(templates):
                n = len(questions)
                text = template.format(drug=drug, age=24 + (7 * n) % 60, who=_WHO[(s + c + t) % len(_WHO)])
                questions.append(RuleQuestion(f"{prefix}-{n:03d}", text, drug, c))
    return questions


def training_questions() -> list[RuleQuestion]:
    """The training pool: every training drug (10 stems x 4 classes) in every training phrasing (120)."""
    return _questions("rule", TRAIN_STEMS, TRAIN_TEMPLATES)


def eval_questions() -> list[RuleQuestion]:
    """The held-out questions: every evaluation drug (10 new stems x 4 classes) once, in an evaluation
    phrasing; each class is asked in both phrasings (40)."""
    questions = []
    for s, stem in enumerate(EVAL_STEMS):
        for c in range(len(CLASSES)):
            n, drug = len(questions), drug_name(stem, c)
            template = EVAL_TEMPLATES[(s + c) % len(EVAL_TEMPLATES)]
            text = template.format(drug=drug, age=30 + (11 * n) % 50, who=_WHO[n % len(_WHO)])
            questions.append(RuleQuestion(f"rule-eval-{n:03d}", text, drug, c))
    return questions
