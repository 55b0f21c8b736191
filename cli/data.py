"""``medvlt data``: list sources and ingest them into medvlt records."""

from __future__ import annotations

from pathlib import Path

import click

from medvlt_data.sources import SOURCES, SourceError, get_source


@click.group()
def data() -> None:
    """Read, normalize and curate medical QA and VQA datasets."""


@data.command("sources")
def sources_command() -> None:
    """List the supported sources: name, modality, layouts and license."""
    rows = [("name", "modality", "license", "layouts")]
    for name in SOURCES:
        source = get_source(name)
        rows.append((name, source.modality, source.license, source.layouts))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)) + "  " + row[3])


@data.command("ingest")
@click.option("--source", "source_name", type=click.Choice(list(SOURCES)), help="Source adapter to use.")
@click.option("--path", type=click.Path(path_type=Path), help="Local raw layout (folder or file).")
@click.option("--hub", help="Hugging Face dataset id in the source's Hub layout.")
@click.option("--revision", help="Hub revision (branch, tag or commit) to read.")
@click.option("--split", help="Read only this split (e.g. train, test).")
@click.option("--demo", is_flag=True, help="Ingest every source from the embedded demo corpus.")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Output folder.")
def ingest_command(
    source_name: str | None,
    path: Path | None,
    hub: str | None,
    revision: str | None,
    split: str | None,
    demo: bool,
    out_dir: Path,
) -> None:
    """Turn a source into validated records: Parquet shards, rejects.jsonl and summary.json.

    Every row read is kept or rejected with a reason; the summary prints read, kept and
    rejected counts per reason. With --demo, every source is ingested from the embedded demo
    corpus (made-up questions in each raw layout, written to OUT/raw/) into OUT/<source>/.
    """
    from medvlt_cli.progress import run_ingest

    if demo:
        if source_name or path or hub:
            raise click.UsageError(
                "--demo ingests every source; do not combine it with --source/--path/--hub"
            )
        from medvlt_data.demo import write_demo_corpus

        corpus = write_demo_corpus(out_dir / "raw")
        click.echo(f"demo corpus written to {out_dir / 'raw'}", err=True)
        try:
            summaries = [
                run_ingest(name, out_dir / name, path=folder, split=split) for name, folder in corpus.items()
            ]
        except SourceError as exc:
            raise click.ClickException(str(exc)) from exc
        _echo_table(summaries)
        return
    if not source_name:
        raise click.UsageError("give --source NAME (or --demo)")
    if (path is None) == (hub is None):
        raise click.UsageError("give exactly one of --path DIR or --hub ID")
    try:
        summary = run_ingest(source_name, out_dir, path=path, hub=hub, split=split, revision=revision)
    except SourceError as exc:
        raise click.ClickException(str(exc)) from exc
    _echo_table([summary])


def _echo_table(summaries) -> None:
    click.echo(f"{'source':<14}{'read':>8}{'kept':>8}{'rejected':>10}  rejected by reason")
    for s in summaries:
        reasons = ", ".join(f"{k}={v}" for k, v in s.rejected_by_reason.items()) or "-"
        click.echo(f"{s.source:<14}{s.read:>8}{s.kept:>8}{s.rejected:>10}  {reasons}")
    if len(summaries) > 1:
        read = sum(s.read for s in summaries)
        kept = sum(s.kept for s in summaries)
        click.echo(f"{'total':<14}{read:>8}{kept:>8}{read - kept:>10}")
