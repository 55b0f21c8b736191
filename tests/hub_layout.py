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


# ---- MedVLThinker's four released datasets --------------------------------------------------------
# Layouts read off the scripts that made them (UCSC-VLAA/MedVLThinker, see medvlt_data/released.py for
# the line references): every release went up with ``datasets``' ``push_to_hub``, i.e. shards
# ``data/{split}-NNNNN-of-NNNNN.parquet`` and a README whose ``configs`` map the split to them.


def _released_features(kind: str):
    import datasets

    string, images = datasets.Value("string"), datasets.Sequence(datasets.Image())
    if kind == "eval":
        # data_process/prepare_vlm_eval_data.py:46-56, 182-213, 242-250 (v1: pmc_vqa without hash, the
        # closed sets with it, then dataset_name, dataset_index) + prepare_vlm_eval_data_v2.py:170-208
        # (MMMU/MedXpertQA add reasoning=None and misc; concatenation puts the new columns after the old
        # ones; dataset_index is dropped and re-added last, 0..N-1). reasoning is None in every row, so
        # its type is null.
        return datasets.Features({"images": images, "question": string, "options": string,
                                  "answer_label": string, "answer": string, "hash": string,
                                  "dataset_name": string, "reasoning": datasets.Value("null"),
                                  "misc": string, "dataset_index": datasets.Value("int64")})  # fmt: skip
    # data_process/train_dataset/prepare_pmc_vqa.py:141-152: the pmc_vqa release's features, in order
    pmc = {"images": images, "question": string, "options": string, "answer_label": string,
           "answer": string, "dataset_name": string, "hash": string,
           "dataset_index": datasets.Value("int32")}  # fmt: skip
    if kind == "pmc_vqa":
        return datasets.Features(pmc)
    if kind == "pmc_vqa_reasoning":  # + reasoning (merge_pmc_vqa_cot.py:51-57), text (convert_trl_...:51)
        return datasets.Features({**pmc, "reasoning": string, "text": string})
    if kind == "m23k":  # text-only, convert_trl_format.py:19-43 adds text; no images column
        return datasets.Features({"question": string, "options": string, "answer_label": string,
                                  "answer": string, "reasoning": string, "dataset_name": string,
                                  "dataset_index": datasets.Value("int64"), "hash": string,
                                  "text": string})  # fmt: skip
    raise ValueError(f"unknown release kind {kind!r}")


def write_medvlthinker_release(
    root: Path, kind: str, split: str, rows: list[dict[str, Any]], shards: int = 1
) -> Path:
    """Write ``rows`` as one of MedVLThinker's releases (``kind``: eval, pmc_vqa, pmc_vqa_reasoning,
    m23k) under ``root`` in ``shards`` Parquet files, as ``push_to_hub`` lays them out; return ``root``."""
    import datasets
    import yaml

    features = _released_features(kind)
    table = datasets.Dataset.from_list([{k: row.get(k) for k in features} for row in rows], features=features)
    (root / "data").mkdir(parents=True, exist_ok=True)
    for i in range(shards):
        table.shard(shards, i, contiguous=True).to_parquet(
            str(root / "data" / f"{split}-{i:05d}-of-{shards:05d}.parquet")
        )
    files = [{"split": split, "path": f"data/{split}-*"}]
    card = {"configs": [{"config_name": "default", "data_files": files}]}
    (root / "README.md").write_text("---\n" + yaml.safe_dump(card) + "---\n", encoding="utf-8")
    return root
