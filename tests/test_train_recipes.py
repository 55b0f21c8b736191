"""Training recipes: the packaged ones load and build TRL configs with the paper's hyperparameters, TRL's
parser types and checks the overrides, accelerate launches are assembled (and refused without DeepSpeed),
and the entry point's --help lists every key."""

from __future__ import annotations

import dataclasses
import re

import pytest

from medvlt_data.parquet_io import write_records
from medvlt_train import recipes, rewards
from tests.training_records import records

torch = pytest.importorskip("torch")
pytest.importorskip("trl")

pytestmark = pytest.mark.usefixtures("tiny_model_env")


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
    write_records(records(False, n=2), folder)
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
