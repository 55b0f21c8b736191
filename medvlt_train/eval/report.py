"""Results of an evaluation folder: accuracy per benchmark and run, their mean and spread, the table in
the paper's layout; regrading saved generations; several folders side by side with a bar chart.

Everything here is computed from the folder's ``eval_config.json`` and ``generations/run-*.jsonl`` alone,
so ``medvlt eval regrade DIR`` reproduces a run's results without generating anything.

``results.json`` (read by the model card, :mod:`hub_cards.model_card`)::

    model, backend (dict), prompt, max_new_tokens, seeds (one per run), dataset (label, version...)
    graders: {"strict": ..., "lenient_paper": ..., "robust": ...}   what each grader is, in words
    benchmarks: {key: {"n", "format_rate",
                       "accuracy", "std", "runs",                                   strict
                       "accuracy_lenient_paper", "std_lenient_paper", "runs_lenient_paper",
                       "accuracy_robust", "std_robust", "runs_robust"}}   accuracies in percent
    average, average_lenient_paper, average_robust   unweighted mean over the benchmarks present (the
                                                     paper's Avg column), one per grader
    complete                    whether all six benchmarks are present
    demo                        whether the questions are medvlt's made-up demo questions (the eval
                                build's stats.json says so; results.md, compare.md and the model card
                                then say it, and the card keeps them out of its model-index)

The graders (:mod:`medvlt_data.verify`): ``strict`` is the paper's eval grader, ``lenient_paper`` the
paper's regrade, with which its published tables were made (so the numbers to hold against the paper's
table), ``robust`` medvlt's own more forgiving grader, not the paper's.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from hub_cards.model_card import DEMO_EVAL_NOTE
from medvlt_data.benchmarks import BENCHMARKS, EVAL_BENCHMARKS
from medvlt_train.eval.generations import read_generations, regrade_row, run_file, write_generations

__all__ = ["CONFIG_FILE", "GRADERS", "compare", "load_results", "markdown_table", "regrade", "write_results"]

CONFIG_FILE = "eval_config.json"
RESULTS_FILE = "results.json"

#: The graders of a results file: name -> what it is. Keys are the verdict keys of a generation line.
GRADERS: dict[str, str] = {
    "strict": "the paper's eval grader: the first <answer> block equals the gold letter, text or "
    "'letter. text' (UCSC-VLAA/MedVLThinker eval/run_offline_inference_v2.py)",
    "lenient_paper": "the paper's regrade, with which its published tables were made: the last <answer> "
    "block's first line or an 'answer:' fallback, same exact comparison (UCSC-VLAA/MedVLThinker "
    "analysis/regrade_eval_results.py)",
    "robust": "medvlt's own grader, more forgiving than the paper's ((B), B), **B**, Option B, a letter "
    "then any text); not comparable with the paper's table",
}
#: Per grader: (results key of the mean, of the spread, of the runs, of the average; table label suffix).
_KEYS: dict[str, tuple[str, str, str, str, str]] = {
    "strict": ("accuracy", "std", "runs", "average", ""),
    "lenient_paper": ("accuracy_lenient_paper", "std_lenient_paper", "runs_lenient_paper",
                      "average_lenient_paper", " (lenient: the paper's regrade)"),
    "robust": ("accuracy_robust", "std_robust", "runs_robust", "average_robust", " (robust: medvlt's own)"),
}  # fmt: skip


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
    for key in (b for b in EVAL_BENCHMARKS if b in config["questions"]):
        per_run = [[r for r in rows.values() if r["benchmark"] == key] for rows in runs]
        fmt = [_percent([r["format"] for r in rows]) for rows in per_run]
        entry: dict[str, Any] = {
            "n": config["questions"][key],
            "format_rate": round(statistics.fmean(fmt), 4),
        }
        for grader, (mean_key, std_key, runs_key, _, _) in _KEYS.items():
            values = [_percent([r[grader] for r in rows]) for rows in per_run]
            entry.update({mean_key: round(statistics.fmean(values), 4), std_key: _spread(values),
                          runs_key: values})  # fmt: skip
        benchmarks[key] = entry
    averages = {
        avg: round(statistics.fmean(b[mean] for b in benchmarks.values()), 4)
        for mean, _, _, avg, _ in _KEYS.values()
    }
    return {
        **{
            k: config[k]
            for k in ("model", "backend", "prompt", "max_new_tokens", "seeds", "limit", "dataset")
        },
        "graders": GRADERS,
        "benchmarks": benchmarks,
        **averages,
        "complete": set(EVAL_BENCHMARKS) <= set(benchmarks) and config.get("limit") is None,
        "demo": (config.get("dataset") or {}).get("demo") is True,
        "versions": config.get("versions", {}),
    }


def _cell(result: dict[str, Any] | None, key: str) -> str:
    return "-" if result is None else f"{result[key]:.2f}"


def _check_graders(label: str, results: dict[str, Any], graders: tuple[str, ...]) -> None:
    unknown = [g for g in graders if g not in _KEYS]
    if unknown:
        raise ValueError(f"unknown grader(s) {', '.join(unknown)}; known: {', '.join(_KEYS)}")
    missing = [g for g in graders if _KEYS[g][3] not in results]
    if missing:
        raise ValueError(
            f"results of {label} have no {', '.join(missing)} accuracies (written by an earlier version); "
            f"`medvlt eval regrade` its folder to compute them"
        )


def markdown_table(
    rows: list[tuple[str, dict[str, Any]]], graders: tuple[str, ...] = ("strict", "lenient_paper", "robust")
) -> str:
    """The paper's table: per (label, results) one line per grader, columns PMC .. VQA-Rad and Avg.
    The strict line carries the bare label; the others say which grader they are."""
    titles = [BENCHMARKS[b].title for b in EVAL_BENCHMARKS]
    lines = ["| model | " + " | ".join(titles) + " | Avg |", "| --- |" + " ---: |" * (len(titles) + 1)]
    for label, results in rows:
        _check_graders(label, results, graders)
        for grader in graders:
            key, _, _, avg, suffix = _KEYS[grader]
            cells = [_cell(results["benchmarks"].get(b), key) for b in EVAL_BENCHMARKS]
            lines.append(f"| {label}{suffix} | " + " | ".join(cells) + f" | {results[avg]:.2f} |")
    return "\n".join(lines) + "\n"


def _details(results: dict[str, Any]) -> str:
    lines = ["| benchmark | questions | strict | runs (strict) | lenient (paper's regrade) | runs (lenient) "
             "| robust (medvlt's) | format |", "| --- | ---: | ---: | --- | ---: | --- | ---: | ---: |"]  # fmt: skip
    for key, r in results["benchmarks"].items():
        cells = []
        for grader in ("strict", "lenient_paper"):
            mean, std, runs, _, _ = _KEYS[grader]
            cells += [f"{r[mean]:.2f} ± {r[std]:.2f}", ", ".join(f"{v:.2f}" for v in r[runs])]
        cells += [f"{r['accuracy_robust']:.2f} ± {r['std_robust']:.2f}", f"{r['format_rate']:.1f}%"]
        lines.append(f"| {BENCHMARKS[key].title} | {r['n']:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


_GRADER_NOTE = (
    "Three graders (medvlt_data.verify): **strict** is the paper's eval grader; **lenient: the paper's "
    "regrade** is the grader of the paper's published tables (UCSC-VLAA/MedVLThinker analysis/regrade_eval_results.py), "
    "so these are the numbers to hold against them; **robust: medvlt's own** accepts more answer shapes "
    "((B), **B**, Option B, a letter then any text) and is not comparable with the paper's table. The "
    "format rate counts completions that pass the reward's <think>/<answer> gate."
)


def render_markdown(results: dict[str, Any]) -> str:
    seeds = ", ".join(str(s) for s in results["seeds"])
    note = "" if results["complete"] else (
        "\nNot all six benchmarks (or a --limit): the average covers the benchmarks shown only.\n")  # fmt: skip
    demo = f"**{DEMO_EVAL_NOTE}**\n\n" if results.get("demo") else ""
    return (
        f"# Evaluation of {results['model']}{' on demo questions' if demo else ''}\n\n{demo}Accuracy (%), the paper's prompt (`{results['prompt']}`), greedy "
        f"decoding, up to {results['max_new_tokens']} new tokens, mean of {len(results['seeds'])} run(s) "
        f"(seeds {seeds}).\n\n{_GRADER_NOTE}\n\n"
        f"{markdown_table([(results['model'], results)])}{note}\n## Per benchmark\n\n{_details(results)}"
        f"\nDataset: `{results['dataset'].get('label')}`"
        + (f" (version `{results['dataset']['version']}`)" if results["dataset"].get("version") else "")
        + (f", commit `{results['dataset']['commit']}`" if results["dataset"].get("commit") else "")
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
    """Grade every saved generation again with the current verifier (all three graders), rewrite the
    run files and the results."""
    out = Path(out)
    config = _config(out)
    for run, rows in enumerate(_runs(out, config), 1):
        try:
            graded = [regrade_row(row) for row in rows.values()]
        except ValueError as exc:
            raise ValueError(f"{run_file(out, run)}: {exc}") from exc
        write_generations(run_file(out, run), graded)
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


def plot_comparison(
    labels: list[str], results: list[dict[str, Any]], grader: str = "strict", title: str | None = None
) -> bytes:
    """PNG bar chart: one grader's accuracy per benchmark (and Avg), one bar per folder, under ``title``
    (default: the benchmarks' name)."""
    import matplotlib
    from matplotlib.figure import Figure

    from hub_cards.rendering import PLOT_STYLE, png_bytes

    columns = [*(BENCHMARKS[b].title for b in EVAL_BENCHMARKS), "Avg"]
    width = 0.8 / len(results)
    with matplotlib.rc_context(PLOT_STYLE):
        fig = Figure(layout="constrained", figsize=(1.3 * len(columns) + 1.5, 3.8))
        ax = fig.add_subplot()
        key, _, _, avg, _ = _KEYS[grader]
        for i, (label, r) in enumerate(zip(labels, results, strict=True)):
            values = [r["benchmarks"][b][key] if b in r["benchmarks"] else 0.0 for b in EVAL_BENCHMARKS]
            xs = [x + (i - (len(results) - 1) / 2) * width for x in range(len(columns))]
            ax.bar(xs, [*values, r[avg]], width, label=label)
        ax.set_xticks(range(len(columns)), columns)
        ax.set_ylabel(f"accuracy (%), {grader}")
        ax.set_ylim(0, 100)
        fig.legend(loc="outside lower center", ncols=min(len(results), 3), frameon=False)
        ax.set_title(title or "Medical VQA benchmarks")
        return png_bytes(fig)


def compare(folders: list[str | Path], out: str | Path, grader: str = "strict") -> str:
    """Write ``compare.md`` (the paper's table by one grader, one line per folder) and ``compare.png``
    into ``out``. ``lenient_paper`` gives the numbers comparable with the paper's published tables."""
    folders = [Path(f) for f in folders]
    results = [load_results(f) for f in folders]
    labels = _labels(folders, results)
    table = markdown_table(list(zip(labels, results, strict=True)), graders=(grader,))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    demo = [label for label, r in zip(labels, results, strict=True) if r.get("demo")]
    note = ""
    if demo:
        which = "" if len(demo) == len(labels) else f" ({', '.join(demo)}; the others are not)"
        note = f"**{DEMO_EVAL_NOTE}**{which}\n\n"
    (out / "compare.md").write_text(
        note + f"Accuracy (%), grader {grader}: {GRADERS[grader]}; mean of each folder's runs. A dash: not "
        "evaluated.\n\n" + table + "\n![comparison](compare.png)\n", encoding="utf-8",
    )  # fmt: skip
    title = "Demo questions (made-up), not the real benchmarks" if len(demo) == len(labels) else None
    (out / "compare.png").write_bytes(plot_comparison(labels, results, grader, title))
    return table
