"""What the dataset and model cards share: the Jinja environment, the packaged templates, table-cell
escaping, the plot style, byte-stable PNG output and the form of a Hub repository id."""

from __future__ import annotations

import io
import re
from importlib.resources import files
from typing import Any

import jinja2

__all__ = ["PLOT_STYLE", "cell", "environment", "is_repo_id", "png_bytes", "template"]

_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")

PLOT_STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def is_repo_id(text: str) -> bool:
    """Whether ``text`` is a Hub repository id ``ORG/NAME`` (no revision).

    >>> is_repo_id("Qwen/Qwen2.5-VL-3B-Instruct"), is_repo_id("runs/rlvr-3b/"), is_repo_id("tiny")
    (True, False, False)
    """
    return _REPO_ID.fullmatch(text) is not None


def png_bytes(fig: Any) -> bytes:
    """Save a figure as PNG without the software/version text chunk, so equal plots give equal bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()


def cell(value: object) -> str:
    """Text safe inside a Markdown table cell.

    >>> cell("a|b\\nc")
    'a\\\\|b c'
    """
    return str(value).replace("|", "\\|").replace("\n", " ")


def environment() -> jinja2.Environment:
    """Markdown rendering: no HTML escaping, undefined names fail, ``num`` and ``cell`` filters."""
    env = jinja2.Environment(
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    env.filters["num"] = lambda n: f"{n:,}"
    env.filters["cell"] = cell
    return env


def template(name: str) -> jinja2.Template:
    """A card template, read from the installed package so it works from a wheel."""
    text = files("hub_cards").joinpath("templates", name).read_text(encoding="utf-8")
    return environment().from_string(text)
