"""The benchmark registry: one record per benchmark, read by the cards, evaluation, recipes and CLI."""

from __future__ import annotations

import pytest

from medvlt_data.benchmarks import (
    BENCHMARKS,
    EVAL_BENCHMARKS,
    TEXT_BENCHMARKS,
    card_columns,
    parse_benchmarks,
)


def test_text_benchmark_definitions_are_m1s():
    """The text benchmarks are what UCSC-VLAA/m1 src/collect_data/decontaminate.py:30-65 loads: Hub id,
    config and split of every text benchmark (PubMedQA: m1's own test half, pubmedqa.py:93-101)."""
    from medvlt_data.recipes import recipe_params

    entries = [entry for key in TEXT_BENCHMARKS for entry in BENCHMARKS[key].entries()]
    loaded = {(e["benchmark"], e["hub"], e.get("config"), tuple(e["splits"])) for e in entries}
    assert loaded == {
        ("gpqa_diamond", "Idavidrein/gpqa", "gpqa_diamond", ("train",)),
        ("medmcqa_validation", "openlifescienceai/medmcqa", None, ("validation",)),
        ("medqa_test", "GBaker/MedQA-USMLE-4-options", None, ("test",)),
        ("pubmedqa_test", "qiaojin/PubMedQA", None, ("test",)),
        *{("mmlu_medical", "cais/mmlu", subject, ("test",)) for subject in
          ("clinical_knowledge", "college_biology", "college_medicine", "medical_genetics", "professional_medicine")},
        ("mmlu_pro", "TIGER-Lab/MMLU-Pro", None, ("test",)),
    }  # fmt: skip
    expected = {}
    for entry in entries:
        expected[entry["benchmark"]] = expected.get(entry["benchmark"], 0) + entry["expected"]
    assert expected == {"medqa_test": 1273, "medmcqa_validation": 4183, "pubmedqa_test": 500, "mmlu_medical": 954,
                        "mmlu_pro": 12032, "gpqa_diamond": 198}  # fmt: skip
    assert expected == {key: BENCHMARKS[key].paper_count for key in TEXT_BENCHMARKS}
    # text-all decontaminates against the six VQA benchmarks and every text benchmark
    assert recipe_params("text-all")["decontaminate_against"] == list(BENCHMARKS)
    assert len(BENCHMARKS) == 12


def test_the_six_are_the_papers_columns_and_feed_the_card_as_plain_data():
    assert [BENCHMARKS[k].title for k in EVAL_BENCHMARKS] == [
        "PMC",
        "MMMU",
        "MedX-M",
        "PathVQA",
        "SLAKE",
        "VQA-Rad",
    ]
    assert all(BENCHMARKS[k].evaluated for k in EVAL_BENCHMARKS)
    assert not any(BENCHMARKS[k].evaluated for k in TEXT_BENCHMARKS)
    assert all(BENCHMARKS[k].count_note for k in EVAL_BENCHMARKS)
    columns = card_columns()
    assert list(columns) == list(EVAL_BENCHMARKS)
    assert columns["vqa_rad"] == {"title": "VQA-Rad", "hub_id": "flaviagiammarino/vqa-rad"}


def test_one_parser_of_benchmark_lists_with_one_message():
    assert parse_benchmarks(" slake,vqa_rad ", EVAL_BENCHMARKS) == ["slake", "vqa_rad"]
    assert parse_benchmarks("NONE", allow_none=True) == []
    with pytest.raises(ValueError, match=r"unknown benchmark\(s\) \['medqa_test'\]; known: \['pmc_vqa'"):
        parse_benchmarks("medqa_test", EVAL_BENCHMARKS)
    with pytest.raises(ValueError, match=r"unknown benchmark\(s\) \['none'\]"):
        parse_benchmarks("none")  # only where the option allows turning it off
    with pytest.raises(ValueError, match="no benchmark named"):
        parse_benchmarks(",")


def test_an_unknown_benchmark_is_named_with_the_known_ones():
    from medvlt_data.pipeline.plan import BuildError
    from medvlt_data.recipes import BuildContext, make_plan

    with pytest.raises(
        BuildError, match=r"unknown benchmark\(s\) \['mmlu'\]; known: \['pmc_vqa', .*'gpqa_diamond'\]"
    ):
        make_plan("text-all", BuildContext(decontaminate_against=["mmlu"]))
