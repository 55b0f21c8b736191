"""``medvlt data``: list sources and ingest them into medvlt records."""

from __future__ import annotations

from pathlib import Path

import click

from medvlt_cli.progress import run_ingest
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
@click.option(
    "--path", type=click.Path(path_type=Path), help="Local raw layout of --source (folder or file)."
)
@click.option("--hub", help="Hugging Face dataset id of --source, in its Hub layout.")
@click.option("--revision", help="Hub revision (branch, tag or commit) to read.")
@click.option("--split", help="Read only this split (e.g. train, test).")
@click.option("--config", help="Dataset config of sources that have several (medxpertqa: MM or Text).")
@click.option(
    "--root",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="Ingest every subfolder of ROOT named after a source (e.g. ROOT/vqa_rad, ROOT/medqa).",
)
@click.option("--demo", is_flag=True, help="Ingest every source from the embedded demo corpus.")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Output folder.")
@click.option("--overwrite", is_flag=True,
              help="Write into OUT although it is not an ingest folder: the files an ingest writes (data "
                   "shards, rejects.jsonl, summary.json) are replaced; other files stay.")  # fmt: skip
def ingest_command(
    source_name: str | None,
    path: Path | None,
    hub: str | None,
    revision: str | None,
    split: str | None,
    config: str | None,
    root: Path | None,
    demo: bool,
    out_dir: Path,
    overwrite: bool,
) -> None:
    """Turn raw source files into validated records: Parquet shards, rejects.jsonl and summary.json.

    \b
    One source:    medvlt data ingest --source vqa_rad --path DIR --out OUT
                   medvlt data ingest --source medqa --hub GBaker/MedQA-USMLE-4-options --out OUT
    Many sources:  medvlt data ingest --root DIR --out OUT     (writes OUT/<source>/)
    Demo corpus:   medvlt data ingest --demo --out OUT         (made-up questions in every raw
                   layout, written to OUT/raw/, then ingested as with --root)

    Every row read is kept or rejected with a reason: the table shows read, kept and rejected
    counts per reason, and OUT[/<source>]/rejects.jsonl names the file and record of each reject.
    Ingesting again into OUT replaces the shards of the earlier ingest; a folder that is not an
    ingest's is refused (--overwrite writes into it).
    """
    modes = sum([bool(source_name or path or hub), root is not None, demo])
    if modes != 1:
        raise click.UsageError("choose one of: --source with --path/--hub, --root DIR, or --demo")
    if source_name is None and root is None and not demo:
        raise click.UsageError("give --source NAME with --path or --hub")
    if source_name is not None and (path is None) == (hub is None):
        raise click.UsageError("give exactly one of --path DIR or --hub ID")
    try:
        _ingest(source_name, path, hub, revision, split, config, root, demo, out_dir, overwrite)
    except OSError as exc:  # an output folder that cannot be made or written, an input that cannot be read
        raise _io_error(exc, out_dir) from exc


def _ingest(
    source_name, path, hub, revision, split, config, root, demo, out_dir: Path, overwrite: bool
) -> None:
    if demo:
        from medvlt_data.demo import write_demo_corpus
        from medvlt_data.out_folder import FolderError, claim

        try:  # OUT/raw is written next
            claim(out_dir, "ingest", overwrite=overwrite)
        except FolderError as exc:
            raise click.ClickException(str(exc)) from None
        write_demo_corpus(out_dir / "raw")
        click.echo(f"demo corpus written to {out_dir / 'raw'}", err=True)
        root = out_dir / "raw"
    if root is not None:
        _ingest_root(root, out_dir, split, overwrite)
        return
    try:
        summary = run_ingest(
            source_name, out_dir, path=path, hub=hub, split=split, revision=revision, config=config,
            overwrite=overwrite,
        )  # fmt: skip
    except SourceError as exc:
        raise click.ClickException(str(exc)) from exc
    _echo_table([summary])


def _io_error(exc: OSError, out_dir: Path) -> click.ClickException:
    """The message of an OSError: what could not be written (in ``out_dir``) or read, and why."""
    reason = exc.strerror or str(exc)
    name = Path(exc.filename) if exc.filename else None
    if name is None or name == out_dir or out_dir in name.parents:
        return click.ClickException(
            f"cannot write {out_dir}: {reason}" + (f" ({name})" if name and name != out_dir else "")
        )
    return click.ClickException(f"cannot read {name}: {reason}")


def _ingest_root(root: Path, out_dir: Path, split: str | None, overwrite: bool = False) -> None:
    summaries, failures = [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if folder.name not in SOURCES:
            click.echo(f"skipped {folder}: no source named {folder.name!r}", err=True)
            continue
        try:
            summaries.append(
                run_ingest(folder.name, out_dir / folder.name, path=folder, split=split, overwrite=overwrite)
            )
        except SourceError as exc:
            failures.append(f"{folder.name}: {exc}")
    if not summaries and not failures:
        raise click.ClickException(f"no folder of {root} is named after a source ({', '.join(SOURCES)})")
    _echo_table(summaries)
    if failures:
        raise click.ClickException("some sources failed:\n  " + "\n  ".join(failures))


def _echo_table(summaries) -> None:
    click.echo(f"{'source':<14}{'read':>8}{'kept':>8}{'rejected':>10}  rejected by reason")
    for s in summaries:
        reasons = ", ".join(f"{k}={v}" for k, v in s.rejected_by_reason.items()) or "-"
        click.echo(f"{s.source:<14}{s.read:>8}{s.kept:>8}{s.rejected:>10}  {reasons}")
    if len(summaries) > 1:
        read = sum(s.read for s in summaries)
        kept = sum(s.kept for s in summaries)
        click.echo(f"{'total':<14}{read:>8}{kept:>8}{read - kept:>10}")


def _register_build_commands() -> None:
    from medvlt_cli.build import build_command, inspect_command, splits_command
    from medvlt_cli.distill import distill_command
    from medvlt_cli.hub import pull_data_command

    for command in (build_command, splits_command, inspect_command, distill_command, pull_data_command):
        data.add_command(command)


_register_build_commands()
