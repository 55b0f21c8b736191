"""A tiny, randomly initialised Qwen2.5-VL for tests and the demo.

The model has the real architecture (:class:`~transformers.Qwen2_5_VLForConditionalGeneration`) and the
real processor (:class:`~transformers.Qwen2_5_VLProcessor` with a ``Qwen2VLImageProcessor``), so every code
path that loads ``Qwen/Qwen2.5-VL-*`` by name works on it unchanged, but it is a few hundred kilobytes, is
built offline in a second or two, and generates (random) text on a CPU in milliseconds.

- :func:`build_tiny_model` writes the model folder (config, weights, tokenizer, processor, chat template,
  generation config) to a path.
- :func:`tiny_model` returns a cached copy, building it on first use (atomically, so concurrent processes
  never see a half-written folder).
- :func:`medvlt_train.models.resolve_model` maps the name ``"tiny"`` to that folder, so a command line's
  ``--model tiny`` runs the whole pipeline on it.

The tokenizer is a byte-level BPE trained on the fly on :data:`CORPUS`, with the special tokens of Qwen2.5-VL
appended after the learned vocabulary (as in the real tokenizer); the config's token ids are read back from
it, so they always agree.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from medvlt_data.cache import cached_folder

__all__ = [
    "CHAT_TEMPLATE",
    "RECIPE_VERSION",
    "SPECIAL_TOKENS",
    "TINY_NAME",
    "build_tiny_model",
    "tiny_model",
]

#: Bump when the recipe below changes: cached folders with another version are rebuilt.
RECIPE_VERSION = 1

#: The name that :func:`medvlt_train.models.resolve_model` maps to the tiny model.
TINY_NAME = "tiny"

#: Name of the cached folder under the cache root.
CACHE_FOLDER = "tiny-qwen2.5-vl"

#: The file that marks a complete build and records its recipe version.
MARKER = "medvlt_tiny.json"

SEED = 1234

#: Special tokens of Qwen2.5-VL, in the order of the real tokenizer (appended after the BPE vocabulary).
SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

#: Learned BPE vocabulary size, special tokens excluded (the corpus is small, so BPE may stop earlier).
BPE_VOCAB_SIZE = 1024

#: Minimal Qwen-style chat template: string or content-part messages; images and videos become their
#: vision placeholders, which the processor expands to one pad token per merged patch.
CHAT_TEMPLATE = (
    "{%- if messages and messages[0]['role'] != 'system' -%}"
    "{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['content'] is string -%}"
    "{{- message['content'] -}}"
    "{%- else -%}"
    "{%- for part in message['content'] -%}"
    "{%- if part['type'] in ('image', 'image_url') or 'image' in part -%}"
    "{{- '<|vision_start|><|image_pad|><|vision_end|>' -}}"
    "{%- elif part['type'] in ('video', 'video_url') or 'video' in part -%}"
    "{{- '<|vision_start|><|video_pad|><|vision_end|>' -}}"
    "{%- elif 'text' in part -%}"
    "{{- part['text'] -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{%- endif -%}"
)

#: Training text for the tokenizer: short medical question-answering prose, written for this module.
CORPUS = """\
You are a helpful assistant. Answer the medical question and put the final answer in the answer tag.
<think>Let me think about the findings step by step.</think> <answer>B</answer>
A 54-year-old man presents to the emergency department with crushing chest pain radiating to the left arm.
The electrocardiogram shows ST-segment elevation in the inferior leads. Which artery is most likely occluded?
A. Left anterior descending artery B. Right coronary artery C. Left circumflex artery D. Left main artery
The answer is the right coronary artery, which supplies the inferior wall of the heart in most patients.
A 7-year-old girl has a fever, a sore throat and swollen lymph nodes in the neck for three days.
A rapid antigen test for group A streptococcus is positive. What is the most appropriate treatment?
Oral penicillin or amoxicillin for ten days prevents rheumatic fever after streptococcal pharyngitis.
The chest radiograph shows a right lower lobe consolidation with air bronchograms, consistent with pneumonia.
Is there evidence of a pneumothorax on this image? No, the lung markings extend to the chest wall.
The axial computed tomography image of the abdomen shows a hypodense lesion in the right lobe of the liver.
Magnetic resonance imaging of the brain shows a ring-enhancing lesion with surrounding edema.
The histology slide shows glands lined by atypical columnar cells invading the muscularis propria.
Which organ is shown in this image? The kidney. Where is the abnormality located? In the left upper lobe.
What modality was used to acquire this image? Ultrasound. Is the heart enlarged? Yes, there is cardiomegaly.
Diabetes mellitus is diagnosed when the fasting plasma glucose is at least 126 mg/dL on two occasions.
Metformin lowers hepatic glucose production and is the first-line drug for type 2 diabetes.
Hypertension increases the risk of stroke, heart failure, chronic kidney disease and myocardial infarction.
Angiotensin-converting enzyme inhibitors can cause a dry cough and, rarely, angioedema.
The patient was treated with intravenous fluids, broad-spectrum antibiotics and supplemental oxygen.
Laboratory studies show hemoglobin 9.2 g/dL, leukocyte count 14,000/mm3 and platelet count 250,000/mm3.
Iron deficiency anemia produces small, pale red blood cells with a low mean corpuscular volume.
Vitamin B12 deficiency causes a macrocytic anemia and may damage the dorsal columns of the spinal cord.
The thyroid-stimulating hormone is low and the free thyroxine is high, consistent with hyperthyroidism.
Acute appendicitis begins with periumbilical pain that migrates to the right lower quadrant.
Pulmonary embolism should be suspected in a patient with sudden dyspnea, tachycardia and pleuritic pain.
Does this study support the hypothesis? Yes. No. Maybe. The results were statistically significant.
Randomized controlled trials provide stronger evidence than case reports or observational cohort studies.
The sensitivity of a test is the proportion of patients with the disease who have a positive result.
The specificity of a test is the proportion of patients without the disease who have a negative result.
Question: Which nerve innervates the diaphragm? Options: (A) vagus (B) phrenic (C) intercostal (D) accessory.
Final answer: (B) the phrenic nerve, from the cervical roots C3, C4 and C5, keeps the diaphragm alive.
Pathology: the tissue shows caseating granulomas with Langhans giant cells, typical of tuberculosis.
Radiology: there is a fracture of the distal radius with dorsal displacement, known as a Colles fracture.
Pharmacology: warfarin inhibits vitamin K epoxide reductase; its effect is monitored with the INR.
Microbiology: Gram-positive cocci in clusters that are coagulase positive are Staphylococcus aureus.
Anatomy: the brachial plexus is formed by the ventral rami of spinal nerves C5 to T1.
Physiology: cardiac output equals heart rate multiplied by stroke volume.
Biochemistry: the rate-limiting enzyme of cholesterol synthesis is HMG-CoA reductase.
Look at the image carefully, describe what you see, then choose the single best option.
"""


def tiny_model(cache_dir: str | os.PathLike | None = None) -> Path:
    """Return the folder of the cached tiny model, building it on first use.

    The folder is ``<cache_dir>/tiny-qwen2.5-vl`` (``cache_dir`` defaults to :func:`medvlt_data.cache.default_cache_root`).
    It is built in a temporary folder beside it and renamed into place, and a lock file serialises the
    builders, so another process sees either no folder or a complete one. A folder built by another
    :data:`RECIPE_VERSION` is replaced.
    """
    return cached_folder(CACHE_FOLDER, build_tiny_model, MARKER, RECIPE_VERSION, cache_dir)


def build_tiny_model(path: str | os.PathLike) -> Path:
    """Build the tiny Qwen2.5-VL model folder at ``path`` (created if missing) and return it.

    The folder loads with ``AutoModelForImageTextToText.from_pretrained`` /
    ``Qwen2_5_VLForConditionalGeneration.from_pretrained`` and ``AutoProcessor.from_pretrained``. Weights are
    random but fixed (seeded), and the generation config samples (``do_sample=True``, ``temperature=1.0``) so
    rollouts of one prompt differ.
    """
    import torch
    from transformers import (
        GenerationConfig,
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)

    tokenizer = _build_tokenizer()
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}
    eos_ids = [ids["<|im_end|>"], ids["<|endoftext|>"]]

    text_hidden = 32
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": text_hidden,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "max_position_embeddings": 4096,
            "max_window_layers": 2,
            "rms_norm_eps": 1e-6,
            # head_dim 16: the three M-RoPE sections (time, height, width) share its 8 frequencies.
            "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3]},
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": text_hidden,
            # Kept as in the real model, so the real processor's patching matches the vision tower.
            "patch_size": 14,
            "temporal_patch_size": 2,
            "spatial_merge_size": 2,
            "window_size": 112,
            "fullatt_block_indexes": [1],
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
        tie_word_embeddings=False,
    )

    with _torch_seed(torch, SEED):
        model = Qwen2_5_VLForConditionalGeneration(config).to(torch.float32).eval()
    model.generation_config = GenerationConfig(
        do_sample=True,
        temperature=1.0,
        top_k=0,
        top_p=1.0,
        max_new_tokens=32,
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=eos_ids,
        pad_token_id=ids["<|endoftext|>"],
    )
    with _quiet_progress():
        model.save_pretrained(path)

    # Small images: at most 8x8 patches of 14 px (16 vision tokens after the 2x2 merge), at least 2x2.
    pixels = {"shortest_edge": 28 * 28, "longest_edge": 112 * 112}
    image_processor = Qwen2VLImageProcessor(size=pixels, patch_size=14, temporal_patch_size=2, merge_size=2)
    video_processor = Qwen2VLVideoProcessor(size=pixels, patch_size=14, temporal_patch_size=2, merge_size=2)
    processor = Qwen2_5_VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=CHAT_TEMPLATE,
    )
    processor.save_pretrained(path)

    (path / MARKER).write_text(
        json.dumps({"recipe_version": RECIPE_VERSION, "seed": SEED, "vocab_size": len(tokenizer)}, indent=2)
        + "\n"
    )
    return path


def _build_tokenizer():
    """Train the byte-level BPE on :data:`CORPUS` and wrap it as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    bpe.decoder = decoders.ByteLevel()
    bpe.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=BPE_VOCAB_SIZE,
        min_frequency=1,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    bpe.train_from_iterator(CORPUS.splitlines(), trainer=trainer)

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        additional_special_tokens=list(SPECIAL_TOKENS),
        model_max_length=4096,
        padding_side="left",
        clean_up_tokenization_spaces=False,
        split_special_tokens=False,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


@contextlib.contextmanager
def _quiet_progress() -> Iterator[None]:
    """Hide transformers' progress bars (the one-shard "Writing model shards" bar) for the block."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


@contextlib.contextmanager
def _torch_seed(torch, seed: int) -> Iterator[None]:
    """Seed torch for the block without disturbing the caller's random state afterwards."""
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.random.set_rng_state(state)
