"""The model card (README.md) written beside a trained model's weights.

``render_model_card(run, log_history, eval_results)`` returns the card as text; ``write_model_card(out)``
reads a model folder (``medvlt_run.json``, ``trainer_state.json``) and writes ``README.md`` with the
training curves under ``assets/``, linked relatively as the Hub renders them.

``run`` is the run record that :mod:`medvlt_train.run` writes as ``medvlt_run.json``::

    kind            str   "sft" or "rlvr"
    recipe          str   recipe name or path as given
    recipe_fields   dict  every recipe key after the command-line overrides (hyperparameters)
    base_model      str   the model trained from: Hub id, folder name, or "tiny"
    dataset         dict  {"spec", "label", and optionally "repo_id", "revision", "commit", "version",
                          "content_hash", "name"} (see medvlt_data.datasets.DatasetSource)
    data            dict  example counts, e.g. {"rows": 120, "kept": 118, "without_reasoning": 2}
    prompt          dict  {"name": "paper"|"default", "template": the prompt with placeholders}
    rewards         list  RLVR only: [{"name", "weight", "function", "definition"}]
    world_size      int   training processes
    global_step     int   optimizer steps taken
    kept_checkpoint dict  optional (``keep_epoch``): {"epoch", "global_step", "checkpoint", "of_epochs"},
                          the epoch whose weights the folder holds
    model_version   str   "{kind}-{12 hex}": the first hex digits of weights_sha256
    weights_sha256  str   sha256 over the weight and config files
    versions        dict  library -> version (medvlt, transformers, trl, torch, ...)
    model_name      str   optional display name (default: the output folder's name)
    demo            bool  optional: True when the training data is a demo build (made-up questions
                          from medvlt's embedded demo corpus); the card then says so in its first lines
    repo_id         str   optional Hub id the model is pushed to

``eval_results`` is a ``medvlt eval`` results file (``results.json``), read for its ``benchmarks``
mapping: benchmark key -> {"accuracy": percent (strict grader, mean over runs), "n": questions,
optionally "runs": [percent per run], "std": spread, "accuracy_lenient_paper": percent by the paper's
regrade (the grader of its published tables), "accuracy_robust": percent by medvlt's own grader}.
With them comes ``benchmarks``, plain data from the caller: key -> {"title", "hub_id"} of the paper's
benchmarks in its column order (``medvlt_data.benchmarks.card_columns()``); the results appear in that
order, any other benchmark after them by name, and go into the card's ``model-index`` metadata: the
strict accuracy, and the paper-lenient one where the results have it.

Demo runs say they are demo runs. A run record with ``"demo": true`` (or whose ``dataset`` has it) is a
model trained on made-up questions; results whose ``dataset`` has ``"demo": true`` (``medvlt eval --demo``,
or any eval build made from the demo corpus) are accuracies on made-up questions. Both put a plain
sentence at the top of the card and the ``demo`` tag in its metadata. Demo results are left out of
``model-index`` altogether: the Hub reads ``model-index`` as benchmark results (its evaluation widget and
leaderboards aggregate them by dataset id), and a demo accuracy is not a result on any benchmark, so
naming the real benchmarks' Hub ids would be false and naming a made-up dataset id would publish a
result for a dataset that does not exist. The card's evaluation table still shows the demo numbers,
headed by the demo note and naming the demo eval data (its label and version) instead of a Hub dataset.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from hub_cards.rendering import PLOT_STYLE, is_repo_id, png_bytes, template

__all__ = [
    "DEMO_EVAL_NOTE",
    "DEMO_MODEL_NOTE",
    "RUN_FILE",
    "demo_eval",
    "demo_trained",
    "front_matter",
    "plot_training_curves",
    "read_eval_results",
    "render_model_card",
    "write_model_card",
]

RUN_FILE = "medvlt_run.json"

#: The first lines of the card of a model trained on a demo build.
DEMO_MODEL_NOTE = (
    "Demo model: trained on made-up questions from medvlt's embedded demo corpus, not real medical "
    "data; for trying the pipeline only. It knows nothing about real medicine."
)
#: What a card, results.md and compare.md say above accuracies measured on demo questions.
DEMO_EVAL_NOTE = (
    "Demo evaluation: made-up questions from medvlt's embedded demo corpus, not the real benchmarks; "
    "the accuracies show the pipeline working and are not comparable with the paper's table."
)

#: Hub license metadata of the base models the packaged recipes train.
_BASE_LICENSES: dict[str, dict[str, str]] = {
    "Qwen/Qwen2.5-VL-3B-Instruct": {
        "license": "other",
        "license_name": "qwen-research",
        "license_link": "https://huggingface.co/Qwen/Qwen2.5-VL-3B-Instruct/blob/main/LICENSE",
    },
    "Qwen/Qwen2.5-VL-7B-Instruct": {"license": "apache-2.0"},
    "Qwen/Qwen2.5-VL-32B-Instruct": {"license": "apache-2.0"},
    "Qwen/Qwen2.5-VL-72B-Instruct": {
        "license": "other",
        "license_name": "qwen",
        "license_link": "https://huggingface.co/Qwen/Qwen2.5-VL-72B-Instruct/blob/main/LICENSE",
    },
}
_REQUIRED = (
    "kind",
    "recipe",
    "recipe_fields",
    "base_model",
    "dataset",
    "prompt",
    "model_version",
    "versions",
)
_METHODS = {"sft": "supervised fine-tuning (SFT) on reasoning traces", "rlvr": "RLVR (GRPO)"}
#: Curves a card can plot, as (log key, panel title), in panel order.
_CURVES = (
    ("loss", "loss"),
    ("reward", "mean reward"),
    ("reward_std", "reward std within groups"),
    ("completions/mean_length", "completion length (tokens)"),
    ("mean_token_accuracy", "token accuracy"),
    ("kl", "KL to the reference"),
)


def read_eval_results(path: str | Path) -> dict[str, dict[str, Any]]:
    """The ``benchmarks`` of a results file, checked: each has a numeric ``accuracy`` and an ``n``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"eval results {path}: not readable as JSON: {exc}") from exc
    benchmarks = data.get("benchmarks") if isinstance(data, dict) else None
    if not isinstance(benchmarks, dict) or not benchmarks:
        raise ValueError(f"eval results {path}: no 'benchmarks' mapping (benchmark -> accuracy, n)")
    for name, result in benchmarks.items():
        if not isinstance(result, dict) or not isinstance(result.get("accuracy"), int | float):
            raise ValueError(f"eval results {path}: benchmark {name!r} has no numeric 'accuracy'")
        if not isinstance(result.get("n"), int):
            raise ValueError(f"eval results {path}: benchmark {name!r} has no question count 'n'")
    return benchmarks


def demo_trained(run: dict) -> bool:
    """Whether a run record is a model trained on a demo build (its own flag or its dataset's)."""
    return run.get("demo") is True or (run.get("dataset") or {}).get("demo") is True


def demo_eval(eval_dataset: dict[str, Any] | None) -> bool:
    """Whether the ``dataset`` of a results file is demo questions (``"demo": true``)."""
    return (eval_dataset or {}).get("demo") is True


def _demo_data_name(eval_dataset: dict[str, Any]) -> str:
    """How the card names demo eval data: its label and version (a local build, not a Hub dataset)."""
    label = eval_dataset.get("label") or eval_dataset.get("spec") or "demo eval build"
    version = eval_dataset.get("version")
    return f"demo questions: {label}" + (f" ({version})" if version else "")


def _columns(results: dict[str, dict] | None, benchmarks: dict[str, dict[str, str]] | None) -> dict:
    """The caller's benchmark columns; results without them cannot be titled or ordered."""
    if results and benchmarks is None:
        raise ValueError("eval results need the benchmarks' titles and Hub ids: pass benchmarks=")
    return benchmarks or {}


def _ordered(
    results: dict[str, dict],
    columns: dict[str, dict[str, str]],
    eval_repo: str | None = None,
    demo_name: str | None = None,
) -> list[tuple[str, str, str, dict]]:
    """(key, title, Hub id, result) in the order of ``columns``, then any other benchmark by name. The
    Hub id is ``eval_repo`` when the questions came from one Hub dataset (the paper's released
    MedVLThinker-Eval, say), else the benchmark's own (``columns``); for demo results (``demo_name``)
    it is that name instead, never a real benchmark's Hub id."""
    keys = [k for k in columns if k in results] + sorted(set(results) - set(columns))
    title = {k: columns.get(k, {}).get("title", k) for k in keys}
    if demo_name is not None:
        return [(k, f"{title[k]} (demo)", demo_name, results[k]) for k in keys]
    return [(k, title[k], eval_repo or columns.get(k, {}).get("hub_id", k), results[k]) for k in keys]


def _model_name(run: dict) -> str:
    return run.get("model_name") or run.get("repo_id", "").split("/")[-1] or f"medvlt-{run['kind']}"


def front_matter(
    run: dict,
    eval_results: dict[str, dict] | None = None,
    eval_dataset: dict[str, Any] | None = None,
    benchmarks: dict[str, dict[str, str]] | None = None,
) -> dict[str, Any]:
    """The card's YAML metadata in the Hub's model-card field names (``model-index`` from the results,
    titled and ordered by ``benchmarks``; ``eval_dataset``, the results' ``dataset``, names the Hub
    dataset and commit evaluated on). Demo results have no ``model-index`` (module docstring); demo runs
    and results carry the ``demo`` tag."""
    columns = _columns(eval_results, benchmarks)
    eval_dataset = eval_dataset or {}
    demo_results = demo_eval(eval_dataset)
    from huggingface_hub import EvalResult, ModelCardData

    base = run["base_model"].split("@")[0]  # the Hub's base_model names a repository, not a revision
    dataset = run["dataset"]
    meta: dict[str, Any] = dict(_BASE_LICENSES.get(base, {"license": "other"}))
    if is_repo_id(base):
        meta["base_model"] = base
    if dataset.get("repo_id"):
        meta["datasets"] = [dataset["repo_id"]]
    graders = (("accuracy", "strict"), ("accuracy_lenient_paper", "lenient, the paper's regrade"))
    results = [
        EvalResult(task_type="visual-question-answering", task_name="Medical VQA", dataset_type=hub_id,
                   dataset_name=title, dataset_split="test", metric_type="accuracy",
                   dataset_revision=eval_dataset.get("commit") if eval_dataset.get("repo_id") else None,
                   metric_value=round(float(result[key]), 2),
                   metric_name=f"accuracy ({grader}, {len(result.get('runs') or [0])} run(s), n={result['n']})")
        for _key, title, hub_id, result in _ordered(eval_results or {}, columns, eval_dataset.get("repo_id"))
        for key, grader in graders
        if isinstance(result.get(key), int | float) and not demo_results
    ]  # fmt: skip
    tags = ["medical", "medvlt", "trl", "grpo" if run["kind"] == "rlvr" else "sft", "qwen2.5-vl"]
    if demo_results or demo_trained(run):
        tags.append("demo")
    data = ModelCardData(
        language=["en"],
        library_name="transformers",
        pipeline_tag="image-text-to-text",
        tags=tags,
        model_name=_model_name(run) if results else None,
        eval_results=results or None,
        **meta,
    )
    return data.to_dict()


def plot_training_curves(log_history: list[dict]) -> bytes | None:
    """PNG of the logged training curves against the step (one panel per logged quantity), or None when
    the log has no training rows."""
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    rows = [row for row in log_history if "step" in row and "train_runtime" not in row]
    panels = [(key, title) for key, title in _CURVES if any(key in row for row in rows)]
    if not panels:
        return None
    with matplotlib.rc_context(PLOT_STYLE):
        fig = Figure(
            layout="constrained", figsize=(3.2 * min(len(panels), 3), 2.6 * ((len(panels) + 2) // 3))
        )
        for i, (key, title) in enumerate(panels):
            ax = fig.add_subplot((len(panels) + 2) // 3, min(len(panels), 3), i + 1)
            points = [(row["step"], float(row[key])) for row in rows if key in row]
            ax.plot(*zip(*points, strict=True), marker="o" if len(points) < 30 else None, color="#2f6db5")
            ax.set_title(title)
            ax.set_xlabel("step")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        return png_bytes(fig)


def _check(run: dict) -> None:
    missing = [key for key in _REQUIRED if key not in run]
    if missing:
        raise ValueError(f"run record lacks: {', '.join(missing)}")
    if run["kind"] not in _METHODS:
        raise ValueError(f"run kind must be sft or rlvr, not {run['kind']!r}")


def render_model_card(
    run: dict,
    log_history: list[dict] | None = None,
    eval_results: dict[str, dict] | None = None,
    curves_link: str | None = None,
    eval_source: dict[str, Any] | None = None,
    benchmarks: dict[str, dict[str, str]] | None = None,
) -> str:
    """The model card for a run record (schema in the module docstring) as Markdown with YAML front
    matter. ``curves_link`` is where the training-curve plot is (written by :func:`write_model_card`);
    ``eval_source`` the ``dataset`` and ``seeds`` of the results file, to say what was evaluated;
    ``benchmarks`` the benchmarks' titles and Hub ids (needed with ``eval_results``)."""
    _check(run)
    columns = _columns(eval_results, benchmarks)
    eval_dataset = (eval_source or {}).get("dataset") or {}
    demo_results = demo_eval(eval_dataset)
    demo_name = _demo_data_name(eval_dataset) if demo_results else None
    rows = _ordered(eval_results or {}, columns, eval_dataset.get("repo_id"), demo_name)
    average = sum(float(r["accuracy"]) for *_, r in rows) / len(rows) if rows else None
    averages = {
        grader: sum(float(r[f"accuracy_{grader}"]) for *_, r in rows) / len(rows)
        if rows and all(isinstance(r.get(f"accuracy_{grader}"), int | float) for *_, r in rows)
        else None
        for grader in ("lenient_paper", "robust")
    }
    fields = run["recipe_fields"]
    text = template("model_card.md.j2").render(
        front_matter=yaml.safe_dump(
            front_matter(run, eval_results, eval_dataset, columns), sort_keys=False, allow_unicode=True
        ),
        name=_model_name(run),
        run=run,
        method=_METHODS[run["kind"]],
        dataset=run["dataset"],
        data_counts=run.get("data") or {},
        rewards=run.get("rewards") or [],
        hyperparameters=yaml.safe_dump(fields, sort_keys=False, allow_unicode=True),
        versions=run["versions"],
        curves_link=curves_link,
        logged_steps=len([r for r in log_history or [] if "loss" in r]),
        results=[{"title": t, "hub_id": h, **r} for _k, t, h, r in rows],
        complete=set(columns) <= {k for k, *_ in rows},
        average=average,
        averages=averages,
        repo_id=run.get("repo_id"),
        eval_source=eval_source or {},
        demo_model_note=DEMO_MODEL_NOTE if demo_trained(run) else None,
        demo_eval_note=DEMO_EVAL_NOTE if demo_results else None,
    )
    return text


def write_model_card(
    model_dir: str | Path,
    eval_results: str | Path | None = None,
    benchmarks: dict[str, dict[str, str]] | None = None,
) -> Path:
    """Write ``README.md`` (and ``assets/training_curves.png`` when the folder has a trainer log) into
    a trained model folder from its ``medvlt_run.json``, with the results of ``eval_results`` titled by
    ``benchmarks`` (see :func:`render_model_card`); return the README path."""
    out = Path(model_dir)
    run_file = out / RUN_FILE
    if not run_file.is_file():
        raise ValueError(f"{out} has no {RUN_FILE}: not a model folder written by medvlt train")
    run = json.loads(run_file.read_text(encoding="utf-8"))
    state = out / "trainer_state.json"
    log_history = (
        json.loads(state.read_text(encoding="utf-8")).get("log_history", []) if state.is_file() else []
    )
    plot = plot_training_curves(log_history)
    curves = out / "assets" / "training_curves.png"
    if plot is not None:
        curves.parent.mkdir(parents=True, exist_ok=True)
        curves.write_bytes(plot)
    else:
        curves.unlink(missing_ok=True)
    results = read_eval_results(eval_results) if eval_results else None
    source = None
    if eval_results:
        whole = json.loads(Path(eval_results).read_text(encoding="utf-8"))
        dataset = dict(whole.get("dataset") or {})
        if whole.get("demo") is True:  # results.json's own flag (medvlt_train.eval.report)
            dataset["demo"] = True
        source = {"dataset": dataset, "seeds": whole.get("seeds") or []}
    readme = out / "README.md"
    link = "assets/training_curves.png" if plot is not None else None
    readme.write_text(
        render_model_card(run, log_history, results, link, source, benchmarks), encoding="utf-8"
    )
    return readme
