"""``medvlt data distill``: reasoning traces from a teacher model, as a new dataset version."""

from __future__ import annotations

from pathlib import Path

import click

from medvlt_cli.hub import PRIVATE, PUSH_TO, push


@click.command("distill")
@click.option("--dataset", required=True, help="A medvlt build folder, or a Hub dataset ID[@revision].")
@click.option(
    "--teacher", required=True, help="The teacher model (as the server knows it; 'tiny' for the test model)."
)
@click.option("--backend", type=click.Choice(["vllm", "local", "endpoint"]), default="endpoint", show_default=True,
              help="Start vLLM, start `transformers serve` (local), or use a running server (endpoint).")  # fmt: skip
@click.option("--endpoint", help="Base URL of a running OpenAI-compatible server (.../v1).")
@click.option("--api-key-env", help="Environment variable that holds the endpoint's API key.")
@click.option("--n", "n", type=int, default=3, show_default=True, help="Samples per question at most.")
@click.option("--temperature", type=float, default=1.0, show_default=True)
@click.option("--max-tokens", type=int, default=4096, show_default=True,
              help="New tokens per sample (MedVLThinker's GPT-4o run: 4096; m1's DeepSeek-R1 traces: 8000).")  # fmt: skip
@click.option("--concurrency", type=int, default=32, show_default=True, help="Requests in flight.")
@click.option("--tensor-parallel", type=int, default=1, show_default=True, help="vllm: GPUs per replica.")
@click.option("--data-parallel", type=int, default=1, show_default=True, help="vllm: model replicas.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True, help="Output folder.")
@PUSH_TO
@PRIVATE
def distill_command(dataset, teacher, backend, endpoint, api_key_env, n, temperature, max_tokens, concurrency,
                    tensor_parallel, data_parallel, out_dir, push_to, private) -> None:  # fmt: skip
    """Add reasoning traces: up to N samples a question from the teacher; the first the strict grader
    marks correct gives `reasoning` (the server's reasoning field, else the text inside <think>).

    Writes the same records with `reasoning` filled (empty where no sample was correct, counted in
    the card) as a new version: data/, stats.json, README.md. Re-running resumes.

    The defaults are MedVLThinker's GPT-4o distillation of PMC-VQA (n 3, temperature 1.0, 4096 tokens);
    m1's DeepSeek-R1 traces of the text pool were one sample at temperature 0 with 8000 tokens.

    \b
    GPT-4o on PMC-VQA:          medvlt data distill --dataset builds/image-all --teacher gpt-4o \\
                                    --endpoint https://api.example.com/v1 --api-key-env TEACHER_KEY --out d
    DeepSeek-R1 as m1 asked it: medvlt data distill --dataset builds/text-hard --teacher deepseek-reasoner \\
                                    --n 1 --temperature 0 --max-tokens 8000 \\
                                    --endpoint https://api.example.com/v1 --api-key-env TEACHER_KEY --out d
    """
    from tqdm import tqdm

    from medvlt_data.distill import DistillError, DistillSettings, distill
    from medvlt_data.inference.backends import BackendError, BackendSpec
    from medvlt_data.inference.client import InferenceError

    spec = BackendSpec(kind=backend, model=teacher, endpoint=endpoint, api_key_env=api_key_env,
                       tensor_parallel=tensor_parallel, data_parallel=data_parallel)  # fmt: skip
    settings = DistillSettings(backend=spec, n=n, temperature=temperature, max_tokens=max_tokens,
                               concurrency=concurrency)  # fmt: skip
    try:
        with tqdm(desc="distill", unit="question") as bar:
            stats = distill(dataset, out_dir, settings, progress=bar.update)
    except (DistillError, BackendError, InferenceError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc
    d = stats["distillation"]
    click.echo(f"{stats['name']} {stats['version']} -> {out_dir}")
    click.echo(
        f"questions {d['questions']}: with a trace {d['with_trace']}, no correct sample {d['without_trace']}"
    )
    if push_to:
        push(out_dir, push_to, private=private)
