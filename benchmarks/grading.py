"""Grading time per completion size, before and after the linear-time answer extraction.

For each size (16 KB .. 1 MB) and each grader, a completion of repeated tags that the lazy regexes
handled worst is graded:

- ``verifier``: ``<answer>`` repeated, never closed; after: :func:`medvlt_data.verify.grade` (every
  verdict), before: the old first-block search and last-block ``findall``;
- ``format``: ``<think>`` then ``</think> <answer>`` repeated, never closed; after: ``has_format``,
  before: the old ``fullmatch``;
- ``reward``: the same completion; after: the RLVR reward ``medvlt_reward``, before: the old gate and
  answer search;
- ``distill``: ``<think>`` repeated, never closed; after: the trace reader ``reasoning_of``, before:
  the old ``<think>(.*?)</think>`` search.

The "before" regexes are kept in this script. They are quadratic, so once one takes longer than
``--before-limit`` seconds the larger sizes are not run and an estimate (4x per doubling) is printed.

    python benchmarks/grading.py [--before-limit 10]
"""

from __future__ import annotations

import argparse
import re
import time

from medvlt_data.distill import reasoning_of
from medvlt_data.inference.client import Completion
from medvlt_data.verify import grade, has_format
from medvlt_train.rewards import medvlt_reward

OLD_BLOCK = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
OLD_FORMAT = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.DOTALL)
OLD_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)

SIZES_KB = (16, 32, 64, 128, 256, 512, 1024)
OPTIONS = {"A": "Asthma", "B": "COPD"}


def completions(size: int) -> dict[str, str]:
    gate = "<think>" + "</think> <answer>" * (size // 17) + "x"
    return {"verifier": "<answer>" * (size // 8), "format": gate, "reward": gate,
            "distill": "<think>" * (size // 7)}  # fmt: skip


BEFORE = {
    "verifier": lambda t: (OLD_BLOCK.search(t), OLD_BLOCK.findall(t)),
    "format": lambda t: OLD_FORMAT.fullmatch(t),
    "reward": lambda t: OLD_FORMAT.fullmatch(t.strip()) and OLD_BLOCK.search(t),
    "distill": lambda t: OLD_THINK.search(t),
}
AFTER = {
    "verifier": lambda t: grade(t, OPTIONS, "B"),
    "format": lambda t: has_format(t),
    "reward": lambda t: medvlt_reward([t], answer_label=["B"], answer=["COPD"]),
    "distill": lambda t: reasoning_of(Completion(t)),
}


def timed(function, text: str) -> float:
    started = time.perf_counter()
    function(text)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before-limit", type=float, default=10.0, help="stop timing a 'before' past this")
    args = parser.parse_args()
    print(f"{'size':>8}  {'grader':<9} {'before (s)':>14} {'after (s)':>10}")
    last_before: dict[str, float] = {}
    for kb in SIZES_KB:
        for name, text in completions(kb * 1024).items():
            previous = last_before.get(name)
            if previous is not None and previous > args.before_limit:
                before, label = previous * 4, f"~{previous * 4:.0f} est."
            else:
                before = timed(BEFORE[name], text)
                label = f"{before:.3f}"
            last_before[name] = before
            print(f"{kb:>6}KB  {name:<9} {label:>14} {timed(AFTER[name], text):>10.4f}", flush=True)


if __name__ == "__main__":
    main()
