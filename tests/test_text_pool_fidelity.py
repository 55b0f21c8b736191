"""The text pool as m23k was made (UCSC-VLAA/m1 src/collect_data/): PubMedQA's train half by m1's split,
text-all from its four sources in their real Hub layouts through the loopback Hub, and decontamination
against the text benchmarks m1 used, on the real MedQA test, MedMCQA validation and MMLU files."""

from __future__ import annotations

import json

from medvlt_data.sources import Rejected, get_source
from tests import hub_server
from tests.conftest import realdata
from tests.test_build import build, rejects
from tests.text_hub_layouts import (
    headqa_row,
    medmcqa_row,
    medqa_row,
    pubmedqa_row,
    upload,
    write_headqa,
    write_medmcqa,
    write_medqa,
    write_pubmedqa,
)

hub = hub_server.hub  # the loopback Hub fixture


def _pubmedqa_rows(n: int = 1000) -> list[dict]:
    decisions = ("yes", "no", "maybe")
    return [pubmedqa_row(10_000_000 + 7 * i, f"Does intervention number {i} improve outcome {i % 13}?",
                         decisions[i % 3]) for i in range(n)]  # fmt: skip


def test_pubmedqa_train_half_is_m1s_train_test_split_of_the_hub_rows(tmp_path, hub):
    """1000 rows in qiaojin/PubMedQA's layout on the loopback Hub: the adapter's train split holds exactly
    the rows of datasets' train_test_split(test_size=0.5, seed=0, shuffle=True) that m1 kept
    (pubmedqa.py:29, 93-101), and its test split the other half."""
    import datasets

    upload(write_pubmedqa(tmp_path / "pubmedqa", _pubmedqa_rows()), "qiaojin/PubMedQA")
    loaded = datasets.load_dataset("qiaojin/PubMedQA", name="pqa_labeled", split="train")
    halves = loaded.train_test_split(test_size=0.5, seed=0, shuffle=True)
    train = [r for r in get_source("pubmedqa").read(hub="qiaojin/PubMedQA", split="train")]
    test = [r for r in get_source("pubmedqa").read(hub="qiaojin/PubMedQA", split="test")]
    assert not any(isinstance(r, Rejected) for r in train + test)
    assert len(train) == len(test) == 500
    assert {r.source_id for r in train} == {str(p) for p in halves["train"]["pubid"]}
    assert {r.source_id for r in test} == {str(p) for p in halves["test"]["pubid"]}
    by_id = {str(row["pubid"]): row for row in halves["train"]}
    some = train[0]
    assert some.meta["original_question"] == by_id[some.source_id]["question"]
    assert some.answer == by_id[some.source_id]["final_decision"]


def _long(stem: str) -> str:
    return (
        f"A 45-year-old patient presents to the clinic with {stem}; which is the most likely diagnosis here?"
    )


#: Clean pool questions, each of ten words or more and unlike the others (no near-duplicates).
DISTINCT = (
    "Which antibiotic class inhibits bacterial cell wall synthesis by binding penicillin binding proteins?",
    "A marathon runner collapses in hot weather with confusion and a core temperature of forty-one degrees.",
    "Which hormone produced by the kidney stimulates red blood cell production in the bone marrow?",
    "During pregnancy which vitamin supplement most reduces the risk of neural tube defects in the fetus?",
    "An elderly smoker reports painless hematuria for three weeks; which investigation should come first?",
    "Which cranial nerve carries taste sensation from the anterior two thirds of the tongue to the brain?",
    "A toddler swallowed several iron tablets an hour ago and now vomits blood; what is the antidote?",
    "Which enzyme deficiency causes hemolysis after eating fava beans in some Mediterranean populations?",
    "After a long flight a woman develops a swollen painful calf; which test best confirms the diagnosis?",
    "Which receptor type mediates the bronchodilating effect of salbutamol given by inhaler to asthmatics?",
    "A farmer exposed to organophosphate pesticide has pinpoint pupils and drooling; which drug is given?",
    "Which structure of the inner ear detects rotational acceleration of the head during quick turning?",
)


def test_text_all_from_the_real_hub_layouts_decontaminated_against_the_text_benchmarks(tmp_path, hub):
    """text-all with no local path: MedQA, MedMCQA, PubMedQA and HeadQA read from their real Hub layouts
    through the unmodified datasets client, decontaminated against MedQA test, MedMCQA validation and
    m1's PubMedQA test half read from the same repos; every drop counted per benchmark."""
    four = {"A": "Anemia", "B": "Gout", "C": "Asthma", "D": "Migraine"}
    leaked_medqa = _long("a leaked MedQA test vignette about sudden joint pain at night")
    leaked_medmcqa = _long("a leaked MedMCQA validation stem about wheezing after exercise")
    medqa_test = [
        medqa_row(leaked_medqa, four, "B"),
        medqa_row(_long("an unrelated test vignette"), four, "A"),
    ]
    medqa_train = [medqa_row(DISTINCT[i], four, "ABCD"[i % 4]) for i in range(4)]
    upload(write_medqa(tmp_path / "medqa", medqa_train, medqa_test), "GBaker/MedQA-USMLE-4-options")
    options = list(four.values())
    medmcqa = {
        "train": [medmcqa_row(f"m{i}", DISTINCT[4 + i], options, i % 4) for i in range(3)]
        + [medmcqa_row("m-leak", leaked_medqa, options, 1)],
        "validation": [medmcqa_row("v0", leaked_medmcqa, options, 2)],
        "test": [medmcqa_row("t0", _long("a test stem without an answer"), options, -1)],
    }  # fmt: skip
    upload(write_medmcqa(tmp_path / "medmcqa", medmcqa), "openlifescienceai/medmcqa")
    upload(write_pubmedqa(tmp_path / "pubmedqa", _pubmedqa_rows(40)), "qiaojin/PubMedQA")
    headqa = {
        "train": [headqa_row(i, DISTINCT[7 + i], four, "C") for i in range(3)]
        + [headqa_row(99, leaked_medmcqa, four, "C")],
        "validation": [headqa_row(200, _long("a HeadQA validation question"), four, "A")],
        "test": [headqa_row(300, _long("a HeadQA test question"), four, "D")],
    }  # fmt: skip
    upload(write_headqa(tmp_path / "headqa", headqa), "openlifescienceai/headqa")

    out = tmp_path / "text-all"
    stats = build(
        out, "--split", "text-all", "--decontaminate-against", "medqa_test,medmcqa_validation,pubmedqa_test"
    )
    read = {s["name"]: s["read"] for s in stats["sources"]}
    assert read == {"medqa": 4, "medmcqa": 4, "pubmedqa": 20, "headqa": 4}  # train splits; m1's half of 40
    assert all(s["origin"].startswith("hub:") for s in stats["sources"])
    assert stats["decontamination"] == {"medqa_test": 1, "medmcqa_validation": 1}
    assert stats["recipe"]["decontamination_reference"] == {
        "medqa_test": 2,
        "medmcqa_validation": 1,
        "pubmedqa_test": 20,
    }
    leaked = sorted((r["source"], r["source_id"], r["reason"]) for r in rejects(out, "decontaminate"))
    assert leaked == [
        ("headqa", "99", "contaminated:medmcqa_validation"),
        ("medmcqa", "m-leak", "contaminated:medqa_test"),
    ]
    assert stats["drops"].get("dedup_near", {}) == {}, stats["drops"]
    assert stats["num_records"] == 4 + 3 + 20 + 3
    card = (out / "README.md").read_text()
    assert "| medqa_test | 1 | 2 |" in card and "| pubmedqa_test | 0 | 20 |" in card
    assert "Method: Differs from UCSC-VLAA/m1" in card and "rapidfuzz fuzz.ratio >= 95" in card


def _embedded(row_id: str, question: str, options: list[str], label: str) -> dict:
    choices = " ".join(f"({'ABCDEFGHIJ'[i]}) {o}" for i, o in enumerate(options))
    return {"id": row_id, "question": f"{question}\nAnswer Choices: {choices}", "label": [label]}


def test_decontamination_against_the_real_text_benchmark_files(tmp_path):
    """Real questions of MedQA test, MedMCQA validation and MMLU's medical subjects planted into a pool
    are removed and counted per benchmark; an MMLU anatomy question (a subject m1 did not decontaminate
    against, decontaminate.py:52-58) and clean questions stay."""
    medqa = [r for r in get_source("medqa").read(path=realdata("medqa")) if not isinstance(r, Rejected)]
    medmcqa = [r for r in get_source("medmcqa").read(path=realdata("medmcqa")) if not isinstance(r, Rejected)]
    mmlu = realdata("mmlu_medical")
    professional = next(iter(get_source("mmlu", "professional_medicine").read(path=mmlu)))
    anatomy = next(r for r in get_source("mmlu", "anatomy").read(path=mmlu) if len(r.question.split()) >= 12)
    words = medqa[3].question.split()
    assert len(words) > 60  # a long vignette: one changed word leaves word 5-gram Jaccard above 0.8
    near = " ".join([*words[:5], "somewhat", *words[6:]])
    assert near != " ".join(words)

    def planted(prefix: str, records: list) -> list[dict]:
        return [_embedded(f"{prefix}-{i}", r.question, list(r.options.values()), r.answer_label)
                for i, r in enumerate(records)]  # fmt: skip

    clean = [_embedded(f"clean-{i}", DISTINCT[i], ["A1", "B1", "C1", "D1"], "A")
             for i in range(4)]  # fmt: skip
    pool_medqa = planted("medqa-test", medqa[:3]) + clean[:2]
    pool_medqa.append(_embedded("medqa-near", near, list(medqa[3].options.values()), medqa[3].answer_label))
    pool_medmcqa = planted("medmcqa-val", medmcqa[:3]) + planted("mmlu", [professional, anatomy]) + clean[2:]
    for name, rows in (("medqa", pool_medqa), ("medmcqa", pool_medmcqa)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    stats = build(
        out, "--split", "text-all", "--sources", "medqa,medmcqa",
        "--source-path", f"medqa={tmp_path / 'medqa'}", "--source-path", f"medmcqa={tmp_path / 'medmcqa'}",
        "--source-path", f"medqa_test={realdata('medqa')}", "--source-path", f"medmcqa_validation={realdata('medmcqa')}",
        "--source-path", f"mmlu_medical={mmlu}",
        "--decontaminate-against", "medqa_test,medmcqa_validation,mmlu_medical",
    )  # fmt: skip
    assert stats["decontamination"] == {"medqa_test": 4, "medmcqa_validation": 3, "mmlu_medical": 1}
    reference = stats["recipe"]["decontamination_reference"]
    assert reference == {"medqa_test": len(medqa), "medmcqa_validation": len(medmcqa), "mmlu_medical": 954}
    assert len(medqa) == 1273
    removed = {r["source_id"]: r["reason"] for r in rejects(out, "decontaminate")}
    assert removed == {
        "medqa-test-0": "contaminated:medqa_test", "medqa-test-1": "contaminated:medqa_test",
        "medqa-test-2": "contaminated:medqa_test", "medqa-near": "contaminated:medqa_test",
        "medmcqa-val-0": "contaminated:medmcqa_validation", "medmcqa-val-1": "contaminated:medmcqa_validation",
        "medmcqa-val-2": "contaminated:medmcqa_validation", "mmlu-0": "contaminated:mmlu_medical",
    }  # fmt: skip
    from medvlt_data.parquet_io import read_records

    kept = sorted(r.source_id for r in read_records(out))
    assert kept == ["clean-0", "clean-1", "clean-2", "clean-3", "mmlu-1"]  # mmlu-1: the anatomy question
    card = (out / "README.md").read_text()
    assert "| mmlu_medical | 1 | 954 |" in card and f"| medqa_test | 4 | {len(medqa):,} |" in card
