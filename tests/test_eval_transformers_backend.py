"""The in-process transformers generation backend, on the tiny random Qwen2.5-VL (CPU, float32)."""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image

from medvlt_train.eval.backend import EvalBackend, GenerationRequest
from medvlt_train.eval.transformers_backend import TransformersGenerator

MAX_NEW_TOKENS = 12


def png(width: int, height: int, seed: int) -> bytes:
    """A PNG of random pixels (so different images give different vision features)."""
    rng = random.Random(seed)
    image = Image.frombytes(
        "RGB", (width, height), bytes(rng.randrange(256) for _ in range(width * height * 3))
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def grey_jpeg(width: int, height: int) -> bytes:
    """A greyscale JPEG (converted to RGB by the backend)."""
    buffer = io.BytesIO()
    Image.new("L", (width, height), 128).save(buffer, format="JPEG")
    return buffer.getvalue()


#: Text-only and image requests interleaved, with prompts of different lengths and 1 or 2 images.
REQUESTS = [
    GenerationRequest("Which nerve innervates the diaphragm? A. vagus B. phrenic", ()),
    GenerationRequest("Which organ is shown in this image?", (png(56, 56, 1),)),
    GenerationRequest("Is the heart enlarged?", ()),
    GenerationRequest(
        "Compare the two images, describe what you see, then choose the single best option.",
        (png(40, 90, 2), png(112, 60, 3)),
    ),
    GenerationRequest(
        "A 54-year-old man presents to the emergency department with crushing chest pain radiating to the "
        "left arm. Which artery is most likely occluded?",
        (),
    ),
    GenerationRequest("What modality was used to acquire this image?", (grey_jpeg(30, 30),)),
    GenerationRequest("Yes or no?", ()),
]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """The tiny model's matrices are too small to gain from intra-op threads, and on a busy machine the
    threads only contend: run this module single-threaded (several times faster), then restore."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def generator(tiny_model_path):
    gen = TransformersGenerator(str(tiny_model_path), batch_size=2, max_new_tokens=MAX_NEW_TOKENS)
    yield gen
    gen.close()


@pytest.fixture(scope="module")
def batched_outputs(generator) -> list[str]:
    return generator.generate(REQUESTS, seed=0)


def test_one_string_per_request_in_order(generator, batched_outputs):
    assert len(batched_outputs) == len(REQUESTS)
    assert all(isinstance(text, str) for text in batched_outputs)
    # Each request alone gives the completion found at its index in the mixed, batched run: the order is
    # the input order, and batching (left padding, partial batches) does not change the answers.
    singles = [generator.generate([request], seed=0)[0] for request in REQUESTS]
    assert singles == batched_outputs
    assert len(set(batched_outputs)) > 1  # the prompts really differ, so the check above means something


def test_greedy_is_deterministic_and_independent_of_batch_size_and_seed(
    generator, batched_outputs, tiny_model_env
):
    assert generator.generate(REQUESTS, seed=0) == batched_outputs
    assert generator.generate(REQUESTS, seed=123) == batched_outputs  # greedy: the seed does not matter
    other = TransformersGenerator("tiny", batch_size=3, max_new_tokens=MAX_NEW_TOKENS)
    try:
        resolved = (other.model_name, other.device, other.dtype, other.batch_size)
        assert resolved == ("tiny", "cpu", "float32", 3)
        assert other.generate(REQUESTS, seed=0) == batched_outputs
        assert other.generate(list(reversed(REQUESTS)), seed=0) == list(reversed(batched_outputs))
    finally:
        other.close()
    assert other.model is None
    with pytest.raises(RuntimeError, match="closed"):
        other.generate(REQUESTS[:1], seed=0)


def test_max_new_tokens_caps_the_completion(generator, monkeypatch):
    decoded = []
    original = generator.processor.batch_decode

    def spy(tokens, **kwargs):
        decoded.append(tokens)
        return original(tokens, **kwargs)

    monkeypatch.setattr(generator.processor, "batch_decode", spy)
    generator.generate(REQUESTS, seed=0)
    lengths = [tokens.shape[1] for tokens in decoded]
    assert max(lengths) == MAX_NEW_TOKENS  # a random model rarely stops early: some batch hits the cap
    assert all(length <= MAX_NEW_TOKENS for length in lengths)
    assert sum(tokens.shape[0] for tokens in decoded) == len(REQUESTS)
    assert len(decoded) == 4  # 4 text-only requests in batches of 2, then 3 image requests: 2 + 2


def test_generation_is_greedy_without_sampling_fields(generator):
    config = generator.generation_config
    assert config.do_sample is False
    assert config.max_new_tokens == MAX_NEW_TOKENS
    assert generator.model.generation_config.do_sample is False  # the tiny model ships a sampling config
    config.validate(strict=True)  # no sampling-only flag left for transformers to warn about
    assert config.pad_token_id is not None and config.eos_token_id is not None


def test_undecodable_image_names_its_request(generator):
    bad = [REQUESTS[0], GenerationRequest("What is this?", (png(28, 28, 4), b"not an image"))]
    with pytest.raises(ValueError, match=r"request 1: image 1 cannot be decoded"):
        generator.generate(bad, seed=0)


def test_unknown_dtype_lists_the_allowed_ones():
    with pytest.raises(
        ValueError, match=r"unknown dtype 'int8'; expected one of auto, float32, bfloat16, float16"
    ):
        TransformersGenerator("tiny", dtype="int8")


def test_the_settings_it_resolved(generator, tiny_model_path):
    assert isinstance(generator, EvalBackend)
    resolved = (generator.model_name, generator.device, generator.dtype, generator.batch_size)
    assert resolved == (str(tiny_model_path), "cpu", "float32", 2)


def test_generate_each_hands_over_every_answer_by_index(generator, batched_outputs):
    done: list[tuple[int, str]] = []
    generator.generate_each(REQUESTS, 0, lambda index, text: done.append((index, text)))
    assert sorted(done) == list(enumerate(batched_outputs))
