"""Records -> TRL's conversational vision-language format, for SFTTrainer and GRPOTrainer.

What TRL 1.16 expects (read from ``trl/trainer/sft_trainer.py``, ``grpo_trainer.py``, ``data_utils.py``):

* A dataset is *vision* when a row has an ``images`` (list) or ``image`` key. SFTTrainer then requires a
  vision-language model (it raises otherwise) and collates on the fly with
  ``DataCollatorForVisionLanguageModeling``; GRPOTrainer keeps only ``prompt``/``image``/``images`` as
  signature columns for the model and hands every other column to the reward functions as keyword lists.
* Both trainers call ``prepare_multimodal_messages(prompt, images=row["images"])``: string contents are
  wrapped into ``{"type": "text"}`` parts with one ``{"type": "image"}`` placeholder per image inserted
  before the text of the first user turn; already-structured contents are kept, and their unfilled
  ``{"type": "image"}`` placeholders are filled with the images in order. The number of placeholders must
  equal ``len(images)`` or it raises. We write the structured form ourselves (images first, then the
  text), so the order is explicit and does not depend on that helper's string handling.
* SFT with ``prompt`` + ``completion`` (conversational) trains on the completion only by default
  (``completion_only_loss``), which is the paper's "loss on the assistant turn only".
* Text-only rows: an empty ``images`` list. Both trainers drop the images argument when every list in
  a batch is empty; a batch mixing ``[]`` and ``[img]`` goes to the processor as a nested list, which
  Qwen2.5-VL's processor accepts (checked on the tiny model). In Arrow the image placeholder part is
  stored as ``{"type": "image", "text": None}`` (struct fields are unified); TRL and the Qwen2.5-VL chat
  template only look at ``type``, so that is harmless. A dataset of only text rows would infer
  ``images`` as ``List(null)``; we always cast to ``List(Image(mode="RGB"))`` so text, image and mixed
  datasets share one schema (and concatenate), and images decode lazily to RGB PIL images on access.
* No system message is added: Qwen2.5-VL's chat template then inserts its own default system prompt
  ("You are a helpful assistant."), as in the paper's runs.

>>> from medvlt_data.schema import Record
>>> r = Record(question="Which organ makes insulin?", options={"A": "Liver", "B": "Pancreas"},
...            answer_label="B", answer="Pancreas", source="demo", source_id="q1", reasoning="Beta cells.")
>>> ex = to_trl_example(r, with_target=True)
>>> [part["type"] for part in ex["prompt"][0]["content"]], ex["images"]
(['text'], [])
>>> ex["completion"][0]["content"][0]["text"]
'<think> Beta cells. </think>\\n<answer> B </answer>'
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from medvlt_data.schema import Record
from medvlt_data.verify import build_prompt

__all__ = [
    "image_example_count",
    "prompt_token_counts",
    "rl_dataset",
    "sft_dataset",
    "sft_target",
    "to_trl_example",
    "trl_features",
]


def sft_target(record: Record) -> str:
    """The SFT assistant text ``"<think> {reasoning} </think>\\n<answer> {answer_label} </answer>"``, with the
    reasoning and the label stripped first, byte for byte as MedVLThinker forms it
    (UCSC-VLAA/MedVLThinker data_process/train_dataset/convert_trl_format.py:33, convert_trl_format_for_vlm.py:33,
    train/sft/sft_vlm.py:199): a DeepSeek-R1 trace that starts with a newline gives ``"<think> First..."``."""
    reasoning = (record.reasoning or "").strip()
    return f"<think> {reasoning} </think>\n<answer> {record.answer_label.strip()} </answer>"


def _has_reasoning(record: Record) -> bool:
    return bool(record.reasoning and record.reasoning.strip())


def _example(record: Record, prompt: str, with_target: bool, images: list[Any]) -> dict[str, Any]:
    content = [{"type": "image"} for _ in record.images]
    content.append({"type": "text", "text": build_prompt(record.question, record.options, prompt=prompt)})
    example = {
        "prompt": [{"role": "user", "content": content}],
        "images": images,
        "answer_label": record.answer_label,
        "answer": record.answer,
    }
    if with_target:
        if not _has_reasoning(record):
            raise ValueError(f"record {record.ref} has no reasoning; it cannot be an SFT example")
        text = sft_target(record)
        example["completion"] = [{"role": "assistant", "content": [{"type": "text", "text": text}]}]
    return example


def to_trl_example(record: Record, prompt: str = "paper", with_target: bool = False) -> dict[str, Any]:
    """One conversational TRL example: ``prompt`` (one user turn, image parts first), ``images`` (RGB PIL),
    ``answer_label``, ``answer`` and, with ``with_target``, the SFT ``completion``."""
    from medvlt_data.images import decode_image

    images = [decode_image(data).convert("RGB") for data in record.images]
    return _example(record, prompt, with_target, images)


def trl_features(with_target: bool = False):
    """The ``datasets.Features`` of :func:`sft_dataset` / :func:`rl_dataset` output."""
    import datasets

    string = datasets.Value("string")
    messages = datasets.List({"role": string, "content": datasets.List({"type": string, "text": string})})
    features = {
        "prompt": messages,
        "images": datasets.List(datasets.Image(mode="RGB")),
        "answer_label": string,
        "answer": string,
    }
    if with_target:
        features["completion"] = messages
    return datasets.Features(features)


def _build(records: Iterable[Record], prompt: str, with_target: bool):
    import datasets

    rows = [
        # Encoded bytes go in; the Image(mode="RGB") feature decodes them lazily on access.
        _example(r, prompt, with_target, [{"bytes": b, "path": None} for b in r.images])
        for r in records
    ]
    return datasets.Dataset.from_list(rows, features=trl_features(with_target))


def sft_dataset(records: Iterable[Record], prompt: str = "paper") -> tuple[Any, dict[str, int]]:
    """SFT dataset (prompt + completion) from the records that have ``reasoning``, and the counts
    ``{"rows", "without_reasoning", "kept"}``."""
    records = list(records)
    kept = [r for r in records if _has_reasoning(r)]
    counts = {"rows": len(records), "without_reasoning": len(records) - len(kept), "kept": len(kept)}
    return _build(kept, prompt, with_target=True), counts


def image_example_count(dataset) -> int:
    """How many examples of a :func:`sft_dataset` / :func:`rl_dataset` output hold at least one image
    (read from the Arrow column; no image is decoded)."""
    import pyarrow.compute as pc

    lengths = pc.list_value_length(dataset.data.column("images"))
    return int(pc.sum(pc.greater(lengths, 0)).as_py() or 0)


def prompt_token_counts(dataset, processor, chunk: int = 1024) -> list[int]:
    """The length in tokens of each prompt of a :func:`rl_dataset` output as the model reads it: the chat
    template with the generation prompt, every image expanded to its patch tokens as the Qwen2.5-VL processor
    does (patches of the resized image / merge_size**2), counted from the image headers without decoding."""
    import io

    from PIL import Image

    tokenizer = getattr(processor, "tokenizer", processor)
    image_processor = getattr(processor, "image_processor", None)
    merge = getattr(image_processor, "merge_size", 1) or 1
    counts: list[int] = []
    for start in range(0, len(dataset), chunk):
        rows = dataset.data.slice(start, chunk)
        texts = [processor.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
                 for p in rows.column("prompt").to_pylist()]  # fmt: skip
        lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
        for length, images in zip(lengths, rows.column("images").to_pylist(), strict=True):
            for image in images or []:
                with Image.open(io.BytesIO(image["bytes"])) as opened:
                    width, height = opened.size
                length += image_processor.get_number_of_image_patches(height, width, {}) // merge**2 - 1
            counts.append(length)
    return counts


def rl_dataset(records: Iterable[Record], prompt: str = "paper"):
    """RLVR dataset (prompt only, plus the ``answer_label``/``answer`` reward columns) from all records."""
    return _build(records, prompt, with_target=False)
