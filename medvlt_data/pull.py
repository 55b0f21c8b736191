"""``medvlt data pull ID[@revision] --out DIR``: a dataset from the Hub as a local medvlt dataset folder.

A medvlt build (it has ``stats.json``) is copied as it is, after its records were checked against the
content hash in ``stats.json``; pulling a version's tag therefore gives back exactly that version.

Any other repository of Parquet files in MedVLThinker's released layout (``UCSC-VLAA/MedVLThinker-*``:
``question``, ``options`` as JSON text, ``answer_label``, ``answer``, ``images``, ``reasoning``,
``dataset_name``, ``dataset_index``, ``hash``) is converted into medvlt's record schema and written in
medvlt's layout. For ``MedVLThinker-Eval`` each question is filed under the benchmark its
``dataset_name`` names (``data/{benchmark}-*.parquet``, as an ``eval`` build), so ``medvlt eval
--dataset`` reads it. Rows that do not make a valid record are counted and listed, never dropped
silently.

``DIR/pull.json`` records where the folder came from: repository, requested revision, commit.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from medvlt_data.hub import HubError, download, verify_build

__all__ = ["BENCHMARK_NAMES", "benchmark_of", "fresh_pull_folder", "pull_dataset"]

#: Files of a medvlt build that a pull copies.
_BUILD_FILES = ["data/*", "stats.json", "README.md", "assets/*", "rejects/**"]
#: Normalized ``dataset_name`` prefixes -> the eval benchmark key.
BENCHMARK_NAMES = {
    "pmcvqa": "pmc_vqa",
    "mmmu": "mmmu_medical",
    "medxpertqa": "medxpertqa_mm",
    "pathvqa": "pathvqa",
    "slake": "slake",
    "vqarad": "vqa_rad",
}


def benchmark_of(name: str) -> str | None:
    """The benchmark key a MedVLThinker ``dataset_name`` names, or None.

    >>> benchmark_of("PMC-VQA"), benchmark_of("vqa_rad"), benchmark_of("MMMU-Medical"), benchmark_of("medqa")
    ('pmc_vqa', 'vqa_rad', 'mmmu_medical', None)
    """
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    return next((bench for prefix, bench in BENCHMARK_NAMES.items() if key.startswith(prefix)), None)


def fresh_pull_folder(out: Path) -> None:
    """Make ``out`` an empty folder: new, empty, or an earlier pull (``pull.json``); refuse anything else."""
    if out.exists() and any(out.iterdir()):
        if not (out / "pull.json").is_file():
            raise HubError(f"{out} exists and is not empty; pull into a new folder")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def pull_dataset(spec: str, out: str | Path) -> dict[str, Any]:
    """Pull ``ID[@revision]`` into ``out`` (see the module docstring); returns what ``pull.json`` holds."""
    out = Path(out)
    snapshot = download(spec, "dataset")
    origin = {"repo_id": snapshot.repo_id, "revision": snapshot.revision, "commit": snapshot.commit}
    stats = verify_build(snapshot.path)
    fresh_pull_folder(out)
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
        summary = {**origin, "layout": "medvlthinker", **_convert(snapshot.path, snapshot.repo_id, out)}
    (out / "pull.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return summary


def _convert(folder: Path, repo_id: str, out: Path) -> dict[str, Any]:
    """MedVLThinker's released rows -> medvlt records under ``out/data``; counts and the problems."""
    from medvlt_data.parquet_io import RecordWriter, parquet_files, read_any_records
    from medvlt_data.pipeline.build import content_hash
    from medvlt_data.schema import validate_record

    files = parquet_files(folder)
    if not files:
        raise HubError(f"{repo_id}: no Parquet files (looked in data/ and the top folder)")
    is_eval = repo_id.lower().rstrip("/").endswith("eval")
    writer = RecordWriter(out)
    rows, problems = 0, []
    try:
        for record in read_any_records(files):
            rows += 1
            if is_eval:
                benchmark = benchmark_of(record.source)
                if benchmark is None:
                    problems.append(
                        f"{record.ref}: dataset_name {record.source!r} is none of the six benchmarks"
                    )
                    continue
                record.split, record.meta = benchmark, {**record.meta, "benchmark": benchmark}
            errors = validate_record(record)
            if errors:
                problems.append(f"{record.ref}: {'; '.join(map(str, errors))}")
                continue
            writer.write(record)
    except (KeyError, ValueError) as exc:
        raise HubError(f"{repo_id}: row {rows + 1} is not in MedVLThinker's released layout: {exc}") from None
    written = writer.close()
    shards = sorted(p for paths in written.values() for p in paths)
    kept = rows - len(problems)
    return {"rows": rows, "records": kept, "rejected": len(problems), "problems": problems[:50],
            "splits": {split: len(paths) for split, paths in written.items()},
            "content_hash": content_hash(shards) if shards else None}  # fmt: skip
