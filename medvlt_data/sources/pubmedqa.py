"""PubMedQA, expert-labelled set (PQA-L): yes / no / maybe research questions over an abstract (text).

Hub: ``qiaojin/PubMedQA`` config ``pqa_labeled``, one split ``train`` (1000 rows), columns pubid,
question, context {contexts, labels, meshes, ...} (lists, one entry per abstract section),
long_answer, final_decision.

Local: ``ori_pqal.json``, one object keyed by PMID, each value with QUESTION, CONTEXTS, LABELS, MESHES,
YEAR, final_decision, LONG_ANSWER; the path may be the folder or the file itself; optionally
``test_ground_truth.json`` beside it (PMID -> decision: the official 500-question test set).

Splits (``config``, the split scheme):

- ``m1`` (default, both layouts): the halves m23k was made from. UCSC-VLAA/m1
  src/collect_data/pubmedqa.py:26-29, 93-101 loads the 1000 rows and calls ``datasets``'
  ``train_test_split(test_size=0.5, seed=0, shuffle=True)``; m23k takes ``train``, and the other half
  (``test``, uploaded as ``mmqm/pubmedqa_custom_test``) is a decontamination reference of m1
  (decontaminate.py:44-47). medvlt calls that same function on the row positions (the Hub's row
  order, or the key order of ``ori_pqal.json``), so ``train`` / ``test`` are the same rows. These are
  NOT the official test set: on the real files 262 of the 500 official test PMIDs fall in m1's test
  half and 238 in its train half (tests/test_source_pubmedqa.py).
- ``official`` (local only, needs ``test_ground_truth.json``): ``test`` = the PMIDs of the ground truth,
  ``train`` = the other 500, as the PubMedQA benchmark defines them.

With ``test_ground_truth.json`` present, every record also carries meta ``official_test`` (True/False)
and a record whose decision there differs from its own final_decision is rejected as
``label-mismatch``, whichever scheme is used. PMIDs of the ground truth that are absent from
ori_pqal.json are ignored (there is no row to read).

Rules shared by both layouts:

- options are always ``["yes", "no", "maybe"]`` (A, B, C); the answer is final_decision (case and
  surrounding space ignored); any other decision is rejected as ``unknown-answer``. (m1 shuffles the
  three options with numpy ``default_rng(42)``, pubmedqa.py:42-44, 78; medvlt keeps them fixed.)
- the abstract goes into the question text, in this exact form::

      Context: <section 1>
      <section 2>
      ...

      <question>

  where each section is ``LABEL: text`` when the section labels align with the contexts (as many
  labels as contexts, none blank), and the bare context text otherwise. A row with no context text
  is rejected as ``no-context``. (m1's prompt is the bare sections joined by newlines, then the
  question, then the options, pubmedqa.py:32, 54-57.)
- source_id is the PMID; meta keeps long_answer, meshes and year (local only; the Hub has no year).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from medvlt_data.sources import register
from medvlt_data.sources.base import Item, Source, SourceError, load_json
from medvlt_data.sources.hub import hub_rows

#: The fixed options of every PubMedQA question, in order (A, B, C).
DECISIONS = ("yes", "no", "maybe")

DATA_FILE = "ori_pqal.json"
TEST_FILE = "test_ground_truth.json"
#: The split schemes (module docstring); ``m1`` is m23k's.
SPLIT_SCHEMES = ("m1", "official")
#: m1's split (UCSC-VLAA/m1 src/collect_data/pubmedqa.py:93-96).
M1_TEST_SIZE, M1_SEED = 0.5, 0


def m1_halves(num_rows: int) -> tuple[list[int], list[int]]:
    """(train positions, test positions) of ``num_rows`` rows as m1 split them: ``datasets``'
    ``train_test_split(test_size=0.5, seed=0, shuffle=True)`` run on the row positions.

    >>> train, test = m1_halves(1000)
    >>> len(train), len(test), sorted(train + test) == list(range(1000))
    (500, 500, True)
    """
    import datasets

    if num_rows < 2:
        return list(range(num_rows)), []
    positions = datasets.Dataset.from_dict({"position": list(range(num_rows))})
    halves = positions.train_test_split(test_size=M1_TEST_SIZE, seed=M1_SEED, shuffle=True)
    return list(halves["train"]["position"]), list(halves["test"]["position"])


def _m1_split_names(num_rows: int) -> list[str]:
    """The m1 split name of each row position."""
    names = ["train"] * num_rows
    for position in m1_halves(num_rows)[1]:
        names[position] = "test"
    return names


def context_question(question: str, contexts: list[str], labels: list[str] | None = None) -> str:
    """The question text with its abstract in front (the format in the module docstring).

    >>> print(context_question("Does it work?", ["We tried it.", "It worked."], ["METHODS", "RESULTS"]))
    Context: METHODS: We tried it.
    RESULTS: It worked.
    <BLANKLINE>
    Does it work?
    >>> context_question("Does it work?", ["We tried it.", "It worked."], ["METHODS"])
    'Context: We tried it.\\nIt worked.\\n\\nDoes it work?'
    """
    texts = [str(c).strip() for c in contexts]
    names = [str(label).strip() for label in labels or []]
    if len(names) == len(texts) and all(names):
        texts = [f"{name}: {text}" for name, text in zip(names, texts, strict=True)]
    return "Context: " + "\n".join(texts) + "\n\n" + str(question).strip()


@register
class PubMedQA(Source):
    name = "pubmedqa"
    modality = "text"
    license = "MIT"
    hub_id = "qiaojin/PubMedQA"
    hub_config = "pqa_labeled"
    local_layout = "ori_pqal.json keyed by PMID (+ test_ground_truth.json marking the test split)"
    description = "biomedical research questions answered yes/no/maybe from a PubMed abstract"

    def __init__(self, config: str | None = None):
        scheme = config or "m1"
        if scheme not in SPLIT_SCHEMES:
            raise SourceError(
                f"{self.name}: unknown split scheme {config!r}; known: {', '.join(SPLIT_SCHEMES)}"
            )
        self.scheme = scheme

    def read_local(self, root: Path, split: str | None) -> Iterator[Item]:
        path = root if root.is_file() else root / DATA_FILE
        if not path.is_file():
            raise SourceError(f"{self.name}: no {DATA_FILE} in {root}")
        truth_path = path.parent / TEST_FILE
        truth: dict[str, Any] = {}
        if truth_path.is_file():
            truth = load_json(truth_path)
            if not isinstance(truth, dict):
                raise SourceError(f"{self.name}: {truth_path} must map PMID -> decision")
        if split not in (None, "train", "test"):
            raise SourceError(f"{self.name}: unknown split {split!r}; known: train, test")
        if self.scheme == "official" and not truth:
            raise SourceError(f"{self.name}: the official split scheme needs {TEST_FILE} beside {path}")
        data = load_json(path)
        if not isinstance(data, dict):
            raise SourceError(f"{self.name}: {path} must be an object keyed by PMID")
        if self.scheme == "m1":
            names = _m1_split_names(len(data))
        else:
            names = ["test" if pmid in truth else "train" for pmid in data]
        for position, ((pmid, row), name) in enumerate(zip(data.items(), names, strict=True)):
            if split is not None and name != split:
                continue
            if not pmid.strip():  # a blank key is no PMID: the row's position names it
                pmid = f"row-{position:05d}"
            where = f"{path} (PMID {pmid})"
            if not isinstance(row, dict):
                got = type(row).__name__
                yield self.reject(
                    "malformed-row", f"{where}: expected an object, got {got}", path, pmid, name
                )
                continue
            decision = _decision(row.get("final_decision"))
            if decision in DECISIONS and pmid in truth and _decision(truth[pmid]) != decision:
                yield self.reject(
                    "label-mismatch",
                    f"{where}: final_decision {decision!r} but {TEST_FILE} says {truth[pmid]!r}",
                    path, pmid, name,
                )  # fmt: skip
                continue
            yield self._item(
                question=row.get("QUESTION"), contexts=row.get("CONTEXTS"), labels=row.get("LABELS"),
                decision=row.get("final_decision"), pmid=pmid, split=name, file=path, where=where,
                long_answer=row.get("LONG_ANSWER"), meshes=row.get("MESHES"), year=row.get("YEAR"),
                official_test=(pmid in truth) if truth else None,
            )  # fmt: skip

    def read_hub(self, repo_id: str, split: str | None, revision: str | None) -> Iterator[Item]:
        if self.scheme != "m1":
            raise SourceError(
                f"{self.name}: the {self.scheme} split scheme needs the local layout ({TEST_FILE})"
            )
        if split not in (None, "train", "test"):
            raise SourceError(f"{self.name}: unknown split {split!r}; known: train, test")
        # The Hub's one split holds all 1000 rows; the halves come from their positions (as in m1).
        rows = list(
            hub_rows(repo_id, config=self.hub_config, split="train", revision=revision, source=self.name)
        )
        names = _m1_split_names(len(rows))
        for (_, index, row), name in zip(rows, names, strict=True):
            if split is not None and name != split:
                continue
            pmid = str(row.get("pubid") or f"row-{index:05d}")
            context = row.get("context")
            context = context if isinstance(context, dict) else {}
            yield self._item(
                question=row.get("question"), contexts=context.get("contexts"), labels=context.get("labels"),
                decision=row.get("final_decision"), pmid=pmid, split=name, file=repo_id,
                where=f"{repo_id} [train] row {index} (PMID {pmid})", long_answer=row.get("long_answer"),
                meshes=context.get("meshes"),
            )  # fmt: skip

    def _item(
        self, *, question: Any, contexts: Any, labels: Any, decision: Any, pmid: str, split: str,
        file: Any, where: str, **meta: Any,
    ) -> Item:  # fmt: skip
        """One PubMedQA row (either layout) as a record, or a rejection."""
        answer = _decision(decision)
        if answer not in DECISIONS:
            return self.reject(
                "unknown-answer", f"{where}: final_decision {decision!r} is not yes, no or maybe",
                file, pmid, split,
            )  # fmt: skip
        if isinstance(contexts, str):
            contexts = [contexts]
        texts = [str(c or "").strip() for c in contexts] if isinstance(contexts, (list, tuple)) else []
        aligned = isinstance(labels, (list, tuple)) and len(labels) == len(texts)
        keep = [i for i, t in enumerate(texts) if t]  # blank sections are dropped with their labels
        if not keep:
            return self.reject("no-context", f"{where}: CONTEXTS is empty or missing", file, pmid, split)
        contexts = [texts[i] for i in keep]
        labels = [str(labels[i] or "") for i in keep] if aligned else None
        if not str(question or "").strip():
            text = ""  # validation rejects it as empty-question
        else:
            text = context_question(str(question), contexts, labels)
        return self.record(
            question=text, options=list(DECISIONS), label="ABC"[DECISIONS.index(answer)],
            answer=str(decision), source_id=pmid, split=split, file=file,
            original_question=str(question or "").strip(), **meta,
        )  # fmt: skip


def _decision(value: Any) -> str:
    return str(value or "").strip().lower()
