"""Curation throughput, memory and dedup quality on a planted text corpus.

Builds a corpus of N records from the real MedQA and MedMCQA files (read in place from
../shared/realdata): unique questions (three real stems of similar length joined), plus a known
fraction of exact duplicates (copies) and of near duplicates (a real question of at least 30 words
with case, whitespace and punctuation changed and one word inserted or deleted). It runs
``medvlt data build --split text-all`` on it (normalize through write; no decontamination) in a
subprocess and prints records/s, the time of each stage, the peak RSS of any one of the build's
processes (overall and per stage, sampled 10 times a second), and the recall and precision of
deduplication on the planted pairs.

    python benchmarks/curation.py --n 20000 --n 200000 [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REALDATA = ROOT.parent / "shared" / "realdata"
LETTERS = "ABCDEFGHIJ"


def base_questions() -> list[tuple[str, list[str]]]:
    sys.path.insert(0, str(ROOT))
    from medvlt_data.sources.embedded_choices import split_embedded_choices

    seen, base = set(), []
    for name in ("medqa/medqa_input.jsonl", "medmcqa/medmcqa_input.jsonl"):
        for line in (REALDATA / name).read_text(encoding="utf-8").splitlines():
            stem, options = split_embedded_choices(json.loads(line)["question"])
            key = " ".join(stem.lower().split())
            if len(options) >= 2 and key not in seen and all(o.strip() for o in options):
                seen.add(key)
                base.append((stem, options))
    return base


def near_copy(stem: str, rng: random.Random) -> str:
    """Case, whitespace and punctuation changed, and one word inserted or deleted."""
    words = stem.split()
    if rng.random() < 0.5:
        words.insert(rng.randrange(1, len(words)), rng.choice(["also", "usually", "often", "then"]))
    else:
        del words[rng.randrange(1, len(words) - 1)]
    text = "  ".join(words).replace(",", " ,").replace("?", " ?")
    return text.upper() if rng.random() < 0.5 else text.lower()


def write_corpus(path: Path, n: int, exact_fraction: float, near_fraction: float, seed: int = 0) -> dict:
    rng = random.Random(seed)
    base = base_questions()
    long_ones = [i for i, (stem, _) in enumerate(base) if len(stem.split()) >= 30]
    n_exact, n_near = int(n * exact_fraction), int(n * near_fraction)
    n_unique = n - n_exact - n_near
    # A unique record joins three real stems of similar length (neighbours in length order), so two
    # records share at most one stem and overlap by about a third at most: far from a near duplicate.
    by_length = sorted(range(len(base)), key=lambda i: len(base[i][0].split()))
    used_pairs, uniques, firsts, stems = set(), [], [], []
    while len(uniques) < n_unique:
        at = rng.randrange(len(by_length))
        window = by_length[max(0, at - 200) : at + 200]
        a, b, c = rng.sample(window, 3)
        pairs = {frozenset(p) for p in ((a, b), (b, c), (a, c))}
        if pairs & used_pairs:  # no two records share two stems
            continue
        used_pairs |= pairs
        options = (base[a][1][:2] + base[c][1][-2:])[:4]
        uniques.append((f"{base[a][0]} {base[b][0]} {base[c][0]}", options))
        firsts.append(a)
        stems.append((a, b, c))
    # Plant copies of unique records whose first stem is long (so a near copy has >= 30 words).
    long_set = set(long_ones)
    eligible = [i for i, a in enumerate(firsts) if a in long_set]
    rng.shuffle(eligible)
    planted = []
    for k, i in enumerate(eligible[: n_exact + n_near]):
        stem, options = uniques[i]
        kind = "exact" if k < n_exact else "near"
        planted.append((kind, i, stem if kind == "exact" else near_copy(stem, rng), options))
    with path.open("w", encoding="utf-8") as handle:
        for i, (stem, options) in enumerate(uniques):
            handle.write(_line(f"u{i}-" + "-".join(map(str, stems[i])), stem, options))
        for k, (kind, i, stem, options) in enumerate(planted):
            handle.write(_line(f"{kind}{k}-of-u{i}-" + "-".join(map(str, stems[i])), stem, options))
    return {"unique": len(uniques), "exact": n_exact, "near": len(planted) - n_exact}


def _line(ident: str, stem: str, options: list[str]) -> str:
    choices = " ".join(f"({LETTERS[j]}) {o}" for j, o in enumerate(options))
    return json.dumps({"id": ident, "question": f"{stem}\nAnswer Choices: {choices}", "label": ["A"]}) + "\n"


def run(n: int, workers: int, keep: Path | None = None) -> dict:
    with tempfile.TemporaryDirectory(prefix="medvlt-bench-") as tmp:
        if keep is not None:  # leave the corpus and the build for inspection
            tmp = keep / f"n{n}"
            tmp.mkdir(parents=True, exist_ok=True)
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        planted = write_corpus(corpus / "bench.jsonl", n, exact_fraction=0.05, near_fraction=0.05)
        out = Path(tmp) / "build"
        command = [
            sys.executable, "-m", "medvlt_cli.main", "data", "build", "--split", "text-all", "--out", str(out),
            "--sources", "medqa", "--source-path", f"medqa={corpus}", "--decontaminate-against", "none",
            "--workers", str(workers),
        ]  # fmt: skip
        start = time.perf_counter()
        stages, peaks, _ = _run_sampled(command)
        seconds = time.perf_counter() - start
        removed = []
        for step in ("dedup_exact", "dedup_near"):
            for path in (out / "rejects" / step).glob("*.jsonl"):
                removed += [json.loads(line)["source_id"] for line in path.read_text().splitlines() if line]
        # A planted pair is found when either of its two records is removed (which one survives is
        # the dedup stage's choice); a removed record outside every planted pair is a false positive.
        pair_of = {}
        for line in (corpus / "bench.jsonl").read_text().splitlines():
            ident = json.loads(line)["id"]
            if "-of-" in ident:
                pair_of[ident] = ident
                pair_of[ident.split("-of-")[1]] = ident
        found = {pair_of[s] for s in removed if s in pair_of}
        planted_near = {p for p in found if p.startswith("near")}
        planted_exact = {p for p in found if p.startswith("exact")}
        true_positives = sum(1 for s in removed if s in pair_of)
        stats = json.loads((out / "stats.json").read_text())
        return {
            "n": n,
            "workers": workers,
            "seconds": round(seconds, 1),
            "records_per_s": round(n / seconds),
            "peak_rss_mib": max(peaks.values()),
            "stage_seconds": stages,
            "stage_peak_rss_mib": peaks,
            "kept": stats["num_records"],
            "planted_exact": planted["exact"],
            "planted_near": planted["near"],
            "exact_recall": round(len(planted_exact) / max(planted["exact"], 1), 4),
            "near_recall": round(len(planted_near) / max(planted["near"], 1), 4),
            "precision": round(true_positives / max(len(removed), 1), 4),
            "removed": len(removed),
        }


def _run_sampled(command: list[str]) -> tuple[dict[str, float], dict[str, int], str]:
    """Run the build; return its stage times (from its progress lines), the peak RSS of any one of
    its processes during each stage (sampled 10 times a second), and its output."""
    import psutil

    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT
    )
    stage, stages, lines = ["start"], {}, []

    def follow() -> None:
        for line in process.stderr:
            lines.append(line)
            found = re.match(r"(\S+): (?:(\d+) task|done in ([\d.]+)s)", line)
            if found and found.group(3):
                stages[found.group(1)] = float(found.group(3))
            elif found:
                stage[0] = found.group(1)

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    root, peaks = psutil.Process(process.pid), {}
    while process.poll() is None:
        try:
            for member in [root, *root.children(recursive=True)]:
                mib = round(member.memory_info().rss / 2**20)
                peaks[stage[0]] = max(peaks.get(stage[0], 0), mib)
        except psutil.Error:
            pass
        time.sleep(0.1)
    reader.join()
    if process.returncode != 0:
        raise SystemExit("".join(lines)[-3000:])
    return stages, peaks, "".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, action="append", help="corpus size (repeatable)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="keep corpus and build under this folder")
    args = parser.parse_args()
    if not (REALDATA / "medqa").exists():
        raise SystemExit(f"needs the real data folder at {REALDATA}")
    for n in args.n or [20_000]:
        print(json.dumps(run(n, args.workers, args.keep)), flush=True)


if __name__ == "__main__":
    main()
