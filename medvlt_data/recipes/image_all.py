"""PMC-VQA train: the image-text training pool, curated.

Source: PMC-VQA train.csv and its figures (RadGenome/PMC-VQA, CC-BY-SA-4.0). Rows whose label,
choices and answer disagree are dropped with the reason (about 177k rows remain in the paper).
Purpose: input to the difficulty stage (image-hard) and distillation. Images are resized into
28..1024 px by the paper's rule (UCSC-VLAA/MedVLThinker data_process/train_dataset/resize_image.py).
Exact and near-duplicate questions are removed, and so is anything overlapping the six evaluation
benchmarks (question text or perceptual image hash): these three steps are medvlt's own, the paper
used every consistent row (the recipe YAML says how to turn them off).
"""

from __future__ import annotations

from typing import Any

from medvlt_data.pipeline.plan import BuildPlan
from medvlt_data.recipes import BuildContext

VERSION = 1


def plan(split: str, params: dict[str, Any], context: BuildContext) -> BuildPlan:
    from medvlt_data.recipes.pools import pool_plan

    return pool_plan(split, VERSION, __doc__, params, context)
