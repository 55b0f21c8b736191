"""The text benchmarks m1 decontaminated against (UCSC-VLAA/m1 src/collect_data/decontaminate.py:13-65):
MMLU's medical subjects, MMLU-Pro and GPQA-diamond, in their Hub layouts and on the real MMLU file."""

from __future__ import annotations

from collections import Counter

import pytest

from medvlt_data.sources import Rejected, SourceError, get_source
from medvlt_data.sources.mmlu import M1_MEDICAL_SUBJECTS
from tests import hub_server
from tests.conftest import realdata

hub = hub_server.hub  # the loopback Hub fixture


def test_m1_subjects_are_the_five_of_decontaminate_py():
    assert M1_MEDICAL_SUBJECTS == ("clinical_knowledge", "college_biology", "college_medicine",
                                   "medical_genetics", "professional_medicine")  # fmt: skip


def test_real_mmlu_medical_file_per_subject():
    path = realdata("mmlu_medical")
    every = [r for r in get_source("mmlu").read(path=path) if not isinstance(r, Rejected)]
    assert len(every) == 1089
    per_subject = {s: len(list(get_source("mmlu", s).read(path=path))) for s in M1_MEDICAL_SUBJECTS}
    # the counts of cais/mmlu's test splits; anatomy (135) is in the file but not among m1's subjects
    assert per_subject == {"clinical_knowledge": 265, "college_biology": 144, "college_medicine": 173,
                           "medical_genetics": 100, "professional_medicine": 272}  # fmt: skip
    assert Counter(r.meta["subject"] for r in every)["anatomy"] == 135
    first = next(iter(get_source("mmlu", "anatomy").read(path=path)))
    assert first.question.startswith("A lesion causing compression of the facial nerve at the stylomastoid")
    assert (first.answer_label, first.answer) == ("A", "paralysis of the facial muscles.")


def test_mmlu_hub_layout_one_config_per_subject(hub_repo):
    """cais/mmlu: a config per subject ({subject}/test-*.parquet), columns question, subject, choices,
    answer (a class label 0-3)."""
    import datasets

    features = datasets.Features({"question": datasets.Value("string"), "subject": datasets.Value("string"),
                                  "choices": datasets.Sequence(datasets.Value("string")),
                                  "answer": datasets.ClassLabel(names=["A", "B", "C", "D"])})  # fmt: skip
    rows = [{"question": "Which gene is mutated in cystic fibrosis?", "subject": "medical_genetics",
             "choices": ["CFTR", "BRCA1", "HBB", "FMR1"], "answer": 0},
            {"question": "Broken row?", "subject": "medical_genetics", "choices": ["x", "y"], "answer": 3}]  # fmt: skip
    hub_repo({"test": rows}, features=features, config="medical_genetics")
    repo = hub_repo({"test": [{**rows[0], "subject": "anatomy"}]}, features=features, config="anatomy")
    items = list(get_source("mmlu", "medical_genetics").read(hub=str(repo), split="test"))
    record, reject = items
    assert (record.source_id, record.answer_label, record.answer, record.split) == (
        "medical_genetics-test-00000", "A", "CFTR", "test",
    )  # fmt: skip
    assert (reject.reason, reject.ref) == ("unknown-answer-letter", "medical_genetics-test-00001")
    assert "answer 3 is not an index into 2 choices" in reject.detail


def test_mmlu_pro_hub_layout(hub_repo):
    """TIGER-Lab/MMLU-Pro: data/{test,validation}-*.parquet; question_id, question, options (up to 10),
    answer (letter), answer_index, cot_content, category, src."""
    options = [f"Option {i}" for i in range(10)]
    base = {"question_id": 70, "question": "Which of these is the tenth option?", "options": options,
            "answer": "J", "answer_index": 9, "cot_content": "", "category": "health", "src": "ori_mmlu-x"}  # fmt: skip
    rows = [base, {**base, "question_id": 71, "answer": "A"}, {**base, "question_id": 72, "answer": "K"}]
    repo = hub_repo({"test": rows, "validation": [base]})
    items = list(get_source("mmlu_pro").read(hub=str(repo), split="test"))
    assert len(items) == 3
    assert (items[0].source_id, items[0].answer_label, items[0].answer, len(items[0].options)) == (
        "70", "J", "Option 9", 10,
    )  # fmt: skip
    assert [(i.ref, i.reason) for i in items[1:]] == [
        ("71", "answer-mismatch"),
        ("72", "unknown-answer-letter"),
    ]
    assert "answer 'A' but answer_index 9" in items[1].detail


def _gpqa_row(record_id: str, question: str) -> dict:
    return {"Question": question, "Correct Answer": "Ligase", "Incorrect Answer 1": "Helicase",
            "Incorrect Answer 2": "Primase", "Incorrect Answer 3": "Gyrase", "Record ID": record_id,
            "Subdomain": "Molecular Biology", "High-level domain": "Biology"}  # fmt: skip


def test_gpqa_diamond_csv_through_the_loopback_hub(tmp_path, hub):
    from tests.text_hub_layouts import upload, write_csv_configs

    diamond = [
        _gpqa_row("recA", "Which enzyme seals nicks in DNA?"),
        _gpqa_row("recB", "Which enzyme again?"),
    ]
    diamond.append({**_gpqa_row("recC", "No wrong answers?"), "Incorrect Answer 3": ""})
    upload(
        write_csv_configs(tmp_path / "gpqa", {"gpqa_diamond": diamond, "gpqa_main": diamond[:1]}),
        "Idavidrein/gpqa",
    )
    items = list(get_source("gpqa").read(hub="Idavidrein/gpqa", split="train"))
    records = [i for i in items if not isinstance(i, Rejected)]
    assert [(r.source_id, r.answer, r.split) for r in records] == [
        ("recA", "Ligase", "train"),
        ("recB", "Ligase", "train"),
    ]
    assert sorted(records[0].options.values()) == ["Gyrase", "Helicase", "Ligase", "Primase"]
    # the order is the sha256 of "{Record ID}:{text}": fixed, and not always A
    import hashlib

    for record in records:
        texts = sorted(["Ligase", "Helicase", "Primase", "Gyrase"],
                       key=lambda t: hashlib.sha256(f"{record.source_id}:{t}".encode()).hexdigest())  # fmt: skip
        assert list(record.options.values()) == texts and record.answer_label == "ABCD"[texts.index("Ligase")]
    assert items[2].reason == "empty-options" and items[2].ref == "recC"
    local = tmp_path / "gpqa" / "gpqa_diamond.csv"
    assert [r.options for r in list(get_source("gpqa").read(path=local))[:2]] == [r.options for r in records]
    with pytest.raises(SourceError, match=r"no gpqa_diamond\.csv"):
        list(get_source("gpqa").read(path=tmp_path))


def test_demo_benchmark_files_read(tmp_path):
    from medvlt_data.demo import gpqa, mmlu, mmlu_pro

    for name, module in (("mmlu", mmlu), ("mmlu_pro", mmlu_pro), ("gpqa", gpqa)):
        (tmp_path / name).mkdir()
        module.write(tmp_path / name)
    counts = {s: len(list(get_source("mmlu", s).read(path=tmp_path / "mmlu"))) for s in mmlu.SUBJECTS}
    assert counts == {"clinical_knowledge": 5, "college_biology": 5, "college_medicine": 3, "medical_genetics": 3,
                      "professional_medicine": 3, "anatomy": 3}  # fmt: skip
    insulin = next(iter(get_source("mmlu", "clinical_knowledge").read(path=tmp_path / "mmlu")))
    assert (insulin.question, insulin.answer) == ("Which organ secretes insulin?", "Pancreas")
    for name, reason in (
        ("mmlu", "unknown-answer-letter"),
        ("mmlu_pro", "answer-mismatch"),
        ("gpqa", "empty-options"),
    ):
        items = list(get_source(name).read(path=tmp_path / name))
        assert len(items) >= 21 and [i.reason for i in items if isinstance(i, Rejected)] == [reason], name
    pro = next(iter(get_source("mmlu_pro").read(path=tmp_path / "mmlu_pro")))
    assert (pro.answer_label, pro.answer, len(pro.options)) == ("D", "250 mL/h", 10)
    first = next(iter(get_source("gpqa").read(path=tmp_path / "gpqa")))
    assert (first.source_id, first.answer) == ("recDEMO0000", "400")
