"""The learnable demo's models: a small Qwen2.5-VL preset and the demo base model trained from it.

- ``demo`` (:func:`demo_model`): the real Qwen2.5-VL architecture, a few MB, seeded random weights, its
  tokenizer a byte-level BPE trained on medvlt's tiny-model prose plus the demo's training questions
  without their drug names and the paper's prompt (the evaluation questions are not in it), with the
  four class suffixes added as tokens of their own: a drug's name reaches the model as pieces of its
  stem and then its suffix, for a training drug as for a new one. Untrained, it never answers in the
  ``<think>``/``<answer>`` format.
- ``demo-base`` (:func:`demo_base_model`): ``demo`` after a short SFT on the reasoning traces of the demo's
  training questions (:mod:`medvlt_data.demo.rules`), the way a real base model has been instruction-tuned
  before the recipe starts. The SFT stops before the rule is learned (a few dozen steps more and the
  model answers most new drugs right): it answers in the format most of the time and is right some of
  the time, so the pass counts of the demo pool spread over the band and RLVR has something to reward.

Both are built on first use into medvlt's cache (``$MEDVLT_CACHE``, else ``~/.cache/medvlt``), atomically
and under a lock, and rebuilt when :data:`RECIPE_VERSION` changes. The SFT is deterministic (one CPU
thread, deterministic algorithms, fixed seed and data order), so a build gives the same weights bit for
bit on the same library versions.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from medvlt_data.cache import cached_folder
from medvlt_train.tiny import CHAT_TEMPLATE, CORPUS, SPECIAL_TOKENS, _quiet_progress, _torch_seed

__all__ = [
    "DEMO_BASE_NAME",
    "DEMO_NAME",
    "RECIPE_VERSION",
    "SFT_STEPS",
    "build_demo_base_model",
    "build_demo_model",
    "demo_base_model",
    "demo_model",
    "demo_sft_examples",
]

#: Bump when anything below changes: cached folders with another version are rebuilt.
RECIPE_VERSION = 2

DEMO_NAME = "demo"
DEMO_BASE_NAME = "demo-base"
MARKER = "medvlt_demo.json"
SEED = 4321

#: Optimizer steps of the demo base model's SFT (batch :data:`SFT_BATCH`, learning rate :data:`SFT_LR`).
SFT_STEPS = 150
SFT_BATCH = 8
SFT_LR = 3e-3

BPE_VOCAB_SIZE = 768


def demo_model(cache_dir: str | os.PathLike | None = None) -> Path:
    """The cached ``demo`` preset folder (random weights), built on first use."""
    return _cached("demo-qwen2.5-vl", build_demo_model, cache_dir)


def demo_base_model(cache_dir: str | os.PathLike | None = None) -> Path:
    """The cached ``demo-base`` folder (the preset after the demo SFT), built on first use."""
    return _cached("demo-base-qwen2.5-vl", build_demo_base_model, cache_dir)


def build_demo_model(path: str | os.PathLike) -> Path:
    """Write the ``demo`` preset (config, seeded random weights, tokenizer, processor) to ``path``."""
    import torch
    from transformers import GenerationConfig, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = _build_tokenizer()
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}
    hidden = 64
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tokenizer), "hidden_size": hidden, "intermediate_size": 128,
            "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
            "max_position_embeddings": 4096, "max_window_layers": 2, "rms_norm_eps": 1e-6,
            # head_dim 16: the three M-RoPE sections share its 8 frequencies
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
            "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": 1, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "out_hidden_size": hidden,
            "patch_size": 14, "temporal_patch_size": 2, "spatial_merge_size": 2, "window_size": 112,
            "fullatt_block_indexes": [0],
        },
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"],
        tie_word_embeddings=False,
    )  # fmt: skip
    with _torch_seed(torch, SEED):
        model = Qwen2_5_VLForConditionalGeneration(config).to(torch.float32).eval()
    model.generation_config = GenerationConfig(
        do_sample=True, temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=48,
        bos_token_id=ids["<|endoftext|>"], eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        pad_token_id=ids["<|endoftext|>"],
    )  # fmt: skip
    with _quiet_progress():
        model.save_pretrained(path)
    _processor(tokenizer).save_pretrained(path)
    _write_marker(path, {"preset": DEMO_NAME, "vocab_size": len(tokenizer)})
    return path


def demo_sft_examples(prompt: str = "paper") -> list[tuple[str, str]]:
    """(user prompt, assistant target) of every training question, in the SFT's target format."""
    from medvlt_data.demo.rules import training_questions
    from medvlt_data.schema import LETTERS
    from medvlt_data.verify import build_prompt

    examples = []
    for q in training_questions():
        options = {LETTERS[i]: text for i, text in enumerate(q.options)}
        target = f"<think> {q.reasoning} </think>\n<answer> {LETTERS[q.answer]} </answer>"
        examples.append((build_prompt(q.question, options, prompt=prompt), target))
    return examples


def build_demo_base_model(
    path: str | os.PathLike, steps: int = SFT_STEPS, progress: Callable[[int, float], None] | None = None
) -> Path:
    """Write ``demo-base`` to ``path``: the preset after ``steps`` SFT steps on :func:`demo_sft_examples`.

    Loss on the assistant turn only (as the recipe's SFT), AdamW with a constant learning rate, batches
    drawn in a seeded order; one thread and deterministic algorithms make it reproducible bit for bit.
    """
    import torch
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    path = Path(path)
    with tempfile.TemporaryDirectory() as scratch:
        preset = build_demo_model(Path(scratch) / "preset")
        processor = AutoProcessor.from_pretrained(preset)
        model = Qwen2_5_VLForConditionalGeneration.from_pretrained(preset)
    rows = [_encode(processor.tokenizer, user, target) for user, target in demo_sft_examples()]
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        with _torch_seed(torch, SEED):
            order = torch.randperm(len(rows) * (steps * SFT_BATCH // len(rows) + 1)) % len(rows)
            optimizer = torch.optim.AdamW(model.parameters(), lr=SFT_LR, weight_decay=0.0)
            model.train()
            for step in range(steps):
                batch = [rows[int(i)] for i in order[step * SFT_BATCH : (step + 1) * SFT_BATCH]]
                loss = _batch_loss(model, batch, processor.tokenizer.pad_token_id)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                if progress is not None:
                    progress(step + 1, float(loss))
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)
    model.eval()
    path.mkdir(parents=True, exist_ok=True)
    with _quiet_progress():
        model.save_pretrained(path)
    processor.save_pretrained(path)
    _write_marker(
        path, {"preset": DEMO_BASE_NAME, "sft_steps": steps, "sft_batch": SFT_BATCH, "sft_lr": SFT_LR}
    )
    return path


def _encode(tokenizer, user: str, target: str) -> tuple[list[int], int]:
    """Token ids of the chat (user turn, assistant turn) and where the assistant's text starts."""
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": user}], tokenize=False,
                                           add_generation_prompt=True)  # fmt: skip
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    target_ids = tokenizer(target + "<|im_end|>", add_special_tokens=False)["input_ids"]
    return prompt_ids + target_ids, len(prompt_ids)


def _batch_loss(model, batch: list[tuple[list[int], int]], pad_id: int):
    import torch

    width = max(len(ids) for ids, _ in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, (ids, start) in enumerate(batch):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        labels[row, start : len(ids)] = torch.tensor(ids[start:])
        mask[row, : len(ids)] = 1
    return model(input_ids=input_ids, attention_mask=mask, labels=labels).loss


def _build_tokenizer():
    """A byte-level BPE trained on the tiny model's prose, the paper's prompt and the demo training text."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    from medvlt_data.demo.rules import CLASSES, SUFFIXES, training_questions
    from medvlt_data.verify import PROMPTS

    lines = CORPUS.splitlines() + list(PROMPTS.values()) + list(CLASSES)
    lines += ["Question:", "Options:", "<think>", "</think>", "<answer>", "</answer>"]
    for q in training_questions():  # without the drug names: their stems split into the prose's pieces
        lines += [q.question.replace(q.drug, ""), q.reasoning.replace(q.drug, "")]
    bpe = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    bpe.decoder = decoders.ByteLevel()
    bpe.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=BPE_VOCAB_SIZE, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])  # fmt: skip
    bpe.train_from_iterator(lines, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token=None, eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token=None,
        additional_special_tokens=list(SPECIAL_TOKENS), model_max_length=4096, padding_side="left",
        clean_up_tokenization_spaces=False, split_special_tokens=False,
    )  # fmt: skip
    tokenizer.add_tokens(list(SUFFIXES))
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def _processor(tokenizer):
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    pixels = {"shortest_edge": 28 * 28, "longest_edge": 56 * 56}  # at most 4x4 patches: 4 image tokens
    return Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(
            size=pixels, patch_size=14, temporal_patch_size=2, merge_size=2
        ),
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(
            size=pixels, patch_size=14, temporal_patch_size=2, merge_size=2
        ),
        chat_template=CHAT_TEMPLATE,
    )


def _write_marker(path: Path, info: dict) -> None:
    marker = {"recipe_version": RECIPE_VERSION, "seed": SEED, **info}
    (path / MARKER).write_text(json.dumps(marker, indent=2) + "\n")


def _cached(name: str, build: Callable[[Path], Path], cache_dir: str | os.PathLike | None) -> Path:
    return cached_folder(name, build, MARKER, RECIPE_VERSION, cache_dir)
