"""Results of an evaluation folder: accuracy per benchmark and run, their mean and spread, the table in
the paper's layout; regrading saved generations; several folders side by side with a bar chart.

Everything here is computed from the folder's ``eval_config.json`` and ``generations/run-*.jsonl`` alone,
so ``medvlt eval regrade DIR`` reproduces a run's results without generating anything.

``results.json`` (read by the model card, :mod:`hub_cards.model_card`)::

    model, backend (dict), prompt, max_new_tokens, seeds (one per run), dataset (label, version...)
    benchmarks: {key: {"n", "accuracy", "std", "runs", "accuracy_lenient", "std_lenient",
                       "runs_lenient", "format_rate"}}   accuracies in percent, strict = the paper's grader
    average, average_lenient    unweighted mean over the benchmarks present (the paper's Avg column)
    complete                    whether all six benchmarks are present
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from hub_cards.model_card import BENCHMARKS
from medvlt_train.eval.generations import read_generations, regrade_row, run_file, write_generations

__all__ = ["CONFIG_FILE", "compare", "load_results", "markdown_table", "regrade", "write_results"]

CONFIG_FILE = "eval_config.json"
RESULTS_FILE = "results.json"


def _config(out: Path) -> dict[str, Any]:
    path = out / CONFIG_FILE
    if not path.is_file():
        raise ValueError(f"{out} is not an evaluation folder: it has no {CONFIG_FILE}")
    return json.loads(path.read_text(encoding="utf-8"))


def _runs(out: Path, config: dict[str, Any]) -> list[dict[str, dict[str, Any]]]:
    """Rows by question id for every run, checked complete against the configured question counts."""
    expected = config["questions"]
    runs = []
    for run in range(1, len(config["seeds"]) + 1):
        rows = read_generations(run_file(out, run))
        counts = {b: sum(1 for r in rows.values() if r["benchmark"] == b) for b in expected}
        if counts != expected:
            missing = {b: expected[b] - counts[b] for b in expected if counts[b] != expected[b]}
            raise ValueError(
                f"{run_file(out, run)} is incomplete (questions missing per benchmark: {missing}); run the "
                f"same `medvlt eval` with --out {out} again to finish it"
            )
        runs.append(rows)
    return runs


def _percent(flags: list[bool]) -> float:
    return round(100.0 * sum(flags) / len(flags), 4)


def _spread(values: list[float]) -> float:
    return round(statistics.stdev(values), 4) if len(values) > 1 else 0.0


def summarize(config: dict[str, Any], runs: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """The results (schema in the module docstring) of complete runs."""
    benchmarks = {}
    for key in (b for b in BENCHMARKS if b in config["questions"]):
        per_run = [[r for r in rows.values() if r["benchmark"] == key] for rows in runs]
        strict = [_percent([r["strict"] for r in rows]) for rows in per_run]
        lenient = [_percent([r["lenient"] for r in rows]) for rows in per_run]
        fmt = [_percent([r["format"] for r in rows]) for rows in per_run]
        benchmarks[key] = {"n": config["questions"][key], "accuracy": round(statistics.fmean(strict), 4),
                           "std": _spread(strict), "runs": strict,
                           "accuracy_lenient": round(statistics.fmean(lenient), 4), "std_lenient": _spread(lenient),
                           "runs_lenient": lenient, "format_rate": round(statistics.fmean(fmt), 4)}  # fmt: skip
    return {
        **{
            k: config[k]
            for k in ("model", "backend", "prompt", "max_new_tokens", "seeds", "limit", "dataset")
        },
        "benchmarks": benchmarks,
        "average": round(statistics.fmean(b["accuracy"] for b in benchmarks.values()), 4),
        "average_lenient": round(statistics.fmean(b["accuracy_lenient"] for b in benchmarks.values()), 4),
        "complete": set(BENCHMARKS) <= set(benchmarks) and config.get("limit") is None,
        "versions": config.get("versions", {}),
    }


def _cell(result: dict[str, Any] | None, key: str) -> str:
    return "-" if result is None else f"{result[key]:.2f}"


def markdown_table(rows: list[tuple[str, dict[str, Any]]], lenient: bool = True) -> str:
    """The paper's table: one line per (label, results), columns PMC .. VQA-Rad and Avg (strict; with
    ``lenient`` a second line per model with the lenient regrade)."""
    titles = list(BENCHMARKS.values())
    lines = ["| model | " + " | ".join(titles) + " | Avg |", "| --- |" + " ---: |" * (len(titles) + 1)]
    for label, results in rows:
        graders = [("accuracy", "average", "")] + ([("accuracy_lenient", "average_lenient", " (lenient)")]
                                                   if lenient else [])  # fmt: skip
        for key, avg, suffix in graders:
            cells = [_cell(results["benchmarks"].get(b), key) for b in BENCHMARKS]
            lines.append(f"| {label}{suffix} | " + " | ".join(cells) + f" | {results[avg]:.2f} |")
    return "\n".join(lines) + "\n"


def _details(results: dict[str, Any]) -> str:
    lines = ["| benchmark | questions | strict | runs (strict) | lenient | format |",
             "| --- | ---: | ---: | --- | ---: | ---: |"]  # fmt: skip
    for key, r in results["benchmarks"].items():
        runs = ", ".join(f"{v:.2f}" for v in r["runs"])
        lines.append(f"| {BENCHMARKS[key]} | {r['n']:,} | {r['accuracy']:.2f} ± {r['std']:.2f} | {runs} | "
                     f"{r['accuracy_lenient']:.2f} ± {r['std_lenient']:.2f} | {r['format_rate']:.1f}% |")  # fmt: skip
    return "\n".join(lines) + "\n"


def render_markdown(results: dict[str, Any]) -> str:
    seeds = ", ".join(str(s) for s in results["seeds"])
    note = "" if results["complete"] else (
        "\nNot all six benchmarks (or a --limit): the average covers the benchmarks shown only.\n")  # fmt: skip
    return (
        f"# Evaluation of {results['model']}\n\nAccuracy (%), the paper's prompt (`{results['prompt']}`), greedy "
        f"decoding, up to {results['max_new_tokens']} new tokens, mean of {len(results['seeds'])} run(s) "
        f"(seeds {seeds}); strict is the paper's grader, lenient the regrade of its published tables.\n\n"
        f"{markdown_table([(results['model'], results)])}{note}\n## Per benchmark\n\n{_details(results)}"
        f"\nDataset: `{results['dataset'].get('label')}`"
        + (f" (version `{results['dataset']['version']}`)" if results["dataset"].get("version") else "")
        + f". Backend: {results['backend'].get('backend')}.\n"
    )


def write_results(out: str | Path) -> dict[str, Any]:
    """Compute the results of a finished evaluation folder and write ``results.json`` and ``results.md``."""
    out = Path(out)
    config = _config(out)
    results = summarize(config, _runs(out, config))
    (out / RESULTS_FILE).write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    (out / "results.md").write_text(render_markdown(results), encoding="utf-8")
    return results


def regrade(out: str | Path) -> dict[str, Any]:
    """Grade every saved generation again with the current verifier, rewrite the run files and the results."""
    out = Path(out)
    config = _config(out)
    for run, rows in enumerate(_runs(out, config), 1):
        write_generations(run_file(out, run), [regrade_row(row) for row in rows.values()])
    return write_results(out)


def load_results(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / RESULTS_FILE
    if not path.is_file():
        raise ValueError(f"{folder} has no {RESULTS_FILE}: not a finished `medvlt eval` folder")
    return json.loads(path.read_text(encoding="utf-8"))


def _labels(folders: list[Path], results: list[dict[str, Any]]) -> list[str]:
    """The model names, or the folder names where two folders evaluated the same model."""
    names = [r["model"] for r in results]
    return [n if names.count(n) == 1 else f"{n} ({f.name})" for n, f in zip(names, folders, strict=True)]


def plot_comparison(labels: list[str], results: list[dict[str, Any]]) -> bytes:
    """PNG bar chart: strict accuracy per benchmark (and Avg), one bar per folder."""
    import matplotlib
    from matplotlib.figure import Figure

    from hub_cards.rendering import PLOT_STYLE, png_bytes

    columns = [*BENCHMARKS.values(), "Avg"]
    width = 0.8 / len(results)
    with matplotlib.rc_context(PLOT_STYLE):
        fig = Figure(layout="constrained", figsize=(1.3 * len(columns) + 1.5, 3.8))
        ax = fig.add_subplot()
        for i, (label, r) in enumerate(zip(labels, results, strict=True)):
            values = [r["benchmarks"][b]["accuracy"] if b in r["benchmarks"] else 0.0 for b in BENCHMARKS]
            xs = [x + (i - (len(results) - 1) / 2) * width for x in range(len(columns))]
            ax.bar(xs, [*values, r["average"]], width, label=label)
        ax.set_xticks(range(len(columns)), columns)
        ax.set_ylabel("accuracy (%), strict")
        ax.set_ylim(0, 100)
        fig.legend(loc="outside lower center", ncols=min(len(results), 3), frameon=False)
        ax.set_title("Medical VQA benchmarks")
        return png_bytes(fig)


def compare(folders: list[str | Path], out: str | Path) -> str:
    """Write ``compare.md`` (the paper's table, one line per folder) and ``compare.png`` into ``out``."""
    folders = [Path(f) for f in folders]
    results = [load_results(f) for f in folders]
    labels = _labels(folders, results)
    table = markdown_table(list(zip(labels, results, strict=True)), lenient=False)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.md").write_text(
        "Accuracy (%), strict grader, mean of each folder's runs. A dash: not evaluated.\n\n" + table
        + "\n![comparison](compare.png)\n", encoding="utf-8",
    )  # fmt: skip
    (out / "compare.png").write_bytes(plot_comparison(labels, results))
    return table
