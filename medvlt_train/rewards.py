"""RLVR rewards as plain functions ``(completions, **columns) -> list[float | None]`` for TRL's GRPOTrainer.

GRPOTrainer calls each reward with ``prompts``, ``completions``, ``completion_ids`` and every other
dataset column as a keyword list (here ``answer_label`` and ``answer``, see :mod:`medvlt_train.data`),
plus ``trainer_state``/``log_extra``/``log_metric``; unknown keywords are ignored. For conversational
prompts a completion is a list of message dicts (``[{"role": "assistant", "content": "..."}]``); a plain
string is accepted too. All grading goes through :mod:`medvlt_data.verify`, the one verifier shared with
difficulty scoring and evaluation. A row whose ``answer_label`` is None gets None (no verdict; the
original's ``compute_score`` would then grade the answer text alone).

``medvlt_paper`` is the paper's reward exactly (UCSC-VLAA/MedVLThinker train/my_reward.py:47-59): the
format gate on the raw completion, so a leading or trailing newline scores 0, and the answer read
without DOTALL. ``medvlt`` (the default) is ours in two details: the gate ignores surrounding
whitespace and a multi-line answer block is read. ``format`` and ``accuracy`` are the default
variant's gate and grade on their own. A recipe names one of these (:data:`REWARDS`) or a reward of its own by
import path, ``package.module:function`` (see :func:`resolve_reward`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from medvlt_data.verify import format_gated_reward, grade_strict, has_format

__all__ = [
    "DEFAULT_REWARDS",
    "REWARDS",
    "accuracy_reward",
    "completion_text",
    "format_reward",
    "get_rewards",
    "medvlt_reward",
    "medvlt_reward_paper",
    "resolve_reward",
    "reward_weights",
]

Completion = str | list[dict[str, Any]]


def completion_text(completion: Completion) -> str:
    """The text a reward grades: a string as is, else the last message's content (text parts joined).

    >>> completion_text([{"role": "assistant", "content": [{"type": "text", "text": "<answer>A</answer>"}]}])
    '<answer>A</answer>'
    """
    if isinstance(completion, str):
        return completion
    if not completion:
        return ""
    content = completion[-1].get("content") or ""
    if isinstance(content, str):
        return content
    return "".join(part.get("text") or "" for part in content if part.get("type") == "text")


def _columns(completions: list[Completion], columns: dict[str, Any], *names: str) -> list[list[Any]]:
    missing = [name for name in names if name not in columns]
    if missing:
        raise KeyError(f"reward needs dataset column(s) {', '.join(missing)}; got {sorted(columns)}")
    values = [list(columns[name]) for name in names]
    for name, value in zip(names, values, strict=True):
        if len(value) != len(completions):
            raise ValueError(f"column {name} has {len(value)} values for {len(completions)} completions")
    return values


def _gated(completions: list[Completion], variant: str, columns: dict[str, Any]) -> list[float | None]:
    labels, answers = _columns(completions, columns, "answer_label", "answer")
    return [
        None if label is None else format_gated_reward(completion_text(c), label, answer or "", variant)
        for c, label, answer in zip(completions, labels, answers, strict=True)
    ]


def medvlt_reward(completions: list[Completion], **columns: Any) -> list[float | None]:
    """The paper's format-gated accuracy, surrounding whitespace ignored by the gate and a multi-line
    answer block read (variant ``default``, ours).

    >>> done = [{"role": "assistant", "content": "<think>Beta cells.</think>\\n<answer>B</answer>\\n"}]
    >>> no_think = [{"role": "assistant", "content": "<answer>B</answer>"}]
    >>> multi_line = "<think>Beta cells.</think><answer>\\nB\\n</answer>"
    >>> medvlt_reward([done, no_think, multi_line], answer_label=["B"] * 3, answer=["Pancreas"] * 3)
    [1.0, 0.0, 1.0]
    """
    return _gated(completions, "default", columns)


def medvlt_reward_paper(completions: list[Completion], **columns: Any) -> list[float | None]:
    """The paper's reward exactly (variant ``paper``): a multi-line answer block, or a newline before
    ``<think>`` or after ``</answer>``, scores 0.

    >>> multi_line = "<think>Beta cells.</think><answer>\\nB\\n</answer>"
    >>> medvlt_reward_paper([multi_line, "<think>x</think><answer>B</answer>", "<think>x</think><answer>B</answer>\\n"],
    ...                     answer_label=["B"] * 3, answer=["Pancreas"] * 3)
    [0.0, 1.0, 0.0]
    """
    return _gated(completions, "paper", columns)


def accuracy_reward(completions: list[Completion], **columns: Any) -> list[float | None]:
    """Strict grade as 0.0/1.0 with no format gate (a bare ``<answer>`` block, or plain text, counts).

    >>> accuracy_reward(["<answer>B</answer>", "pancreas", "<answer>A</answer>"],
    ...                 answer_label=["B"] * 3, answer=["Pancreas"] * 3)
    [1.0, 1.0, 0.0]
    """
    labels, answers = _columns(completions, columns, "answer_label", "answer")
    return [
        None if label is None else float(grade_strict(completion_text(c), label, answer or ""))
        for c, label, answer in zip(completions, labels, answers, strict=True)
    ]


def format_reward(completions: list[Completion], **columns: Any) -> list[float | None]:
    """1.0 when the completion, surrounding whitespace aside, is exactly ``<think>...</think>
    <answer>...</answer>``, else 0.0 (the default reward's gate).

    >>> format_reward(["<think>x</think>\\n<answer>Z</answer>\\n", "<answer>B</answer>", "Sure. <think>x</think><answer>B</answer>"])
    [1.0, 0.0, 0.0]
    """
    return [float(has_format(completion_text(c), strip=True)) for c in completions]


#: Rewards by name, as named in recipes and on the command line.
REWARDS: dict[str, Callable[..., list[float | None]]] = {
    "medvlt": medvlt_reward,
    "medvlt_paper": medvlt_reward_paper,
    "accuracy": accuracy_reward,
    "format": format_reward,
}

#: The rewards of a run whose recipe names none.
DEFAULT_REWARDS: dict[str, float] = {"medvlt": 1.0}


def reward_weights(spec: Mapping[str, float] | list[str] | str) -> dict[str, float]:
    """``{name: weight}`` from itself, a list of names or one name (weight 1.0 each).

    >>> reward_weights(["medvlt", "format"]), reward_weights({"format": "0.1"})
    ({'medvlt': 1.0, 'format': 1.0}, {'format': 0.1})
    """
    if isinstance(spec, str):
        spec = [spec]
    pairs = list(spec.items()) if isinstance(spec, Mapping) else spec
    if not isinstance(pairs, list | tuple):
        raise ValueError(f"rewards {spec!r}: expected {{name: weight}}, a list of names or a name")
    pairs = [(p, 1.0) if isinstance(p, str) else p for p in pairs]
    try:
        return {str(name): float(weight) for name, weight in pairs}
    except (TypeError, ValueError) as exc:
        raise ValueError(f"rewards {spec!r}: weights must be numbers ({exc})") from exc


def resolve_reward(name: str) -> Callable[..., list[float | None]]:
    """The reward ``name``: a key of :data:`REWARDS`, or an import path ``package.module:function`` or
    ``package.module.function`` of one's own reward (called like the registered ones).

    >>> resolve_reward("medvlt_train.rewards:format_reward") is resolve_reward("format")
    True
    >>> resolve_reward("medvlt_train.rewards.REWARDS")
    Traceback (most recent call last):
    ...
    ValueError: reward 'medvlt_train.rewards.REWARDS': medvlt_train.rewards.REWARDS is a dict, not a function
    """
    if name in REWARDS:
        return REWARDS[name]
    module_name, _, attribute = name.rpartition(":") if ":" in name else name.rpartition(".")
    if not module_name or not attribute:
        raise ValueError(f"unknown reward {name!r}; known: {', '.join(sorted(REWARDS))}, or an import path "
                         f"package.module:function")  # fmt: skip
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"reward {name!r}: cannot import {module_name}: {exc}") from exc
    function = getattr(module, attribute, None)
    if function is None:
        raise ValueError(f"reward {name!r}: module {module_name} has no {attribute!r}")
    if not callable(function):
        raise ValueError(
            f"reward {name!r}: {module_name}.{attribute} is a {type(function).__name__}, not a function"
        )
    return function


def get_rewards(spec: Mapping[str, float] | list[str] | str) -> tuple[list[Callable], list[float]]:
    """Reward functions (see :func:`resolve_reward`) and weights from ``{name: weight}``, a list of names or
    one name (weight 1.0 each).

    >>> funcs, weights = get_rewards({"medvlt": 1.0, "format": 0.1})
    >>> [f.__name__ for f in funcs], weights
    (['medvlt_reward', 'format_reward'], [1.0, 0.1])
    >>> get_rewards(["bleu"])
    Traceback (most recent call last):
    ...
    ValueError: unknown reward(s) bleu; known: accuracy, format, medvlt, medvlt_paper, or an import path package.module:function
    """
    weights = reward_weights(spec)
    if not weights:
        raise ValueError(f"no rewards given; known: {', '.join(sorted(REWARDS))}")
    unknown = [name for name in weights if name not in REWARDS and not {".", ":"} & set(name)]
    if unknown:
        raise ValueError(f"unknown reward(s) {', '.join(unknown)}; known: {', '.join(sorted(REWARDS))}, "
                         f"or an import path package.module:function")  # fmt: skip
    return [resolve_reward(name) for name in weights], list(weights.values())
