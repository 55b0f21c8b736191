"""Difficulty-scoring throughput and the pipeline's own overhead, against a local server.

Runs ``medvlt data build --split text-hard`` on the first N real MedQA questions (read in place
from ../shared/realdata/medqa; no decontamination) with the tiny model served by
``transformers serve`` (started and stopped by medvlt), and prints, for the scoring itself (from the
moment the server answers until the last record is written):

- rollouts/s;
- ``overhead_share``: the share of that time with no request in flight, i.e. spent in medvlt rather
  than waiting on the server (reading and writing records, prompts, grading, checkpointing).
  Goal: below 5%;
- ``medvlt_cpu_share``: medvlt's own CPU time over the same wall time (the CPU it takes from a
  server on the same machine).

    python benchmarks/scoring.py [--n 200] [--k 4] [--max-tokens 16] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REALDATA = ROOT.parent / "shared" / "realdata"


def run(n: int, k: int, max_tokens: int, concurrency: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="medvlt-scoring-") as tmp:
        corpus = Path(tmp) / "medqa"
        corpus.mkdir()
        lines = (REALDATA / "medqa" / "medqa_input.jsonl").read_text(encoding="utf-8").splitlines()[:n]
        (corpus / "train.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        out = Path(tmp) / "build"
        command = [
            sys.executable, "-m", "medvlt_cli.main", "data", "build", "--split", "text-hard", "--out", str(out),
            "--sources", "medqa", "--source-path", f"medqa={corpus}", "--decontaminate-against", "none",
            "--backend", "transformers-serve", "--model", "tiny", "--rollouts", str(k), "--max-tokens", str(max_tokens),
            "--concurrency", str(concurrency), "--min-pass", "0",
        ]  # fmt: skip
        start = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        total = time.perf_counter() - start
        if result.returncode != 0:
            raise SystemExit(result.stdout[-2000:] + result.stderr[-3000:])
        timing = json.loads((out / ".work" / "difficulty_timing" / "00000.json").read_text())
        stats = json.loads((out / "stats.json").read_text())
    seconds, busy = timing["seconds"], timing["busy_seconds"]
    return {
        "questions": sum(int(v) for v in stats["pass_counts"].values()),
        "k": k,
        "max_tokens": max_tokens,
        "concurrency": concurrency,
        "rollouts": timing["rollouts"],
        "requests": timing["requests"],
        "scoring_seconds": round(seconds, 1),
        "rollouts_per_s": round(timing["rollouts"] / seconds, 1),
        "overhead_share": round(max(0.0, seconds - busy) / seconds, 4),
        "medvlt_cpu_share": round(timing["medvlt_cpu_seconds"] / seconds, 4),
        "whole_build_seconds": round(total, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="questions (the first N of the real MedQA file)")
    parser.add_argument("--k", type=int, default=4, help="rollouts per question")
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    if not (REALDATA / "medqa").exists():
        raise SystemExit(f"needs the real data folder at {REALDATA}")
    print(json.dumps(run(args.n, args.k, args.max_tokens, args.concurrency)), flush=True)


if __name__ == "__main__":
    main()
