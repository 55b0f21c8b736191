"""``medvlt``: curate medical QA/VQA data, train Qwen2.5-VL and evaluate it, the MedVLThinker way."""

from __future__ import annotations

import click

from medvlt_cli.data import data
from medvlt_cli.eval import eval_group
from medvlt_cli.hub import hub
from medvlt_cli.train import train
from medvlt_data import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="medvlt")
def cli() -> None:
    """medvlt: simple, strong baselines for multimodal medical reasoning.

    Curate data (`medvlt data`), then train and evaluate Qwen2.5-VL on it.
    """


cli.add_command(data)
cli.add_command(train)
cli.add_command(eval_group)
cli.add_command(hub)

if __name__ == "__main__":  # pragma: no cover
    cli()
