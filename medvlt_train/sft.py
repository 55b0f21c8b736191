"""Supervised fine-tuning of Qwen2.5-VL on reasoning traces with TRL's SFTTrainer.

``python -m medvlt_train.sft [RECIPE] [key=value ...]``, e.g.
``python -m medvlt_train.sft sft-qwen2.5-vl-3b dataset=builds/m23k output_dir=runs/sft-3b``.
The loss covers the assistant turn only (``completion_only_loss`` on prompt/completion rows).

Length: ``max_length`` cuts text-only datasets, as MedVLThinker's text SFT does (UCSC-VLAA/MedVLThinker
train/sft/sft.py:25,100: 32,768 tokens). A dataset with images trains without a length limit, as its image
SFT does (train/sft/sft_vlm.py:119-121: the collator calls the processor without truncation); TRL's vision
collator would otherwise cut every example, image tokens or answer included, at ``max_length``.
"""

from __future__ import annotations

import logging
import sys

from trl import SFTTrainer

from medvlt_data.datasets import load_records
from medvlt_train.data import image_example_count, sft_dataset
from medvlt_train.models import load_model_and_processor
from medvlt_train.recipes import TrainingRun
from medvlt_train.run import finish_run, main, start_run

log = logging.getLogger(__name__)


def train(run: TrainingRun) -> str:
    """Train ``run`` (an SFT recipe with its overrides); returns the output folder (model + processor)."""
    # 1. Recipe + overrides -> medvlt arguments and SFTConfig, checked before anything runs, seeded, the
    #    dataset resolved.
    source = start_run(run)
    args, config = run.args, run.config

    # 2. Data: records -> prompt/completion rows (records without reasoning are left out).
    dataset, counts = sft_dataset(load_records(source, split=args.split), prompt=args.prompt)
    log.info("SFT data %s: %s", source.label, counts)
    if counts["kept"] == 0:
        raise ValueError(f"dataset {source.label} has no records with reasoning to train on")
    with_images = image_example_count(dataset)
    if with_images and config.max_length is not None:
        log.info("%d examples with images: no length limit (max_length %d applies to text-only data)",
                 with_images, config.max_length)  # fmt: skip
        config.max_length = None

    # 3. Processor and model.
    model, processor = load_model_and_processor(args.model, config)

    # 4. Train.
    trainer = SFTTrainer(model=model, args=config, train_dataset=dataset, processing_class=processor)
    trainer.train()

    # 5. Save model, processor, trainer state, run record and model card; push when asked.
    return finish_run(run, trainer, processor, source, counts)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    print(main("sft", sys.argv[1:]))
