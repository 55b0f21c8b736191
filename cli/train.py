"""``medvlt train sft | rlvr | recipes | card``: SFT and RLVR (GRPO) of Qwen2.5-VL with TRL, from recipes."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import click

from medvlt_cli.hub import PRIVATE, PUSH_TO

_RUN_OPTIONS = [
    click.option(
        "--dataset", required=True, help="A medvlt build folder, a Parquet file, or a Hub ID[@revision]."
    ),
    click.option(
        "--recipe", help="Recipe name (`medvlt train recipes`; 'tiny' = '{sft,rlvr}-tiny') or a YAML path."
    ),
    click.option("--model", help="Model to train (Hub ID[@revision], folder, or 'tiny') [recipe's]."),
    click.option("--output", help="Output folder (TRL's output_dir) [recipe's]."),
    PUSH_TO,
    PRIVATE,
    click.option(
        "--eval-results",
        type=click.Path(exists=True, dir_okay=False),
        help="A `medvlt eval` results.json whose accuracies go into the model card.",
    ),
    click.option(
        "--num-processes",
        type=click.IntRange(min=1),
        default=1,
        show_default=True,
        help="Processes (GPUs) to train on; above 1, `accelerate launch` starts them.",
    ),
    click.option(
        "--accelerate-config",
        help="Accelerate config for --num-processes > 1: ddp, zero3 or a YAML path [recipe's].",
    ),
    click.option(
        "--report-to",
        type=click.Choice(["none", "tensorboard", "wandb"]),
        help="Where the trainer logs metrics besides the console and trainer_state.json [recipe's].",
    ),
    click.option("--trust-remote-code", is_flag=True, help="Allow the model's own code (off by default)."),
    click.argument("overrides", nargs=-1),
]


def _with_run_options(function):
    for option in reversed(_RUN_OPTIONS):
        function = option(function)
    return function


def _arguments(options: dict, default: str) -> list[str]:
    """The entry point's argv: the recipe, then key=value overrides for every option given."""
    for value in options["overrides"]:
        if "=" not in value:
            raise click.BadParameter(f"expected key=value, got {value!r}", param_hint="OVERRIDES")
    args = [options["recipe"] or default, f"dataset={options['dataset']}", *options["overrides"]]
    for option, key in (("model", "model"), ("output", "output_dir"), ("push_to", "push_to"),
                        ("eval_results", "eval_results"), ("report_to", "report_to")):  # fmt: skip
        if options[option]:
            args.append(f"{key}={options[option]}")
    args += ["private=true"] if options["private"] else []
    args += ["trust_remote_code=true"] if options["trust_remote_code"] else []
    return args


def _launch(kind: str, args: list[str], options: dict) -> str:
    """Check the recipe here, then start ``num_processes`` copies of the entry point with accelerate."""
    from medvlt_train.launch import accelerate_command, check_launchable
    from medvlt_train.recipes import parse_command_line

    settings, fields = parse_command_line(args, kind, f"medvlt train {kind}", args[0])
    config = options["accelerate_config"] or settings["accelerate"]
    check_launchable(config)
    command = accelerate_command(kind, args, options["num_processes"], config)
    click.echo(f"launching {options['num_processes']} processes: {' '.join(command[2:6])} ...", err=True)
    code = subprocess.run(command, check=False).returncode
    if code != 0:
        raise click.ClickException(f"training failed: accelerate launch exited with status {code}")
    return fields.get("output_dir") or "trainer_output"  # TrainingArguments default


def _run(kind: str, default: str, options: dict) -> None:
    from medvlt_data.hub import HubError
    from medvlt_train.recipes import RecipeError

    args = _arguments(options, default)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("medvlt_train").setLevel(logging.INFO)
    module = __import__(f"medvlt_train.{kind}", fromlist=["main"])
    try:
        out = _launch(kind, args, options) if options["num_processes"] > 1 else module.main(args)
    except (RecipeError, HubError, OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    _report(Path(out))


def _report(out: Path) -> None:
    import json

    from hub_cards.model_card import RUN_FILE

    click.echo(f"model saved to {out}")
    record = out / RUN_FILE
    if record.is_file():
        run = json.loads(record.read_text(encoding="utf-8"))
        click.echo(f"model version {run['model_version']}; trained on {run['dataset']['label']}"
                   f"{' (' + run['dataset']['version'] + ')' if run['dataset'].get('version') else ''}; "
                   f"card: {out / 'README.md'}")  # fmt: skip
        if run.get("repo_id"):  # a failed push raised before this point
            click.echo(f"on the Hub: {run['repo_id']} at tag {run['model_version']}")


@click.group()
def train() -> None:
    """Train Qwen2.5-VL on a curated dataset: SFT on reasoning traces, or RLVR (GRPO, format-gated
    accuracy reward). Extra KEY=VALUE arguments override recipe keys (TRL config fields or medvlt keys).

    A run writes the model, its processor, the trainer's logs, medvlt_run.json (recipe, data, versions)
    and a model card (README.md) into the output folder, and pushes it to the Hub with --push-to.
    """


@train.command("sft")
@_with_run_options
def sft_command(**options) -> None:
    """Supervised fine-tuning on the records' reasoning traces (records without one are left out).

    \b
    medvlt train sft --dataset builds/distilled --recipe sft-qwen2.5-vl-3b --output runs/sft-3b
    medvlt train sft --dataset builds/distilled --recipe qwen2.5-vl-7b --num-processes 8
    medvlt train sft --dataset builds/distilled --recipe tiny max_steps=2
    """
    _run("sft", "sft-tiny", options)


@train.command("rlvr")
@_with_run_options
def rlvr_command(**options) -> None:
    """RLVR with GRPO and the paper's format-gated accuracy reward.

    \b
    medvlt train rlvr --dataset builds/text-hard --recipe rlvr-qwen2.5-vl-3b --output runs/rlvr-3b
    medvlt train rlvr --dataset ORG/medvlt-text-hard@v1-0123abcd4567 --recipe qwen2.5-vl-7b \\
        --num-processes 8 --push-to ORG/medvlt-7b-rlvr
    medvlt train rlvr --dataset builds/text-hard --recipe tiny
    """
    _run("rlvr", "rlvr-tiny", options)


@train.command("recipes")
def recipes_command() -> None:
    """List the packaged training recipes and accelerate configs."""
    from medvlt_train.launch import list_accelerate_configs
    from medvlt_train.recipes import list_recipes, load_recipe

    width = max(len(name) for name in list_recipes())
    for kind in ("sft", "rlvr"):
        for name in list_recipes(kind):
            recipe = load_recipe(name, kind)
            click.echo(
                f"{kind:<5} {name:<{width}} model={recipe.get('model')} accelerate={recipe.get('accelerate', 'ddp')}"
            )
    click.echo(f"accelerate configs: {', '.join(list_accelerate_configs())}")


@train.command("card")
@click.argument("model_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--eval-results",
    type=click.Path(exists=True, dir_okay=False),
    help="A `medvlt eval` results.json whose accuracies go into the card (and its model-index).",
)
def card_command(model_dir: Path, eval_results: str | None) -> None:
    """Write the model card of a trained model folder again, e.g. with evaluation results."""
    from hub_cards.model_card import write_model_card

    try:
        readme = write_model_card(model_dir, eval_results=eval_results)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"card written to {readme}")
