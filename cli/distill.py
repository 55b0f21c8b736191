"""``medvlt data distill``: reasoning traces from a teacher model, as a new dataset version."""

from __future__ import annotations

from pathlib import Path

import click

from medvlt_cli.hub import PRIVATE, PUSH_TO, push
from medvlt_cli.options import BackendOptions, SectionedCommand, backend_options, count_option, limit_type
from medvlt_data.inference.limits import DEFAULT_REQUEST_TIMEOUT


@click.command("distill", cls=SectionedCommand)
@click.option("--dataset", required=True, help="A medvlt build folder, or a Hub dataset ID[@revision].")
@count_option("--n", "n", default=3, help="Samples per question at most.")
@click.option("--temperature", type=limit_type("temperature"), default=1.0, show_default=True, metavar="T",
              help="Sampling temperature (0: greedy).")  # fmt: skip
@count_option("--max-tokens", default=4096,
              help="New tokens per sample (MedVLThinker's GPT-4o run: 4096; m1's DeepSeek-R1 traces: 8000).")  # fmt: skip
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True, help="Output folder.")
@click.option("--overwrite", is_flag=True,
              help="Start over in OUT although it holds other work (another input or teacher settings) or is "
                   "not a distillation folder: the files a distillation writes (data shards, stats.json, "
                   "README.md, assets/ plots, .work/ but for its checkpointed answers) are removed first; "
                   "other files stay.")  # fmt: skip
@backend_options(
    heading="Teacher backend",
    defaults={
        "backend": "endpoint",
        "concurrency": 32,
        "tensor_parallel": 1,
        "data_parallel": 1,
        "request_timeout": DEFAULT_REQUEST_TIMEOUT,
        "max_retries": 6,
    },
    model_flag="--teacher",
    model_help="The teacher model (as the server knows it; 'tiny' for the test model).",
    model_required=True,
)
@PUSH_TO
@PRIVATE
def distill_command(dataset, n, temperature, max_tokens, out_dir, overwrite, backend_options: BackendOptions,
                    push_to, private) -> None:  # fmt: skip
    """Add reasoning traces: up to N samples a question from the teacher; the first the strict grader
    marks correct gives `reasoning` (the server's reasoning field, else the text inside <think>).

    Writes the same records with `reasoning` filled (empty where no sample was correct, counted in
    the card) as a new version: data/, stats.json, README.md. Re-running with the same dataset and
    teacher settings resumes; other ones into the same OUT are refused, naming what changed.

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
    from medvlt_data.inference.backends import BackendError
    from medvlt_data.inference.client import InferenceError
    from medvlt_train.models import resolve_weights

    try:
        settings = DistillSettings(backend=resolve_weights(backend_options.spec()), n=n, temperature=temperature,
                                   max_tokens=max_tokens, concurrency=backend_options.concurrency,
                                   request_timeout=backend_options.request_timeout,
                                   max_retries=backend_options.max_retries)  # fmt: skip
        with tqdm(desc="distill", unit="question") as bar:
            stats = distill(dataset, out_dir, settings, progress=bar.update, overwrite=overwrite)
    except (DistillError, BackendError, InferenceError, OSError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc
    d = stats["distillation"]
    click.echo(f"{stats['name']} {stats['version']} -> {out_dir}")
    click.echo(
        f"questions {d['questions']}: with a trace {d['with_trace']}, no correct sample {d['without_trace']}"
    )
    if push_to:
        push(out_dir, push_to, private=private)
