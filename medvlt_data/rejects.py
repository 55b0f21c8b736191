"""Every reason a row or record can be dropped for: its code, its meaning and the steps that give it.

A reject row (:func:`~medvlt_data.schema.reject_row`) carries one of these codes as ``reason``. The
steps are those of :data:`STEPS`: an ingest writes its rejects to ``rejects.jsonl`` (step ``ingest``),
a build to ``rejects/<step>/``. ``python -m medvlt_data.rejects > docs/rejects.md`` writes the page
of this registry; a test checks that the page is current and that the code produces no reason that is
missing here.

>>> lookup("contaminated:mmlu_medical").code
'contaminated:<benchmark>'
>>> lookup("open-ended").steps
('ingest', 'read')
"""

from __future__ import annotations

from dataclasses import dataclass

#: The steps that drop rows, in pipeline order, and what each one checks.
STEPS = {
    "ingest": "`medvlt data ingest`: the source adapter's checks and the record schema (`rejects.jsonl`)",
    "read": "build, prepare stage: the source adapter's checks while reading (`rejects/read/`)",
    "validate": "build, prepare stage: the record schema (`rejects/validate/`)",
    "images": "build, prepare stage: decoding and preparing each image (`rejects/images/`)",
    "dedup_exact": "build: exact duplicates of question, sorted options and images (`rejects/dedup_exact/`)",
    "dedup_near": "build: near-duplicate questions, MinHash on question and options (`rejects/dedup_near/`)",
    "decontaminate": "build: questions or images of an evaluation benchmark (`rejects/decontaminate/`)",
    "difficulty": "build, hard splits: the base model's pass-count band (`rejects/difficulty/`)",
}  # fmt: skip

_ADAPTER = ("ingest", "read")
_SCHEMA = ("ingest", "validate")
_BOTH = ("ingest", "read", "validate")


@dataclass(frozen=True)
class Reason:
    """One reject reason: its ``code`` (``<name>`` marks a part filled in), meaning and steps."""

    code: str
    meaning: str
    steps: tuple[str, ...]


#: Every reason, by code.
REASONS: dict[str, Reason] = {
    r.code: r
    for r in (
        Reason("ambiguous-answer", "an answer entry names several answers (PathVQA `labelf`)", _ADAPTER),
        Reason("answer-mismatch", "the answer text differs from the text of the labelled option", _BOTH),
        Reason("bad-encoding", "the row's text is not valid UTF-8 (PMC-VQA CSV)", _ADAPTER),
        Reason("bad-option-letters", "option letters are not A, B, C, ... in order, or repeat", _BOTH),
        Reason("bad-options", "the options are not a mapping of letter to text", _SCHEMA),
        Reason("choice-letter-mismatch", "a choice's own letter prefix is not its column's letter", _ADAPTER),
        Reason("closed-no-options",
               "the source marks the question closed, but no options follow from it (no yes/no answer and "
               "no alternatives named in the question)", _ADAPTER),
        Reason("contaminated:<benchmark>",
               "the question text or an image matches an item of the evaluation benchmark <benchmark>",
               ("decontaminate",)),
        Reason("control-characters",
               "question, option or answer text holds a control character other than tab, newline and "
               "carriage return (NUL bytes, escape sequences, text decoded with the wrong codec)", _SCHEMA),
        Reason("duplicate",
               "a copy of an earlier row: within a source, the same id or the same image, question and "
               "answer; in a build, the same question, sorted options and images",
               (*_ADAPTER, "dedup_exact")),
        Reason("empty-option", "an option's text is empty (or only control characters)", _BOTH),
        Reason("empty-options", "the row has no options at all", _ADAPTER),
        Reason("empty-question", "the question text is empty (or only control characters)", _SCHEMA),
        Reason("image-outside-root",
               "an image name, symlink or zip member leads outside the source's image folder or dataset "
               "folder (`..`, an absolute path elsewhere, a file path with no folder); the file is not read",
               _ADAPTER),
        Reason("label-mismatch",
               "two fields of the row disagree on the answer (answer vs. label, decision vs. the ground "
               "truth file, or unequal numbers of questions and answers)", _ADAPTER),
        Reason("label-not-in-options", "the answer label is not one of the option letters", _SCHEMA),
        Reason("malformed-choice", "a choice lacks its `X:` letter prefix (PMC-VQA CSV)", _ADAPTER),
        Reason("malformed-csv", "a CSV row that cannot be parsed", _ADAPTER),
        Reason("malformed-json", "a line or row that is not valid JSON, or not a JSON object", _ADAPTER),
        Reason("malformed-options", "the options are not a list (or the literal form of one)", _ADAPTER),
        Reason("malformed-row",
               "the row lacks required fields, has fields of the wrong kind, or the wrong number of "
               "fields", _ADAPTER),
        Reason("missing-image",
               "a question that needs an image has none, or its image cannot be found or read", _ADAPTER),
        Reason("multiple-answers", "the label names more than one option", _ADAPTER),
        Reason("near-duplicate", "a near copy (MinHash) of a question kept earlier", ("dedup_near",)),
        Reason("no-answer", "the row has no answer or label", _ADAPTER),
        Reason("no-context", "a PubMedQA row without abstract text", _ADAPTER),
        Reason("no-options", "no `Answer Choices: (A) ...` in an embedded-choices question", _ADAPTER),
        Reason("no-source", "the record names no source", _SCHEMA),
        Reason("no-source-id", "the record has no source id", _SCHEMA),
        Reason("non-english", "the question is not in English (the pools are English)", _ADAPTER),
        Reason("open-ended", "an open question: no options follow from its answer", _ADAPTER),
        Reason("too-easy", "the base model answered it correctly more often than the band allows",
               ("difficulty",)),
        Reason("too-few-options", "fewer than two options", _BOTH),
        Reason("too-hard", "the base model answered it correctly less often than the band allows",
               ("difficulty",)),
        Reason("too-many-options", "more than ten options (A-J)", _BOTH),
        Reason("undecodable-image", "an image whose bytes do not decode, or exceed the size limits",
               ("ingest", "images")),
        Reason("undecodable-line",
               "a JSON line that is not UTF-8 text (binary data, NUL bytes, another codec)", _ADAPTER),
        Reason("unknown",
               "a step dropped the record without naming a reason (a bug: please report it)",
               ("validate", "images", "decontaminate", "difficulty")),
        Reason("unknown-answer", "a PubMedQA decision other than yes, no or maybe", _ADAPTER),
        Reason("unknown-answer-letter", "the label is not the letter (or index) of one of the options",
               _ADAPTER),
    )
}  # fmt: skip


def lookup(code: str) -> Reason | None:
    """The registry entry of a reason as written in a reject row (``contaminated:medqa`` is
    ``contaminated:<benchmark>``), or None for a code that is not registered."""
    if code in REASONS:
        return REASONS[code]
    head, colon, _ = code.partition(":")
    return next((r for r in REASONS.values() if colon and r.code.startswith(f"{head}:<")), None)


def render_markdown() -> str:
    """The page docs/rejects.md: the steps, then every reason with its meaning and steps."""
    lines = [
        "# Reject reasons",
        "",
        "Generated by `python -m medvlt_data.rejects > docs/rejects.md`; do not edit.",
        "",
        "Every row read is kept or dropped with one of these reasons: `medvlt data ingest` writes its",
        "rejects to `rejects.jsonl`, a build to `rejects/<step>/*.jsonl`, one JSON line per row with its",
        "`step`, `reason`, `id`, `source`, `split`, `source_id`, `file` and `detail`.",
        "",
        "## Steps",
        "",
        "| step | what it drops |",
        "|---|---|",
        *(f"| `{step}` | {what} |" for step, what in STEPS.items()),
        "",
        "## Reasons",
        "",
        "| reason | meaning | steps |",
        "|---|---|---|",
        *(f"| `{r.code}` | {r.meaning} | {', '.join(r.steps)} |" for r in REASONS.values()),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(render_markdown(), end="")
