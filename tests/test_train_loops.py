"""SFT and RLVR entry points end to end on CPU: the tiny Qwen2.5-VL trains for two steps, its
parameters move, and the saved folder reloads; a reward named by import path is called. The recipes and
their configs: test_train_recipes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medvlt_data.parquet_io import write_records
from medvlt_train import recipes
from tests.training_records import build_dataset, records

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("trl")

#: A few parameter tensors to compare: the LM head, a decoder MLP, a vision block.
pytestmark = pytest.mark.usefixtures("tiny_model_env")

WATCHED = ("lm_head", "language_model.layers.0.mlp", "visual.blocks.0")


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
def test_sft_two_steps_updates_and_saves(tmp_path, tiny_model_path, with_images):
    from medvlt_train.run import main

    data = build_dataset(tmp_path, with_images)
    out = main("sft", ["sft-tiny", f"dataset={data}", f"output_dir={tmp_path / 'out'}", "max_steps=2"])
    out = Path(out)
    assert out == tmp_path / "out"
    _assert_trained(tiny_model_path, out, vision=with_images)
    losses = [row["loss"] for row in _log_history(out) if "loss" in row]
    assert len(losses) == 2 and all(loss > 0 for loss in losses)


def test_sft_five_epochs_keeps_the_epoch_3_checkpoint_as_published(tmp_path, tiny_model_path):
    # The published MedVLThinker-{3B,7B}-SFT_m23k are checkpoint-4401 of a 5-epoch run of 1467 steps an epoch
    # (UCSC-VLAA/MedVLThinker scripts/upload_weights/upload_weights.py:26-27; train/sft/sft_local.sh:5,79):
    # keep_epoch=3 makes that checkpoint the run's model; the final weights stay in the last checkpoint.
    from medvlt_train.run import main, weights_sha256

    folder = tmp_path / "two"
    write_records(records(False, n=2), folder)  # 2 rows, batch 2: one step an epoch
    out = Path(main("sft", ["sft-tiny", f"dataset={folder}", f"output_dir={tmp_path / 'out'}", "max_steps=-1",
                         "num_train_epochs=5", "save_strategy=epoch", "save_only_model=true",
                         "keep_epoch=3"]))  # fmt: skip
    assert sorted(p.name for p in out.glob("checkpoint-*")) == [f"checkpoint-{i}" for i in range(1, 6)]
    run = json.loads((out / "medvlt_run.json").read_text())
    kept = {"epoch": 3, "global_step": 3, "checkpoint": "checkpoint-3", "of_epochs": 5.0}
    assert run["kept_checkpoint"] == kept
    assert run["global_step"] == 5  # trained to the end: the cosine/constant schedule spans all five epochs
    assert weights_sha256(out) == weights_sha256(out / "checkpoint-3") == run["weights_sha256"]
    assert weights_sha256(out / "checkpoint-5") != weights_sha256(out / "checkpoint-3")
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "| optimizer steps | 5 |" in card
    assert "| weights kept | epoch 3 of 5 (optimizer step 3, `checkpoint-3`)" in card
    _assert_trained(tiny_model_path, out)


def test_keep_epoch_is_checked_before_training(tmp_path):
    from medvlt_train.run import main

    folder = tmp_path / "two"
    write_records(records(False, n=2), folder)
    base = ["sft-tiny", f"dataset={folder}", f"output_dir={tmp_path / 'out'}", "keep_epoch=3"]
    with pytest.raises(ValueError, match="keep_epoch 3 needs save_strategy=epoch"):
        main("sft", base)
    with pytest.raises(ValueError, match="keep_epoch 3 needs a run counted in epochs; max_steps=2 is set"):
        main("sft", [*base, "save_strategy=epoch"])
    with pytest.raises(ValueError, match="keep_epoch 3 is beyond num_train_epochs=2"):
        main("sft", [*base, "save_strategy=epoch", "max_steps=-1", "num_train_epochs=2"])
    with pytest.raises(ValueError, match="save_total_limit=2 would delete the epoch-3 checkpoint"):
        main(
            "sft", [*base, "save_strategy=epoch", "max_steps=-1", "num_train_epochs=5", "save_total_limit=2"]
        )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("with_images", [False, True], ids=["text", "images"])
def test_sft_cuts_text_at_max_length_but_never_image_examples(tmp_path, monkeypatch, with_images):
    # MedVLThinker's text SFT truncates at block_size 32768 (UCSC-VLAA/MedVLThinker train/sft/sft.py:25,100);
    # its image collator calls the processor without truncation (train/sft/sft_vlm.py:119-121).
    from medvlt_train import sft
    from medvlt_train.run import main

    seen = {}

    class Stop(Exception):
        pass

    class RecordingTrainer:
        def __init__(self, model, args, train_dataset, processing_class):
            seen["max_length"] = args.max_length
            raise Stop

    monkeypatch.setattr(sft, "SFTTrainer", RecordingTrainer)
    with pytest.raises(Stop):
        main("sft", ["sft-tiny", f"dataset={build_dataset(tmp_path, with_images)}", f"output_dir={tmp_path / 'out'}",
                     "max_length=32768"])  # fmt: skip
    assert seen["max_length"] == (None if with_images else 32768)


# ---- RLVR -----------------------------------------------------------------------------------------

#: A reward of one's own by import path (it varies across the random model's rollouts; medvlt's is 0 for all).
DISTINCT_CHARS = "tests.test_rewards:distinct_chars"


@pytest.mark.parametrize("with_images", [False, True], ids=["text", "images"])
def test_rlvr_two_steps_updates_and_saves(tmp_path, tiny_model_path, with_images):
    from medvlt_train.run import main

    data = build_dataset(tmp_path, with_images)
    out = main(
        "rlvr",
        [
            "rlvr-tiny",
            f"dataset={data}",
            f"output_dir={tmp_path / 'out'}",
            "max_steps=2",
            f"rewards={{{DISTINCT_CHARS}: 1.0, medvlt: 1.0}}",
        ],
    )
    out = Path(out)
    _assert_trained(tiny_model_path, out, vision=with_images)
    steps = [row for row in _log_history(out) if "reward" in row]
    assert len(steps) == 2
    # Both rewards were called: the trainer logs each under its function's name.
    assert all(
        row["rewards/distinct_chars/mean"] > 0 and "rewards/medvlt_reward/mean" in row for row in steps
    )
    run = json.loads((out / "medvlt_run.json").read_text())
    assert [(r["name"], r["function"], r["weight"]) for r in run["rewards"]] == [
        (DISTINCT_CHARS, "distinct_chars", 1.0),
        ("medvlt", "medvlt_reward", 1.0),
    ]
    # Rewards vary within groups, so GRPO has non-zero advantages and a gradient.
    assert all(row["reward_std"] > 0 for row in steps), steps
    assert all(row["grad_norm"] > 0 for row in steps), steps


def test_rlvr_refuses_a_prompt_over_max_prompt_length(tmp_path):
    # verl stops on a prompt over data.max_prompt_length with data.truncation='error'
    # (UCSC-VLAA/MedVLThinker train/train-qwen2_5_vl_3b-m23k.sh:21,24); medvlt refuses it before training.
    from medvlt_train.run import main

    data = build_dataset(tmp_path, with_images=True)
    args = ["rlvr-tiny", f"dataset={data}", f"output_dir={tmp_path / 'out'}"]
    with pytest.raises(ValueError) as refused:
        main("rlvr", [*args, "max_prompt_length=60"])
    message = str(refused.value)
    head = f"dataset {data}: 8 prompt(s) longer than max_prompt_length=60: demo:train:q0 ("
    assert message.startswith(head)
    assert "and 3 more; leave them out of the data or raise max_prompt_length" in message
    assert not (tmp_path / "out").exists()
    with pytest.raises(recipes.RecipeError, match="'max_prompt_length' is an RLVR key"):
        recipes.parse_recipe("sft-tiny", "sft", ["max_prompt_length=60"])


# ---- the CLI ---------------------------------------------------------------------------------------


def test_medvlt_train_rlvr_from_the_cli_writes_a_reloadable_model(tmp_path, tiny_model_path):
    from click.testing import CliRunner
    from transformers import AutoModelForImageTextToText

    from medvlt_cli.main import cli

    data = build_dataset(tmp_path, False)
    result = CliRunner().invoke(cli, ["train", "rlvr", "--dataset", str(data), "--recipe", "rlvr-tiny", "--output",
                                      str(tmp_path / "run"), "max_steps=1", f"rewards={{{DISTINCT_CHARS}: 1.0}}"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"model saved to {tmp_path / 'run'}" in result.output
    assert AutoModelForImageTextToText.from_pretrained(tmp_path / "run").config.model_type == "qwen2_5_vl"
    bad = CliRunner().invoke(
        cli, ["train", "sft", "--dataset", str(data), "--recipe", "sft-tiny", "no_such_field=1"]
    )
    assert bad.exit_code == 1 and "no_such_field" in bad.output
    listed = CliRunner().invoke(cli, ["train", "recipes"])
    assert "rlvr  rlvr-tiny" in listed.output and "sft   sft-qwen2.5-vl-3b" in listed.output
