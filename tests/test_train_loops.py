"""SFT and RLVR entry points end to end on CPU: the tiny Qwen2.5-VL trains for two steps, its
parameters move, and the saved folder reloads. Recipes load, TRL's parser types their overrides and builds
the configs; a reward named by import path is called."""

from __future__ import annotations

import dataclasses
import io
import json
import re
from pathlib import Path

import pytest

from medvlt_data.parquet_io import write_records
from medvlt_data.schema import Record
from medvlt_train import recipes, rewards

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("trl")

#: A few parameter tensors to compare: the LM head, a decoder MLP, a vision block.
pytestmark = pytest.mark.usefixtures("tiny_model_env")

WATCHED = ("lm_head", "language_model.layers.0.mlp", "visual.blocks.0")


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
def test_sft_two_steps_updates_and_saves(tmp_path, tiny_model_path, with_images):
    from medvlt_train import sft

    data = _build(tmp_path, with_images)
    out = sft.main(["sft-tiny", f"dataset={data}", f"output_dir={tmp_path / 'out'}", "max_steps=2"])
    out = Path(out)
    assert out == tmp_path / "out"
    _assert_trained(tiny_model_path, out, vision=with_images)
    losses = [row["loss"] for row in _log_history(out) if "loss" in row]
    assert len(losses) == 2 and all(loss > 0 for loss in losses)


def test_sft_five_epochs_keeps_the_epoch_3_checkpoint_as_published(tmp_path, tiny_model_path):
    # The published MedVLThinker-{3B,7B}-SFT_m23k are checkpoint-4401 of a 5-epoch run of 1467 steps an epoch
    # (UCSC-VLAA/MedVLThinker scripts/upload_weights/upload_weights.py:26-27; train/sft/sft_local.sh:5,79):
    # keep_epoch=3 makes that checkpoint the run's model; the final weights stay in the last checkpoint.
    from medvlt_train import sft
    from medvlt_train.run import weights_sha256

    folder = tmp_path / "two"
    write_records(_records(False, n=2), folder)  # 2 rows, batch 2: one step an epoch
    out = Path(sft.main(["sft-tiny", f"dataset={folder}", f"output_dir={tmp_path / 'out'}", "max_steps=-1",
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
    from medvlt_train import sft

    folder = tmp_path / "two"
    write_records(_records(False, n=2), folder)
    base = ["sft-tiny", f"dataset={folder}", f"output_dir={tmp_path / 'out'}", "keep_epoch=3"]
    with pytest.raises(ValueError, match="keep_epoch 3 needs save_strategy=epoch"):
        sft.main(base)
    with pytest.raises(ValueError, match="keep_epoch 3 needs a run counted in epochs; max_steps=2 is set"):
        sft.main([*base, "save_strategy=epoch"])
    with pytest.raises(ValueError, match="keep_epoch 3 is beyond num_train_epochs=2"):
        sft.main([*base, "save_strategy=epoch", "max_steps=-1", "num_train_epochs=2"])
    with pytest.raises(ValueError, match="save_total_limit=2 would delete the epoch-3 checkpoint"):
        sft.main([*base, "save_strategy=epoch", "max_steps=-1", "num_train_epochs=5", "save_total_limit=2"])
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("with_images", [False, True], ids=["text", "images"])
def test_sft_cuts_text_at_max_length_but_never_image_examples(tmp_path, monkeypatch, with_images):
    # MedVLThinker's text SFT truncates at block_size 32768 (UCSC-VLAA/MedVLThinker train/sft/sft.py:25,100);
    # its image collator calls the processor without truncation (train/sft/sft_vlm.py:119-121).
    import trl

    from medvlt_train import sft

    seen = {}

    class Stop(Exception):
        pass

    class RecordingTrainer:
        def __init__(self, model, args, train_dataset, processing_class):
            seen["max_length"] = args.max_length
            raise Stop

    monkeypatch.setattr(trl, "SFTTrainer", RecordingTrainer)
    with pytest.raises(Stop):
        sft.main(["sft-tiny", f"dataset={_build(tmp_path, with_images)}", "max_length=32768"])
    assert seen["max_length"] == (None if with_images else 32768)


# ---- RLVR -----------------------------------------------------------------------------------------

#: A reward of one's own by import path (it varies across the random model's rollouts; medvlt's is 0 for all).
DISTINCT_CHARS = "tests.test_rewards:distinct_chars"


@pytest.mark.parametrize("with_images", [False, True], ids=["text", "images"])
def test_rlvr_two_steps_updates_and_saves(tmp_path, tiny_model_path, with_images):
    from medvlt_train import rlvr

    data = _build(tmp_path, with_images)
    out = rlvr.main(
        [
            "rlvr-tiny",
            f"dataset={data}",
            f"output_dir={tmp_path / 'out'}",
            "max_steps=2",
            f"rewards={{{DISTINCT_CHARS}: 1.0, medvlt: 1.0}}",
        ]
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
    from medvlt_train import rlvr

    data = _build(tmp_path, with_images=True)
    args = ["rlvr-tiny", f"dataset={data}", f"output_dir={tmp_path / 'out'}"]
    with pytest.raises(ValueError) as refused:
        rlvr.main([*args, "max_prompt_length=60"])
    message = str(refused.value)
    head = f"dataset {data}: 8 prompt(s) longer than max_prompt_length=60: demo:train:q0 ("
    assert message.startswith(head)
    assert "and 3 more; leave them out of the data or raise max_prompt_length" in message
    assert not (tmp_path / "out").exists()
    with pytest.raises(recipes.RecipeError, match="'max_prompt_length' is an RLVR key"):
        recipes.parse_recipe("sft-tiny", "sft", ["max_prompt_length=60"])


# ---- recipes --------------------------------------------------------------------------------------


def _on_this_machine(*overrides: str) -> list[str]:
    """GPU recipes ask for bf16, which TrainingArguments refuses without a GPU unless ``use_cpu``."""
    return [*overrides, *([] if torch.cuda.is_available() else ["use_cpu=true"])]


#: Recipe keys that are medvlt's, not the TRL config's.
MEDVLT_FIELDS = {f.name for f in dataclasses.fields(recipes.MedvltArguments)}


def _config_fields(run: recipes.TrainingRun) -> dict:
    return {k: v for k, v in run.fields.items() if k not in MEDVLT_FIELDS}


def test_packaged_recipes_build_configs():
    names = recipes.list_recipes()
    sizes = ("3b", "7b", "32b")
    continuations = {f"rlvr-{k}-then-rl-qwen2.5-vl-{s}" for k in ("sft", "rl") for s in ("3b", "7b")}
    assert set(names) == {"sft-tiny", "rlvr-tiny", "rlvr-demo"} | continuations | {
        f"{k}-qwen2.5-vl-{s}" for k in ("sft", "rlvr") for s in sizes
    }
    for name in names:
        kind = "sft" if name.startswith("sft") else "rlvr"
        run = recipes.parse_recipe(name, kind, _on_this_machine())
        assert run.recipe == name and run.args.model and run.args.prompt in ("paper", "default")
        assert isinstance(run.config, recipes.config_class(kind))
        assert isinstance(run.config.learning_rate, float)
        if kind == "rlvr":
            rewards.get_rewards(run.args.rewards)


def test_paper_hyperparameters_mapped():
    sft_run = recipes.parse_recipe("sft-qwen2.5-vl-3b", "sft", _on_this_machine())
    sft, sft_fields = sft_run.config, _config_fields(sft_run)
    assert (sft.learning_rate, sft.lr_scheduler_type.value, sft.warmup_steps) == (1e-5, "cosine", 0.05)
    assert (sft.num_train_epochs, sft.weight_decay, sft.adam_beta1, sft.adam_beta2) == (5, 1e-4, 0.9, 0.95)
    assert sft.bf16 and sft.completion_only_loss
    assert sft.per_device_train_batch_size * 8 * sft.gradient_accumulation_steps == 16
    # The same SFT hyperparameters at every size; only 32B checkpoints activations, as the released 32B run
    # did (UCSC-VLAA/MedVLThinker train/sft/train_commands.sh:9,21,33). Per-fact checks: test_recipes_fidelity.
    for size in ("7b", "32b"):
        fields = _config_fields(recipes.parse_recipe(f"sft-qwen2.5-vl-{size}", "sft", _on_this_machine()))
        skip = {"output_dir", "activation_checkpointing"}
        assert {k: v for k, v in fields.items() if k not in skip} == {
            k: v for k, v in sft_fields.items() if k not in skip
        }
    for size in ("3b", "7b", "32b"):
        rl = recipes.parse_recipe(f"rlvr-qwen2.5-vl-{size}", "rlvr", _on_this_machine()).config
        assert (rl.num_generations, rl.learning_rate, rl.beta, rl.entropy_coef) == (8, 1e-6, 0.01, 0.0)
        # train-qwen2_5_vl_32b-m23k.sh:25,34: batch 128, mini-batch 64; the others 256 and 128
        prompts = 128 if size == "32b" else 256
        assert rl.generation_batch_size == prompts * 8
        assert rl.per_device_train_batch_size * 8 * rl.gradient_accumulation_steps == prompts // 2 * 8
        assert rl.max_completion_length == 4096 and rl.num_train_epochs == 5
        assert rl.use_vllm and rl.vllm_mode == "colocate" and rl.loss_type == "dapo"
    run = recipes.parse_recipe("rlvr-qwen2.5-vl-32b", "rlvr", _on_this_machine())
    assert run.args.model == "Qwen/Qwen2.5-VL-32B-Instruct" and run.args.accelerate == "zero3"
    assert run.config.vllm_tensor_parallel_size == 4
    assert recipes.load_recipe("sft-qwen2.5-vl-32b", "sft")["accelerate"] == "zero3"
    assert recipes.load_recipe("qwen2.5-vl-7b", "rlvr")["accelerate"] == "zero3"  # name without its kind


def test_vllm_options_pass_through_to_grpo_config():
    config = recipes.parse_recipe("rlvr-qwen2.5-vl-3b", "rlvr", _on_this_machine(
        "vllm_mode=server", "vllm_server_host=10.0.0.7", "vllm_server_port=8011",
        "vllm_gpu_memory_utilization=0.5", "vllm_enable_sleep_mode=true")).config  # fmt: skip
    assert (config.vllm_mode, config.vllm_server_host, config.vllm_server_port) == (
        "server",
        "10.0.0.7",
        8011,
    )
    assert config.vllm_gpu_memory_utilization == 0.5 and config.vllm_enable_sleep_mode is True
    with pytest.raises(recipes.RecipeError, match="vllm_serverhost"):
        recipes.parse_recipe("rlvr-qwen2.5-vl-3b", "rlvr", ["vllm_serverhost=x"])


def test_accelerate_configs_and_launch_command(tmp_path):
    from accelerate.commands.config.config_args import load_config_from_file

    from medvlt_train.launch import accelerate_command, accelerate_config, list_accelerate_configs

    assert list_accelerate_configs() == ["ddp", "zero3"]
    ddp = load_config_from_file(str(accelerate_config("ddp")))
    assert ddp.distributed_type.value == "MULTI_GPU" and ddp.mixed_precision == "no"
    zero3 = load_config_from_file(str(accelerate_config("zero3")))
    assert zero3.distributed_type.value == "DEEPSPEED" and zero3.deepspeed_config["zero_stage"] == 3
    command = accelerate_command("rlvr", ["qwen2.5-vl-7b", "dataset=d"], 8, "zero3")
    assert command[1:3] == ["-m", "accelerate.commands.launch"]
    assert command[3:] == ["--config_file", str(accelerate_config("zero3")), "--num_processes", "8",
                           "-m", "medvlt_train.rlvr", "qwen2.5-vl-7b", "dataset=d"]  # fmt: skip
    with pytest.raises(recipes.RecipeError, match="unknown accelerate config 'fsdp9'; packaged: ddp, zero3"):
        accelerate_config("fsdp9")
    broken = tmp_path / "mine.yaml"
    broken.write_text("distributed_type: NOT_A_TYPE\n")
    with pytest.raises(recipes.RecipeError, match="does not load"):
        accelerate_config(str(broken))


def test_a_deepspeed_launch_without_deepspeed_is_refused_before_it_starts(tmp_path, monkeypatch):
    import importlib.util

    from click.testing import CliRunner

    from medvlt_cli.main import cli
    from medvlt_train.launch import check_launchable

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "deepspeed" else real_find_spec(name, *a),
    )
    check_launchable("ddp")  # no DeepSpeed needed
    with pytest.raises(
        recipes.RecipeError, match=r"'zero3' runs DeepSpeed, which is not installed: pip install"
    ):
        check_launchable("zero3")
    folder = tmp_path / "two"
    write_records(_records(False, n=2), folder)
    result = CliRunner().invoke(cli, ["train", "rlvr", "--dataset", str(folder), "--recipe", "qwen2.5-vl-3b",
                                      "--num-processes", "2"])  # fmt: skip
    assert result.exit_code != 0
    assert "'zero3' runs DeepSpeed, which is not installed" in result.output
    assert "launching" not in result.output


def test_overrides_are_typed_and_checked(tmp_path):
    overrides = ["max_steps=3", "learning_rate=2e-5", "bf16=false", "rewards={medvlt: 1.0, format: 0.1}",
                 "keep_epoch=null"]  # fmt: skip
    run = recipes.parse_recipe("rlvr-tiny", "rlvr", overrides)
    assert {k: run.fields[k] for k in ("max_steps", "learning_rate", "bf16", "keep_epoch")} == {
        "max_steps": 3,
        "learning_rate": 2e-5,
        "bf16": False,
        "keep_epoch": None,
    }
    assert (run.config.max_steps, run.config.learning_rate, run.config.bf16) == (3, 2e-5, False)
    assert run.args.rewards == {"medvlt": 1.0, "format": 0.1} and run.args.keep_epoch is None
    assert run.fields["num_generations"] == 4 and "kind" not in run.fields  # the recipe's own keys too
    # Typed values (as command-line options give them) go before the key=value overrides.
    given = recipes.parse_recipe("sft-tiny", "sft", ["max_steps=3"], {"max_steps": 5, "output_dir": "o"})
    assert (given.config.max_steps, given.config.output_dir, given.args.model) == (3, "o", "tiny")
    with pytest.raises(recipes.RecipeError, match="unknown override key"):
        recipes.parse_recipe("sft-tiny", "sft", ["max_stepz=3"])
    with pytest.raises(recipes.RecipeError, match="key=value"):
        recipes.parse_recipe("sft-tiny", "sft", ["max_steps"])
    with pytest.raises(recipes.RecipeError, match="invalid int value: 'three'"):
        recipes.parse_recipe("sft-tiny", "sft", ["max_steps=three"])
    with pytest.raises(recipes.RecipeError, match="unknown prompt 'terse'; known: default, paper"):
        _ = recipes.parse_recipe("sft-tiny", "sft", ["prompt=terse"]).args
    with pytest.raises(recipes.RecipeError, match="not 'sft'"):
        recipes.load_recipe("rlvr-tiny", "sft")
    with pytest.raises(recipes.RecipeError, match="rewards"):
        recipes.parse_recipe("sft-tiny", "sft", ["rewards={medvlt: 1}"])
    custom = tmp_path / "mine.yaml"
    custom.write_text("kind: sft\nmodel: tiny\nmax_steps: 1\nnot_a_field: 2\n")
    with pytest.raises(recipes.RecipeError, match="not_a_field"):
        recipes.load_recipe(custom, "sft")
    custom.write_text("kind: sft\nmodel: tiny\nmax_steps: 1\n")
    with pytest.raises(
        recipes.RecipeError, match=re.escape(f"recipe {custom} sets no dataset; pass dataset=")
    ):
        recipes.parse_recipe(custom, "sft").check_required()
    with pytest.raises(recipes.RecipeError, match="unknown recipe"):
        recipes.load_recipe("no-such-recipe", "sft")


def test_entry_point_help_lists_every_key(capsys):
    with pytest.raises(SystemExit) as exited:
        recipes.parse_command_line(["--help"], "rlvr")
    assert exited.value.code == 0
    shown = capsys.readouterr().out
    assert "rlvr-tiny" in shown and "--max_prompt_length" in shown and "--num_generations" in shown


# ---- the CLI ---------------------------------------------------------------------------------------


def test_medvlt_train_rlvr_from_the_cli_writes_a_reloadable_model(tmp_path, tiny_model_path):
    from click.testing import CliRunner
    from transformers import AutoModelForImageTextToText

    from medvlt_cli.main import cli

    data = _build(tmp_path, False)
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
