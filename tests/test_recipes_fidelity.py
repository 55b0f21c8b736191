"""The packaged recipes against MedVLThinker's released scripts, one fact a test.

Each test reads a packaged YAML (or a default in code) and asserts the value the released script has; the
comment names the script and line. Scripts are UCSC-VLAA/MedVLThinker at a3163b16 (train/, eval/,
data_process/); keys a verl script leaves out take verl's defaults at the commit MedVLThinker pins
(volcengine/verl 54b2677, MedVLThinker README.md:47): verl/trainer/config/ppo_trainer.yaml and
verl/workers/fsdp_workers.py. TRL counts batches in completions, verl in prompts: ``generation_batch_size`` =
``data.train_batch_size`` x ``rollout.n``, and one optimizer step (``per_device_train_batch_size`` x 8 GPUs x
``gradient_accumulation_steps``) = ``ppo_mini_batch_size`` x ``rollout.n``. No test needs a GPU.
"""

from __future__ import annotations

import pytest

from medvlt_train import recipes

pytest.importorskip("trl")

M23K = ("rlvr-qwen2.5-vl-3b", "rlvr-qwen2.5-vl-7b", "rlvr-qwen2.5-vl-32b")
CONTINUATIONS = tuple(f"rlvr-{k}-then-rl-qwen2.5-vl-{s}" for k in ("sft", "rl") for s in ("3b", "7b"))
RLVR = M23K + CONTINUATIONS
SFT = ("sft-qwen2.5-vl-3b", "sft-qwen2.5-vl-7b", "sft-qwen2.5-vl-32b")
GPUS = 8  # every GPU recipe is written for one node of 8 GPUs, as the 3B/7B scripts ran (n_gpus_per_node=8)


def _fields(name: str) -> dict:
    return recipes.load_recipe(name, "rlvr" if name.startswith("rlvr") else "sft")


def _run(name: str, *overrides: str) -> recipes.TrainingRun:
    """The recipe parsed (on CPU with use_cpu, since TrainingArguments refuses bf16 there)."""
    import torch

    kind = "rlvr" if name.startswith("rlvr") else "sft"
    return recipes.parse_recipe(
        name, kind, [*overrides, *([] if torch.cuda.is_available() else ["use_cpu=true"])]
    )


def _config(name: str):
    """The TRL config the recipe builds."""
    return _run(name).config


def _optimizer_batch(config) -> int:
    return config.per_device_train_batch_size * GPUS * config.gradient_accumulation_steps


# ---- RLVR (verl) ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", RLVR)
def test_rlvr_rollouts_per_prompt_are_8(name):
    # actor_rollout_ref.rollout.n=8: train-qwen2_5_vl_3b-m23k.sh:45, train-qwen2_5_vl_32b-m23k.sh:50,
    # sft+rl-3b.sh:43, rl+rl-3b.sh:43
    assert _config(name).num_generations == 8


@pytest.mark.parametrize("name", M23K[:2])
def test_rlvr_3b_7b_batch_256_prompts_mini_batch_128(name):
    # data.train_batch_size=256 (train-qwen2_5_vl_3b-m23k.sh:20), ppo_mini_batch_size=128 (:29); the 7B script
    # differs only in MODEL (train-qwen2_5_vl_7b-m23k.sh:5)
    config = _config(name)
    assert config.generation_batch_size == 256 * 8
    assert _optimizer_batch(config) == 128 * 8


def test_rlvr_32b_batch_128_prompts_mini_batch_64():
    # data.train_batch_size=128 (train-qwen2_5_vl_32b-m23k.sh:25), ppo_mini_batch_size=64 (:34)
    config = _config("rlvr-qwen2.5-vl-32b")
    assert config.generation_batch_size == 128 * 8
    assert _optimizer_batch(config) == 64 * 8


@pytest.mark.parametrize("name", CONTINUATIONS)
def test_continuation_batch_64_prompts_mini_batch_32_one_epoch(name):
    # data.train_batch_size=64 (sft+rl-3b.sh:18, rl+rl-3b.sh:18), ppo_mini_batch_size=32 (:27),
    # trainer.total_epochs=1 (:55); sft+rl-7b.sh and rl+rl-7b.sh the same
    config = _config(name)
    assert config.generation_batch_size == 64 * 8
    assert _optimizer_batch(config) == 32 * 8
    assert config.num_train_epochs == 1


@pytest.mark.parametrize("name", RLVR)
def test_rlvr_two_optimizer_steps_per_generation_batch(name):
    # verl splits each batch into train_batch_size / ppo_mini_batch_size = 2 mini-batches, one PPO epoch each
    # (ppo_epochs: 1, verl ppo_trainer.yaml:55; verl/workers/actor/dp_actor.py:325-329)
    config = _config(name)
    assert config.generation_batch_size // _optimizer_batch(config) == 2
    assert config.num_iterations == 1


@pytest.mark.parametrize("name", M23K)
def test_rlvr_m23k_trains_5_epochs(name):
    # trainer.total_epochs=5: train-qwen2_5_vl_3b-m23k.sh:57, train-qwen2_5_vl_32b-m23k.sh:62
    assert _config(name).num_train_epochs == 5


@pytest.mark.parametrize("name", RLVR)
def test_rlvr_learning_rate_1e6_constant_without_warmup(name):
    # actor.optim.lr=1e-6 (train-qwen2_5_vl_3b-m23k.sh:27); verl's warmup_style constant, lr_warmup_steps_ratio 0
    # (verl ppo_trainer.yaml:62-66)
    config = _config(name)
    assert config.learning_rate == 1e-6
    assert config.lr_scheduler_type.value == "constant" and config.warmup_steps == 0


@pytest.mark.parametrize("name", RLVR)
def test_rlvr_actor_weight_decay_is_verls_default_0_01(name):
    # No script sets actor.optim.weight_decay; verl's default is 0.01 (verl ppo_trainer.yaml:68, used by the AdamW
    # of verl/workers/fsdp_workers.py:327-331). TRL's own default would be 0.0.
    assert _config(name).weight_decay == 0.01


@pytest.mark.parametrize("name", RLVR)
def test_rlvr_adam_betas_and_gradient_clip_are_verls(name):
    # AdamW betas (0.9, 0.999) (verl/workers/fsdp_workers.py:330), actor.grad_clip 1.0 (ppo_trainer.yaml:43)
    config = _config(name)
    assert (config.adam_beta1, config.adam_beta2, config.max_grad_norm) == (0.9, 0.999, 1.0)


@pytest.mark.parametrize("name", RLVR)
def test_rlvr_kl_loss_0_01(name):
    # use_kl_loss=True, kl_loss_coef=0.01, kl_loss_type=low_var_kl (train-qwen2_5_vl_3b-m23k.sh:31-33); TRL's beta
    # adds the same k3 estimator to the loss (verl clamps it to [-10, 10], core_algos.py:545-549; TRL does not)
    assert _config(name).beta == 0.01


@pytest.mark.parametrize("name", RLVR)
def test_rlvr_entropy_coefficient_0(name):
    # actor.entropy_coeff=0 (train-qwen2_5_vl_3b-m23k.sh:34)
    assert _config(name).entropy_coef == 0.0


@pytest.mark.parametrize("name", RLVR)
def test_rlvr_clip_ratio_0_2(name):
    # clip_ratio 0.2, low and high (verl ppo_trainer.yaml:45-47)
    config = _config(name)
    assert config.epsilon == 0.2 and config.epsilon_high in (None, 0.2)


@pytest.mark.parametrize("name", RLVR)
def test_rlvr_group_advantages_scaled_by_std(name):
    # algorithm.norm_adv_by_std_in_grpo: True (verl ppo_trainer.yaml:221; core_algos.py:159-160)
    assert _config(name).scale_rewards == "group"


@pytest.mark.parametrize("name", CONTINUATIONS)
def test_continuation_token_mean_over_verls_micro_batches(name):
    # loss_agg_mode token-mean (verl ppo_trainer.yaml:49) averages the token means of micro-batches of
    # ppo_micro_batch_size_per_gpu completions (dp_actor.py:337-346, :414): 8 in sft+rl-3b.sh:28 and rl+rl-*.sh:28,
    # 4 in sft+rl-7b.sh:30. TRL's bnpo does the same on per-device micro-batches of that size.
    config = _config(name)
    assert config.loss_type == "bnpo"
    assert config.per_device_train_batch_size == (4 if name == "rlvr-sft-then-rl-qwen2.5-vl-7b" else 8)


@pytest.mark.parametrize("name", RLVR)
def test_rlvr_response_up_to_4096_tokens(name):
    # data.max_response_length=4096 (train-qwen2_5_vl_3b-m23k.sh:23)
    assert _config(name).max_completion_length == 4096


@pytest.mark.parametrize("name", RLVR)
def test_rlvr_prompt_up_to_2048_tokens_else_an_error(name):
    # data.max_prompt_length=2048, data.truncation='error' (train-qwen2_5_vl_3b-m23k.sh:21,24; sft+rl-3b.sh:19,22):
    # medvlt's max_prompt_length refuses such a dataset before training
    # (tests/test_train_loops.py::test_rlvr_refuses_a_prompt_over_max_prompt_length)
    assert _fields(name)["max_prompt_length"] == 2048


@pytest.mark.parametrize("name", RLVR)
def test_rlvr_rollout_temperature_1_top_p_1(name):
    # verl's rollout temperature 1.0, top_p 1, top_k -1 (ppo_trainer.yaml:96-98); no script changes them
    config = _config(name)
    assert (config.temperature, config.top_p, config.top_k) == (1.0, 1.0, 0)  # TRL's top_k 0 = off


@pytest.mark.parametrize("name", RLVR)
def test_rlvr_trains_float32_weights_with_bf16_compute(name):
    # verl's actor holds float32 parameters (fsdp_workers.py:188-190) under bf16 mixed precision (:259-261)
    config = _config(name)
    assert config.model_init_kwargs == {"dtype": "float32"} and _fields(name)["bf16"] is True


@pytest.mark.parametrize("name", ["rlvr-qwen2.5-vl-3b", "sft-qwen2.5-vl-3b"])
def test_recipe_dtype_makes_a_bf16_checkpoint_train_in_float32(name, tiny_model_path, tmp_path):
    # Qwen2.5-VL checkpoints are stored in bf16, which transformers 5 keeps ("auto"); the recipes' model_init_kwargs
    # load float32 master weights, as verl's actor (fsdp_workers.py:188-190) and sft.py:62-66 (float32) train.
    import torch
    import transformers

    from medvlt_train.models import load_model_and_processor

    bf16 = tmp_path / "bf16"
    transformers.AutoModelForImageTextToText.from_pretrained(
        tiny_model_path, dtype=torch.bfloat16
    ).save_pretrained(bf16)
    transformers.AutoProcessor.from_pretrained(tiny_model_path).save_pretrained(bf16)
    auto = transformers.AutoModelForImageTextToText.from_pretrained(bf16)
    assert next(auto.parameters()).dtype == torch.bfloat16  # what a recipe without the key would train
    model, _ = load_model_and_processor(str(bf16), _config(name))
    assert {p.dtype for p in model.parameters()} == {torch.float32}


@pytest.mark.parametrize("name", RLVR)
def test_rlvr_no_vllm_importance_weighting(name):
    # verl 54b2677 recomputes the old log-probs with the actor and weights nothing by vLLM's own log-probs
    # (ray_trainer.py:969-979); TRL's correction is on by default
    assert _config(name).vllm_importance_sampling_correction is False


@pytest.mark.parametrize("name", RLVR)
def test_rlvr_shuffles_and_checkpoints_activations(name):
    # data.shuffle=True (train-qwen2_5_vl_3b-m23k.sh:19, sft+rl-3b.sh:16), enable_gradient_checkpointing=True (:35)
    config = _config(name)
    assert config.shuffle_dataset is True and config.activation_checkpointing is True


@pytest.mark.parametrize("name", RLVR)
def test_rlvr_saves_every_50_verl_steps(name):
    # trainer.save_freq=50 (train-qwen2_5_vl_3b-m23k.sh:55); a verl step is 2 TRL optimizer steps
    config = _config(name)
    assert config.save_strategy.value == "steps" and config.save_steps == 50 * 2


@pytest.mark.parametrize("name", RLVR)
def test_rlvr_actor_sharded_like_fsdp(name):
    # actor.strategy fsdp (verl ppo_trainer.yaml:37): ZeRO-3 is the same full sharding
    assert _fields(name)["accelerate"] == "zero3"


@pytest.mark.parametrize(
    ("name", "start"),
    [
        # sft+rl-3b.sh:3 3b-m23k-checkpoint-4401 = MedVLThinker-3B-SFT_m23k (upload_weights.py:26)
        ("rlvr-sft-then-rl-qwen2.5-vl-3b", "UCSC-VLAA/MedVLThinker-3B-SFT_m23k"),
        # the published 7B SFT+RL says sft_epoch_3 (upload_weights.py:35): checkpoint-4401, MedVLThinker-7B-SFT_m23k
        # (:27); sft+rl-7b.sh:5 names checkpoint-7335 (epoch 5) instead
        ("rlvr-sft-then-rl-qwen2.5-vl-7b", "UCSC-VLAA/MedVLThinker-7B-SFT_m23k"),
        # rl+rl-3b.sh:3 qwen2_5_vl_3b-m23k-step_320 = MedVLThinker-3B-RL_m23k (upload_weights.py:32)
        ("rlvr-rl-then-rl-qwen2.5-vl-3b", "UCSC-VLAA/MedVLThinker-3B-RL_m23k"),
        # rl+rl-7b.sh:3 qwen2_5_vl_7b-m23k-step_320 = MedVLThinker-7B-RL_m23k (upload_weights.py:36)
        ("rlvr-rl-then-rl-qwen2.5-vl-7b", "UCSC-VLAA/MedVLThinker-7B-RL_m23k"),
    ],
)
def test_continuation_starts_from_the_published_checkpoint(name, start):
    assert _fields(name)["model"] == start
    assert _run(name, "model=runs/sft-3b").args.model == "runs/sft-3b"  # or a run of one's own


@pytest.mark.parametrize("name", RLVR)
def test_rlvr_reward_is_the_paper_format_gated_accuracy(name):
    # custom_reward_function.path=./train/my_reward.py (train-qwen2_5_vl_3b-m23k.sh:58), the prompt of
    # data_process/train_dataset/convert_verl_format.py
    args = _run(name).args
    assert args.rewards == {"medvlt_paper": 1.0} and args.prompt == "paper"


# ---- SFT (TRL) ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SFT)
def test_sft_learning_rate_1e5_cosine_warmup_0_05(name):
    # lr=1e-5 (train/sft/sft_local.sh:4), --lr_scheduler_type cosine (:80), --warmup_ratio 0.05 (:72)
    config = _config(name)
    assert config.learning_rate == 1e-5 and config.lr_scheduler_type.value == "cosine"
    assert config.warmup_steps == 0.05  # below 1: a ratio of the total steps (transformers 5)


@pytest.mark.parametrize("name", SFT)
def test_sft_5_epochs_global_batch_16(name):
    # epochs=5, global_batch_size=16, per_device_batch_size=1 (sft_local.sh:5-7), grad_acc = 16 / GPUs (:50)
    config = _config(name)
    assert config.num_train_epochs == 5 and config.per_device_train_batch_size == 1
    assert _optimizer_batch(config) == 16


@pytest.mark.parametrize("name", SFT)
def test_sft_weight_decay_1e4_betas_0_9_0_95(name):
    # weight_decay=1e-4 (sft_local.sh:8), --adam_beta1=0.9 --adam_beta2=0.95 (:83-84)
    config = _config(name)
    assert (config.weight_decay, config.adam_beta1, config.adam_beta2) == (1e-4, 0.9, 0.95)


@pytest.mark.parametrize("name", SFT)
def test_sft_bf16_over_float32_weights(name):
    # --bf16=True (sft_local.sh:76) on a model loaded without a dtype (train/sft/sft.py:62-66: float32)
    config = _config(name)
    assert config.model_init_kwargs == {"dtype": "float32"} and _fields(name)["bf16"] is True


@pytest.mark.parametrize("name", SFT)
def test_sft_max_length_32768(name):
    # block_size 32768 -> max_seq_length (train/sft/sft.py:25,100; sft_vlm.py:28,163); image rows are never cut
    # (sft_vlm.py:119-121): tests/test_train_loops.py::test_sft_cuts_text_at_max_length_but_never_image_examples
    assert _config(name).max_length == 32768


@pytest.mark.parametrize("name", SFT)
def test_sft_loss_on_the_assistant_turn(name):
    # DataCollatorForCompletionOnlyLM after "<|im_start|>assistant\n" (sft.py:84-98); sft_vlm.py:128-157
    assert _config(name).completion_only_loss is True


@pytest.mark.parametrize("name", SFT)
def test_sft_saves_every_epoch_model_only_and_logs_every_step(name):
    # --save_strategy="epoch" (sft_local.sh:79), --save_only_model=True (:87), --logging_steps=1 (:78)
    config = _config(name)
    assert config.save_strategy.value == "epoch" and config.save_only_model is True
    assert config.logging_steps == 1 and config.save_total_limit is None


@pytest.mark.parametrize("name", SFT)
def test_sft_keeps_epoch_3_as_published(name):
    # MedVLThinker-{3B,7B}-SFT_m23k are checkpoint-4401 (upload_weights.py:26-27) = epoch 3 of 5: 7335 / 5 = 1467
    # steps an epoch (sft+rl-7b.sh:5 starts from checkpoint-7335, named m23k_sft_epoch_5 at :52)
    assert _fields(name)["keep_epoch"] == 3
    assert 4401 == 3 * (7335 // 5)


@pytest.mark.parametrize(("name", "checkpointing"), [(SFT[0], False), (SFT[1], False), (SFT[2], True)])
def test_sft_gradient_checkpointing_as_released(name, checkpointing):
    # --gradient_checkpointing False for 3B and 7B, True for 32B (train/sft/train_commands.sh:9,21,33)
    assert _config(name).activation_checkpointing is checkpointing


@pytest.mark.parametrize("name", SFT)
def test_sft_fully_sharded(name):
    # --fsdp "full_shard auto_wrap" (sft_local.sh:74): ZeRO-3 is the same full sharding
    assert _fields(name)["accelerate"] == "zero3"


@pytest.mark.parametrize("name", SFT)
def test_sft_prompt_is_the_papers(name):
    # INSTRUCTION_PROMPT with its literal backslash-n (data_process/train_dataset/convert_trl_format.py:16)
    assert _fields(name)["prompt"] == "paper"


# ---- distillation, difficulty, evaluation -----------------------------------------------------------


def test_distillation_defaults_are_the_gpt4o_run():
    # eval/run_api_inference.py with --max_tokens 4096 --n 3 --temperature 1.0
    # (data_process/train_dataset/pmc_vqa-gpt_4o_cot.sh:11-13)
    from medvlt_cli.distill import distill_command
    from medvlt_data.distill import DistillSettings

    settings = DistillSettings()
    assert (settings.max_tokens, settings.n, settings.temperature) == (4096, 3, 1.0)
    defaults = {p.name: p.default for p in distill_command.params}
    assert (defaults["max_tokens"], defaults["n"], defaults["temperature"]) == (4096, 3, 1.0)


@pytest.mark.parametrize("split", ["text-hard", "image-hard"])
def test_difficulty_scoring_as_estimate_pass_rate(split):
    # eval/estimate_pass_rate.sh:40-56 (m23k) and :59-75 (PMC-VQA): Qwen2.5-VL-3B-Instruct, --n 16,
    # --temperature 1.0, --max_tokens 4096, top_p 1.0 (eval/run_offline_inference.py:412); kept band
    # 1 <= pass_count <= 7 (data_process/train_dataset/order_easy_to_hard.py:51-62,105-110)
    from medvlt_data.recipes import recipe_params

    d = recipe_params(split)["difficulty"]
    assert d["model"] == "Qwen/Qwen2.5-VL-3B-Instruct"
    assert (d["rollouts"], d["temperature"], d["top_p"], d["max_tokens"]) == (16, 1.0, 1.0, 4096)
    assert (d["min_pass"], d["max_pass"], d["prompt"]) == (1, 7, "paper")


def test_eval_sampling_as_eval_commands():
    # eval/eval_commands.sh:22-25,36-38: greedy (temperature 0.0, n 1), --seed 42, --max_tokens 4096, three
    # versions (v0 v1 v2, :23). The released runs pass seed 42 to all three; medvlt gives run r the seed 42 + r.
    from medvlt_cli.eval import eval_group
    from medvlt_train.eval.runner import EvalSettings

    settings = EvalSettings(model="m", out="o")
    assert (settings.runs, settings.seed, settings.max_new_tokens) == (3, 42, 4096)
    defaults = {p.name: p.default for p in eval_group.params}
    assert (defaults["runs"], defaults["seed"], defaults["max_new_tokens"]) == (3, 42, 4096)


def test_eval_is_greedy(tiny_model_env):
    # temperature 0.0 (eval/eval_commands.sh:24) in vLLM = greedy decoding
    from medvlt_train.eval.transformers_backend import TransformersGenerator

    generator = TransformersGenerator("tiny", max_new_tokens=4096)
    config = generator.generation_config
    assert config.do_sample is False and config.num_beams == 1 and config.max_new_tokens == 4096
