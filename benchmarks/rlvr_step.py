"""RLVR step time and peak memory of `medvlt_train.rlvr` on a random-weight Qwen2.5-VL.

With ``--shape 3b`` the model has the real Qwen2.5-VL-3B-Instruct shapes (36 decoder layers of width
2048, a 32-block vision tower of width 1280, vocabulary 151,936; about 3.75B parameters), random bf16
weights, and the tiny model's tokenizer and processor, so nothing is downloaded. It trains for a few GRPO
steps through the same entry point and recipe as a real run (``rlvr-qwen2.5-vl-3b``), with generation by
transformers (vLLM off), on synthetic image questions, and prints the seconds per optimizer step and the
peak GPU memory. ``--shape tiny`` runs the same path on the tiny model on CPU, as a check of the script.

    python benchmarks/rlvr_step.py --shape 3b --steps 4                # one GPU
    python benchmarks/rlvr_step.py --shape tiny --steps 2 --cpu        # anywhere, seconds

The random model never produces the answer format, so the medvlt reward is 0 everywhere; the run adds a
reward with variance (distinct characters of the completion) so that GRPO has advantages and gradients,
as a real run would.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import tempfile
import time
from pathlib import Path

#: Qwen2.5-VL-3B-Instruct's published config (text and vision), the facts this benchmark reproduces.
SHAPES_3B = {
    "text_config": {
        "hidden_size": 2048,
        "intermediate_size": 11008,
        "num_hidden_layers": 36,
        "num_attention_heads": 16,
        "num_key_value_heads": 2,
        "max_position_embeddings": 128000,
        "max_window_layers": 70,
        "rms_norm_eps": 1e-6,
        "vocab_size": 151936,
        "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
    },
    "vision_config": {
        "depth": 32,
        "hidden_size": 1280,
        "intermediate_size": 3420,
        "num_heads": 16,
        "out_hidden_size": 2048,
        "patch_size": 14,
        "temporal_patch_size": 2,
        "spatial_merge_size": 2,
        "window_size": 112,
        "fullatt_block_indexes": [7, 15, 23, 31],
        "tokens_per_second": 2,
    },
    "tie_word_embeddings": True,
}


def build_model(shape: str, folder: Path) -> Path:
    """A model folder: the tiny model itself, or 3B shapes with random bf16 weights + the tiny processor."""
    from medvlt_train.tiny import tiny_model

    tiny = tiny_model()
    if shape == "tiny":
        return tiny
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    base = json.loads((tiny / "config.json").read_text())
    special = {k: base[k] for k in ("image_token_id", "video_token_id", "vision_start_token_id",
                                     "vision_end_token_id", "bos_token_id", "eos_token_id", "pad_token_id")}  # fmt: skip
    text = {
        **SHAPES_3B["text_config"],
        **{k: special[k] for k in ("bos_token_id", "eos_token_id", "pad_token_id")},
    }
    config = Qwen2_5_VLConfig(text_config=text, vision_config=SHAPES_3B["vision_config"],
                              tie_word_embeddings=SHAPES_3B["tie_word_embeddings"], **special)  # fmt: skip
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with torch.device(device):
        model = Qwen2_5_VLForConditionalGeneration(config).to(torch.bfloat16)
    model.generation_config = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny).generation_config
    print(f"model: {sum(p.numel() for p in model.parameters()) / 1e9:.2f}B parameters (3B shapes)")
    model.save_pretrained(folder)
    for name in tiny.iterdir():  # tokenizer, processor, chat template
        if name.suffix != ".safetensors" and name.name not in ("config.json", "generation_config.json"):
            shutil.copy(name, folder / name.name)
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    return folder


def write_dataset(folder: Path, n: int, side: int) -> Path:
    """``n`` synthetic image questions (``side`` x ``side`` images) in a medvlt build layout."""
    from PIL import Image

    from medvlt_data.parquet_io import write_records
    from medvlt_data.schema import Record

    records = []
    for i in range(n):
        buffer = io.BytesIO()
        Image.new("RGB", (side, side), (17 * i % 256, 80, 160)).save(buffer, format="PNG")
        records.append(Record(question=f"Case {i}: which finding is shown?", options={"A": "Mass", "B": "Cyst",
                              "C": "Fracture", "D": "Normal"}, answer_label="ABCD"[i % 4],
                              answer=["Mass", "Cyst", "Fracture", "Normal"][i % 4], source="bench",
                              source_id=str(i), split="train", images=[buffer.getvalue()]))  # fmt: skip
    write_records(records, folder)
    return folder


def distinct_chars(completions, **columns):
    """The reward with variance, named by import path (``__main__:distinct_chars``: this script)."""
    from medvlt_train.rewards import completion_text

    return [float(len(set(completion_text(c)))) for c in completions]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shape", choices=["3b", "tiny"], default="3b")
    parser.add_argument("--steps", type=int, default=4, help="optimizer steps (the first includes warm-up)")
    parser.add_argument("--num-generations", type=int, default=8, help="rollouts per prompt (paper: 8)")
    parser.add_argument("--prompts-per-step", type=int, default=2, help="prompt groups per optimizer step")
    parser.add_argument("--max-completion-length", type=int, default=256)
    parser.add_argument("--image-side", type=int, default=448, help="image side in pixels (448: 256 tokens)")
    parser.add_argument("--cpu", action="store_true", help="train on CPU (with --shape tiny)")
    args = parser.parse_args()

    import torch

    from medvlt_train import rlvr

    work = Path(tempfile.mkdtemp(prefix="medvlt-rlvr-bench-"))
    try:
        model = build_model(args.shape, work / "model")
        per_step = args.num_generations * args.prompts_per_step
        data = write_dataset(work / "data", args.prompts_per_step * args.steps, args.image_side)
        overrides = [
            f"model={model}", f"dataset={data}", f"output_dir={work / 'out'}", f"max_steps={args.steps}",
            f"num_generations={args.num_generations}", f"per_device_train_batch_size={per_step}",
            "gradient_accumulation_steps=1", f"generation_batch_size={per_step}",
            f"max_completion_length={args.max_completion_length}", "use_vllm=false", "save_strategy=no",
            "logging_steps=1", "rewards={medvlt: 1.0, __main__:distinct_chars: 0.01}", "num_train_epochs=1",
        ]  # fmt: skip
        if args.cpu or not torch.cuda.is_available():
            overrides += ["use_cpu=true", "bf16=false"]
        recipe = "rlvr-qwen2.5-vl-3b" if args.shape == "3b" else "rlvr-tiny"
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        out = Path(rlvr.main([recipe, *overrides]))
        total = time.perf_counter() - start
        history = json.loads((out / "trainer_state.json").read_text())["log_history"]
        steps = [row for row in history if "step_time" in row or "loss" in row]
        runtime = next(row["train_runtime"] for row in history if "train_runtime" in row)
        print(f"shape {args.shape}; {args.steps} steps of {args.prompts_per_step} prompts x "
              f"{args.num_generations} rollouts, completions <= {args.max_completion_length} tokens, "
              f"images {args.image_side}px")  # fmt: skip
        print(
            f"train_runtime {runtime:.1f} s = {runtime / args.steps:.2f} s/step (whole main(): {total:.1f} s)"
        )
        for row in steps:
            keys = ("step", "step_time", "completions/mean_length", "reward", "loss")
            print("  " + ", ".join(f"{k}={row[k]}" for k in keys if k in row))
        if torch.cuda.is_available() and not args.cpu:
            print(f"peak GPU memory allocated {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB, "
                  f"reserved {torch.cuda.max_memory_reserved() / 2**30:.2f} GiB "
                  f"on {torch.cuda.get_device_name()}")  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
