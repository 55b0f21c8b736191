"""``medvlt train sft | rlvr | recipes``: SFT and RLVR (GRPO) of Qwen2.5-VL with TRL, from recipes."""

from __future__ import annotations

import click

_RUN_OPTIONS = [
    click.option(
        "--dataset", required=True, help="A medvlt build folder, a Parquet file, or a Hub ID[@revision]."
    ),
    click.option("--recipe", help="Recipe name (see `medvlt train recipes`) or a YAML path."),
    click.option("--model", help="Model to train (Hub id, folder, or 'tiny') [recipe's]."),
    click.option("--output", help="Output folder (TRL's output_dir) [recipe's]."),
    click.option("--trust-remote-code", is_flag=True, help="Allow the model's own code (off by default)."),
    click.argument("overrides", nargs=-1),
]


def _with_run_options(function):
    for option in reversed(_RUN_OPTIONS):
        function = option(function)
    return function


def _run(kind: str, default: str, dataset, recipe, model, output, trust_remote_code, overrides) -> None:
    from medvlt_train.recipes import RecipeError

    args = [recipe or default, f"dataset={dataset}", *overrides]
    args += [f"model={model}"] if model else []
    args += [f"output_dir={output}"] if output else []
    args += ["trust_remote_code=true"] if trust_remote_code else []
    for value in overrides:
        if "=" not in value:
            raise click.BadParameter(f"expected key=value, got {value!r}", param_hint="OVERRIDES")
    module = __import__(f"medvlt_train.{kind}", fromlist=["main"])
    try:
        out = module.main(args)
    except (RecipeError, OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"model saved to {out}")


@click.group()
def train() -> None:
    """Train Qwen2.5-VL on a curated dataset: SFT on reasoning traces, or RLVR (GRPO, format-gated
    accuracy reward). Extra KEY=VALUE arguments override recipe keys (TRL config fields)."""


@train.command("sft")
@_with_run_options
def sft_command(dataset, recipe, model, output, trust_remote_code, overrides) -> None:
    """Supervised fine-tuning on the records' reasoning traces (records without one are left out).

    \b
    medvlt train sft --dataset builds/distilled --recipe sft-qwen2.5-vl-3b --output runs/sft-3b
    medvlt train sft --dataset builds/distilled --recipe sft-tiny max_steps=2
    """
    _run("sft", "sft-tiny", dataset, recipe, model, output, trust_remote_code, overrides)


@train.command("rlvr")
@_with_run_options
def rlvr_command(dataset, recipe, model, output, trust_remote_code, overrides) -> None:
    """RLVR with GRPO and the paper's format-gated accuracy reward.

    \b
    medvlt train rlvr --dataset builds/text-hard --recipe rlvr-qwen2.5-vl-3b --output runs/rlvr-3b
    medvlt train rlvr --dataset builds/text-hard --recipe rlvr-tiny
    """
    _run("rlvr", "rlvr-tiny", dataset, recipe, model, output, trust_remote_code, overrides)


@train.command("recipes")
def recipes_command() -> None:
    """List the packaged training recipes."""
    from medvlt_train.recipes import list_recipes, load_recipe

    for kind in ("sft", "rlvr"):
        for name in list_recipes(kind):
            recipe = load_recipe(name, kind)
            click.echo(f"{kind:<5} {name:<22} model={recipe.get('model')}")
