"""Demo GPQA file (a decontamination reference): ``gpqa_diamond.csv`` with the release's columns.

Made-up half-life questions, and one broken row (an incorrect answer missing).
"""

from __future__ import annotations

import csv
from pathlib import Path

COLUMNS = ("Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3",
           "Record ID", "Subdomain", "High-level domain")  # fmt: skip


def rows() -> list[dict]:
    out = []
    for i in range(20):
        start, lives = 800 + 160 * i, 1 + i % 4
        left = start / 2**lives
        out.append(dict(zip(COLUMNS, (
            f"A tracer of {start} MBq decays for {lives} half-lives; how much activity remains in MBq?",
            f"{left:g}", f"{left * 2:g}", f"{left / 2:g}", f"{start - left:g}", f"recDEMO{i:04d}",
            "Nuclear medicine", "Physics",
        ), strict=True)))  # fmt: skip
    out.append({**out[0], "Incorrect Answer 3": "", "Record ID": "recDEMObad"})
    return out


def write(root: Path) -> Path:
    with (root / "gpqa_diamond.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows())
    return root
