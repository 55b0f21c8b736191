"""``medvlt data pull ID[@revision] --out DIR``: a dataset from the Hub as a local medvlt dataset folder.

A medvlt build (it has ``stats.json``) is copied as it is, after its records were checked against the
content hash in ``stats.json``; pulling a version's tag therefore gives back exactly that version.

Any other repository of Parquet files is read as one of MedVLThinker's four releases and converted into
medvlt's record schema (see :mod:`medvlt_data.released` for their layouts and the evidence). Image bytes
are copied as released: nothing is decoded and encoded again, nothing resized. For
``MedVLThinker-Eval`` each question is filed under the benchmark its ``dataset_name`` names
(``data/{benchmark}-*.parquet``, as an ``eval`` build), so ``medvlt eval --dataset`` reads it, and
every released question is kept: what our record checks would object to (an answer that differs from
its option's text, say) is listed as ``flagged`` in ``pull.json`` but not dropped, since the paper
evaluated those questions too; ``pull.json`` holds the count per benchmark beside the paper's
(``paper_counts``, ``counts_as_paper``). Rows of the training releases that do not make a valid record are
counted and listed as ``rejected``, never dropped silently.

``DIR/pull.json`` records where the folder came from: repository, requested revision, commit.
:func:`pull_eval_dataset` keeps one pulled copy of an eval dataset (``MedVLThinker-Eval`` by default) per
commit in medvlt's cache, so ``medvlt eval`` converts it once.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from medvlt_data.hub import HubError, Snapshot, download, verify_build
from medvlt_data.released import (
    CONVERTER_VERSION,
    PAPER_EVAL_DATASET,
    ReleasedLayoutError,
    benchmark_of,
    check_columns,
    is_eval_release,
    released_record,
)

__all__ = [
    "PAPER_EVAL_DATASET",
    "benchmark_of",
    "fresh_pull_folder",
    "pull_dataset",
    "pull_eval_dataset",
    "read_pull_record",
]

#: Files of a medvlt build that a pull copies.
_BUILD_FILES = ["data/*", "stats.json", "README.md", "assets/*", "rejects/**"]
#: Problems listed in pull.json (all of them are counted).
_LISTED = 50
PULL_FILE = "pull.json"


def fresh_pull_folder(out: Path, overwrite: bool = False) -> None:
    """Make ``out`` ready for a pull: new, empty, or an earlier pull, whose own files (``pull.json``,
    data, card, rejects) are removed and nothing else; any other non-empty folder is refused."""
    from medvlt_data.out_folder import FolderError, claim, remove_own_files

    try:
        claim(out, "pull", overwrite=overwrite)
    except FolderError as exc:
        raise HubError(str(exc)) from None
    remove_own_files(out, "pull")


def pull_dataset(spec: str, out: str | Path, overwrite: bool = False) -> dict[str, Any]:
    """Pull ``ID[@revision]`` into ``out`` (see the module docstring); returns what ``pull.json`` holds."""
    out = Path(out)
    snapshot = download(spec, "dataset")
    stats = verify_build(snapshot.path)  # before the folder is touched: a wrong version leaves nothing
    fresh_pull_folder(out, overwrite=overwrite)
    return _write_pull(snapshot, stats, out)


def read_pull_record(folder: str | Path) -> dict[str, Any] | None:
    """The ``pull.json`` of a pulled folder (repository, revision, commit, counts), or None."""
    path = Path(folder) / PULL_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise HubError(f"{path}: not readable as JSON: {exc}") from None


def pull_eval_dataset(
    spec: str = PAPER_EVAL_DATASET, cache_root: str | Path | None = None
) -> tuple[Path, dict[str, Any]]:
    """An eval dataset ``spec`` (``ID[@revision]``; by default the paper's released MedVLThinker-Eval)
    pulled once per commit into ``{cache_root}/eval-data/{ORG}--{NAME}/{commit}`` (``cache_root``:
    medvlt's cache, ``$MEDVLT_CACHE`` or ``~/.cache/medvlt``); returns that folder and its ``pull.json``.

    The revision is resolved to a commit on the Hub first, so a moved ``main`` gives a new folder while
    an unchanged one is reused without converting again; the commit a revision resolved to is kept in
    ``refs/``. Offline (``HF_HUB_OFFLINE=1``) the folder of the commit the revision last resolved to is
    used. A Hub failure is a ``HubError`` that names the dataset and the way to evaluate without it.
    """
    from huggingface_hub import constants

    from medvlt_data.hub import split_revision

    if cache_root is None:
        from medvlt_data.cache import default_cache_root

        cache_root = default_cache_root()
    repo_id, revision = split_revision(spec)
    root = Path(cache_root) / "eval-data" / repo_id.replace("/", "--")
    ref = root / "refs" / (revision or "main").replace("/", "%2F")
    try:
        snapshot = download(spec, "dataset")
    except HubError as exc:
        copy = _cached_copy(root, ref)
        if copy is not None and constants.HF_HUB_OFFLINE:
            return copy[0], {**copy[1], "revision": revision}
        what = "the paper's eval set" if is_eval_release(repo_id) else "the eval dataset"
        earlier = (f" A copy converted earlier (commit {copy[1]['commit']}) is used with HF_HUB_OFFLINE=1."
                   if copy is not None else "")  # fmt: skip
        raise HubError(
            f"{what} {spec} could not be fetched from the Hugging Face Hub ({exc}).{earlier} Without the "
            f"Hub, evaluate on a local eval folder: --dataset DIR (made by 'medvlt data pull {spec} --out "
            f"DIR' where the Hub is reachable, or by 'medvlt data build --split eval'), or --demo"
        ) from None
    target = root / snapshot.commit
    done = read_pull_record(target)
    if _current(done) and done.get("commit") == snapshot.commit:
        summary = {**done, "revision": snapshot.revision}
    else:
        stats = verify_build(snapshot.path)
        work = target.with_name(f"{snapshot.commit}.partial-{os.getpid()}")
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        summary = _write_pull(snapshot, stats, work)
        shutil.rmtree(target, ignore_errors=True)
        work.replace(target)
    ref.parent.mkdir(parents=True, exist_ok=True)
    ref.write_text(snapshot.commit + "\n", encoding="utf-8")
    return target, summary


def _current(done: dict[str, Any] | None) -> bool:
    """Whether a cached pull is one this version would make (a medvlt build, or the same converter)."""
    return done is not None and (done.get("layout") == "medvlt" or done.get("converter") == CONVERTER_VERSION)


def _cached_copy(root: Path, ref: Path) -> tuple[Path, dict[str, Any]] | None:
    """The cached folder and ``pull.json`` of the commit ``ref`` last resolved to, or None."""
    if not ref.is_file():
        return None
    folder = root / ref.read_text(encoding="utf-8").strip()
    done = read_pull_record(folder)
    return (folder, done) if _current(done) else None


def _write_pull(snapshot: Snapshot, stats: dict[str, Any] | None, out: Path) -> dict[str, Any]:
    """Copy (a medvlt build: its verified ``stats``) or convert (a MedVLThinker release: ``stats`` None)
    ``snapshot`` into the empty ``out``."""
    origin = {"repo_id": snapshot.repo_id, "revision": snapshot.revision, "commit": snapshot.commit}
    if stats is not None:
        for pattern in _BUILD_FILES:
            for path in sorted(snapshot.path.glob(pattern)):
                if path.is_file():
                    target = out / path.relative_to(snapshot.path)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(path, target)
        summary = {**origin, "layout": "medvlt", "version": stats.get("version"),
                   "content_hash": stats.get("content_hash"), "records": stats.get("num_records")}  # fmt: skip
    else:
        summary = {**origin, "layout": "medvlthinker", "converter": CONVERTER_VERSION,
                   **_convert(snapshot.path, snapshot.repo_id, out)}  # fmt: skip
    (out / PULL_FILE).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return summary


def _convert(folder: Path, repo_id: str, out: Path) -> dict[str, Any]:
    """MedVLThinker's released rows -> medvlt records under ``out/data``; counts and the problems."""
    import pyarrow.parquet as pq

    from medvlt_data.parquet_io import RecordWriter, content_hash, iter_rows, parquet_files
    from medvlt_data.schema import validate_record

    files = parquet_files(folder)
    if not files:
        raise HubError(f"{repo_id}: no Parquet files (looked in data/ and the top folder)")
    is_eval = is_eval_release(repo_id)
    for file in files:
        try:
            check_columns(pq.read_schema(file).names, file.relative_to(folder).as_posix(), is_eval=is_eval)
        except ReleasedLayoutError as exc:
            raise HubError(f"{repo_id}: {exc}") from None
    writer = RecordWriter(out)
    rows, rejected, flagged = 0, [], []
    benchmarks: dict[str, int] = {}
    index_in_file: dict[Path, int] = {}
    try:
        for file, row in iter_rows(files):
            rows += 1
            index = index_in_file[file] = index_in_file.get(file, -1) + 1
            where = f"{file.relative_to(folder).as_posix()} row {index}"
            try:
                record = released_record(row, shard=file.name, is_eval=is_eval)
            except ReleasedLayoutError as exc:
                rejected.append(f"{where}: {exc}")
                continue
            problems = validate_record(record)
            message = f"{where} ({record.ref}): {'; '.join(map(str, problems))}"
            if problems and not is_eval:
                rejected.append(message)
                continue
            if problems:
                flagged.append(message)
            if is_eval:
                benchmarks[record.split] = benchmarks.get(record.split, 0) + 1
            writer.write(record)
    finally:
        written = writer.close()
    shards = sorted(p for paths in written.values() for p in paths)
    summary = {"rows": rows, "records": rows - len(rejected), "rejected": len(rejected),
               "problems": rejected[:_LISTED], "splits": {split: len(paths) for split, paths in written.items()},
               "content_hash": content_hash(shards) if shards else None}  # fmt: skip
    if is_eval:
        from medvlt_data.benchmarks import BENCHMARKS, EVAL_BENCHMARKS

        paper = {key: BENCHMARKS[key].paper_count for key in EVAL_BENCHMARKS}
        summary.update(benchmarks=benchmarks, paper_counts=paper, counts_as_paper=benchmarks == paper,
                       flagged=len(flagged), flagged_examples=flagged[:_LISTED])  # fmt: skip
    return summary
