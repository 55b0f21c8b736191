"""Demo GPQA file (a decontamination reference): ``gpqa_diamond.csv`` with the release's columns."""

from __future__ import annotations

import csv
from pathlib import Path

COLUMNS = ("Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3",
           "Record ID", "Subdomain", "High-level domain")  # fmt: skip

_ROWS = (
    ("Which enzyme joins the Okazaki fragments of the lagging strand into one continuous DNA strand?",
     "DNA ligase", "Helicase", "Primase", "Topoisomerase", "recDEMO0001", "Molecular Biology", "Biology"),
    ("Which particle is emitted when a neutron in an unstable nucleus turns into a proton?",
     "Electron", "Alpha particle", "Positron", "Photon only", "recDEMO0002", "Physics (general)", "Physics"),
)  # fmt: skip


def write(root: Path) -> Path:
    with (root / "gpqa_diamond.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(_ROWS)
    return root
