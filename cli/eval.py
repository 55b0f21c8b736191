"""``medvlt eval``: the six benchmarks of the paper for one model; ``regrade`` and ``compare`` folders."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from medvlt_cli.build import parse_source_paths
from medvlt_cli.options import (
    BackendOptions,
    GroupedOption,
    SectionedGroup,
    backend_options,
    benchmark_list,
    count_option,
)  # fmt: skip
from medvlt_data.benchmarks import BENCHMARKS, EVAL_BENCHMARKS
from medvlt_data.inference.limits import DEFAULT_REQUEST_TIMEOUT

#: What ``medvlt eval --source-path`` may name: the six benchmarks, by key or by adapter.
EVAL_SOURCE_NAMES = list(dict.fromkeys(n for key in EVAL_BENCHMARKS for n in (key, BENCHMARKS[key].adapter)))


@click.group("eval", cls=SectionedGroup, invoke_without_command=True)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Result folder; re-running into it resumes (same settings).",
)
@click.option("--overwrite", is_flag=True,
              help="Start over in OUT although it is not an evaluation folder, or holds one with other "
                   "settings: the files an evaluation writes (eval_config.json, generations/, results.json, "
                   "results.md, server logs, eval-data/) are removed first; other files stay.")  # fmt: skip
@click.option("--benchmarks", default=",".join(EVAL_BENCHMARKS), show_default=True,
              callback=benchmark_list(EVAL_BENCHMARKS), help="Comma-separated benchmarks.")  # fmt: skip
@click.option(
    "--dataset",
    help="Questions: an eval folder, Parquet file or Hub ID[@revision] "
    "[the paper's released UCSC-VLAA/MedVLThinker-Eval].",
)
@click.option(
    "--source-path",
    "source_paths",
    multiple=True,
    metavar="NAME=DIR",
    help="Instead: build the eval split into OUT/eval-data, benchmark NAME read from a local layout. "
    "Repeatable.",
)
@click.option(
    "--demo", is_flag=True, help="Instead: build the eval split from the embedded demo corpus (no Hub)."
)
@count_option("--runs", default=3, help="Runs (seeds seed, seed+1, ...); the tables show their mean.")
@click.option(
    "--seed",
    type=click.IntRange(0, 2**31 - 1),
    default=42,
    show_default=True,
    metavar="N",
    help="Seed of the first run.",
)
@count_option("--limit", help="Only the first N questions of each benchmark.")
@count_option("--max-new-tokens", default=4096, help="Token budget of an answer (the paper: 4096).")
@click.option(
    "--prompt",
    type=click.Choice(["paper", "default"]),
    default="paper",
    show_default=True,
    help="paper: the published prompt (literal backslash-n); default: with a newline.",
)
@backend_options(
    heading="Model and backend",
    defaults={
        "backend": "auto",
        "concurrency": 64,
        "tensor_parallel": 1,
        "data_parallel": 1,
        "trust_remote_code": False,
        "request_timeout": DEFAULT_REQUEST_TIMEOUT,
        "max_retries": 6,
    },
    model_help="Model to evaluate: Hub ID[@revision], folder, or 'tiny'.",
    auto=True,
)
@count_option("--batch-size", default=8, cls=GroupedOption, group="Model and backend",
              help="transformers: questions per generate call.")  # fmt: skip
@click.pass_context
def eval_group(ctx: click.Context, out, overwrite, benchmarks, dataset, source_paths, demo,
               backend_options: BackendOptions, **options) -> None:  # fmt: skip
    """Evaluate a model on the paper's six benchmarks (PMC-VQA, MMMU medical, MedXpertQA MM, PathVQA,
    SLAKE, VQA-RAD) with the paper's prompt, greedy decoding and the shared verifier.

    By default the questions are the paper's: its released UCSC-VLAA/MedVLThinker-Eval (8,220
    questions), resolved to a commit, converted once into medvlt's cache with the images as released
    (never resized), and named with that commit in the results, so the table compares with the paper's.
    --dataset takes another eval folder or Hub ID[@revision] (an eval build: 'medvlt data build
    --split eval'); --source-path or --demo build one on the spot.

    Writes OUT/generations/run-R.jsonl (every question, completion and verdict), OUT/results.json
    (accuracy per benchmark and run, mean and spread, by three graders: strict, lenient_paper = the
    paper's published regrade, robust = medvlt's own) and OUT/results.md (the
    paper's table). An interrupted evaluation resumes from the saved generations.

    \b
    medvlt eval --model Qwen/Qwen2.5-VL-3B-Instruct --out ev/3b          # the paper's released questions
    medvlt eval --model runs/rlvr-3b --dataset ORG/medvlt-eval@v1-0123abcd4567 --out ev/rlvr-3b
    medvlt eval --model runs/rlvr-3b --source-path vqa_rad=raw/vqa_rad --benchmarks vqa_rad --out ev/r
    medvlt eval --model tiny --demo --runs 1 --max-new-tokens 16 --out ev/demo      # CPU, no Hub
    medvlt eval regrade ev/3b
    medvlt eval compare ev/3b ev/rlvr-3b --out ev/compare
    """
    if ctx.invoked_subcommand is not None:
        return
    model = backend_options.model
    if not model or not out:
        raise click.UsageError("--model and --out are required (or a subcommand: regrade, compare)")
    from medvlt_data.hub import HubError
    from medvlt_data.inference.backends import BackendError
    from medvlt_data.inference.client import InferenceError
    from medvlt_data.pipeline.build import BuildError
    from medvlt_train.eval.questions import PAPER_EVAL_DATASET, build_eval_split, resolve_eval_dataset
    from medvlt_train.eval.runner import EvalSettings, run_eval

    if dataset is not None and (demo or source_paths):
        raise click.UsageError("--dataset names the questions; --demo and --source-path build them instead")
    paths = parse_source_paths(source_paths, EVAL_SOURCE_NAMES)
    names = benchmarks
    settings = EvalSettings(out=out, benchmarks=names, **backend_options.given(), **options)
    try:
        if dataset is None and (demo or source_paths):
            _claim(out, overwrite)  # OUT/eval-data is built next
            overwrite = False
            click.echo(f"building the eval split of {','.join(names)} into {out / 'eval-data'}", err=True)
            dataset = build_eval_split(out / "eval-data", names, paths, demo=demo)
        elif dataset is None:
            dataset = PAPER_EVAL_DATASET
        source = resolve_eval_dataset(dataset)
        if source.commit:
            click.echo(f"questions: {source.repo_id} at commit {source.commit} ({source.path})", err=True)
        _claim(out, overwrite)
        results = run_eval(settings, source, progress=_progress())
    except (BackendError, BuildError, HubError, InferenceError, OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        click.echo("", err=True)
    _show(out, results)


def _claim(out: Path, overwrite: bool) -> None:
    from medvlt_data.out_folder import FolderError, claim

    try:
        claim(out, "eval", overwrite=overwrite)
    except FolderError as exc:
        raise click.ClickException(str(exc)) from None


def _progress():
    state = {"run": None}

    def show(run: int, done: int, total: int) -> None:
        if state["run"] not in (None, run):
            click.echo("", err=True)
        state["run"] = run
        click.echo(f"\rrun {run}: {done}/{total} questions", nl=False, err=True)
        sys.stderr.flush()

    return show


def _show(out: Path, results: dict) -> None:
    from medvlt_train.eval.report import markdown_table

    click.echo(markdown_table([(results["model"], results)]), nl=False)
    if results.get("demo"):  # medvlt_train.eval.report: the questions are the demo corpus's
        from hub_cards.model_card import DEMO_EVAL_NOTE

        click.echo(DEMO_EVAL_NOTE)
    click.echo(f"results: {out / 'results.json'}, {out / 'results.md'}; generations: {out / 'generations'}")


@eval_group.command("regrade")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
def regrade_command(folder: Path) -> None:
    """Grade a folder's saved generations again and rewrite its results; nothing is generated.

    Three graders: strict (the paper's eval grader), lenient_paper (the paper's regrade, with which its
    published tables were made) and robust (medvlt's own, more forgiving; not the paper's)."""
    from medvlt_train.eval.report import regrade

    try:
        results = regrade(folder)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    _show(folder, results)


@eval_group.command("compare")
@click.argument(
    "folders", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("eval-compare"),
    show_default=True,
    help="Where compare.md and compare.png go.",
)
@click.option(
    "--grader",
    type=click.Choice(["strict", "lenient_paper", "robust"]),
    default="strict",
    show_default=True,
    help="Whose accuracy: lenient_paper is the paper's published regrade.",
)
def compare_command(folders: tuple[Path, ...], out: Path, grader: str) -> None:
    """Put several result folders side by side: the paper's table and a bar chart (PNG), by one grader."""
    from medvlt_train.eval.report import compare

    try:
        table = compare(list(folders), out, grader)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(table, nl=False)
    click.echo(f"written: {out / 'compare.md'}, {out / 'compare.png'}")
