"""RLVR of Qwen2.5-VL with TRL's GRPOTrainer and the paper's verifiable rewards.

``python -m medvlt_train.rlvr [RECIPE] [key=value ...]``, e.g.
``python -m medvlt_train.rlvr rlvr-qwen2.5-vl-3b dataset=builds/text-hard output_dir=runs/rlvr-3b``.
Rewards come from the recipe's ``rewards: {name: weight}``, a name being a registered reward or an import
path ``package.module:function`` (see :mod:`medvlt_train.rewards`).
"""

from __future__ import annotations

import logging
import sys

import torch
from trl import GRPOTrainer

from medvlt_data.datasets import load_records
from medvlt_train.data import prompt_token_counts, rl_dataset
from medvlt_train.models import load_model_and_processor
from medvlt_train.recipes import TrainingRun
from medvlt_train.rewards import DEFAULT_REWARDS, get_rewards
from medvlt_train.run import finish_run, main, start_run

log = logging.getLogger(__name__)


def train(run: TrainingRun) -> str:
    """Train ``run`` (an RLVR recipe with its overrides); returns the output folder (model + processor)."""
    # 1. Recipe + overrides -> medvlt arguments and GRPOConfig, checked before anything runs, seeded, the
    #    dataset resolved; vLLM only where there is a GPU; the rewards by name or import path.
    source = start_run(run)
    args, config = run.args, run.config
    if config.use_vllm and (config.use_cpu or not torch.cuda.is_available()):
        log.warning("no GPU: generating with transformers instead of vLLM (use_vllm=false)")
        config.use_vllm = False
    rewards, weights = get_rewards(args.rewards or DEFAULT_REWARDS)
    config.reward_weights = weights

    # 2. Data: records -> prompt rows with the answer_label/answer columns the rewards read.
    records = list(load_records(source, split=args.split))
    dataset = rl_dataset(records, prompt=args.prompt)
    log.info("RLVR data %s: %d prompts", source.label, len(dataset))

    # 3. Processor (left padding for generation, as GRPOTrainer's own default) and model; prompts within
    #    max_prompt_length, or an error naming the records over it (verl's data.truncation='error').
    model, processor = load_model_and_processor(
        args.model, config, padding_side="left", truncation_side="left"
    )
    if args.max_prompt_length:
        check_prompt_lengths(records, prompt_token_counts(dataset, processor), args.max_prompt_length,
                             source.label)  # fmt: skip

    # 4. Train.
    trainer = GRPOTrainer(
        model=model, reward_funcs=rewards, args=config, train_dataset=dataset, processing_class=processor
    )
    trainer.train()

    # 5. Save model, processor, trainer state, run record and model card; push when asked.
    return finish_run(run, trainer, processor, source, {"prompts": len(dataset)})


def check_prompt_lengths(records: list, counts: list[int], limit: int, label: str) -> None:
    """Raise when a prompt is longer than ``limit`` tokens, naming the records, as MedVLThinker's verl runs stop
    on one (``data.max_prompt_length=2048``, ``data.truncation='error'``: UCSC-VLAA/MedVLThinker
    train/train-qwen2_5_vl_3b-m23k.sh:21,24). TRL's GRPOConfig has no prompt cap: without this check a
    longer prompt would train."""
    over = [(record.ref, count) for record, count in zip(records, counts, strict=True) if count > limit]
    if over:
        named = ", ".join(f"{ref} ({count} tokens)" for ref, count in over[:5])
        more = f" and {len(over) - 5} more" if len(over) > 5 else ""
        raise ValueError(
            f"dataset {label}: {len(over)} prompt(s) longer than max_prompt_length={limit}: {named}{more}; "
            f"leave them out of the data or raise max_prompt_length"
        )
    log.info("prompts within max_prompt_length=%d (longest %d tokens)", limit, max(counts, default=0))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    print(main("rlvr", sys.argv[1:]))
