"""``medvlt data build | splits | inspect``: curated, versioned datasets from named recipes."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import click

from medvlt_cli.hub import PRIVATE, PUSH_TO, push
from medvlt_cli.options import (
    BackendOptions,
    DifficultyOptions,
    SectionedCommand,
    backend_options,
    benchmark_list,
    count_option,
    difficulty_options,
)
from medvlt_data.inference.limits import DEFAULT_REQUEST_TIMEOUT, SettingError


def parse_source_paths(values: tuple[str, ...], known: list[str]) -> dict[str, str]:
    """``--source-path NAME=DIR`` values by name; a name not in ``known`` (which would be ignored) or a
    path that does not exist is a usage error."""
    paths = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise click.BadParameter(f"expected NAME=DIR, got {value!r}", param_hint="--source-path")
        if name not in known:
            raise click.BadParameter(
                f"unknown name {name!r}; known: {', '.join(known)}", param_hint="--source-path"
            )
        if not Path(path).exists():
            raise click.BadParameter(f"{path} does not exist", param_hint="--source-path")
        paths[name] = path
    return paths


def source_path_names(split: str) -> list[str]:
    """What ``--source-path`` may name in a build of ``split``: the recipe's sources (adapter and benchmark
    names), then every benchmark a build may be decontaminated against (key and adapter)."""
    from medvlt_data.benchmarks import BENCHMARKS
    from medvlt_data.recipes import BuildContext, make_plan

    names = [n for spec in make_plan(split, BuildContext()).sources for n in (spec.name, spec.benchmark) if n]
    names += [n for b in BENCHMARKS.values() for n in (b.key, b.adapter)]
    return list(dict.fromkeys(names))


@click.command("build", cls=SectionedCommand)
@click.option("--split", "split_name", required=True, help="Named split (recipe); see `medvlt data splits`.")
@click.option(
    "--out", "out_dir", type=click.Path(path_type=Path), help="Output folder [default: builds/SPLIT]."
)
@click.option("--overwrite", is_flag=True,
              help="Start over in OUT although it holds other work (another build, other inputs or settings) "
                   "or is not a medvlt build folder: the files a build writes (data shards, rejects/, "
                   "stats.json, README.md, assets/ plots, .work/ but for its checkpointed answers, keyed by "
                   "what was asked) are removed first; other files stay.")  # fmt: skip
@click.option("--dry-run", is_flag=True,
              help="Print the plan (sources and their origins, stages, settings, the benchmarks decontaminated "
                   "against, difficulty) and exit; nothing is read from the sources, nothing is written.")  # fmt: skip
@click.option("--source-path", "source_paths", multiple=True, metavar="NAME=DIR",
              help="Read source (or benchmark) NAME from its local raw layout instead of the Hub. Repeatable.")  # fmt: skip
@click.option("--sources", "only_sources", help="Comma-separated subset of the recipe's sources to build.")
@click.option("--decontaminate-against", callback=benchmark_list(allow_none=True),
              help="Comma-separated benchmarks (default: the recipe's list: text-all's twelve, image-all's six); "
                   "'none' turns decontamination off.")  # fmt: skip
@click.option("--eval-build", type=click.Path(exists=True, file_okay=False),
              help="Use the questions of this eval build as the decontamination reference.")  # fmt: skip
@click.option("--demo", is_flag=True,
              help="Build from the embedded demo corpus; the hard splits ask the demo base model (demo-base) "
                   "in this process at the recipe's rollouts and band (no GPU, no Hub).")  # fmt: skip
@click.option("--executor", type=click.Choice(["local", "slurm", "ray"]), default="local", show_default=True,
              help="Where the datatrove stages run.")  # fmt: skip
@count_option(
    "--workers",
    default=1,
    help="Parallel tasks of the prepare stage (a resumed build keeps the task count it started with).",
)
@click.option("--slurm-partition", help="Slurm partition (with --executor slurm).")
@difficulty_options
@backend_options(
    heading="Difficulty backend (text-hard, image-hard; [recipe: X] is the recipe's value)",
    notes={"backend": "recipe: vllm", "model": "recipe: Qwen/Qwen2.5-VL-3B-Instruct", "concurrency": "default: 64",
           "tensor_parallel": "default: 1", "data_parallel": "default: 1",
           "request_timeout": f"default: {DEFAULT_REQUEST_TIMEOUT:g}", "max_retries": "default: 6"},
    model_help="The base model that answers; 'tiny' is medvlt's tiny test model, 'demo-base' the demo's base model.",
)  # fmt: skip
@PUSH_TO
@PRIVATE
def build_command(split_name, out_dir, overwrite, dry_run, source_paths, only_sources, decontaminate_against,
                  eval_build, demo, executor, workers, slurm_partition, difficulty: DifficultyOptions,
                  backend_options: BackendOptions, push_to, private) -> None:  # fmt: skip
    """Build a named split: read, normalize, validate, resize images, deduplicate, decontaminate, and for
    text-hard / image-hard ask a base model every question several times (rollouts) and keep the
    recipe's band of pass counts (the difficulty stage).

    Writes Parquet shards (data/), rejects with reasons (rejects/STEP/), stats.json and a
    dataset card (README.md). The version is the recipe VERSION plus a content hash of the output;
    re-running an interrupted build with the same arguments resumes it (finished rollouts are not
    asked for again). A re-run whose recipe, sources (file contents, Hub commits), difficulty settings or
    medvlt version differ is refused, naming what changed; so is an OUT that is not a medvlt build
    (--overwrite starts over).

    \b
    The plan only:             medvlt data build --split text-hard --dry-run
    Demo, no GPU and no Hub:   medvlt data build --split text-hard --demo --out demo-hard
    Difficulty on a server:    medvlt data build --split text-hard --backend endpoint \\
                                   --endpoint http://HOST:8000/v1 --model Qwen/Qwen2.5-VL-3B-Instruct
    """
    from medvlt_data.pipeline.build import BuildError, ExecutorOptions, run_build
    from medvlt_data.pipeline.plan import describe_plan
    from medvlt_data.recipes import BuildContext, make_plan, recipe_params
    from medvlt_data.sources import SourceError

    out = out_dir or Path("builds") / split_name
    settings = {**backend_options.given(), **difficulty.given()}
    try:
        paths = parse_source_paths(source_paths, source_path_names(split_name)) if source_paths else {}
        if demo:
            hard = "difficulty" in recipe_params(split_name)
            if not dry_run:  # OUT is claimed before the demo corpus goes into OUT/.work
                _claim(out, overwrite)
                overwrite = False
            paths, settings = _demo_inputs(out, paths, settings, hard=hard, write=not dry_run)
        context = BuildContext(
            source_paths=paths,
            difficulty=settings,
            decontaminate_against=decontaminate_against,
            eval_build=eval_build,
            only_sources=[s.strip() for s in only_sources.split(",")] if only_sources else None,
        )
        plan = make_plan(split_name, context)
        plan.demo = demo  # stats.json, the card and everything trained or evaluated on it say so
        if dry_run:
            click.echo(describe_plan(plan), nl=False)
            return
        if plan.difficulty is not None:  # medvlt's model names (tiny, demo-base, ID@rev) become folders here
            from medvlt_train.models import resolve_weights

            resolve_weights(plan.difficulty.backend)
        options = ExecutorOptions(executor=executor, workers=workers)
        if slurm_partition:
            options.slurm["partition"] = slurm_partition
        stats = run_build(
            plan, out, options, progress=lambda line: click.echo(line, err=True), overwrite=overwrite
        )
    except BuildError as exc:
        if isinstance(exc.__cause__, SettingError):  # a value out of range, or a band that keeps nothing
            raise click.UsageError(str(exc)) from exc
        raise click.ClickException(str(exc)) from exc
    except SourceError as exc:
        raise click.ClickException(str(exc)) from exc
    if "submitted" in stats:
        click.echo(f"submitted stages {', '.join(stats['submitted'])}; logs in {stats['logs']}")
        if push_to:
            click.echo(
                f"not pushed: the build runs on Slurm; push it when done: medvlt hub push {out} --repo {push_to}"
            )
        return
    _echo_summary(stats, out)
    if push_to:
        push(out, push_to, private=private)


def _claim(out: Path, overwrite: bool) -> None:
    from medvlt_data.out_folder import FolderError, claim

    try:
        claim(out, "build", overwrite=overwrite)
    except FolderError as exc:
        raise click.ClickException(str(exc)) from None


def _demo_inputs(
    out: Path, paths: dict[str, str], settings: dict, hard: bool, write: bool = True
) -> tuple[dict[str, str], dict]:
    """The embedded demo corpus as local layouts (written unless ``write`` is false: a dry run names
    where it would be), and for the hard splits the demo base model (``demo-base``,
    :mod:`medvlt_train.demo_model`) generating in this process. The recipe's rollouts (16),
    temperature and band (1..7) stay; only the answer length is cut to what the demo's traces need.
    Options given on the command line win."""
    from medvlt_data.demo import DEMO_SOURCES, write_demo_corpus

    root = out / ".work" / "demo-corpus"
    if write:
        corpus = write_demo_corpus(root)
        click.echo(f"demo corpus written to {root}", err=True)
    else:
        corpus = {name: root / name for name in DEMO_SOURCES}
    demo = {"backend": "transformers", "model": "demo-base", "max_tokens": DEMO_MAX_TOKENS, "concurrency": 2}
    layouts = {**{name: str(path) for name, path in corpus.items()}, **paths}
    return layouts, {**(demo if hard else {}), **settings}


#: New tokens per demo rollout: the demo traces are one sentence (about 30 tokens with the answer block).
DEMO_MAX_TOKENS = 48


def _echo_summary(stats: dict, out: Path) -> None:
    click.echo(f"\n{stats['name']} {stats['version']} -> {out}")
    click.echo(f"{'source':<16}{'read':>9}{'kept':>9}{'dropped':>9}")
    for s in stats["sources"]:
        click.echo(f"{s['name']:<16}{s['read']:>9}{s['kept']:>9}{s['dropped']:>9}")
    click.echo(
        f"{'total':<16}{stats['num_read']:>9}{stats['num_records']:>9}{stats['num_read'] - stats['num_records']:>9}"
    )
    _echo_drops(stats["drops"])
    if stats.get("pass_counts"):  # the hard splits: every scored record's pass count, kept or not
        rollouts = (stats.get("difficulty") or {}).get("rollouts", "the rollouts")
        counts = sorted((int(n), c) for n, c in stats["pass_counts"].items())
        bars = ", ".join(f"{n}={c}" for n, c in counts)
        click.echo(f"pass counts (of {rollouts}): {bars}")


def _echo_drops(drops: dict[str, dict[str, int]]) -> None:
    for step, reasons in drops.items():
        click.echo(f"dropped at {step}: " + (", ".join(f"{r}={n}" for r, n in reasons.items()) or "-"))


@click.command("splits")
def splits_command() -> None:
    """List the named splits (recipes) with their version and purpose."""
    from medvlt_data.recipes import RECIPES, describe

    for name in RECIPES:
        version, line = describe(name)
        click.echo(f"{name:<12} v{version}  {line}")


@click.command("inspect")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--records",
    "n_records",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    metavar="N",
    help="How many records to show.",
)
def inspect_command(folder: Path, n_records: int) -> None:
    """Show a build or ingest folder: counts, schema, a few records and the drop reasons."""
    import pyarrow.parquet as pq

    from medvlt_data.parquet_io import parquet_files, read_records
    from medvlt_data.pipeline.storage import count_rejects

    files = parquet_files(folder)
    if not files:
        raise click.ClickException(f"no Parquet files in {folder} (expected data/*.parquet)")
    click.echo(f"schema: {pq.read_schema(files[0]).to_string(show_schema_metadata=False)}")
    by_split, by_source, shown = Counter(), Counter(), 0
    for record in read_records(folder):
        by_split[record.split] += 1
        by_source[record.source] += 1
        if shown < n_records:
            shown += 1
            click.echo(f"\n[{record.ref}] {record.question[:300]}")
            for letter, text in record.options.items():
                click.echo(f"  {letter}. {text}" + ("   <- answer" if letter == record.answer_label else ""))
            if record.images:
                click.echo(f"  images: {len(record.images)}")
    click.echo(f"\nrecords: {sum(by_split.values())}")
    click.echo("per split: " + ", ".join(f"{k}={v}" for k, v in sorted(by_split.items())))
    click.echo("per source: " + ", ".join(f"{k}={v}" for k, v in sorted(by_source.items())))
    stats = json.loads((folder / "stats.json").read_text()) if (folder / "stats.json").exists() else {}
    _echo_drops(stats.get("drops") or count_rejects(folder)[0])  # a build's counts, else its reject rows
    if "version" in stats:
        click.echo(f"version: {stats['version']}  content hash: {stats['content_hash']}")
