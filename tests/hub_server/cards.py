"""The Hub's checks of a card's YAML block (``POST /api/validate-yaml``), done roughly as the Hub does."""

from __future__ import annotations

import re
from typing import Any

import yaml


def validate_card_metadata(content: str, repo_type: str) -> list[str]:
    """Errors in a card's YAML block, checked roughly as the Hub does (empty list: valid)."""
    match = re.match(r"^\s*---\r?\n([\s\S]*?)\r?\n---[ \t]*(\r?\n|$)", content)
    if not match:
        return []
    try:
        metadata = yaml.safe_load(match.group(1))
    except yaml.YAMLError as error:
        return [f"Invalid YAML in metadata: {error}"]
    if metadata is None:
        return []
    if not isinstance(metadata, dict):
        return ["Metadata must be a YAML mapping"]
    errors = []
    license_ = metadata.get("license")
    # Dataset cards may name several licenses (DatasetCardData types it str | list[str]); models one.
    several = (
        repo_type == "dataset" and isinstance(license_, list) and all(isinstance(x, str) for x in license_)
    )
    if "license" in metadata and not (isinstance(license_, str) or several):
        errors.append(
            '"license" must be a string' + (" or a list of strings" if repo_type == "dataset" else "")
        )
    if repo_type == "model" and "model-index" in metadata:
        errors += _model_index_errors(metadata["model-index"])
    if repo_type == "dataset" and "configs" in metadata:
        configs = metadata["configs"]
        if not isinstance(configs, list) or not all(
            isinstance(c, dict) and "config_name" in c for c in configs
        ):
            errors.append('"configs" must be a list of mappings with a "config_name"')
    return errors


def _model_index_errors(model_index: Any) -> list[str]:
    if not isinstance(model_index, list) or not model_index:
        return ['"model-index" must be a non-empty list']
    errors = []
    for entry in model_index:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            errors.append('"model-index[].name" is required and must be a string')
            continue
        if not isinstance(entry.get("results"), list):
            errors.append('"model-index[].results" must be a list')
            continue
        for result in entry["results"]:
            task, dataset = result.get("task"), result.get("dataset")
            if not isinstance(task, dict) or not isinstance(task.get("type"), str):
                errors.append('"model-index[].results[].task.type" is required and must be a string')
            if not isinstance(dataset, dict) or not all(
                isinstance(dataset.get(k), str) for k in ("name", "type")
            ):
                errors.append('"model-index[].results[].dataset" needs string "name" and "type"')
            metrics = result.get("metrics")
            if not isinstance(metrics, list) or not metrics:
                errors.append('"model-index[].results[].metrics" must be a non-empty list')
                continue
            for metric in metrics:
                if not isinstance(metric, dict) or not isinstance(metric.get("type"), str):
                    errors.append('"model-index[].results[].metrics[].type" is required and must be a string')
                elif not isinstance(metric.get("value"), (int, float, str)):
                    errors.append('"model-index[].results[].metrics[].value" must be a number or a string')
    return errors
