"""Demo PubMedQA files: ``ori_pqal.json`` keyed by made-up PMIDs, and ``test_ground_truth.json``.

Each demo bank question becomes a yes/no/maybe question about one of its options, with a short
made-up "abstract" (BACKGROUND / RESULTS sections) in front; every fifth one has an inconclusive
abstract and the answer "maybe".
"""

from __future__ import annotations

import json
from pathlib import Path

from medvlt_data.demo.bank import TEXT_ITEMS


def write(root: Path) -> Path:
    data = {}
    for i, item in enumerate(TEXT_ITEMS):
        candidate = item.options[(item.answer + i % 2) % len(item.options)]
        correct = item.options[item.answer]
        if i % 5 == 4:
            decision = "maybe"
            results = f"Reviewers were split between {correct} and another option; no consensus was reached."
        else:
            decision = "yes" if candidate == correct else "no"
            results = f"All reviewers chose {correct} from {', '.join(item.options)}."
        data[str(90000000 + i)] = {
            "QUESTION": f"{item.question[:-1]}: is it {candidate}?",
            "CONTEXTS": [f"A made-up {item.topic.lower()} review for the medvlt demo asked: {item.question}",
                         results],
            "LABELS": ["BACKGROUND", "RESULTS"], "MESHES": [item.topic], "YEAR": "2024",
            "final_decision": decision, "LONG_ANSWER": f"The reviewed answer is {correct}.",
        }  # fmt: skip
    pmids = list(data)
    # Two broken rows so the demo shows rejects: a decision outside yes/no/maybe, and a test-set
    # ground truth that disagrees with the record's own decision.
    data[pmids[3]]["final_decision"] = "unsure"
    test = {pmid: data[pmid]["final_decision"] for pmid in pmids[-10:]}
    test[pmids[-1]] = "no" if data[pmids[-1]]["final_decision"] != "no" else "yes"
    (root / "ori_pqal.json").write_text(json.dumps(data, indent=1), encoding="utf-8")
    (root / "test_ground_truth.json").write_text(json.dumps(test, indent=1), encoding="utf-8")
    return root
