"""SFT and RLVR entry points end to end on CPU: the tiny Qwen2.5-VL trains for two steps, its
parameters move, and the saved folder reloads. Recipes load, type their overrides and build configs."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from medvlt_data.parquet_io import write_records
from medvlt_data.schema import Record
from medvlt_train import recipes, rewards

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("trl")

#: A few parameter tensors to compare: the LM head, a decoder MLP, a vision block.
WATCHED = ("lm_head", "language_model.layers.0.mlp", "visual.blocks.0")


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    import os

    from medvlt_train.tiny import resolve_model

    cache = tmp_path_factory.mktemp("cache")
    old = os.environ.get("MEDVLT_CACHE")
    os.environ["MEDVLT_CACHE"] = str(cache)
    try:
        path = resolve_model("tiny")
        yield path
    finally:
        if old is None:
            os.environ.pop("MEDVLT_CACHE", None)
        else:
            os.environ["MEDVLT_CACHE"] = old


@pytest.fixture(autouse=True)
def _cache_env(tiny_path, monkeypatch):
    monkeypatch.setenv("MEDVLT_CACHE", str(Path(tiny_path).parent))


def _png(seed: int, size: int = 56) -> bytes:
    from PIL import Image

    image = Image.new("RGB", (size, size), (40 * seed % 256, 90, 160))
    for x in range(0, size, 7):
        image.putpixel((x, (x * seed) % size), (255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _records(with_images: bool, n: int = 8) -> list[Record]:
    organs = ["Liver", "Pancreas", "Kidney", "Spleen"]
    out = []
    for i in range(n):
        label = "ABCD"[i % 4]
        out.append(
            Record(
                question=f"Case {i}: which organ is shown or described?",
                options=dict(zip("ABCD", organs, strict=True)),
                answer_label=label,
                answer=organs[i % 4],
                source="demo",
                source_id=f"q{i}",
                split="train",
                reasoning=f"The findings point to the {organs[i % 4].lower()}.",
                images=[_png(i)] if with_images and i % 2 == 0 else [],  # mixed text and image rows
            )
        )
    return out


def _build(tmp_path: Path, with_images: bool) -> Path:
    folder = tmp_path / "build"
    files = write_records(_records(with_images), folder)
    assert [p.name for p in files["train"]] == ["train-00000-of-00001.parquet"]
    return folder


def _watched(model) -> dict[str, torch.Tensor]:
    return {
        name: p.detach().clone().float()
        for name, p in model.named_parameters()
        if any(w in name for w in WATCHED) and name.endswith("weight")
    }


def _assert_trained(initial_path, out: Path, vision: bool = False) -> None:
    cls = transformers.AutoModelForImageTextToText
    before = _watched(cls.from_pretrained(initial_path))
    after = _watched(cls.from_pretrained(out))  # the saved folder reloads
    assert before.keys() == after.keys() and before
    changed = [n for n in before if not torch.equal(before[n], after[n])]
    assert any("language_model" in n or "lm_head" in n for n in changed), changed
    if vision:  # image rows went through the vision tower and got gradients
        assert any("visual" in n for n in changed), changed
    transformers.AutoProcessor.from_pretrained(out)


def _log_history(out: Path) -> list[dict]:
    return json.loads((out / "trainer_state.json").read_text())["log_history"]


# ---- SFT ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("with_images", [False, True], ids=["text", "images"])
def test_sft_two_steps_updates_and_saves(tmp_path, tiny_path, with_images):
    from medvlt_train import sft

    data = _build(tmp_path, with_images)
    out = sft.main(["sft-tiny", f"dataset={data}", f"output_dir={tmp_path / 'out'}", "max_steps=2"])
    out = Path(out)
    assert out == tmp_path / "out"
    _assert_trained(tiny_path, out, vision=with_images)
    losses = [row["loss"] for row in _log_history(out) if "loss" in row]
    assert len(losses) == 2 and all(loss > 0 for loss in losses)


# ---- RLVR -----------------------------------------------------------------------------------------


def _distinct_chars(completions, **columns):
    """A test reward that varies across the random model's rollouts (all of which get 0 from medvlt)."""
    return [float(len(set(rewards.completion_text(c)))) for c in completions]


@pytest.mark.parametrize("with_images", [False, True], ids=["text", "images"])
def test_rlvr_two_steps_updates_and_saves(tmp_path, tiny_path, monkeypatch, with_images):
    from medvlt_train import rlvr

    monkeypatch.setitem(rewards.REWARDS, "distinct_chars", _distinct_chars)
    data = _build(tmp_path, with_images)
    out = rlvr.main(
        [
            "rlvr-tiny",
            f"dataset={data}",
            f"output_dir={tmp_path / 'out'}",
            "max_steps=2",
            "rewards={distinct_chars: 1.0, medvlt: 1.0}",
        ]
    )
    out = Path(out)
    _assert_trained(tiny_path, out, vision=with_images)
    steps = [row for row in _log_history(out) if "reward" in row]
    assert len(steps) == 2
    # Rewards vary within groups, so GRPO has non-zero advantages and a gradient.
    assert all(row["reward_std"] > 0 for row in steps), steps
    assert all(row["grad_norm"] > 0 for row in steps), steps


# ---- recipes --------------------------------------------------------------------------------------


def _on_this_machine(fields: dict) -> dict:
    """GPU recipes ask for bf16, which TrainingArguments refuses without a GPU unless ``use_cpu``."""
    return fields if torch.cuda.is_available() else {**fields, "use_cpu": True}


def test_packaged_recipes_build_configs():
    names = recipes.list_recipes()
    assert {"sft-tiny", "rlvr-tiny", "sft-qwen2.5-vl-3b", "rlvr-qwen2.5-vl-3b", "rlvr-qwen2.5-vl-7b"} <= set(
        names
    )
    for name in names:
        kind = "sft" if name.startswith("sft") else "rlvr"
        settings, fields = recipes.split_recipe(recipes.load_recipe(name, kind))
        assert settings["model"] and settings["prompt"] in ("paper", "default")
        config = recipes.build_config(_on_this_machine(fields), kind)
        assert isinstance(config.learning_rate, float)
        if kind == "rlvr":
            rewards.get_rewards(settings["rewards"])


def test_paper_hyperparameters_mapped():
    _, sft_fields = recipes.split_recipe(recipes.load_recipe("sft-qwen2.5-vl-3b", "sft"))
    sft = recipes.build_config(_on_this_machine(sft_fields), "sft")
    assert (sft.learning_rate, sft.lr_scheduler_type.value, sft.warmup_steps) == (1e-5, "cosine", 0.05)
    assert (sft.num_train_epochs, sft.weight_decay, sft.adam_beta1, sft.adam_beta2) == (5, 1e-4, 0.9, 0.95)
    assert sft.bf16 and sft.completion_only_loss
    assert sft.per_device_train_batch_size * 8 * sft.gradient_accumulation_steps == 16
    for size in ("3b", "7b"):
        _, fields = recipes.split_recipe(recipes.load_recipe(f"rlvr-qwen2.5-vl-{size}", "rlvr"))
        rl = recipes.build_config(_on_this_machine(fields), "rlvr")
        assert (rl.num_generations, rl.learning_rate, rl.beta, rl.entropy_coef) == (8, 1e-6, 0.01, 0.0)
        assert rl.generation_batch_size == 256 * 8
        assert rl.per_device_train_batch_size * 8 * rl.gradient_accumulation_steps == 128 * 8
        assert rl.max_completion_length == 4096 and rl.num_train_epochs == 5


def test_overrides_are_typed_and_checked(tmp_path):
    parsed = recipes.parse_overrides(
        ["max_steps=3", "learning_rate=2e-5", "bf16=false", "rewards={medvlt: 1.0, format: 0.1}"], "rlvr"
    )
    assert parsed == {
        "max_steps": 3,
        "learning_rate": 2e-5,
        "bf16": False,
        "rewards": {"medvlt": 1.0, "format": 0.1},
    }
    with pytest.raises(recipes.RecipeError, match="unknown override key"):
        recipes.parse_overrides(["max_stepz=3"], "sft")
    with pytest.raises(recipes.RecipeError, match="key=value"):
        recipes.parse_overrides(["max_steps"], "sft")
    with pytest.raises(recipes.RecipeError, match="not 'sft'"):
        recipes.load_recipe("rlvr-tiny", "sft")
    with pytest.raises(recipes.RecipeError, match="rewards"):
        recipes.apply_overrides(recipes.load_recipe("sft-tiny", "sft"), ["rewards={medvlt: 1}"], "sft")
    custom = tmp_path / "mine.yaml"
    custom.write_text("kind: sft\nmodel: tiny\nmax_steps: 1\nnot_a_field: 2\n")
    with pytest.raises(recipes.RecipeError, match="not_a_field"):
        recipes.load_recipe(custom, "sft")
    with pytest.raises(recipes.RecipeError, match="unknown recipe"):
        recipes.load_recipe("no-such-recipe", "sft")


# ---- the CLI ---------------------------------------------------------------------------------------


def test_medvlt_train_rlvr_from_the_cli_writes_a_reloadable_model(tmp_path, tiny_path, monkeypatch):
    from click.testing import CliRunner
    from transformers import AutoModelForImageTextToText

    from medvlt_cli.main import cli

    monkeypatch.setitem(rewards.REWARDS, "distinct_chars", _distinct_chars)
    data = _build(tmp_path, False)
    result = CliRunner().invoke(cli, ["train", "rlvr", "--dataset", str(data), "--recipe", "rlvr-tiny", "--output",
                                      str(tmp_path / "run"), "max_steps=1", "rewards={distinct_chars: 1.0}"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"model saved to {tmp_path / 'run'}" in result.output
    assert AutoModelForImageTextToText.from_pretrained(tmp_path / "run").config.model_type == "qwen2_5_vl"
    bad = CliRunner().invoke(
        cli, ["train", "sft", "--dataset", str(data), "--recipe", "sft-tiny", "no_such_field=1"]
    )
    assert bad.exit_code == 1 and "no_such_field" in bad.output
    listed = CliRunner().invoke(cli, ["train", "recipes"])
    assert "rlvr  rlvr-tiny" in listed.output and "sft   sft-qwen2.5-vl-3b" in listed.output
