"""Supervised fine-tuning of Qwen2.5-VL on reasoning traces with TRL's SFTTrainer.

``python -m medvlt_train.sft [RECIPE] [key=value ...]``, e.g.
``python -m medvlt_train.sft sft-qwen2.5-vl-3b dataset=builds/m23k output_dir=runs/sft-3b``.
The loss covers the assistant turn only (``completion_only_loss`` on prompt/completion rows).
"""

from __future__ import annotations

import logging
import sys

log = logging.getLogger(__name__)

DEFAULT_RECIPE = "sft-tiny"


def main(argv: list[str] | None = None) -> str:
    """Train from a recipe and overrides; returns the output folder (model + processor)."""
    import transformers
    from trl import SFTTrainer

    from medvlt_train.data import load_records, sft_dataset
    from medvlt_train.models import load_model_and_processor, save_outputs
    from medvlt_train.recipes import build_config, parse_command_line

    # 1. Recipe + overrides -> medvlt settings and SFTConfig.
    settings, fields = parse_command_line(argv, "sft", "medvlt_train.sft", DEFAULT_RECIPE)
    config = build_config(fields, "sft")
    transformers.set_seed(config.seed)

    # 2. Data: records -> prompt/completion rows (records without reasoning are left out).
    records = load_records(settings["dataset"], split=settings["split"])
    dataset, counts = sft_dataset(records, prompt=settings["prompt"])
    log.info("SFT data %s: %s", settings["dataset"], counts)
    if counts["kept"] == 0:
        raise ValueError(f"dataset {settings['dataset']} has no records with reasoning to train on")

    # 3. Processor and model.
    model, processor = load_model_and_processor(settings["model"], config)

    # 4. Train.
    trainer = SFTTrainer(model=model, args=config, train_dataset=dataset, processing_class=processor)
    trainer.train()

    # 5. Save model, processor and the trainer state (log history) into output_dir.
    return save_outputs(trainer, processor, config.output_dir)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    print(main(sys.argv[1:]))
