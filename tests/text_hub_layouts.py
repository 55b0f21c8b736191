"""Fixture writers for the text sources and text benchmarks in their real Hub layouts.

Evidence for each layout (file names, columns, nesting, types) is given at its writer; the loaders
that read them are UCSC-VLAA/m1 src/collect_data/{medqa,medmcqa,pubmedqa,headqa,decontaminate}.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml


def headqa_row(qid: int, question: str, options: dict[str, str | None], correct: str, answer: str | None = None,
               subject: str = "medicine") -> dict[str, Any]:  # fmt: skip
    """A row of openlifescienceai/headqa: m1 headqa.py:27-44 reads x["data"] with Question, Options
    (letter -> text), Correct Answer and Correct Option; id, subject_name and topic_name sit beside it."""
    return {"id": qid, "subject_name": subject, "topic_name": None,
            "data": {"Question": question, "Options": options, "Correct Option": correct,
                     "Correct Answer": options.get(correct) if answer is None else answer}}  # fmt: skip


def write_headqa(folder: Path, splits: dict[str, list[dict]]) -> Path:
    """openlifescienceai/headqa at commit 38ce88d: train.json, validation.json and test.json at the root
    and no README (the Hub's file tree), so ``datasets`` reads them with its JSON builder and names the
    splits after the files. train.json is written as JSON Lines, the others as one JSON array: the
    builder reads both (which one the real files use is not verified)."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        if split == "train":
            text = "".join(json.dumps(r) + "\n" for r in rows)
        else:
            text = json.dumps(rows)
        (folder / f"{split}.json").write_text(text, encoding="utf-8")
    return folder


def medqa_row(question: str, options: dict[str, str], answer_idx: str) -> dict[str, Any]:
    """A row of GBaker/MedQA-USMLE-4-options (m1 medqa.py:26-31 reads options, question, answer_idx)."""
    return {"question": question, "answer": options[answer_idx], "options": options,
            "meta_info": "step1", "answer_idx": answer_idx, "metamap_phrases": ["phrase"]}  # fmt: skip


def write_medqa(folder: Path, train: list[dict], test: list[dict]) -> Path:
    """GBaker/MedQA-USMLE-4-options at commit 0fb93dd: phrases_no_exclude_train.jsonl and
    phrases_no_exclude_test.jsonl at the root, a README with only the license (the Hub's file tree);
    the splits come from the file names."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.md").write_text("---\nlicense: cc-by-4.0\n---\n", encoding="utf-8")
    for split, rows in (("train", train), ("test", test)):
        (folder / f"phrases_no_exclude_{split}.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8"
        )
    return folder


def medmcqa_row(uid: str, question: str, options: list[str], cop: int, subject: str = "Physiology") -> dict:
    """A row of openlifescienceai/medmcqa (m1 medmcqa.py:28-37 reads question, opa..opd and cop 0-3)."""
    return {"id": uid, "question": question, "opa": options[0], "opb": options[1], "opc": options[2],
            "opd": options[3], "cop": cop, "choice_type": "single", "exp": None, "subject_name": subject,
            "topic_name": None}  # fmt: skip


def write_medmcqa(folder: Path, splits: dict[str, list[dict]]) -> Path:
    """openlifescienceai/medmcqa: Parquet shards data/{split}-00000-of-00001.parquet (train, validation,
    test); cop an int64 (-1 in the test split, which has no answers)."""
    import datasets

    from tests.hub_layout import write_hub_dataset

    text = datasets.Value("string")
    features = datasets.Features({
        "id": text, "question": text, "opa": text, "opb": text, "opc": text, "opd": text,
        "cop": datasets.Value("int64"), "choice_type": text, "exp": text, "subject_name": text, "topic_name": text,
    })  # fmt: skip
    return write_hub_dataset(folder, splits, features=features)


def pubmedqa_row(pubid: int, question: str, decision: str) -> dict[str, Any]:
    """A row of qiaojin/PubMedQA pqa_labeled (m1 pubmedqa.py:32-35 reads context.contexts, question,
    final_decision and long_answer)."""
    return {"pubid": pubid, "question": question,
            "context": {"contexts": [f"Study {pubid} was run.", f"Its outcome was {decision}."],
                        "labels": ["METHODS", "RESULTS"], "meshes": ["Humans"],
                        "reasoning_required_pred": ["yes"], "reasoning_free_pred": ["yes"]},
            "long_answer": f"So: {decision}.", "final_decision": decision}  # fmt: skip


def write_pubmedqa(folder: Path, rows: list[dict]) -> Path:
    """qiaojin/PubMedQA: config pqa_labeled, one split train, pqa_labeled/train-00000-of-00001.parquet
    and a README declaring the config; context is a struct of lists."""
    import datasets

    from tests.hub_layout import write_hub_dataset

    text = datasets.Value("string")
    features = datasets.Features({
        "pubid": datasets.Value("int32"), "question": text,
        "context": {"contexts": datasets.Sequence(text), "labels": datasets.Sequence(text),
                    "meshes": datasets.Sequence(text), "reasoning_required_pred": datasets.Sequence(text),
                    "reasoning_free_pred": datasets.Sequence(text)},
        "long_answer": text, "final_decision": text,
    })  # fmt: skip
    return write_hub_dataset(folder, {"train": rows}, features=features, config="pqa_labeled")


def write_csv_configs(folder: Path, configs: dict[str, list[dict]]) -> Path:
    """A repo of one CSV per config at the root, declared in the README (Idavidrein/gpqa:
    gpqa_diamond.csv, gpqa_main.csv, ...; each config one split, train)."""
    import csv

    folder.mkdir(parents=True, exist_ok=True)
    declared = []
    for name, rows in configs.items():
        with (folder / f"{name}.csv").open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        declared.append({"config_name": name, "data_files": [{"split": "train", "path": f"{name}.csv"}]})
    (folder / "README.md").write_text(
        "---\n" + yaml.safe_dump({"configs": declared}) + "---\n", encoding="utf-8"
    )
    return folder


def upload(folder: Path, repo_id: str) -> str:
    """Push ``folder`` to the loopback Hub as ``repo_id``; returns the commit."""
    from medvlt_data.hub import push_folder

    return push_folder(folder, repo_id, repo_type="dataset", tag="fixture").commit
