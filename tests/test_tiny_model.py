"""The tiny Qwen2.5-VL: builds offline, reloads with the Auto classes, generates on CPU, caches atomically."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

from medvlt_data.cache import default_cache_root
from medvlt_train import tiny
from medvlt_train.models import resolve_model

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    return tiny.build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="module")
def loaded(tiny_path):
    model = transformers.AutoModelForImageTextToText.from_pretrained(tiny_path).eval()
    processor = transformers.AutoProcessor.from_pretrained(tiny_path)
    return model, processor


def _chat(processor, content):
    return processor.apply_chat_template(
        [{"role": "user", "content": content}],
        add_generation_prompt=True,
        tokenize=True,
        return_dict=True,
        return_tensors="pt",
    )


def test_folder_config_and_tokenizer_agree(tiny_path):
    names = {p.name for p in tiny_path.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "generation_config.json",
        "tokenizer.json",
        tiny.MARKER,
    } <= names
    config = transformers.AutoConfig.from_pretrained(tiny_path)
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_path)
    assert config.model_type == "qwen2_5_vl"
    assert config.architectures == ["Qwen2_5_VLForConditionalGeneration"]
    assert config.text_config.num_hidden_layers == 2
    assert config.vision_config.depth == 2
    assert (config.vision_config.patch_size, config.vision_config.temporal_patch_size) == (14, 2)
    assert config.vision_config.spatial_merge_size == 2
    assert 1000 <= len(tokenizer) <= config.text_config.vocab_size
    ids = tokenizer.convert_tokens_to_ids
    assert config.image_token_id == ids("<|image_pad|>")
    assert config.video_token_id == ids("<|video_pad|>")
    assert config.vision_start_token_id == ids("<|vision_start|>")
    assert config.vision_end_token_id == ids("<|vision_end|>")
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"
    for token in tiny.SPECIAL_TOKENS:  # one id each, never split by the BPE
        assert tokenizer.tokenize(f"a {token} b").count(token) == 1
    generation = json.loads((tiny_path / "generation_config.json").read_text())
    assert generation["do_sample"] is True and generation["temperature"] == 1.0
    assert ids("<|im_end|>") in generation["eos_token_id"]
    assert generation["max_new_tokens"] <= 64


def test_build_is_deterministic(tiny_path, tmp_path):
    again = tiny.build_tiny_model(tmp_path / "again")
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (again / name).read_bytes() == (tiny_path / name).read_bytes(), name


def test_loads_with_concrete_class(tiny_path):
    model = transformers.Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_path)
    assert sum(p.numel() for p in model.parameters()) < 1_000_000


def test_generate_text_only(loaded):
    model, processor = loaded
    inputs = _chat(processor, [{"type": "text", "text": "Which artery supplies the inferior wall?"}])
    prompt = processor.tokenizer.decode(inputs["input_ids"][0])
    assert prompt.startswith("<|im_start|>system\n") and prompt.endswith("<|im_start|>assistant\n")
    assert "pixel_values" not in inputs
    length = inputs["input_ids"].shape[1]
    torch.manual_seed(0)
    out = model.generate(**inputs, max_new_tokens=8)
    assert out.shape[0] == 1 and length < out.shape[1] <= length + 8
    assert torch.equal(out[0, :length], inputs["input_ids"][0])
    assert isinstance(processor.decode(out[0, length:], skip_special_tokens=True), str)


def test_generate_with_image(loaded):
    model, processor = loaded
    image = Image.new("RGB", (100, 80), (120, 30, 200))
    inputs = _chat(processor, [{"type": "image", "image": image}, {"type": "text", "text": "Describe."}])
    grid = inputs["image_grid_thw"]
    assert grid.shape == (1, 3) and inputs["pixel_values"].shape[0] == int(grid.prod())
    # The real processor expanded the template's single <|image_pad|> to one token per 2x2 merged patch.
    n_pads = int((inputs["input_ids"] == model.config.image_token_id).sum())
    assert n_pads == int(grid.prod()) // 4 and 1 <= n_pads <= 16
    length = inputs["input_ids"].shape[1]
    torch.manual_seed(0)
    out = model.generate(**inputs, max_new_tokens=8)
    assert out.shape[0] == 1 and length < out.shape[1] <= length + 8


def test_sampling_varies_between_rollouts(loaded):
    model, processor = loaded
    inputs = _chat(processor, "Is the heart enlarged?")
    outputs = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        outputs.append(model.generate(**inputs, max_new_tokens=12, min_new_tokens=12)[0].tolist())
    assert outputs[0] != outputs[1]


def test_tiny_model_cache_builds_once(tmp_path, monkeypatch):
    calls = []
    real_build = tiny.build_tiny_model
    monkeypatch.setattr(tiny, "build_tiny_model", lambda path: calls.append(path) or real_build(path))

    path = tiny.tiny_model(tmp_path)
    assert path == tmp_path / tiny.CACHE_FOLDER and len(calls) == 1
    assert calls[0] != path  # built elsewhere, then renamed into place
    # Nothing half-built is left beside it.
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == [tiny.CACHE_FOLDER]
    weights = path / "model.safetensors"
    stamp = weights.stat().st_mtime_ns

    assert tiny.tiny_model(tmp_path) == path
    assert len(calls) == 1 and weights.stat().st_mtime_ns == stamp

    monkeypatch.setenv("MEDVLT_CACHE", str(tmp_path))
    assert default_cache_root() == tmp_path
    assert resolve_model("tiny") == str(path)
    assert resolve_model("Qwen/Qwen2.5-VL-3B-Instruct") == "Qwen/Qwen2.5-VL-3B-Instruct"
    assert resolve_model(str(tmp_path)) == str(tmp_path)
    assert len(calls) == 1

    # A changed recipe rebuilds, replacing the folder.
    monkeypatch.setattr(tiny, "RECIPE_VERSION", tiny.RECIPE_VERSION + 1)
    assert tiny.tiny_model(tmp_path) == path
    assert len(calls) == 2
    assert json.loads((path / tiny.MARKER).read_text())["recipe_version"] == tiny.RECIPE_VERSION
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == [tiny.CACHE_FOLDER]


def test_concurrent_callers_build_once(tmp_path, monkeypatch):
    calls = []
    real_build = tiny.build_tiny_model
    monkeypatch.setattr(tiny, "build_tiny_model", lambda path: calls.append(path) or real_build(path))
    with ThreadPoolExecutor(3) as pool:
        paths = list(pool.map(lambda _: tiny.tiny_model(tmp_path), range(3)))
    assert paths == [tmp_path / tiny.CACHE_FOLDER] * 3
    assert len(calls) == 1


def test_incomplete_folder_is_rebuilt(tmp_path):
    folder = tmp_path / tiny.CACHE_FOLDER
    folder.mkdir()
    (folder / "config.json").write_text("{}")  # no marker: an interrupted copy, say
    assert tiny.tiny_model(tmp_path) == folder
    assert (folder / tiny.MARKER).exists() and (folder / "model.safetensors").exists()


def test_default_cache_root_without_env(monkeypatch):
    monkeypatch.delenv("MEDVLT_CACHE", raising=False)
    assert default_cache_root() == Path(os.path.expanduser("~")) / ".cache" / "medvlt"
