"""Shared fixtures: the real data folder beside the project, and Hub-layout fixture writers."""

from __future__ import annotations

from pathlib import Path

import pytest

try:  # the property tests' profiles: "medvlt" (the default: a fixed seed and bounded examples, so CI runs
    # the same cases quickly) and "deep" (HYPOTHESIS_PROFILE=deep: many random examples, to hunt for bugs)
    import os

    from hypothesis import HealthCheck, settings

    _checks = [HealthCheck.too_slow, HealthCheck.data_too_large]
    settings.register_profile("medvlt", derandomize=True, max_examples=30, deadline=None, database=None,
                              print_blob=True, suppress_health_check=_checks)  # fmt: skip
    settings.register_profile("deep", max_examples=300, deadline=None, database=None, print_blob=True,
                              suppress_health_check=_checks)  # fmt: skip
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "medvlt"))
except ImportError:  # hypothesis is a dev dependency: without it the other tests still run
    pass

#: Real records from public datasets, read in place (never copied into the project).
REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"


def realdata(*parts: str) -> Path:
    """Path under the shared real-data folder; skips the test with a reason when it is absent."""
    path = REALDATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} (the shared/realdata folder beside the project)")
    return path


@pytest.fixture
def hub_repo(tmp_path):
    """Write a dataset folder in the Hub layout and return its path, usable as a Hub id.

    ``hub_repo({"train": rows, "test": rows}, features=..., config=None)`` writes
    ``data/{split}-00000-of-00001.parquet`` (or ``{config}/{split}-...`` with a README that declares
    the config, as multi-config Hub repos do).
    """
    from tests.hub_layout import write_hub_dataset

    root = tmp_path / "hub_repo"

    def make(splits, features=None, config=None, root=root):
        return write_hub_dataset(root, splits, features=features, config=config)

    return make


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> Path:
    """The tiny random Qwen2.5-VL, built once per test session in a cache folder of its own (tests that
    name the model ``tiny`` point ``MEDVLT_CACHE`` at its parent)."""
    from medvlt_train.tiny import tiny_model

    return tiny_model(tmp_path_factory.mktemp("medvlt-cache"))


@pytest.fixture
def tiny_model_env(tiny_model_path, monkeypatch) -> Path:
    """``tiny_model_path`` with ``MEDVLT_CACHE`` pointing at it, so ``--model tiny`` finds it."""
    monkeypatch.setenv("MEDVLT_CACHE", str(tiny_model_path.parent))
    return tiny_model_path
