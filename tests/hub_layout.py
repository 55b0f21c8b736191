"""Write fixture datasets in the Hugging Face Hub layout (Parquet shards + README configs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_hub_dataset(
    root: Path, splits: dict[str, list[dict[str, Any]]], *, features=None, config: str | None = None
) -> Path:
    """Write ``splits`` as Parquet under ``root`` the way the Hub stores a dataset; return ``root``.

    Several calls with different ``config`` names build a multi-config repo; the README lists them.
    """
    import datasets
    import yaml

    root.mkdir(parents=True, exist_ok=True)
    folder = config or "data"
    for split, rows in splits.items():
        columns = {key: [row.get(key) for row in rows] for key in (rows[0] if rows else {})}
        dataset = datasets.Dataset.from_dict(columns, features=features)
        (root / folder).mkdir(parents=True, exist_ok=True)
        dataset.to_parquet(str(root / folder / f"{split}-00000-of-00001.parquet"))
    if config:
        readme = root / "README.md"
        configs = []
        if readme.exists():
            configs = yaml.safe_load(readme.read_text().split("---")[1]).get("configs", [])
        configs = [c for c in configs if c["config_name"] != config]
        configs.append({
            "config_name": config,
            "data_files": [{"split": s, "path": f"{config}/{s}-*.parquet"} for s in splits],
        })  # fmt: skip
        readme.write_text("---\n" + yaml.safe_dump({"configs": configs}) + "---\n", encoding="utf-8")
    return root
