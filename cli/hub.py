"""``medvlt hub push | pull`` and ``medvlt data pull``: versions on the Hugging Face Hub.

Tokens come from HF_TOKEN or the cached login (``hf auth login``); medvlt never prints them.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

PUSH_TO = click.option("--push-to", metavar="ORG/NAME",
                       help="Publish the result to this Hub repo: one commit, tagged with the version.")  # fmt: skip
PRIVATE = click.option("--private", is_flag=True, help="Create the Hub repo private (with --push-to).")


def _kind_and_tag(folder: Path) -> tuple[str, str]:
    """(repo type, version) of a medvlt dataset build or trained model folder."""
    stats, run = folder / "stats.json", folder / "medvlt_run.json"
    if stats.is_file():
        return "dataset", json.loads(stats.read_text(encoding="utf-8"))["version"]
    if run.is_file():
        return "model", json.loads(run.read_text(encoding="utf-8"))["model_version"]
    raise click.ClickException(
        f"{folder} is neither a medvlt dataset (stats.json) nor a model trained by medvlt (medvlt_run.json); "
        "give --repo-type and --tag to push it anyway"
    )


def push(
    folder: Path, repo: str, *, private: bool = False, tag: str | None = None, repo_type: str | None = None
) -> None:
    """Push ``folder`` and say what happened (a ``ClickException`` with the reason when it failed)."""
    from medvlt_data.hub import HubError, push_folder

    if tag is None or repo_type is None:
        kind, version = _kind_and_tag(folder)
        repo_type, tag = repo_type or kind, tag or version
    try:
        result = push_folder(folder, repo, repo_type=repo_type, tag=tag, private=private)
    except HubError as exc:
        raise click.ClickException(str(exc)) from exc
    if result.created:
        click.echo(f"pushed {folder} to {repo} ({repo_type}): tag {tag} at commit {result.commit}")
    else:
        click.echo(
            f"already on the Hub: {repo} ({repo_type}) has tag {tag} at commit {result.commit}; nothing uploaded"
        )


@click.group()
def hub() -> None:
    """Publish datasets and models to the Hugging Face Hub as tagged versions, and pull them back."""


@hub.command("push")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--repo", required=True, metavar="ORG/NAME", help="The Hub repository (created if needed).")
@PRIVATE
@click.option("--tag", help="Tag name [the folder's version: dataset build version or model version].")
@click.option("--repo-type", type=click.Choice(["dataset", "model"]), help="[from the folder's contents]")
def push_command(folder: Path, repo: str, private: bool, tag: str | None, repo_type: str | None) -> None:
    """Upload FOLDER (a `medvlt data build` or `medvlt train` output) in one commit and tag it.

    The repository ends up holding exactly the folder's files (work files excepted). Pushing a version
    whose tag exists already uploads nothing and says so; a failed upload creates no tag.

    \b
    medvlt hub push builds/text-hard --repo ORG/medvlt-text-hard
    medvlt hub push runs/rlvr-3b --repo ORG/medvlt-3b-rlvr --private
    """
    push(folder, repo, private=private, tag=tag, repo_type=repo_type)


@hub.command("pull")
@click.argument("spec", metavar="ID[@REVISION]")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Target folder.")
def pull_model_command(spec: str, out: Path) -> None:
    """Download a model by id and revision (tag, branch or commit) into OUT; a model trained by medvlt is
    checked against its weights hash."""
    from medvlt_data.hub import HubError
    from medvlt_train.models import pull_model

    try:
        summary = pull_model(spec, out)
    except (HubError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    version = f", version {summary['model_version']}" if summary.get("model_version") else ""
    click.echo(f"pulled {summary['repo_id']} at commit {summary['commit']}{version} into {out}")


@click.command("pull")
@click.argument("spec", metavar="ID[@REVISION]")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Target folder: new, empty, or an earlier pull (whose files it replaces).",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Pull into a non-empty folder that is not a pull; only the files a pull writes are replaced.",
)
def pull_data_command(spec: str, out: Path, overwrite: bool) -> None:
    """Download a dataset by id and revision into OUT as a medvlt dataset folder.

    A medvlt build is checked against its content hash; MedVLThinker's released datasets
    (UCSC-VLAA/MedVLThinker-pmc_vqa, -m23k-tokenized, -Eval) are converted into the record schema.

    \b
    medvlt data pull ORG/medvlt-text-hard@v1-0123abcd4567 --out pulled/text-hard
    medvlt data pull UCSC-VLAA/MedVLThinker-Eval --out pulled/eval
    """
    from medvlt_data.hub import HubError
    from medvlt_data.pull import pull_dataset

    try:
        summary = pull_dataset(spec, out, overwrite=overwrite)
    except (HubError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    what = (f"version {summary['version']} ({summary['records']} records, content hash verified)"
            if summary["layout"] == "medvlt" else
            f"{summary['records']} records of {summary['rows']} rows converted, {summary['rejected']} rejected")  # fmt: skip
    click.echo(f"pulled {summary['repo_id']} at commit {summary['commit']}: {what} into {out}")
    for problem in summary.get("problems", [])[:10]:
        click.echo(f"  rejected {problem}", err=True)
