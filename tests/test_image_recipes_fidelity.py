"""The image recipes against MedVLThinker's scripts: which file the pool reads, what the eval build keeps.

UCSC-VLAA/MedVLThinker data_process/train_dataset/prepare_pmc_vqa.py:135-172 builds the image pool
from PMC-VQA ``train.csv`` and resizes it (resize_image.py); data_process/prepare_vlm_eval_data.py and
prepare_vlm_eval_data_v2.py build the six benchmarks without resizing (the benchmark's image is
passed through: prepare_vlm_eval_data.py:38, :207; prepare_vlm_eval_data_v2.py:131-134, :247-251).
"""

from __future__ import annotations

from medvlt_data.benchmarks import BENCHMARKS, EVAL_BENCHMARKS
from medvlt_data.recipes import BuildContext, make_plan, recipe_params


def test_image_pool_is_pmc_vqa_train_and_resized(tmp_path):
    params = recipe_params("image-all")
    assert params["sources"] == [{"name": "pmc_vqa", "hub": "RadGenome/PMC-VQA", "splits": ["train"]}]
    context = BuildContext(source_paths={"pmc_vqa": str(tmp_path)}, decontaminate_against=[])
    assert make_plan("image-all", context).resize_images is True


def test_eval_build_is_not_resized_and_names_the_papers_counts(tmp_path):
    assert recipe_params("eval")["benchmarks"] == list(EVAL_BENCHMARKS)
    entries = {key: BENCHMARKS[key] for key in EVAL_BENCHMARKS}
    assert {k: e.paper_count for k, e in entries.items()} == {
        "pmc_vqa": 2000, "mmmu_medical": 170, "medxpertqa_mm": 2000, "pathvqa": 3362, "slake": 416,
        "vqa_rad": 272,
    }  # fmt: skip
    # MMMU: validation + dev (prepare_vlm_eval_data_v2.py:65); MedXpertQA: MM test (:233-235)
    assert entries["mmmu_medical"].splits == ("validation", "dev")
    assert (entries["medxpertqa_mm"].config, entries["medxpertqa_mm"].splits) == ("MM", ("test",))
    context = BuildContext(source_paths={"vqa_rad": str(tmp_path)}, only_sources=["vqa_rad"])
    plan = make_plan("eval", context)
    assert plan.resize_images is False and not (plan.dedup_exact or plan.dedup_near or plan.decontaminate)
