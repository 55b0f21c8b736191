"""PubMedQA, expert-labelled set (PQA-L): yes / no / maybe research questions over an abstract (text).

Hub: ``qiaojin/PubMedQA`` config ``pqa_labeled``, one split ``train`` (1000 rows), columns pubid,
question, context {contexts, labels, meshes, ...} (lists, one entry per abstract section),
long_answer, final_decision.

Local: ``ori_pqal.json``, one object keyed by PMID, each value with QUESTION, CONTEXTS, LABELS, MESHES,
YEAR, final_decision, LONG_ANSWER. The path may be the folder or the file itself. When
``test_ground_truth.json`` (PMID -> decision; the benchmark's 500 test questions) lies beside it,
it marks the test split: a record whose PMID is in it gets split ``test``, every other record gets
``train``. Without that file every record is ``train`` (and asking for split ``test`` is an error).
A record whose decision there differs from its own final_decision is rejected as ``label-mismatch``.
PMIDs of the ground truth that are absent from ori_pqal.json are ignored (there is no row to read).
The Hub layout has no such file, so there every record is ``train``, as the Hub names it.

Rules shared by both layouts:

- options are always ``["yes", "no", "maybe"]`` (A, B, C); the answer is final_decision (case and
  surrounding space ignored); any other decision is rejected as ``unknown-answer``.
- the abstract goes into the question text, in this exact form::

      Context: <section 1>
      <section 2>
      ...

      <question>

  where each section is ``LABEL: text`` when the section labels align with the contexts (as many
  labels as contexts, none blank), and the bare context text otherwise. A row with no context text
  is rejected as ``no-context``.
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
        if split == "test" and not truth:
            raise SourceError(f"{self.name}: split 'test' needs {TEST_FILE} beside {path}")
        data = load_json(path)
        if not isinstance(data, dict):
            raise SourceError(f"{self.name}: {path} must be an object keyed by PMID")
        for pmid, row in data.items():
            name = "test" if pmid in truth else "train"
            if split is not None and name != split:
                continue
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
            )  # fmt: skip

    def read_hub(self, repo_id: str, split: str | None, revision: str | None) -> Iterator[Item]:
        rows = hub_rows(repo_id, config=self.hub_config, split=split, revision=revision, source=self.name)
        for name, index, row in rows:
            pmid = str(row.get("pubid") or f"{name}-{index:05d}")
            context = row.get("context")
            context = context if isinstance(context, dict) else {}
            yield self._item(
                question=row.get("question"), contexts=context.get("contexts"), labels=context.get("labels"),
                decision=row.get("final_decision"), pmid=pmid, split=name, file=repo_id,
                where=f"{repo_id} [{name}] row {index} (PMID {pmid})", long_answer=row.get("long_answer"),
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
