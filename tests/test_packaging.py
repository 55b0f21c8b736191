"""The wheel holds every package and data file: an editable install (as in the test suite) would hide
a package missing from pyproject's explicit list, or a YAML/template file outside package-data."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
#: Installed package name -> source folder (pyproject's package-dir mapping).
TOP = {
    "medvlt_cli": "cli",
    "medvlt_data": "medvlt_data",
    "medvlt_train": "medvlt_train",
    "hub_cards": "hub_cards",
}


def _config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_is_listed():
    found = set()
    for name, folder in TOP.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((name, *relative)))
    assert set(_config()["packages"]) == found


def test_every_data_file_is_package_data():
    data = _config()["package-data"]
    for name, folder in TOP.items():
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".yaml", ".yml", ".j2", ".json") and "__pycache__" not in path.parts:
                package = next(
                    (p for p in sorted(data, key=len, reverse=True) if p.split(".")[0] == name), None
                )
                relative = path.relative_to(ROOT / folder).as_posix()
                assert package and any(fnmatch.fnmatch(relative, g) for g in data[package]), relative
