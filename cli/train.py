"""``medvlt train sft | rlvr | recipes | card``: SFT and RLVR (GRPO) of Qwen2.5-VL with TRL, from recipes."""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

import click

from medvlt_cli.hub import PRIVATE, PUSH_TO
from medvlt_cli.options import count_option

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
    count_option(
        "--num-processes",
        default=1,
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


#: Options that set a recipe key (option name -> key), passed on typed as click parsed them.
_KEYS = {"dataset": "dataset", "model": "model", "output": "output_dir", "push_to": "push_to", "private": "private",
         "eval_results": "eval_results", "report_to": "report_to", "trust_remote_code": "trust_remote_code"}  # fmt: skip


def _given(options: dict) -> dict:
    """The recipe keys the options set (flags only when on)."""
    return {key: options[name] for name, key in _KEYS.items() if options[name] not in (None, False)}


def _launch(run, given: dict, options: dict) -> str:
    """Check the recipe here, then start ``num_processes`` copies of the entry point with accelerate; each
    parses the recipe again from its command line (the options as key=value, before the overrides)."""
    from medvlt_train.launch import accelerate_command, check_launchable
    from medvlt_train.recipes import MedvltArguments
    from medvlt_train.run import check_push_target

    run.check_required()
    check_push_target(run.fields.get("push_to"), run.fields.get("hub_token"))
    config = options["accelerate_config"] or run.fields.get("accelerate", MedvltArguments.accelerate)
    check_launchable(config)
    # A token goes to the processes in their environment, never on a command line others can list.
    overrides = [o for o in options["overrides"] if not o.startswith(("hub_token=", "--hub_token"))]
    env = {**os.environ, "HF_TOKEN": run.fields["hub_token"]} if run.fields.get("hub_token") else None
    args = [run.recipe, *(f"{key}={value}" for key, value in given.items()), *overrides]
    command = accelerate_command(run.kind, args, options["num_processes"], config)
    click.echo(f"launching {options['num_processes']} processes: {' '.join(command[2:6])} ...", err=True)
    code = subprocess.run(command, check=False, env=env).returncode
    if code != 0:
        raise click.ClickException(f"training failed: accelerate launch exited with status {code}")
    return run.fields.get("output_dir") or "trainer_output"  # TrainingArguments default


def _run(kind: str, options: dict) -> None:
    from medvlt_data.hub import HubError
    from medvlt_train.recipes import RecipeError, parse_recipe
    from medvlt_train.run import train

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("medvlt_train").setLevel(logging.INFO)
    given = _given(options)
    try:
        run = parse_recipe(options["recipe"], kind, options["overrides"], given)
        out = _launch(run, given, options) if options["num_processes"] > 1 else train(run)
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
    accuracy reward). Extra KEY=VALUE arguments override recipe keys (TRL config fields or medvlt keys),
    after the options; each value is typed by its field (`python -m medvlt_train.rlvr --help` lists them).

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
    _run("sft", options)


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
    _run("rlvr", options)


@train.command("recipes")
def recipes_command() -> None:
    """List the packaged training recipes and accelerate configs."""
    from medvlt_train.launch import list_accelerate_configs
    from medvlt_train.recipes import KINDS, MedvltArguments, list_recipes, load_recipe

    width = max(len(name) for name in list_recipes())
    for kind in KINDS:
        for name in list_recipes(kind):
            recipe = load_recipe(name, kind)
            accelerate = recipe.get("accelerate", MedvltArguments.accelerate)
            click.echo(f"{kind:<5} {name:<{width}} model={recipe.get('model')} accelerate={accelerate}")
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
    from medvlt_data.benchmarks import card_columns

    try:
        readme = write_model_card(model_dir, eval_results=eval_results, benchmarks=card_columns())
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"card written to {readme}")
